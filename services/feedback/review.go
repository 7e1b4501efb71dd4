package feedback

import (
	"context"
	"maps"
	"sort"
	"strings"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/feedback/anchor"
	"github.com/marginschool/margin/services/intake"
)

// Highlight is a quoted comment placed in the student's original text for
// the teacher and the student. Start and End are code-point offsets into
// that text, and Exact is the student's own words there (with the names the
// grader saw replaced); when the quote can be found neither in the grader
// text nor in the original, Anchored is false, Exact is the quote as saved
// and Start and End are -1.
type Highlight struct {
	CommentID string `json:"comment_id"`
	Criterion string `json:"criterion"`
	Kind      Kind   `json:"kind"`
	Comment   string `json:"comment"`
	Exact     string `json:"exact"`
	Start     int    `json:"start"`
	End       int    `json:"end"`
	Anchored  bool   `json:"anchored"`
}

// highlights places quotes (made in the grader text) in the original text,
// ordered by position: each is anchored in the grader text as it is now and
// mapped back through its replacements, so a quote with a pseudonym in it
// lands on the name it hides; a quote the grader text no longer holds (the
// roster changed) is looked for in the original.
func highlights(quotes []Quote, text intake.Text) []Highlight {
	out := make([]Highlight, 0, len(quotes))
	grader, original := anchor.NewDoc(text.GraderText), anchor.NewDoc(text.Text)
	runes := []rune(text.Text)
	for _, q := range quotes {
		h := Highlight{CommentID: q.ID, Criterion: q.Criterion, Kind: q.Kind, Comment: q.Comment, Exact: q.Target.Quote.Exact, Start: -1, End: -1}
		if t, _, err := grader.Resolve(q.Target); err == nil {
			start, end := text.ToOriginal(t.Position.Start, t.Position.End)
			h.Exact, h.Start, h.End, h.Anchored = string(runes[start:end]), start, end, true
		} else if t, _, err := original.Resolve(q.Target); err == nil {
			h.Exact, h.Start, h.End, h.Anchored = t.Quote.Exact, t.Position.Start, t.Position.End, true
		}
		out = append(out, h)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// Review is a feedback as the teacher reviews it: the student's original
// text with the quotes highlighted, who wrote it, and the whole feedback with
// its history, ratings and reflections.
type Review struct {
	Feedback    Feedback    `json:"feedback"`
	StudentName string      `json:"student_name"`
	GraderName  string      `json:"grader_name"`
	Text        string      `json:"text"`
	Highlights  []Highlight `json:"highlights"`
	// Other is the other reader's feedback on the same version, when the
	// reads disagree (for adjudication).
	Other *Feedback `json:"other,omitempty"`
	// Actions are what the teacher may do with it now.
	Actions Actions `json:"actions"`
}

// Actions are what a feedback's teacher may do with it in its current
// state; Edit, Return, Approve and Adjudicate refuse (conflict) the rest.
type Actions struct {
	Edit       bool `json:"edit"`       // submitted, approved or released: the grader does not hold it
	Return     bool `json:"return"`     // submitted
	Approve    bool `json:"approve"`    // submitted, and no disagreement awaits adjudication
	Adjudicate bool `json:"adjudicate"` // the two reads disagree and no decision was made
}

// ActionsOf are the teacher's actions on f.
func ActionsOf(f Feedback) Actions {
	pending := f.Disagreement != nil && !f.Disagreement.Resolved
	return Actions{
		Edit:       editable(f.State),
		Return:     f.State == Submitted,
		Approve:    f.State == Submitted && !pending,
		Adjudicate: pending,
	}
}

// editable reports whether a teacher may edit feedback in state st: not
// while the grader holds it (draft or returned).
func editable(st State) bool { return st == Submitted || st.Final() }

// teacherFeedback returns the feedback and its assignment if caller manages
// the assignment; anyone else gets not_found.
func (s *Service) teacherFeedback(ctx context.Context, caller account.User, id string) (Feedback, intake.Assignment, error) {
	f, err := s.get(ctx, id)
	if err != nil {
		return Feedback{}, intake.Assignment{}, err
	}
	a, err := s.intake.AuthorizeAssignment(ctx, caller, f.AssignmentID)
	if err != nil {
		return Feedback{}, intake.Assignment{}, errs.E(errs.NotFound, "No feedback with ID %q.", id)
	}
	return f, a, nil
}

// Review returns a feedback for its teacher. Returns not_found unless caller
// manages the assignment.
func (s *Service) Review(ctx context.Context, caller account.User, id string) (Review, error) {
	f, a, err := s.teacherFeedback(ctx, caller, id)
	if err != nil {
		return Review{}, err
	}
	text, err := s.intake.Text(ctx, f.VersionID)
	if err != nil {
		return Review{}, err
	}
	r := Review{Feedback: f, Text: text.Text, Highlights: highlights(f.Quotes, text)}
	if st, err := s.intake.Student(ctx, a.ClassID, f.StudentID); err == nil {
		r.StudentName = st.Name()
	}
	r.GraderName = s.displayName(ctx, f.GraderID)
	r.Actions = ActionsOf(f)
	if f.Disagreement != nil {
		other := TaskID(f.VersionID, Second)
		if f.Reader == Second {
			other = TaskID(f.VersionID, First)
		}
		if o, err := s.get(ctx, other); err == nil {
			r.Other = &o
		}
	}
	return r, nil
}

// displayName is how a grader is shown to teachers and students
// (account.User.DisplayName), or "Your grader" when unknown.
func (s *Service) displayName(ctx context.Context, userID string) string {
	if u, err := s.accounts.User(ctx, userID); err == nil && u.DisplayName() != "" {
		return u.DisplayName()
	}
	return "Your grader"
}

// List returns the rows of an assignment's feedback (every version and
// reader), ordered by student, version and reader: the list header and
// its pages, by _id. Returns not_found unless caller manages the
// assignment.
func (s *Service) List(ctx context.Context, caller account.User, assignmentID string) ([]Row, error) {
	if _, err := s.intake.AuthorizeAssignment(ctx, caller, assignmentID); err != nil {
		return nil, err
	}
	rows, err := s.rows(ctx, assignmentID)
	if rows == nil && err == nil {
		rows = []Row{}
	}
	for i := range rows {
		rows[i].Digest = nil // the class summary's, not the list's
	}
	return rows, err
}

// Questions counts the questions students asked about their feedback in a
// class, by assignment ID (assignments without one are left out). Only
// released feedback takes questions, so it reads the class record (the
// assignments with approved feedback) and their list rows: reads by _id.
// Returns not_found unless caller manages the class.
func (s *Service) Questions(ctx context.Context, caller account.User, classID string) (map[string]int, error) {
	if _, err := s.intake.AuthorizeClass(ctx, caller, classID); err != nil {
		return nil, err
	}
	rec, err := s.Class(ctx, classID)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, a := range rec.Assignments {
		rows, err := s.rows(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if r.Questions > 0 {
				out[a.ID] += r.Questions
			}
		}
	}
	return out, nil
}

// Edit replaces a feedback's content on the teacher's behalf, with a note
// kept in its history. rev as for Save. It works on submitted, approved and
// released feedback: an approved version is never changed in place, since
// its content as approved stays in the history. Returns not_found unless
// caller manages the assignment, conflict for a draft or returned feedback
// (the grader holds it), and an errs.List for invalid content.
func (s *Service) Edit(ctx context.Context, caller account.User, id string, rev int, c Content, note string) (Feedback, error) {
	f, a, err := s.teacherFeedback(ctx, caller, id)
	if err != nil {
		return Feedback{}, err
	}
	text, err := s.intake.Text(ctx, f.VersionID)
	if err != nil {
		return Feedback{}, err
	}
	if c, err = checkContent(c, a, anchor.NewDoc(text.GraderText)); err != nil {
		return Feedback{}, err
	}
	if err := checkEdited(c, a); err != nil {
		return Feedback{}, err
	}
	return s.mutate(ctx, id, rev, true, func(f *Feedback) error {
		if !editable(f.State) {
			return errs.E(errs.Conflict, "The grader is still writing this feedback; return or wait for it before editing.")
		}
		f.Content = c
		f.History = append(f.History, s.edit(caller, "edit", note, f))
		return nil
	})
}

// Return sends submitted feedback back to its grader with a note, and
// reports the task returned to matching. Returns not_found unless caller
// manages the assignment, invalid without a note, and conflict unless the
// feedback is submitted.
func (s *Service) Return(ctx context.Context, caller account.User, id, note string) (Feedback, error) {
	if strings.TrimSpace(note) == "" {
		return Feedback{}, errs.F(errs.Invalid, "note", "Say what the grader should change.")
	}
	if _, _, err := s.teacherFeedback(ctx, caller, id); err != nil {
		return Feedback{}, err
	}
	f, err := s.mutate(ctx, id, anyRev, true, func(f *Feedback) error {
		if f.State != Submitted {
			return errs.E(errs.Conflict, "Only submitted feedback can be returned; this one is %s.", f.State)
		}
		f.State, f.ReturnNote = Returned, note
		f.History = append(f.History, Edit{Rev: f.Rev + 1, At: s.stamp(), By: caller.ID, Role: string(caller.Role), Action: "return", Note: note})
		return nil
	})
	if err != nil {
		return Feedback{}, err
	}
	s.notifyReturned(ctx, f)
	return f, s.matching.TaskReturned(ctx, id)
}

// Approve approves submitted feedback: it becomes immutable to the grader,
// the task is reported approved to matching, the grader's payable event is
// inserted (once; its ID is PayableEventID), and when every submission's
// current version has approved first-read feedback the assignment is
// advanced to graded. Approving approved feedback again repeats only the
// idempotent steps, so a retry after a crash completes them. Returns
// not_found unless caller manages the assignment, and conflict unless the
// feedback is submitted, or while a disagreement awaits adjudication.
func (s *Service) Approve(ctx context.Context, caller account.User, id string) (Feedback, error) {
	_, a, err := s.teacherFeedback(ctx, caller, id)
	if err != nil {
		return Feedback{}, err
	}
	f, err := s.mutate(ctx, id, anyRev, true, func(f *Feedback) error {
		switch {
		case f.State.Final():
			return errAlready
		case f.State != Submitted:
			return errs.E(errs.Conflict, "Only submitted feedback can be approved; this one is %s.", f.State)
		case f.Disagreement != nil && !f.Disagreement.Resolved:
			return errs.E(errs.Conflict, "The two reads of this submission disagree; adjudicate before approving.")
		}
		now := s.stamp()
		f.State, f.ApprovedAt = Approved, &now
		f.History = append(f.History, s.edit(caller, "approve", "", f))
		return nil
	})
	if err == errAlready { // a retry: complete what the first approval may not have
		if err = s.project(ctx, id, fullProjection); err == nil {
			f, err = s.get(ctx, id)
		}
	}
	if err != nil {
		return Feedback{}, err
	}
	if err := s.matching.TaskApproved(ctx, id); err != nil {
		return Feedback{}, err
	}
	return f, s.advanceIfGraded(ctx, a.ID)
}

var errAlready = errs.E(errs.Conflict, "already approved")

// advanceIfGraded moves the assignment to graded when every submission's
// current version has approved (or released) first-read feedback.
func (s *Service) advanceIfGraded(ctx context.Context, assignmentID string) error {
	rows, err := s.intake.Rows(ctx, assignmentID)
	if err != nil || len(rows) == 0 {
		return err
	}
	fb, err := s.rows(ctx, assignmentID)
	if err != nil {
		return err
	}
	byID := byTask(fb)
	for _, r := range rows {
		if !byID[currentFirst(r)].State.Final() {
			return nil
		}
	}
	if err := s.intake.Advance(ctx, assignmentID, intake.Graded); err != nil {
		return err
	}
	if s.notes != nil {
		if a, err := s.intake.Assignment(ctx, assignmentID); err == nil {
			s.notifyGraded(ctx, a)
		}
	}
	return nil
}

// Adjudicate settles a flagged disagreement between the two reads of a
// submission version: levels (one for every criterion) become the first
// read's levels, both reads are marked resolved, and the decision is kept.
// id names either read. Returns not_found unless caller manages the
// assignment, conflict when nothing is flagged, and an errs.List for
// missing or unknown levels.
func (s *Service) Adjudicate(ctx context.Context, caller account.User, id string, levels map[string]string, note string) (Feedback, error) {
	f, a, err := s.teacherFeedback(ctx, caller, id)
	if err != nil {
		return Feedback{}, err
	}
	if f.Disagreement == nil {
		return Feedback{}, errs.E(errs.Conflict, "The reads of this submission do not disagree; there is nothing to adjudicate.")
	}
	if _, err := a.Rubric.Score(levels); err != nil {
		return Feedback{}, err
	}
	adj := &Adjudication{Levels: levels, Note: note, By: caller.ID, At: s.stamp()}
	first, err := s.mutate(ctx, TaskID(f.VersionID, First), anyRev, true, func(f *Feedback) error {
		if f.State.Final() {
			return errs.E(errs.Conflict, "The first read is already approved.")
		}
		adj.Replaced = maps.Clone(f.Levels)
		if f.Adjudication != nil && f.Adjudication.Replaced != nil { // adjudicated again: the grader's levels are the first decision's
			adj.Replaced = f.Adjudication.Replaced
		}
		f.Levels, f.Adjudication = levels, adj
		f.Disagreement.Resolved = true
		f.History = append(f.History, s.edit(caller, "adjudicate", note, f))
		return nil
	})
	if err != nil {
		return Feedback{}, err
	}
	_, err = s.mutate(ctx, TaskID(f.VersionID, Second), anyRev, false, func(f *Feedback) error {
		if f.Disagreement != nil {
			f.Disagreement.Resolved = true
		}
		f.Adjudication = adj
		return nil
	})
	if err != nil && !errs.Is(err, errs.NotFound) {
		return Feedback{}, err
	}
	return first, nil
}

// AdjudicateAndApprove settles a flagged disagreement as Adjudicate does
// and approves both reads in the same action: the first read with the
// teacher's levels, and the second read (when it is submitted) as it
// stands, so that neither stays waiting and the pair counts towards
// agreement. Repeating it after a crash completes what the first call did
// not: once the first read is approved with its adjudication the levels
// are not applied again. Returns what Adjudicate and Approve return.
func (s *Service) AdjudicateAndApprove(ctx context.Context, caller account.User, id string, levels map[string]string, note string) (Feedback, error) {
	f, _, err := s.teacherFeedback(ctx, caller, id)
	if err != nil {
		return Feedback{}, err
	}
	firstID, secondID := TaskID(f.VersionID, First), TaskID(f.VersionID, Second)
	first, err := s.get(ctx, firstID)
	if err != nil {
		return Feedback{}, err
	}
	if !first.State.Final() || first.Adjudication == nil {
		if _, err := s.Adjudicate(ctx, caller, id, levels, note); err != nil {
			return Feedback{}, err
		}
	}
	if first, err = s.Approve(ctx, caller, firstID); err != nil {
		return Feedback{}, err
	}
	second, err := s.get(ctx, secondID)
	switch {
	case errs.Is(err, errs.NotFound):
		return first, nil
	case err != nil:
		return Feedback{}, err
	case second.State == Submitted || second.State.Final():
		if _, err := s.Approve(ctx, caller, secondID); err != nil {
			return Feedback{}, err
		}
	}
	return first, nil
}

// ReleaseResult says what a release did: the feedback released now, and the
// students whose current version has no approved feedback yet (nothing of
// theirs was held back that could be released).
type ReleaseResult struct {
	Released []string `json:"released"`
	Pending  []string `json:"pending"`
}

// Release makes approved first-read feedback visible to the students: of
// every student of the assignment, or of one (studentID not empty). Every
// approved version is released (a revision's too). Once every student's
// current version is released the assignment advances to released.
// Releasing again is a no-op. Returns not_found unless
// caller manages the assignment, or for an unknown student.
func (s *Service) Release(ctx context.Context, caller account.User, assignmentID, studentID string) (ReleaseResult, error) {
	a, err := s.intake.AuthorizeAssignment(ctx, caller, assignmentID)
	if err != nil {
		return ReleaseResult{}, err
	}
	rows, err := s.intake.Rows(ctx, assignmentID)
	if err != nil {
		return ReleaseResult{}, err
	}
	if studentID != "" {
		rows = keepStudent(rows, studentID)
		if len(rows) == 0 {
			return ReleaseResult{}, errs.E(errs.NotFound, "No submission from student %q on this assignment.", studentID)
		}
	}
	fb, err := s.rows(ctx, assignmentID)
	if err != nil {
		return ReleaseResult{}, err
	}
	byID := byTask(fb)
	res := ReleaseResult{Released: []string{}, Pending: []string{}}
	for _, r := range rows {
		sub := r.SubmissionID
		for n := 1; n <= r.Version; n++ {
			id := TaskID(intake.VersionID(sub, n), First)
			if byID[id].State == Released {
				// A release again, or a retry after a crash: the event's
				// key makes telling the student again a no-op.
				s.notifyReleased(ctx, a, r, n)
			}
			if byID[id].State != Approved {
				continue
			}
			released, err := s.release(ctx, caller, id)
			if err != nil {
				return ReleaseResult{}, err
			}
			if released != "" {
				res.Released = append(res.Released, released)
				s.notifyReleased(ctx, a, r, n)
			}
		}
		if !byID[currentFirst(r)].State.Final() {
			res.Pending = append(res.Pending, r.StudentID)
		}
	}
	if len(res.Released) > 0 {
		if err := s.advanceIfReleased(ctx, assignmentID); err != nil {
			return ReleaseResult{}, err
		}
	}
	// Also when nothing new was released: releasing again repeats what a
	// crash may have cut short.
	s.released(ctx, assignmentID)
	return res, nil
}

// advanceIfReleased moves the assignment to released once every
// submission's current version has released first-read feedback. Until
// then (students released one at a time) it stays where it is, so that
// matching keeps serving it.
func (s *Service) advanceIfReleased(ctx context.Context, assignmentID string) error {
	rows, err := s.intake.Rows(ctx, assignmentID)
	if err != nil {
		return err
	}
	fb, err := s.rows(ctx, assignmentID)
	if err != nil {
		return err
	}
	byID := byTask(fb)
	for _, r := range rows {
		if byID[currentFirst(r)].State != Released {
			return nil
		}
	}
	return s.intake.Advance(ctx, assignmentID, intake.Released)
}

// currentFirst is the task ID of the first read of a submission's current
// version.
func currentFirst(r intake.Row) string {
	return TaskID(intake.VersionID(r.SubmissionID, r.Version), First)
}

func keepStudent(rows []intake.Row, studentID string) []intake.Row {
	for _, r := range rows {
		if r.StudentID == studentID {
			return []intake.Row{r}
		}
	}
	return nil
}

// release releases one approved feedback and returns its ID, or "" when it
// is not approved (any more).
func (s *Service) release(ctx context.Context, caller account.User, id string) (string, error) {
	_, err := s.mutate(ctx, id, anyRev, true, func(f *Feedback) error {
		if f.State != Approved {
			return errAlready
		}
		now := s.stamp()
		f.State, f.ReleasedAt = Released, &now
		f.History = append(f.History, Edit{Rev: f.Rev + 1, At: now, By: caller.ID, Role: string(caller.Role), Action: "release"})
		return nil
	})
	if err == errAlready {
		return "", nil
	}
	return id, err
}
