package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// demoCalibration drives the grader's calibration pages on the demo
// school: the teacher sets two anchor papers; a grader finds the
// assignment waiting for calibration, leaves a criterion out (the form
// comes back with the sentence and the levels chosen), scores the first
// paper far from the teacher (not passed: the teacher's levels are shown),
// and passes on the second paper.
func demoCalibration(t *testing.T, in *instance, teacherToken, password, assignmentID string) {
	t.Helper()
	criteria := []string{"thesis", "evidence", "analysis", "organization", "conventions"}
	all := func(level string) map[string]string {
		m := map[string]string{}
		for _, c := range criteria {
			m[c] = level
		}
		return m
	}
	in.must(200, "PUT", "/api/v1/assignments/"+assignmentID+"/anchors", teacherToken, map[string]any{"anchors": []map[string]any{
		{"student_id": "1001", "levels": all("proficient")}, {"student_id": "1003", "levels": all("developing")},
	}})

	c := browserClient(t)
	_, _, tok := page(t, c, in, "/signin")
	postForm(t, c, in, "/signin", url.Values{"_csrf": {tok}, "email": {"cho@readers.example.net"}, "password": {password}})
	if _, body, _ := page(t, c, in, "/grader"); !strings.Contains(body, "waiting for your calibration") {
		t.Fatalf("the grader's home does not point to calibration:\n%s", body)
	}
	_, body, _ := page(t, c, in, "/grader/calibration")
	if !strings.Contains(body, "Research essay: personalized learning") || !strings.Contains(body, "Score the anchor paper") {
		t.Fatalf("the calibration list:\n%s", body)
	}
	path := "/grader/calibration/" + assignmentID
	resp, body, tok := page(t, c, in, path)
	if resp.StatusCode != 200 || !strings.Contains(body, `name="level-thesis"`) || strings.Contains(body, "Avery") {
		t.Fatalf("the anchor paper page: %d (it must show the rubric and never the student's name)\n%s", resp.StatusCode, body)
	}

	form := func(levels map[string]string) url.Values {
		f := url.Values{"_csrf": {tok}}
		for k, v := range levels {
			f.Set("level-"+k, v)
		}
		return f
	}
	partial := all("advanced")
	delete(partial, "conventions")
	r, body := postPage(t, c, in, path, form(partial))
	if r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a calibration without a conventions level: %d", r.StatusCode)
	}
	if !strings.Contains(body, "Conventions") || !strings.Contains(body, `value="advanced" required checked`) {
		t.Fatalf("the form did not come back with the sentence and the levels chosen:\n%s", body)
	}

	r, body = postPage(t, c, in, path, form(all("emerging")))
	if r.StatusCode != 200 || !strings.Contains(body, "Not passed this time") || !strings.Contains(body, "<strong>Proficient</strong>") ||
		!strings.Contains(body, "Retry on another anchor paper") {
		t.Fatalf("a failed attempt: %d\n%s", r.StatusCode, body)
	}
	r, body = postPage(t, c, in, path, form(all("developing")))
	if r.StatusCode != 200 || !strings.Contains(body, "You passed calibration") {
		t.Fatalf("the retry on the second paper: %d\n%s", r.StatusCode, body)
	}
	if _, body, _ := page(t, c, in, "/grader/calibration"); !strings.Contains(body, "passed") {
		t.Fatalf("the calibration list after passing:\n%s", body)
	}
	if r, _ := postPage(t, c, in, path, form(all("developing"))); r.StatusCode != http.StatusConflict {
		t.Fatalf("a third attempt: %d, want 409", r.StatusCode)
	}
	if r := in.call("GET", "/grader/calibration", teacherToken, nil); r.Status != http.StatusForbidden {
		t.Fatalf("a teacher on the calibration page: %d", r.Status)
	}
}
