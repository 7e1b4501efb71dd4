package matching

import (
	"context"
	"fmt"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/notify"
)

// Notifier is where matching raises events for graders
// (pkg/notify.Service). Raising the same event again is a no-op.
type Notifier interface {
	Notify(ctx context.Context, e notify.Event) error
}

// SetNotifier makes the service raise its events (offer made and
// expiring, task due soon, vetting decided, calibration result) into n.
// Without one it raises none.
func (s *Service) SetNotifier(n Notifier) { s.notes = n }

// How long before an offer's expiry, and a task's due date, the grader is
// warned.
const (
	offerWarning = 2 * time.Hour
	dueWarning   = 24 * time.Hour
)

// raise sends e to the grader graderID. A failure is logged, never
// returned: the change it reports is stored, and every caller raises
// again on its next pass or retry (the event's Key makes that free).
func (s *Service) raise(ctx context.Context, graderID string, e notify.Event) {
	if s.notes == nil {
		return
	}
	u, err := s.accounts.User(ctx, graderID)
	if err != nil {
		s.log.Warn("notify: grader", "grader", graderID, "kind", e.Kind, "err", err)
		return
	}
	e.Recipients = []notify.Recipient{{UserID: u.ID, Role: account.Grader, Email: u.Email, EmailAllowed: u.Email != ""}}
	if err := s.notes.Notify(ctx, e); err != nil {
		s.log.Warn("notify", "kind", e.Kind, "key", e.Key, "err", err)
	}
}

// assignmentTitle is the assignment's title for a message, or a neutral
// phrase when it cannot be read.
func (s *Service) assignmentTitle(ctx context.Context, id string) string {
	if a, err := s.intake.Assignment(ctx, id); err == nil && a.Title != "" {
		return a.Title
	}
	return "an assignment"
}

// notifyOffer tells the grader of an open offer. It names the assignment
// and counts submissions; graders see no student.
func (s *Service) notifyOffer(ctx context.Context, o Offer) {
	title := s.assignmentTitle(ctx, o.AssignmentID)
	s.raise(ctx, o.GraderID, notify.Event{
		Kind: notify.OfferMade, Key: o.ID,
		Title: fmt.Sprintf("New offer: %s of %q", count(o.Size, "submission"), title),
		Text: fmt.Sprintf("You are offered %s of %q (%s read), due %s.\n\nAccept or decline it by %s; after that it goes to another grader.",
			count(o.Size, "submission"), title, o.Reader, day(o.DueAt), when(o.ExpiresAt)),
		Link: "/grader",
	})
}

// warnOffer warns the grader of an open offer that it expires soon;
// expireOffers calls it on every pass for offers expiring within
// offerWarning.
func (s *Service) warnOffer(ctx context.Context, o Offer) {
	s.raise(ctx, o.GraderID, notify.Event{
		Kind: notify.OfferExpiring, Key: o.ID,
		Title: fmt.Sprintf("An offer of %s expires at %s", count(o.Size, "submission"), when(o.ExpiresAt)),
		Text:  fmt.Sprintf("Your offer of %s of %q expires at %s. Accept it before then, or decline it so that it goes to another grader.", count(o.Size, "submission"), s.assignmentTitle(ctx, o.AssignmentID), when(o.ExpiresAt)),
		Link:  "/grader",
	})
}

// warnDue warns the graders of open tasks whose lease ends (LeaseMargin
// before the due date, when reclaim takes the work back) within
// dueWarning. reclaim calls it on every pass with the open tasks of such a
// batch, which it has read anyway, so it scans nothing of its own.
func (s *Service) warnDue(ctx context.Context, tasks []Task) {
	if s.notes == nil {
		return
	}
	for _, t := range tasks {
		until := t.DueAt.Add(-s.cfg.LeaseMargin)
		s.raise(ctx, t.GraderID, notify.Event{
			Kind: notify.TaskDueSoon, Key: t.ID + "/" + t.DueAt.UTC().Format(time.RFC3339),
			Title: "Feedback due by " + when(until),
			Text:  fmt.Sprintf("Your feedback on a submission of %q is not submitted yet. Submit it by %s; after that the work goes back to be matched again.", s.assignmentTitle(ctx, t.AssignmentID), when(until)),
			Link:  "/grader/tasks/" + t.ID,
		})
	}
}

// notifyVetting tells a grader the admin's decision (always sent).
func (s *Service) notifyVetting(ctx context.Context, p Profile) {
	if p.Status == Pending || p.VettedAt == nil {
		return
	}
	text := "You are approved to grade on Margin: offers of work will come to you as they match your subjects and grade bands."
	if p.Status == Rejected {
		text = "Your application to grade on Margin was not approved."
	}
	s.raise(ctx, p.GraderID, notify.Event{
		Kind: notify.VettingDecided, Key: p.GraderID + "/" + string(p.Status) + "/" + p.VettedAt.UTC().Format(time.RFC3339Nano),
		Title: "Your grader application: " + string(p.Status),
		Text:  text,
		Link:  "/grader/profile",
	})
}

// notifyCalibration tells the grader the result of a calibration attempt.
func (s *Service) notifyCalibration(ctx context.Context, a Attempt, title string) {
	result := "did not pass"
	if a.Passed {
		result = "passed"
	}
	s.raise(ctx, a.GraderID, notify.Event{
		Kind: notify.CalibrationResult, Key: a.AssignmentID + "/" + itoa(a.N),
		Title: fmt.Sprintf("Calibration for %q: you %s", title, result),
		Text:  fmt.Sprintf("Attempt %d matched the reference exactly on %d of %d criteria.", a.N, a.Exact, a.Criteria),
		Link:  fmt.Sprintf("/grader/calibration/%s/attempts/%d", a.AssignmentID, a.N),
	})
}

func day(t time.Time) string  { return t.UTC().Format("Mon 2 Jan") }
func when(t time.Time) string { return t.UTC().Format("Mon 2 Jan 15:04 UTC") }
