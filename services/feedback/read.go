package feedback

import (
	"context"
	"sort"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
)

// The reads in this file have no access check: they are for other services
// (analytics, payouts), which read feedback's collections only through them.

// ForAssignment returns the approved and released feedback of an
// assignment (every version, both readers), ordered by student, version and
// reader. It reads the assignment's list and then each feedback by _id.
func (s *Service) ForAssignment(ctx context.Context, assignmentID string) ([]Feedback, error) {
	d, err := s.list(ctx, assignmentID)
	if err != nil {
		return nil, err
	}
	return s.finals(ctx, sortedRows(d.Rows))
}

// ForStudent returns the approved and released feedback on a student's
// submissions in a school, across assignments, ordered by task ID (so by
// assignment, then version). The caller decides what a reader may see:
// State says whether the student has been shown it.
func (s *Service) ForStudent(ctx context.Context, schoolID, studentID string) ([]Feedback, error) {
	d, err := s.list(ctx, studentListID(schoolID, studentID))
	if err != nil {
		return nil, err
	}
	rows := sortedRows(d.Rows)
	sortByTask(rows)
	return s.finals(ctx, rows)
}

func (s *Service) finals(ctx context.Context, rows []Row) ([]Feedback, error) {
	out := []Feedback{}
	for _, r := range rows {
		if !r.State.Final() {
			continue
		}
		f, err := s.get(ctx, r.TaskID)
		if err != nil {
			return nil, err
		}
		if f.State.Final() {
			out = append(out, f)
		}
	}
	return out, nil
}

func sortByTask(rows []Row) {
	sort.Slice(rows, func(i, j int) bool { return rows[i].TaskID < rows[j].TaskID })
}

// PayableEvents returns up to limit payable events with IDs after afterID
// ("" for the start), ordered by ID, for the payouts service to page
// through. Events are never changed or deleted, so a reader that keeps the
// last ID it saw misses none. limit is capped at 1000 (0 means 100).
func (s *Service) PayableEvents(ctx context.Context, afterID string, limit int) ([]PayableEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	cur, err := s.c(colPayable).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: afterID}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, errs.Wrap(err, "find payable events")
	}
	out := []PayableEvent{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, errs.Wrap(err, "read payable events")
	}
	return out, nil
}

// Get returns a feedback by ID, without an access check (for other
// services). Returns not_found.
func (s *Service) Get(ctx context.Context, id string) (Feedback, error) { return s.get(ctx, id) }
