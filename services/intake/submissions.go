package intake

import (
	"context"
	"io"
	"strconv"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Page is one page of an assignment's submission list.
type Page struct {
	Rows  []Row  `json:"rows"`
	Total int    `json:"total"`
	Next  string `json:"next,omitempty"` // pass as after= for the next page; empty on the last
}

// ListSubmissions returns a page of an assignment's list, at most limit
// rows (1 to 500, default 100) in the order the students first handed in,
// from the cursor after (the previous page's Next; "" for the first page).
// It reads the list's head and the pages the rows are on: bytes in
// proportion to the page, not to the assignment. Returns Invalid for a
// limit or cursor out of range.
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
	from := 1
	if after != "" {
		n, err := strconv.Atoi(after)
		if err != nil || n < 1 {
			return Page{}, errs.F(errs.Invalid, "after", "after must be the next value of the previous page.")
		}
		from = n
	}
	return s.listFrom(ctx, assignmentID, from, limit)
}

// SubmissionFor returns a submission to its class's teacher (or an admin)
// or to the student who wrote it. The student sees it without the
// versions whose flag is still open (Submission.ForStudent), and not at
// all if every version is flagged.
func (s *Service) SubmissionFor(ctx context.Context, caller account.User, id string) (Submission, Assignment, error) {
	sub, err := s.Submission(ctx, id)
	if err != nil {
		return Submission{}, Assignment{}, err
	}
	a, err := s.Assignment(ctx, sub.AssignmentID)
	if err != nil {
		return Submission{}, Assignment{}, err
	}
	if caller.Role == account.Admin || caller.Role == account.Teacher && caller.ID == a.TeacherID {
		return sub, a, nil
	}
	if IsStudentOf(caller, sub.ClassID, sub.StudentID) {
		if sub = sub.ForStudent(); len(sub.Versions) > 0 {
			return sub, a, nil
		}
	}
	return Submission{}, Assignment{}, errs.E(errs.NotFound, "No submission with ID %q.", id)
}

// Original opens version n of a submission's original file, for its
// teacher or its student only. The caller closes the reader.
func (s *Service) Original(ctx context.Context, caller account.User, id string, n int) (io.ReadCloser, Version, error) {
	v, err := s.versionFor(ctx, caller, id, n)
	if err != nil {
		return nil, Version{}, err
	}
	rc, _, err := s.blobs.Get(ctx, v.BlobKey)
	if err != nil {
		return nil, Version{}, errs.Wrap(err, "open original")
	}
	return rc, v, nil
}

// versionFor returns version n of a submission (0: the latest) if caller
// may see it (SubmissionFor).
func (s *Service) versionFor(ctx context.Context, caller account.User, id string, n int) (Version, error) {
	sub, _, err := s.SubmissionFor(ctx, caller, id)
	if err != nil {
		return Version{}, err
	}
	if n == 0 {
		return sub.Current(), nil
	}
	for _, v := range sub.Versions {
		if v.N == n {
			return v, nil
		}
	}
	return Version{}, errs.E(errs.NotFound, "Submission %q has no version %d.", id, n)
}

// MySubmissions lists a student's own submissions in the class of their
// enrolment, as the student sees them (Submission.ForStudent): the
// students' read model (StudentWork) and one read by _id per submission.
func (s *Service) MySubmissions(ctx context.Context, caller account.User) ([]Submission, error) {
	if caller.Role != account.Student {
		return nil, errs.E(errs.Forbidden, "Only students have submissions of their own.")
	}
	classes, err := s.StudentClasses(ctx, caller)
	if err != nil || len(classes) == 0 {
		return []Submission{}, err
	}
	items, err := s.StudentWork(ctx, caller.ClassID, caller.StudentID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, it := range items {
		if it.SubmissionID != "" {
			ids = append(ids, it.SubmissionID)
		}
	}
	subs, err := mongostore.GetMany(ctx, s.c(colSubmissions), ids, func(sub Submission) string { return sub.ID })
	if err != nil {
		return nil, err
	}
	out := []Submission{}
	for _, id := range ids {
		if sub, ok := subs[id]; ok && IsStudentOf(caller, sub.ClassID, sub.StudentID) {
			if sub = sub.ForStudent(); len(sub.Versions) > 0 {
				out = append(out, sub)
			}
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
	return s.startBatch(ctx, caller, a, "", sub.StudentID)
}

// TextFor returns the text a caller may read of a submission version (0:
// the latest): the original for its teacher and student. Graders read
// GraderText through the grading workspace, never here.
func (s *Service) TextFor(ctx context.Context, caller account.User, submissionID string, n int) (string, error) {
	v, err := s.versionFor(ctx, caller, submissionID, n)
	if err != nil {
		return "", err
	}
	t, err := s.Text(ctx, VersionID(submissionID, v.N))
	if err != nil {
		return "", err
	}
	return t.Text, nil
}
