package feedback

import (
	"context"
)

// The reads in this file, with Student, Class and PayableLog, have no
// access check: they are for other services (analytics, payouts), which read
// feedback's collections only through them.

// Rows returns every row of an assignment's feedback (every version and
// reader), with the digest of each approved or released feedback and of
// each submitted second read, ordered by student, version and reader. It
// reads the list header and its pages by _id (a page per 50 rows), never
// the feedback documents.
func (s *Service) Rows(ctx context.Context, assignmentID string) ([]Row, error) {
	return s.rows(ctx, assignmentID)
}

// Get returns a feedback by ID, without an access check (for other
// services). Returns not_found.
func (s *Service) Get(ctx context.Context, id string) (Feedback, error) { return s.get(ctx, id) }
