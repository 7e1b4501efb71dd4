package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// demoCalibration drives calibration through the pages on the demo school:
// the teacher scores two anchor papers on the assignment page; a grader finds the
// assignment waiting for calibration, leaves a criterion out (the form
// comes back with the sentence and the levels chosen), scores the first
// paper far from the teacher (not passed: the teacher's levels are shown),
// and passes on the second paper.
func demoCalibration(t *testing.T, in *instance, teacherToken, teacherEmail, password, assignmentID string) {
	t.Helper()
	criteria := []string{"thesis", "evidence", "analysis", "organization", "conventions"}
	all := func(level string) map[string]string {
		m := map[string]string{}
		for _, c := range criteria {
			m[c] = level
		}
		return m
	}
	// The teacher scores two anchor papers on the assignment page (a form
	// missing a level comes back with the sentence and the choices kept).
	tc := browserClient(t)
	_, _, tok := page(t, tc, in, "/signin")
	postForm(t, tc, in, "/signin", url.Values{"_csrf": {tok}, "email": {teacherEmail}, "password": {password}})
	asgPath := "/teacher/assignments/" + assignmentID
	_, body, tok := page(t, tc, in, asgPath)
	if !strings.Contains(body, "Anchor papers for calibration") {
		t.Fatalf("the assignment page has no anchor papers section:\n%s", body)
	}
	anchor := func(student string, levels map[string]string) (*http.Response, string) {
		f := url.Values{"_csrf": {tok}, "student_id": {student}}
		for k, v := range levels {
			f.Set("level-"+k, v)
		}
		return postPage(t, tc, in, asgPath+"/anchors", f)
	}
	partial := all("advanced")
	delete(partial, "conventions")
	if r, body := anchor("1001", partial); r.StatusCode/100 != 4 || !strings.Contains(body, "Conventions") || !strings.Contains(body, `value="1001" selected`) {
		t.Fatalf("an anchor without a conventions level: %d", r.StatusCode)
	}
	for _, a := range [][2]string{{"1001", "proficient"}, {"1003", "developing"}} { // in this order: graders get the first one first
		if r, _ := anchor(a[0], all(a[1])); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("saving the anchor paper of %s: %d", a[0], r.StatusCode)
		}
	}
	if _, body, _ := page(t, tc, in, asgPath); !strings.Contains(body, "2 anchor papers") {
		t.Fatalf("the assignment page after two anchors:\n%s", body)
	}

	c := browserClient(t)
	_, _, tok = page(t, c, in, "/signin")
	postForm(t, c, in, "/signin", url.Values{"_csrf": {tok}, "email": {"cho@readers.example.net"}, "password": {password}})
	if _, body, _ := page(t, c, in, "/grader"); !strings.Contains(body, "waiting for your calibration") {
		t.Fatalf("the grader's home does not point to calibration:\n%s", body)
	}
	_, body, _ = page(t, c, in, "/grader/calibration")
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
	r, body := postPage(t, c, in, path, form(partial))
	if r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a calibration without a conventions level: %d", r.StatusCode)
	}
	if !strings.Contains(body, "Conventions") || !strings.Contains(body, `value="advanced" required checked`) {
		t.Fatalf("the form did not come back with the sentence and the levels chosen:\n%s", body)
	}

	// Each attempt leads to its outcome's own page (post/redirect/get):
	// reloading it shows the same outcome and spends nothing.
	attempt := func(levels map[string]string) string {
		t.Helper()
		r, _ := postPage(t, c, in, path, form(levels))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("a calibration attempt: %d, want 303", r.StatusCode)
		}
		_, body, _ := page(t, c, in, r.Header.Get("Location"))
		if _, again, _ := page(t, c, in, r.Header.Get("Location")); again != body {
			t.Fatal("reloading an attempt's outcome changed it")
		}
		return body
	}
	if body := attempt(all("emerging")); !strings.Contains(body, "Not passed this time") || !strings.Contains(body, "<strong>Proficient</strong>") ||
		!strings.Contains(body, "Retry on another anchor paper") {
		t.Fatalf("a failed attempt:\n%s", body)
	}
	if body := attempt(all("developing")); !strings.Contains(body, "You passed calibration") {
		t.Fatalf("the retry on the second paper:\n%s", body)
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
