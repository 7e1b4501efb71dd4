package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// demoSummary checks the demo's class summary page: the table with
// medians and means, the support list, focus points, turnaround and the
// exports; pseudonyms by default and names only when asked.
func demoSummary(t *testing.T, in *instance, teacherToken, assignmentID string) {
	t.Helper()
	path := "/teacher/assignments/" + assignmentID + "/summary"
	r := in.call("GET", path, teacherToken, nil)
	body := string(r.Body)
	for _, want := range []string{"Median", "Mean (points)", "Students who may need support", "Your focus points", "Turnaround",
		`id="levels-chart"`} {
		if r.Status != 200 || !strings.Contains(body, want) {
			t.Fatalf("the class summary page (%d) lacks %q:\n%.3000s", r.Status, want, body)
		}
	}
	// Every export link works for the teacher's session.
	links := regexp.MustCompile(`href="(/api/v1/analytics/assignments/[^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(links) != 3 {
		t.Fatalf("the class summary page has %d export links, want 3", len(links))
	}
	for _, l := range links {
		if r := in.call("GET", l[1], teacherToken, nil); r.Status != 200 || len(r.Body) == 0 {
			t.Fatalf("the export %s: %d", l[1], r.Status)
		}
	}
	if strings.Contains(body, "%!") {
		t.Fatalf("the class summary page has a formatting error:\n%s", body)
	}
	if strings.Contains(body, "Avery Rivera") {
		t.Fatal("the class summary shows a student's name without being asked")
	}
	// The assignment page shows the turnaround: since publication, and per
	// batch how much is approved.
	asgPage := string(in.call("GET", "/teacher/assignments/"+assignmentID, teacherToken, nil).Body)
	if !strings.Contains(asgPage, `id="turnaround"`) || !regexp.MustCompile(`[1-9] of \d+ approved; the last`).MatchString(asgPage) {
		t.Fatalf("the assignment page shows no turnaround:\n%s", asgPage)
	}
	named := string(in.call("GET", path+"?names=true", teacherToken, nil).Body)
	if !strings.Contains(named, "Avery Rivera") && !strings.Contains(named, "Jordan Okafor") {
		t.Fatalf("the class summary with names=true shows no student's name:\n%s", named)
	}
}
