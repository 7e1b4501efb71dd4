package e2e

import "testing"

// demoStudentPages drives the student's pages on the demo school; links are
// the students' access-link paths (/s/...).
func demoStudentPages(t *testing.T, in *instance, links []string) {
	t.Helper()
}
