package e2e

import "testing"

// demoTeacherReview drives the teacher's review pages on the demo school.
func demoTeacherReview(t *testing.T, in *instance, email, password, assignmentID string) {
	t.Helper()
}
