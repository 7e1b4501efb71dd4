package e2e

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestE2EWebTeacher drives the teacher's review loop on the demo school in
// a real browser (e2e/browser/teacher.mjs, see there for the steps): the
// question badges, results in view, editing an assignment's brief until
// grading starts, a submission's text and original, an anchor paper scored
// beside its text, and adjudication that approves both reads. Around it,
// over HTTP: another teacher gets 404 from every new page and the original
// download, a bad edit is refused with its sentence and loses nothing, an
// edit of an assignment in grading is a conflict that says why, and
// afterwards the API shows the edited brief and both reads approved.
func TestE2EWebTeacher(t *testing.T) {
	node, chromium, missing := browserTools(t)
	if missing != "" {
		t.Skip(missing)
	}
	in, d := startDemo(t)
	tok := in.login(d.Teacher, d.Password)
	classID, _ := in.must(200, "GET", "/api/v1/assignments/"+d.AssignmentID, tok, nil)["class_id"].(string)
	var rubric map[string]any
	mustUnmarshal(t, readFixture(t, "rubric.json"), &rubric)
	draft, _ := in.must(201, "POST", "/api/v1/assignments", tok, map[string]any{
		"class_id": classID, "title": "Letter to the editor", "prompt": "Write a letter to the editor.", "rubric": rubric,
		"due_at": time.Now().AddDate(0, 1, 0).UTC().Format(time.RFC3339), "price_cents": 500,
	})["id"].(string)
	question := teacherQuestion(t, in, d.Links)

	subs := asSlice(in.must(200, "GET", "/api/v1/assignments/"+d.AssignmentID+"/submissions", tok, nil)["rows"])
	if len(subs) == 0 {
		t.Fatal("the demo assignment lists no submissions")
	}
	sub, _ := subs[0].(map[string]any)["submission_id"].(string)

	// Another school's teacher finds none of it.
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "teacher.other@elsewhere.example.org", "password": teacherPassword, "name": "Mr Elsewhere", "role": "teacher", "school": "Elsewhere High"})
	other := reviewSignIn(t, in, "teacher.other@elsewhere.example.org", teacherPassword)
	_, _, otherTok := page(t, other, in, "/teacher")
	for _, p := range []string{"/teacher/submissions/" + sub, "/teacher/assignments/" + draft + "/edit", "/api/v1/submissions/" + sub + "/versions/1/original"} {
		if resp, body, _ := page(t, other, in, p); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "personalized") {
			t.Fatalf("another teacher GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	if resp, _ := postPage(t, other, in, "/teacher/assignments/"+draft+"/edit", url.Values{"_csrf": {otherTok}, "title": {"Mine"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another teacher's edit: %d, want 404", resp.StatusCode)
	}

	// Bad edits come back with their sentences and the form as typed; an
	// assignment in grading says why it cannot change.
	c := reviewSignIn(t, in, d.Teacher, d.Password)
	_, _, ctok := page(t, c, in, "/teacher/assignments/"+draft+"/edit")
	bad := url.Values{"_csrf": {ctok}, "title": {"  "}, "prompt": {"Kept <as typed>"}, "due": {"2031-05-20"}, "rubric": {`{"scale": [`}}
	if resp, body := postPage(t, c, in, "/teacher/assignments/"+draft+"/edit", bad); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, "The rubric is not valid rubric JSON") || !strings.Contains(body, html.EscapeString("Kept <as typed>")) {
		t.Fatalf("an edit with a broken rubric: %d\n%s", resp.StatusCode, body)
	}
	bad.Set("rubric", string(readFixture(t, "rubric.json")))
	if resp, body := postPage(t, c, in, "/teacher/assignments/"+draft+"/edit", bad); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "An assignment needs a title.") {
		t.Fatalf("an edit without a title: %d\n%s", resp.StatusCode, body)
	}
	bad.Set("title", "Too late")
	if resp, body := postPage(t, c, in, "/teacher/assignments/"+d.AssignmentID+"/edit", bad); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "Grading has started") {
		t.Fatalf("an edit of the assignment in grading: %d\n%s", resp.StatusCode, body)
	}

	zip := fixturePath(t, "class-a-submissions.zip")
	runBrowser(t, node, "browser/teacher.mjs", "teacher: ok",
		"BASE_URL="+in.url(""), "PASSWORD="+d.Password, "TEACHER_EMAIL="+d.Teacher, "ASSIGNMENT_ID="+d.AssignmentID,
		"DRAFT_ID="+draft, "QUESTION="+question, "ZIP="+zip, "CHROMIUM="+chromium, "SCREENSHOTS="+screenshotDir(t))

	a := in.must(200, "GET", "/api/v1/assignments/"+draft, tok, nil)
	crit, _ := a["rubric"].(map[string]any)["criteria"].([]any)
	if a["title"] != "Letter to the editor: school start times" || !strings.Contains(a["prompt"].(string), "later school start times") ||
		!strings.HasPrefix(a["due_at"].(string), "2031-05-20") || len(crit) == 0 || crit[0].(map[string]any)["title"] != "Claim" || a["price_cents"] != 500.0 {
		t.Fatalf("the edited draft: %v", a)
	}
	seconds := 0
	for _, r := range asSlice(in.must(200, "GET", "/api/v1/assignments/"+d.AssignmentID+"/feedback", tok, nil)["feedback"]) {
		if f := r.(map[string]any); f["reader"] == "second" {
			seconds++
			if f["state"] != "approved" || f["flagged"] == true {
				t.Errorf("the second read after adjudicating and approving: %v", f)
			}
		}
	}
	if seconds == 0 {
		t.Fatal("the demo has no second read")
	}
	// Agreement counts the pair, comparing the two graders' own levels
	// (the demo's reads are two levels apart on two criteria), not the
	// teacher's decision.
	apart := 0
	for _, x := range asSlice(in.must(200, "GET", "/api/v1/analytics/assignments/"+d.AssignmentID+"/summary", tok, nil)["agreement"]) {
		ag := x.(map[string]any)["agreement"].(map[string]any)
		if ag["pairs"] != 1.0 {
			t.Fatalf("agreement after adjudicating: %v, want one pair on every criterion", x)
		}
		if ag["adjacent"] == 0.0 {
			apart++
		}
	}
	if apart != 2 {
		t.Fatalf("%d criteria with the reads more than one level apart, want the demo's 2", apart)
	}
}

// teacherQuestion signs in the demo students by their links until one has
// released feedback, and asks a question about it; it returns the question.
func teacherQuestion(t *testing.T, in *instance, links []string) string {
	t.Helper()
	const q = "Which of my sources counts as credible?"
	for _, l := range links {
		c := browserClient(t)
		_, _, tok := page(t, c, in, l)
		postForm(t, c, in, l, url.Values{"_csrf": {tok}})
		_, body, _ := page(t, c, in, "/student")
		m := spSubLink.FindStringSubmatch(body)
		if !strings.Contains(body, "feedback ready") || m == nil {
			continue
		}
		subPath := html.UnescapeString(m[1])
		_, body, tok = page(t, c, in, subPath)
		rm := spReflect.FindStringSubmatch(body)
		if rm == nil {
			t.Fatalf("no question form on the student's feedback page:\n%s", body)
		}
		f := url.Values{"_csrf": {tok}, "submission_id": {strings.TrimPrefix(subPath, "/student/submissions/")}, "kind": {"question"}, "text": {q}}
		if r := postForm(t, c, in, html.UnescapeString(rm[1]), f); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("asking a question: %d", r.StatusCode)
		}
		return q
	}
	t.Fatal("no demo student has released feedback")
	return ""
}
