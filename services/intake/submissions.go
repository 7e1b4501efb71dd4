package intake

import (
	"context"
	"io"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// Page is one page of an assignment's submission list.
type Page struct {
	Rows  []Row  `json:"rows"`
	Total int    `json:"total"`
	Next  string `json:"next,omitempty"` // pass as after= for the next page; empty on the last
}

// ListSubmissions returns the list rows of an assignment after the student
// ID after (exclusive), at most limit (1 to 500, default 100). It is one read
// of the assignment's bucket document, whatever the page.
func (s *Service) ListSubmissions(ctx context.Context, caller account.User, assignmentID, after string, limit int) (Page, error) {
	if _, err := s.AuthorizeAssignment(ctx, caller, assignmentID); err != nil {
		return Page{}, err
	}
	if limit <= 0 {
		limit = 100
	}
	if limit > 500 {
		return Page{}, errs.F(errs.Invalid, "limit", "A page holds at most 500 submissions.")
	}
	rows, err := s.Rows(ctx, assignmentID)
	if err != nil {
		return Page{}, err
	}
	start := 0
	for start < len(rows) && after != "" && rows[start].StudentID <= after {
		start++
	}
	end := min(len(rows), start+limit)
	p := Page{Rows: rows[start:end], Total: len(rows)}
	if end < len(rows) {
		p.Next = rows[end-1].StudentID
	}
	return p, nil
}

// SubmissionFor returns a submission with its current text to its class's
// teacher (or an admin) or to the student who wrote it.
func (s *Service) SubmissionFor(ctx context.Context, caller account.User, id string) (Submission, Assignment, error) {
	sub, err := s.Submission(ctx, id)
	if err != nil {
		return Submission{}, Assignment{}, err
	}
	a, err := s.Assignment(ctx, sub.AssignmentID)
	if err != nil {
		return Submission{}, Assignment{}, err
	}
	if caller.Role == account.Admin || caller.Role == account.Teacher && caller.ID == a.TeacherID || IsStudentOf(caller, sub.ClassID, sub.StudentID) {
		return sub, a, nil
	}
	return Submission{}, Assignment{}, errs.E(errs.NotFound, "No submission with ID %q.", id)
}

// Original opens version n of a submission's original file, for its
// teacher or its student only. The caller closes the reader.
func (s *Service) Original(ctx context.Context, caller account.User, id string, n int) (io.ReadCloser, Version, error) {
	sub, _, err := s.SubmissionFor(ctx, caller, id)
	if err != nil {
		return nil, Version{}, err
	}
	if n < 1 || n > len(sub.Versions) {
		return nil, Version{}, errs.E(errs.NotFound, "Submission %q has no version %d.", id, n)
	}
	v := sub.Versions[n-1]
	rc, _, err := s.blobs.Get(ctx, v.BlobKey)
	if err != nil {
		return nil, Version{}, errs.Wrap(err, "open original")
	}
	return rc, v, nil
}

// MySubmissions lists a student's own submissions in the class of their
// enrolment.
func (s *Service) MySubmissions(ctx context.Context, caller account.User) ([]Submission, error) {
	if caller.Role != account.Student {
		return nil, errs.E(errs.Forbidden, "Only students have submissions of their own.")
	}
	classes, err := s.StudentClasses(ctx, caller)
	if err != nil {
		return nil, err
	}
	out := []Submission{}
	for _, c := range classes {
		as, err := s.Assignments(ctx, account.User{ID: c.TeacherID, Role: account.Teacher}, c.ID)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			sub, err := s.SubmissionOf(ctx, a.ID, caller.StudentID)
			if errs.Is(err, errs.NotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, sub)
		}
	}
	return out, nil
}

// StartRevision opens an upload batch for a student's revised version of
// their own submission. The assignment must allow resubmission and have
// been published.
func (s *Service) StartRevision(ctx context.Context, caller account.User, submissionID string) (*Batch, error) {
	sub, a, err := s.SubmissionFor(ctx, caller, submissionID)
	if err != nil {
		return nil, err
	}
	if caller.Role != account.Student {
		return nil, errs.E(errs.Forbidden, "Revisions are uploaded by the student; teachers upload through the assignment.")
	}
	if !a.AllowResubmission {
		return nil, errs.E(errs.Conflict, "This assignment does not take revisions; ask your teacher.")
	}
	if a.State == Draft {
		return nil, errs.E(errs.Conflict, "This assignment is not open yet.")
	}
	b, err := s.startBatch(ctx, caller, a, "")
	if err != nil {
		return nil, err
	}
	b.own = sub.StudentID
	return b, nil
}

// TextFor returns the text a caller may read of a submission version: the
// original for its teacher and student. Graders read GraderText through the
// grading workspace, never here.
func (s *Service) TextFor(ctx context.Context, caller account.User, submissionID string, n int) (string, error) {
	sub, _, err := s.SubmissionFor(ctx, caller, submissionID)
	if err != nil {
		return "", err
	}
	if n == 0 {
		n = sub.N
	}
	t, err := s.Text(ctx, VersionID(sub.ID, n))
	if err != nil {
		return "", err
	}
	return t.Text, nil
}
