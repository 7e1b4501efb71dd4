package intake

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// Funds is what intake needs of school billing: credit set aside for the
// work an assignment sends to graders, and given back when the assignment
// closes. payouts.Service implements it; without one (SetFunds never
// called) nothing is held.
type Funds interface {
	// Hold sets aside h.Cents of the school's credit for the assignment,
	// once per h.Key: a repeat with a key already held changes nothing. It
	// returns errs.InsufficientCredit when the school's available credit is
	// short.
	Hold(ctx context.Context, h Hold) error
	// Release gives back to the school what is still held for the
	// assignment (work never graded). Releasing again changes nothing.
	Release(ctx context.Context, schoolID, assignmentID string) error
}

// Hold is credit set aside for grading submissions of an assignment.
type Hold struct {
	SchoolID     string
	AssignmentID string
	Title        string
	// Key makes the hold once-only: "publish:<n>" for publishing n
	// submissions, "version:<version id>" for a version uploaded later.
	Key         string
	Submissions int
	Cents       int64 // the assignment's price × Submissions
	Currency    string
}

// SetFunds makes publishing and later uploads hold credit through f.
func (s *Service) SetFunds(f Funds) { s.funds = f }

// hold asks billing to hold the price of n submissions of a.
func (s *Service) hold(ctx context.Context, a Assignment, key string, n int) error {
	if s.funds == nil || n <= 0 {
		return nil
	}
	return s.funds.Hold(ctx, Hold{SchoolID: a.SchoolID, AssignmentID: a.ID, Title: a.Title, Key: key,
		Submissions: n, Cents: a.PriceCents * int64(n), Currency: a.Currency})
}

// SubmissionCount is how many students' submissions an assignment has: what
// publishing it holds the price of. One read by _id.
func (s *Service) SubmissionCount(ctx context.Context, assignmentID string) (int, error) {
	h, err := s.listHead(ctx, assignmentID, true)
	return h.total(), err
}

// errClosed is what work on a closed assignment gets.
func errClosed() error {
	return errs.E(errs.Conflict, "This assignment is closed; it takes no more submissions or revisions.")
}

// Close ends an assignment: it takes no more uploads or revisions, is
// never published (closing a draft cancels it), and matching offers none of
// its work any more (work graders hold already can still be handed in and
// approved). Billing then releases what is still held for it: the price of
// work that was never graded. Closing a closed assignment releases again
// (a no-op once released), so a close interrupted before the release is
// finished by repeating it. Returns not_found unless caller manages the
// assignment.
func (s *Service) Close(ctx context.Context, caller account.User, id string) (Assignment, error) {
	a, err := s.AuthorizeAssignment(ctx, caller, id)
	if err != nil {
		return Assignment{}, err
	}
	if a.ClosedAt == nil {
		now := s.stamp()
		err := s.changeAssignment(ctx, id, func() error {
			_, err := s.c(colAssignments).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "closed_at", Value: now}}}})
			return errs.Wrap(err, "close assignment")
		})
		if err != nil {
			return Assignment{}, err
		}
	}
	if s.funds != nil {
		if err := s.funds.Release(ctx, a.SchoolID, a.ID); err != nil {
			return Assignment{}, err
		}
	}
	return s.Assignment(ctx, id)
}

// closed reports whether a's teacher has closed it.
func closed(a Assignment) bool { return a.ClosedAt != nil }

// Pseudonym is the pseudonym of a submission's student, for a school's
// statement: never their name. One read by _id.
func (s *Service) Pseudonym(ctx context.Context, submissionID string) (string, error) {
	sub, err := s.Submission(ctx, submissionID)
	return sub.Pseudonym, err
}
