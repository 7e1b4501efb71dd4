package matching

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Task returns a grading task by ID. It has no access check: the caller (the
// feedback service) checks that the task is the caller's. Returns not_found
// when there is no such task.
func (s *Service) Task(ctx context.Context, taskID string) (Task, error) {
	return mongostore.Get[Task](ctx, s.c(colTasks), taskID, "grading task")
}

// TasksForGrader returns every task a grader holds or has held, newest
// first.
func (s *Service) TasksForGrader(ctx context.Context, graderID string) ([]Task, error) {
	var out []Task
	if err := s.findAll(ctx, colTasks, bson.D{{Key: "grader_id", Value: graderID}}, &out); err != nil {
		return nil, err
	}
	sortTasks(out)
	return out, nil
}

// TasksForVersion returns the tasks of a submission version (intake
// VersionID): none, the first reader's, or both readers', first reader
// first. It reads the two deterministic IDs.
func (s *Service) TasksForVersion(ctx context.Context, versionID string) ([]Task, error) {
	var out []Task
	for _, r := range []Reader{First, Second} {
		t, err := s.Task(ctx, TaskID(versionID, r))
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// TaskSubmitted records that the grader submitted the task's feedback: the
// task moves from assigned or returned to submitted and frees one unit of
// the grader's capacity. Repeating it is a no-op. Returns not_found for an
// unknown task and conflict for a withdrawn or approved one.
func (s *Service) TaskSubmitted(ctx context.Context, taskID string) error {
	now := s.stamp()
	t, moved, err := s.moveTask(ctx, taskID, []TaskState{TaskAssigned, TaskReturned}, TaskSubmitted, bson.E{Key: "submitted_at", Value: now})
	if err != nil || !moved {
		return err
	}
	inc := bson.D{{Key: "stats.submitted", Value: 1}}
	if !now.After(t.DueAt) {
		inc = append(inc, bson.E{Key: "stats.on_time", Value: 1})
	}
	return s.release(ctx, t.GraderID, []string{taskID}, inc)
}

// TaskReturned records that the teacher sent submitted work back to the same
// grader: the task is open again and holds a unit of the grader's capacity,
// even beyond it. Repeating it is a no-op. Returns not_found for an unknown
// task and conflict unless the task was submitted.
func (s *Service) TaskReturned(ctx context.Context, taskID string) error {
	t, moved, err := s.moveTask(ctx, taskID, []TaskState{TaskSubmitted}, TaskReturned)
	if err != nil || !moved {
		return err
	}
	return s.hold(ctx, t.GraderID, []string{taskID}, bson.D{{Key: "stats.returns", Value: 1}})
}

// TaskApproved records that the teacher approved the task's feedback.
// Repeating it is a no-op. Returns not_found for an unknown task and
// conflict unless the task was submitted.
func (s *Service) TaskApproved(ctx context.Context, taskID string) error {
	t, moved, err := s.moveTask(ctx, taskID, []TaskState{TaskSubmitted}, TaskApproved)
	if err != nil || !moved {
		return err
	}
	_, err = s.c(colProfiles).UpdateOne(ctx, bson.D{{Key: "_id", Value: t.GraderID}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "stats.approvals", Value: 1}}}})
	return errs.Wrap(err, "count approval")
}

// moveTask changes a task's state from one of from to to, atomically (one
// conditional update). moved is false when the task already was in state
// to, which makes every report idempotent.
func (s *Service) moveTask(ctx context.Context, taskID string, from []TaskState, to TaskState, set ...bson.E) (Task, bool, error) {
	t, err := s.Task(ctx, taskID)
	if err != nil {
		return Task{}, false, err
	}
	set = append(set, bson.E{Key: "state", Value: to}, bson.E{Key: "updated_at", Value: s.stamp()})
	res, err := mongostore.UpdateIf(ctx, s.c(colTasks),
		bson.D{{Key: "_id", Value: taskID}, {Key: "state", Value: bson.D{{Key: "$in", Value: from}}}},
		bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return Task{}, false, errs.Wrap(err, "move task")
	}
	if res.ModifiedCount == 1 {
		return t, true, nil
	}
	if t, err = s.Task(ctx, taskID); err != nil {
		return Task{}, false, err
	}
	if t.State == to {
		return t, false, nil
	}
	return Task{}, false, errs.E(errs.Conflict, "The grading task is %s, so it cannot become %s.", t.State, to)
}

// hold adds tasks to a grader's held work, ignoring ones already held, and
// applies inc to the grader's counters. It does not check capacity (see
// reserve for that).
func (s *Service) hold(ctx context.Context, graderID string, taskIDs []string, inc bson.D) error {
	for _, id := range taskIDs {
		k := "holds." + mongostore.FieldKey(id)
		_, err := mongostore.UpdateIf(ctx, s.c(colProfiles),
			bson.D{{Key: "_id", Value: graderID}, {Key: k, Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: k, Value: 1}}}, {Key: "$inc", Value: bson.D{{Key: "held", Value: 1}}}})
		if err != nil {
			return errs.Wrap(err, "hold task")
		}
	}
	if len(inc) == 0 {
		return nil
	}
	_, err := s.c(colProfiles).UpdateOne(ctx, bson.D{{Key: "_id", Value: graderID}}, bson.D{{Key: "$inc", Value: inc}})
	return errs.Wrap(err, "count")
}

// release frees tasks from a grader's held work, ignoring ones not held, and
// applies inc to the grader's counters.
func (s *Service) release(ctx context.Context, graderID string, taskIDs []string, inc bson.D) error {
	for _, id := range taskIDs {
		k := "holds." + mongostore.FieldKey(id)
		_, err := mongostore.UpdateIf(ctx, s.c(colProfiles),
			bson.D{{Key: "_id", Value: graderID}, {Key: k, Value: bson.D{{Key: "$exists", Value: true}}}},
			bson.D{{Key: "$unset", Value: bson.D{{Key: k, Value: ""}}}, {Key: "$inc", Value: bson.D{{Key: "held", Value: -1}}}})
		if err != nil {
			return errs.Wrap(err, "release task")
		}
	}
	if len(inc) == 0 {
		return nil
	}
	_, err := s.c(colProfiles).UpdateOne(ctx, bson.D{{Key: "_id", Value: graderID}}, bson.D{{Key: "$inc", Value: inc}})
	return errs.Wrap(err, "count")
}

// sortTasks orders tasks newest first, then by ID.
func sortTasks(ts []Task) {
	slices.SortFunc(ts, func(a, b Task) int {
		return cmp.Or(b.AssignedAt.Compare(a.AssignedAt), strings.Compare(a.ID, b.ID))
	})
}
