package feedback

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/feedback/anchor"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// Brief is what a grader sees of an assignment: no class, school or
// teacher.
type Brief struct {
	ID          string        `json:"id"`
	Title       string        `json:"title"`
	Prompt      string        `json:"prompt"`
	Subject     string        `json:"subject"`
	GradeLevel  int           `json:"grade_level"`
	Rubric      intake.Rubric `json:"rubric"`
	FocusPoints []string      `json:"focus_points"`
	DueAt       time.Time     `json:"due_at"`
}

func briefOf(a intake.Assignment) Brief {
	return Brief{ID: a.ID, Title: a.Title, Prompt: a.Prompt, Subject: a.Subject, GradeLevel: a.GradeLevel,
		Rubric: a.Rubric, FocusPoints: a.FocusPoints, DueAt: a.DueAt}
}

// Workspace is everything a grader needs to grade one task, and nothing
// more: the pseudonymised text (quotes anchor into it), the prompt, the
// rubric with its descriptors, the focus points, the requirements for
// submitting, and the grader's own feedback so far. It names no school,
// class, teacher or student, and holds none of the student's ratings,
// reflections or questions.
type Workspace struct {
	Task       matching.TaskView `json:"task"`
	Assignment Brief             `json:"assignment"`
	Pseudonym  string            `json:"pseudonym"`
	Text       string            `json:"text"`
	Settings   Settings          `json:"settings"`
	Feedback   GraderFeedback    `json:"feedback"`
	// Previous is the approved feedback on the student's latest earlier
	// version, when this task reads a revision; nil otherwise.
	Previous *PreviousFeedback `json:"previous,omitempty"`
}

// PreviousFeedback is the feedback on an earlier version of the same
// submission, for the grader of a revision to read what the student was
// told: the content as graders wrote it (a teacher's edits, which may name
// the student, are left out: the content before them is shown).
type PreviousFeedback struct {
	Version int     `json:"version"`
	Content Content `json:"content"`
}

// GraderFeedback is a feedback as its grader sees it: what they wrote, its
// state and revision, and the teacher's note when it was returned. It
// leaves out the school, class and student, the history of the teacher's
// edits, and the student's ratings, reflections and questions.
type GraderFeedback struct {
	ID        string `json:"id"` // the task's ID
	VersionID string `json:"version_id"`
	Version   int    `json:"version"`
	Reader    string `json:"reader"`
	State     State  `json:"state"`
	Rev       int    `json:"rev"`
	Content
	ReturnNote  string     `json:"return_note,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	SubmittedAt *time.Time `json:"submitted_at,omitempty"`
}

// ForGrader is the feedback as its grader sees it.
func (f Feedback) ForGrader() GraderFeedback {
	return GraderFeedback{ID: f.ID, VersionID: f.VersionID, Version: f.Version, Reader: f.Reader, State: f.State, Rev: f.Rev,
		Content: f.Content, ReturnNote: f.ReturnNote, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt, SubmittedAt: f.SubmittedAt}
}

// graderTask returns the task if caller holds it. A task of another grader
// is not_found, so IDs reveal nothing.
func (s *Service) graderTask(ctx context.Context, caller account.User, taskID string) (matching.Task, error) {
	t, err := s.matching.Task(ctx, taskID)
	if err != nil {
		return matching.Task{}, err
	}
	if caller.Role != account.Grader || t.GraderID != caller.ID {
		return matching.Task{}, errs.E(errs.NotFound, "No grading task with ID %q.", taskID)
	}
	if t.State == matching.TaskWithdrawn {
		return matching.Task{}, errs.E(errs.Conflict, "This task was withdrawn because its deadline passed.")
	}
	return t, nil
}

// Open returns the grader's workspace for a task, creating the draft
// feedback on first open. Returns not_found unless caller holds the task,
// and conflict for a withdrawn task.
func (s *Service) Open(ctx context.Context, caller account.User, taskID string) (Workspace, error) {
	t, err := s.graderTask(ctx, caller, taskID)
	if err != nil {
		return Workspace{}, err
	}
	a, err := s.intake.Assignment(ctx, t.AssignmentID)
	if err != nil {
		return Workspace{}, err
	}
	sub, err := s.intake.Submission(ctx, t.SubmissionID)
	if err != nil {
		return Workspace{}, err
	}
	text, err := s.intake.Text(ctx, t.VersionID)
	if err != nil {
		return Workspace{}, err
	}
	f, err := s.ensureDraft(ctx, t, a, sub)
	if err != nil {
		return Workspace{}, err
	}
	st, err := s.Settings(ctx, a.ID)
	if err != nil {
		return Workspace{}, err
	}
	prev, err := s.previous(ctx, sub, t.Version)
	if err != nil {
		return Workspace{}, err
	}
	return Workspace{Task: t.View(), Assignment: briefOf(a), Pseudonym: sub.Pseudonym, Text: text.GraderText, Settings: st,
		Feedback: f.ForGrader(), Previous: prev}, nil
}

// previous is the approved first read of the latest version of sub before
// version, or nil: one read of those versions' feedback by _id.
func (s *Service) previous(ctx context.Context, sub intake.Submission, version int) (*PreviousFeedback, error) {
	var ids []string
	for _, v := range sub.Versions {
		if v.N < version {
			ids = append(ids, TaskID(intake.VersionID(sub.ID, v.N), First))
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	fbs, err := mongostore.GetMany(ctx, s.c(colFeedback), ids, func(f Feedback) string { return f.ID })
	if err != nil {
		return nil, err
	}
	var best *Feedback
	for _, f := range fbs {
		if f.State.Final() && (best == nil || f.Version > best.Version) {
			best = &f
		}
	}
	if best == nil {
		return nil, nil
	}
	return &PreviousFeedback{Version: best.Version, Content: best.graderContent()}, nil
}

// graderContent is the content as its grader last submitted it (the
// snapshot of their latest edit): a teacher's later edits, approvals and
// adjudications are not a grader's words. Empty when no grader wrote it.
func (f Feedback) graderContent() Content {
	for i := len(f.History) - 1; i >= 0; i-- {
		if e := f.History[i]; e.Content != nil && e.Role == string(account.Grader) {
			return *e.Content
		}
	}
	return emptyContent()
}

// ensureDraft returns the task's feedback, creating an empty draft if there
// is none. A draft left by a grader whose task was withdrawn and reassigned
// starts again empty for the new grader.
func (s *Service) ensureDraft(ctx context.Context, t matching.Task, a intake.Assignment, sub intake.Submission) (Feedback, error) {
	f, err := s.get(ctx, t.ID)
	if err == nil && f.GraderID == t.GraderID {
		return f, nil
	}
	if err == nil && f.State == Draft {
		return s.mutate(ctx, t.ID, anyRev, true, func(f *Feedback) error {
			f.GraderID, f.Content = t.GraderID, emptyContent()
			return nil
		})
	}
	if err == nil {
		return Feedback{}, errs.E(errs.Conflict, "This submission's feedback is already %s.", f.State)
	}
	if !errs.Is(err, errs.NotFound) {
		return Feedback{}, err
	}
	now := s.stamp()
	f = Feedback{
		ID: t.ID, VersionID: t.VersionID, SubmissionID: t.SubmissionID, AssignmentID: t.AssignmentID,
		ClassID: a.ClassID, SchoolID: a.SchoolID, StudentID: sub.StudentID, GraderID: t.GraderID,
		Version: t.Version, Reader: string(t.Reader), State: Draft, Rev: 1, Content: emptyContent(),
		History: []Edit{}, Ratings: []Rating{}, Reflections: []Reflection{}, CreatedAt: now, UpdatedAt: now,
	}
	if f.Slot, err = s.allocSlot(ctx, f.AssignmentID); err != nil {
		return Feedback{}, err
	}
	token, err := s.journal(ctx, f.ID)
	if err != nil {
		return Feedback{}, err
	}
	defer s.unjournal(ctx, f.ID, token)
	if _, err := s.c(colFeedback).InsertOne(ctx, f); err != nil {
		if mongostore.IsDuplicateKey(err) { // another request created it first
			return s.get(ctx, t.ID)
		}
		return Feedback{}, errs.Wrap(err, "create feedback")
	}
	return f, s.project(ctx, f.ID, projection{})
}

func emptyContent() Content {
	return Content{Levels: map[string]string{}, Comments: map[string]string{}, Quotes: []Quote{}, Glows: []Point{}, Grows: []Point{}, FocusNotes: []FocusNote{}}
}

// Save stores a grader's draft: the whole content, replacing what was
// there. rev is the Rev the grader last read; a save against an older one
// is refused with errs.VersionConflict (409), never silently overwriting.
// The content is validated and its quotes anchored in the grader text (see
// checkContent); problems come back as an errs.List. Returns not_found
// unless caller holds the task, and conflict unless the feedback is a draft
// or returned.
func (s *Service) Save(ctx context.Context, caller account.User, taskID string, rev int, c Content) (Feedback, error) {
	t, err := s.graderTask(ctx, caller, taskID)
	if err != nil {
		return Feedback{}, err
	}
	a, doc, err := s.graderDoc(ctx, t.AssignmentID, t.VersionID)
	if err != nil {
		return Feedback{}, err
	}
	c, err = checkContent(c, a, doc)
	if err != nil {
		return Feedback{}, err
	}
	return s.mutate(ctx, taskID, rev, true, func(f *Feedback) error {
		if err := s.graderMayEdit(*f, caller); err != nil {
			return err
		}
		f.Content = c
		return nil
	})
}

func (s *Service) graderMayEdit(f Feedback, caller account.User) error {
	if f.GraderID != caller.ID {
		return errs.E(errs.NotFound, "No grading task with ID %q.", f.ID)
	}
	if f.State != Draft && f.State != Returned {
		return errs.E(errs.Conflict, "The feedback is %s, so it can no longer be changed by its grader.", f.State)
	}
	return nil
}

// graderDoc returns the assignment and the version's grader text prepared
// for anchoring.
func (s *Service) graderDoc(ctx context.Context, assignmentID, versionID string) (intake.Assignment, *anchor.Doc, error) {
	a, err := s.intake.Assignment(ctx, assignmentID)
	if err != nil {
		return intake.Assignment{}, nil, err
	}
	text, err := s.intake.Text(ctx, versionID)
	if err != nil {
		return intake.Assignment{}, nil, err
	}
	return a, anchor.NewDoc(text.GraderText), nil
}

// Submit hands the grader's feedback to the teacher for review. rev as for
// Save. It is refused with an errs.List (code unprocessable, one sentence
// per problem) unless the feedback is complete (see checkComplete). It
// reports the task submitted to matching and flags a second-read
// disagreement when both reads are in. Returns not_found unless caller holds
// the task, and conflict unless the feedback is a draft or returned.
func (s *Service) Submit(ctx context.Context, caller account.User, taskID string, rev int) (Feedback, error) {
	t, err := s.graderTask(ctx, caller, taskID)
	if err != nil {
		return Feedback{}, err
	}
	a, err := s.intake.Assignment(ctx, t.AssignmentID)
	if err != nil {
		return Feedback{}, err
	}
	st, err := s.Settings(ctx, a.ID)
	if err != nil {
		return Feedback{}, err
	}
	f, err := s.mutate(ctx, taskID, rev, true, func(f *Feedback) error {
		if err := s.graderMayEdit(*f, caller); err != nil {
			return err
		}
		if err := checkComplete(f.Content, a, st); err != nil {
			return err
		}
		now := s.stamp()
		f.State, f.SubmittedAt = Submitted, &now
		f.History = append(f.History, s.edit(caller, "submit", "", f))
		return nil
	})
	if err != nil {
		return Feedback{}, err
	}
	if err := s.matching.TaskSubmitted(ctx, taskID); err != nil {
		return Feedback{}, err
	}
	if err := s.compareReads(ctx, f, a); err != nil {
		return Feedback{}, err
	}
	s.notifySubmitted(ctx, f, a)
	return s.get(ctx, taskID)
}

// edit is a history entry for an action by caller, with f's content after
// it.
func (s *Service) edit(caller account.User, action, note string, f *Feedback) Edit {
	c := f.Content
	return Edit{Rev: f.Rev + 1, At: s.stamp(), By: caller.ID, Role: string(caller.Role), Action: action, Note: note, Content: &c}
}

// compareReads flags both reads of f's version when they are in (submitted
// or later) and differ on some criterion by at least DisagreementSteps
// levels.
func (s *Service) compareReads(ctx context.Context, f Feedback, a intake.Assignment) error {
	other := TaskID(f.VersionID, First)
	if f.Reader == First {
		other = TaskID(f.VersionID, Second)
	}
	o, err := s.get(ctx, other)
	if errs.Is(err, errs.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.State == Draft || o.State == Returned {
		return nil
	}
	crit := disagreements(a.Rubric, f.Levels, o.Levels, s.cfg.DisagreementSteps)
	if len(crit) == 0 {
		return nil
	}
	d := &Disagreement{Criteria: crit, FlaggedAt: s.stamp()}
	for _, id := range []string{f.ID, o.ID} {
		if _, err := s.mutate(ctx, id, anyRev, false, func(f *Feedback) error {
			if f.Disagreement == nil {
				f.Disagreement = d
			}
			return nil
		}); err != nil {
			return err
		}
	}
	s.notifyDisagree(ctx, f, a, crit)
	return nil
}

// disagreements lists, in rubric order, the criteria on which two sets of
// levels are at least steps levels apart.
func disagreements(r intake.Rubric, a, b map[string]string, steps int) []string {
	var out []string
	for _, c := range r.Criteria {
		i, ok1 := r.LevelIndex(a[c.Key])
		j, ok2 := r.LevelIndex(b[c.Key])
		if ok1 && ok2 && abs(i-j) >= steps {
			out = append(out, c.Key)
		}
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// GraderTask is a grader's task as they see it, with its feedback's
// state.
type GraderTask struct {
	matching.TaskView
	FeedbackState State  `json:"feedback_state"`
	FeedbackRev   int    `json:"feedback_rev"`
	ReturnNote    string `json:"return_note,omitempty"`
}

// Tasks lists caller's grading tasks (not withdrawn ones), newest first,
// each with its feedback's state ("" before it is first opened).
func (s *Service) Tasks(ctx context.Context, caller account.User) ([]GraderTask, error) {
	ts, err := s.matching.TasksForGrader(ctx, caller.ID)
	if err != nil {
		return nil, err
	}
	out := []GraderTask{}
	for _, t := range ts {
		if t.State == matching.TaskWithdrawn {
			continue
		}
		g := GraderTask{TaskView: t.View()}
		f, err := s.get(ctx, t.ID)
		switch {
		case err == nil && f.GraderID == caller.ID:
			g.FeedbackState, g.FeedbackRev, g.ReturnNote = f.State, f.Rev, f.ReturnNote
		case err != nil && !errs.Is(err, errs.NotFound):
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// Settings returns an assignment's requirements for submitting feedback:
// the teacher's, or the defaults. It is one read by _id.
func (s *Service) Settings(ctx context.Context, assignmentID string) (Settings, error) {
	h, err := s.head(ctx, assignmentID)
	if err != nil {
		return Settings{}, err
	}
	if h.Settings == nil {
		return s.cfg.defaultSettings(), nil
	}
	return *h.Settings, nil
}

// SetSettings changes an assignment's requirements for submitting feedback.
// Returns not_found unless caller manages the assignment, and an errs.List
// for invalid settings.
func (s *Service) SetSettings(ctx context.Context, caller account.User, assignmentID string, st Settings) (Settings, error) {
	if _, err := s.intake.AuthorizeAssignment(ctx, caller, assignmentID); err != nil {
		return Settings{}, err
	}
	if err := st.Validate(); err != nil {
		return Settings{}, err
	}
	return st, s.saveSettings(ctx, assignmentID, st)
}

func (s *Service) saveSettings(ctx context.Context, assignmentID string, st Settings) error {
	_, err := s.c(colRows).UpdateOne(ctx, bson.D{{Key: "_id", Value: assignmentID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "settings", Value: st}}}}, upsert)
	if err != nil && mongostore.IsDuplicateKey(err) {
		return s.saveSettings(ctx, assignmentID, st)
	}
	return errs.Wrap(err, "save settings")
}
