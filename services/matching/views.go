package matching

import (
	"context"
	"slices"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
)

// GraderSummary is what a teacher sees of a grader: display name and
// quality record, never their email or affiliations.
type GraderSummary struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Quality Quality `json:"quality"`
}

// BatchView is a batch with its grader (offered or holding it) and the
// latest offer's explanation.
type BatchView struct {
	Batch
	Grader *GraderSummary `json:"grader,omitempty"`
	Offer  *Offer         `json:"offer,omitempty"`
}

// AssignmentMatching is an assignment's matching as its teacher and admins
// see it.
type AssignmentMatching struct {
	Status
	Batches []BatchView `json:"batches"`
}

// ForAssignment returns an assignment's batches, who grades or was offered
// each and why, and why any batch found no grader, for the assignment's
// teacher or an admin. Returns not_found for anyone else.
func (s *Service) ForAssignment(ctx context.Context, caller account.User, assignmentID string) (AssignmentMatching, error) {
	if _, err := s.intake.AuthorizeAssignment(ctx, caller, assignmentID); err != nil {
		return AssignmentMatching{}, err
	}
	st, err := s.status(ctx, assignmentID)
	if err != nil {
		return AssignmentMatching{}, err
	}
	batches, err := s.batchesOf(ctx, st)
	if err != nil {
		return AssignmentMatching{}, err
	}
	slices.SortFunc(batches, cmpBatch)
	out := AssignmentMatching{Status: st, Batches: make([]BatchView, 0, len(batches))}
	for _, b := range batches {
		v := BatchView{Batch: b}
		if b.OfferID != "" {
			var o Offer
			if err := s.findByID(ctx, colOffers, b.OfferID, "offer", &o); err == nil {
				v.Offer = &o
			}
		}
		gid := b.GraderID
		if gid == "" && v.Offer != nil {
			gid = v.Offer.GraderID
		}
		if gid != "" {
			if d, err := s.profileDoc(ctx, gid); err == nil {
				v.Grader = &GraderSummary{ID: gid, Name: d.Name, Quality: d.Stats.quality()}
			}
		}
		out.Batches = append(out.Batches, v)
	}
	return out, nil
}

// OfferView is an offer as its grader sees it: the work, never the
// school, class, teacher or students. Its fields are the whole of what a
// grader receives (frontend-api tests hold every grader response to an
// allow-list).
type OfferView struct {
	ID           string      `json:"id"`
	BatchID      string      `json:"batch_id"`
	AssignmentID string      `json:"assignment_id"`
	Reader       Reader      `json:"reader"`
	Size         int         `json:"size"`
	DueAt        time.Time   `json:"due_at"`
	Why          Explanation `json:"why"`
	State        OfferState  `json:"state"`
	CreatedAt    time.Time   `json:"created_at"`
	ExpiresAt    time.Time   `json:"expires_at"`
	DecidedAt    *time.Time  `json:"decided_at,omitempty"`

	Title      string        `json:"title"`
	Prompt     string        `json:"prompt"`
	Subject    string        `json:"subject"`
	GradeLevel int           `json:"grade_level"`
	Rubric     intake.Rubric `json:"rubric"`
}

// graderOffer is o as its grader sees it, with its assignment's brief.
func graderOffer(o Offer, a intake.Assignment) OfferView {
	return OfferView{
		ID: o.ID, BatchID: o.BatchID, AssignmentID: o.AssignmentID, Reader: o.Reader, Size: o.Size, DueAt: o.DueAt,
		Why: o.Why, State: o.State, CreatedAt: o.CreatedAt, ExpiresAt: o.ExpiresAt, DecidedAt: o.DecidedAt,
		Title: a.Title, Prompt: a.Prompt, Subject: a.Subject, GradeLevel: a.GradeLevel, Rubric: a.Rubric,
	}
}

// OfferViewOf is an offer of the calling grader's as they see it (see
// OfferView). Returns not_found for anyone else's offer.
func (s *Service) OfferViewOf(ctx context.Context, caller account.User, o Offer) (OfferView, error) {
	if caller.ID != o.GraderID {
		return OfferView{}, errs.E(errs.NotFound, "No offer with ID %q.", o.ID)
	}
	a, err := s.intake.Assignment(ctx, o.AssignmentID)
	if err != nil {
		return OfferView{}, err
	}
	return graderOffer(o, a), nil
}

// GraderOffers lists the calling grader's offers with the assignment's
// title, prompt and rubric, newest first; with open set only the open ones.
// Returns forbidden for anyone but a grader.
func (s *Service) GraderOffers(ctx context.Context, caller account.User, open bool) ([]OfferView, error) {
	offers, err := s.MyOffers(ctx, caller, open)
	if err != nil {
		return nil, err
	}
	out := make([]OfferView, 0, len(offers))
	cache := map[string]intake.Assignment{}
	for _, o := range offers {
		a, ok := cache[o.AssignmentID]
		if !ok {
			if a, err = s.intake.Assignment(ctx, o.AssignmentID); err != nil {
				return nil, err
			}
			cache[o.AssignmentID] = a
		}
		out = append(out, graderOffer(o, a))
	}
	return out, nil
}

// TaskView is a grading task as its grader sees it: opaque IDs of the
// work, its reader, deadline and state; never a school, class or student.
type TaskView struct {
	ID           string     `json:"id"`
	AssignmentID string     `json:"assignment_id"`
	SubmissionID string     `json:"submission_id"`
	VersionID    string     `json:"version_id"`
	Version      int        `json:"version"`
	Reader       Reader     `json:"reader"`
	BatchID      string     `json:"batch_id"`
	DueAt        time.Time  `json:"due_at"`
	State        TaskState  `json:"state"`
	AssignedAt   time.Time  `json:"assigned_at"`
	SubmittedAt  *time.Time `json:"submitted_at,omitempty"`
}

// View is the task as its grader sees it.
func (t Task) View() TaskView {
	return TaskView{ID: t.ID, AssignmentID: t.AssignmentID, SubmissionID: t.SubmissionID, VersionID: t.VersionID, Version: t.Version,
		Reader: t.Reader, BatchID: t.BatchID, DueAt: t.DueAt, State: t.State, AssignedAt: t.AssignedAt, SubmittedAt: t.SubmittedAt}
}

// MyProfile returns the calling grader's profile and quality record.
// Returns forbidden for non-graders and not_found before the first save.
func (s *Service) MyProfile(ctx context.Context, caller account.User) (GraderView, error) {
	if caller.Role != account.Grader {
		return GraderView{}, errs.E(errs.Forbidden, "Only graders have a grader profile.")
	}
	d, err := s.profileDoc(ctx, caller.ID)
	return GraderView{Profile: d.Profile, Quality: d.Stats.quality()}, err
}

// MyTasks lists the calling grader's tasks as they see them. Returns
// forbidden for non-graders.
func (s *Service) MyTasks(ctx context.Context, caller account.User) ([]TaskView, error) {
	if caller.Role != account.Grader {
		return nil, errs.E(errs.Forbidden, "Only graders have grading tasks.")
	}
	ts, err := s.TasksForGrader(ctx, caller.ID)
	out := make([]TaskView, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.View())
	}
	return out, err
}

// RunRoundFor runs a round now on behalf of an assignment's teacher (or an
// admin) and returns the assignment's matching afterwards. Errors are as
// for ForAssignment and RunRound.
func (s *Service) RunRoundFor(ctx context.Context, caller account.User, assignmentID string) (AssignmentMatching, error) {
	if _, err := s.intake.AuthorizeAssignment(ctx, caller, assignmentID); err != nil {
		return AssignmentMatching{}, err
	}
	if _, err := s.RunRound(ctx); err != nil {
		return AssignmentMatching{}, err
	}
	return s.ForAssignment(ctx, caller, assignmentID)
}
