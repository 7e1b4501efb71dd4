package feedback

import (
	"context"
	"fmt"
	"strconv"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/services/intake"
)

// Notifier is where feedback raises events for teachers, graders and
// students (pkg/notify.Service). Raising the same event again is a no-op.
type Notifier interface {
	Notify(ctx context.Context, e notify.Event) error
}

// SetNotifier makes the service raise its events (feedback waiting for
// review, returned, two reads disagreeing, an assignment fully graded,
// feedback released, a student's question or reflection) into n. Without
// one it raises none.
func (s *Service) SetNotifier(n Notifier) { s.notes = n }

// raise sends e and logs a failure: the change it reports is stored, and
// the user's request must not fail for its message.
func (s *Service) raise(ctx context.Context, e notify.Event) {
	if err := s.notes.Notify(ctx, e); err != nil {
		s.log.Warn("notify", "kind", e.Kind, "key", e.Key, "err", err)
	}
}

// person is a recipient for a user's account: email allowed when there is
// an address.
func (s *Service) person(ctx context.Context, userID string, role account.Role) (notify.Recipient, bool) {
	u, err := s.accounts.User(ctx, userID)
	if err != nil {
		s.log.Warn("notify: recipient", "user", userID, "err", err)
		return notify.Recipient{}, false
	}
	return notify.Recipient{UserID: u.ID, Role: role, Email: u.Email, EmailAllowed: u.Email != ""}, true
}

// toTeacher raises e for the assignment's teacher.
func (s *Service) toTeacher(ctx context.Context, a intake.Assignment, e notify.Event) {
	if s.notes == nil {
		return
	}
	r, ok := s.person(ctx, a.TeacherID, account.Teacher)
	if !ok {
		return
	}
	e.Recipients = []notify.Recipient{r}
	s.raise(ctx, e)
}

// studentName is the rostered name of f's student for a teacher's message.
func (s *Service) studentName(ctx context.Context, f Feedback) string {
	if st, err := s.intake.Student(ctx, f.ClassID, f.StudentID); err == nil {
		return st.Name()
	}
	return "student " + f.StudentID
}

// notifySubmitted tells the teacher that f waits for review.
func (s *Service) notifySubmitted(ctx context.Context, f Feedback, a intake.Assignment) {
	if s.notes == nil {
		return
	}
	name := s.studentName(ctx, f)
	s.toTeacher(ctx, a, notify.Event{
		Kind: notify.ReviewWaiting, Key: f.ID + "/" + strconv.Itoa(f.Rev),
		Title: fmt.Sprintf("Feedback for %s waits for your review", name),
		Text:  fmt.Sprintf("A grader submitted the %s read of %s's %q. Approve it, edit it, or return it with a note.", f.Reader, name, a.Title),
		Link:  "/teacher/feedback/" + f.ID,
	})
}

// notifyDisagree tells the teacher that the two reads of f's version
// disagree.
func (s *Service) notifyDisagree(ctx context.Context, f Feedback, a intake.Assignment, criteria []string) {
	if s.notes == nil {
		return
	}
	first := TaskID(f.VersionID, First)
	s.toTeacher(ctx, a, notify.Event{
		Kind: notify.ReadsDisagree, Key: first,
		Title: fmt.Sprintf("Two reads of %s's work disagree", s.studentName(ctx, f)),
		Text:  fmt.Sprintf("The two graders of %q are far apart on %d criteria. Adjudicate before approving.", a.Title, len(criteria)),
		Link:  "/teacher/feedback/" + first,
	})
}

// notifyGraded tells the teacher that every submission of the assignment
// has approved feedback.
func (s *Service) notifyGraded(ctx context.Context, a intake.Assignment) {
	s.toTeacher(ctx, a, notify.Event{
		Kind: notify.AssignmentGraded, Key: a.ID,
		Title: fmt.Sprintf("%q is fully graded", a.Title),
		Text:  "Every submission has approved feedback. Release it to the students when you are ready, and read the class summary.",
		Link:  "/teacher/assignments/" + a.ID + "/summary",
	})
}

// notifyReflection tells the teacher of a student's question or
// reflection, the nth on f.
func (s *Service) notifyReflection(ctx context.Context, f Feedback, kind string, n int) {
	if s.notes == nil {
		return
	}
	a, err := s.intake.Assignment(ctx, f.AssignmentID)
	if err != nil {
		return
	}
	what := "wrote a reflection on"
	if kind == "question" {
		what = "asked a question about"
	}
	name := s.studentName(ctx, f)
	s.toTeacher(ctx, a, notify.Event{
		Kind: notify.StudentMessage, Key: f.ID + "/" + strconv.Itoa(n),
		Title: fmt.Sprintf("%s %s their feedback", name, what),
		Text:  fmt.Sprintf("%s %s the feedback on %q.", name, what, a.Title),
		Link:  "/teacher/feedback/" + f.ID,
	})
}

// notifyReturned tells the grader their feedback came back, with the
// teacher's note. A note that names the student is left out of the message
// (graders see pseudonyms only); the grader reads it on the task.
func (s *Service) notifyReturned(ctx context.Context, f Feedback) {
	if s.notes == nil {
		return
	}
	r, ok := s.person(ctx, f.GraderID, account.Grader)
	if !ok {
		return
	}
	var ids []string
	if st, err := s.intake.Student(ctx, f.ClassID, f.StudentID); err == nil {
		ids = []string{st.GivenName, st.FamilyName, st.Name(), st.StudentID, st.Email}
	}
	e := notify.Event{
		Kind: notify.FeedbackReturned, Key: f.ID + "/" + strconv.Itoa(f.Rev),
		Title:      "The teacher returned your feedback",
		Text:       "The teacher returned your feedback with this note:\n\n" + f.ReturnNote,
		Link:       "/grader/tasks/" + f.ID,
		Recipients: []notify.Recipient{r}, StudentIdentifiers: ids,
	}
	err := s.notes.Notify(ctx, e)
	if errs.Is(err, errs.Invalid) {
		e.Text = "The teacher returned your feedback with a note. Open the task to read it and revise."
		err = s.notes.Notify(ctx, e)
	}
	if err != nil {
		s.log.Warn("notify", "kind", e.Kind, "key", e.Key, "err", err)
	}
}

// notifyReleased tells the student of row r that the feedback on version
// n of their work is released: by email too when their teacher turned
// email on for the class and the roster has their address.
func (s *Service) notifyReleased(ctx context.Context, a intake.Assignment, r intake.Row, n int) {
	if s.notes == nil {
		return
	}
	st, err := s.intake.Student(ctx, a.ClassID, r.StudentID)
	if err != nil {
		s.log.Warn("notify: student", "class", a.ClassID, "err", err)
		return
	}
	cl, err := s.intake.Class(ctx, a.ClassID)
	if err != nil {
		s.log.Warn("notify: class", "class", a.ClassID, "err", err)
		return
	}
	e := notify.Event{
		Kind: notify.FeedbackReleased, Key: intake.VersionID(r.SubmissionID, n),
		Title: fmt.Sprintf("Your feedback on %q is ready", a.Title),
		Text:  "Your teacher released the feedback on your work. Read it, rate how helpful it was, and revise if you want to.",
		Link:  "/student/submissions/" + r.SubmissionID,
		Recipients: []notify.Recipient{{UserID: account.EnrolmentUserID(a.ClassID, r.StudentID), Role: account.Student,
			Email: st.Email, EmailAllowed: cl.EmailStudents && st.Email != ""}},
	}
	if n > 1 {
		e.Kind = notify.RevisionGraded
		e.Title = fmt.Sprintf("Your revision of %q is graded", a.Title)
		e.Text = fmt.Sprintf("The feedback on version %d of your work is ready: see what changed on each criterion.", n)
	}
	s.raise(ctx, e)
}
