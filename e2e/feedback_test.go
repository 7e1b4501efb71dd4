package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// fbTarget is the W3C Web Annotation target a browser sends for a quote.
type fbTarget struct {
	Exact, Prefix, Suffix string
	Start, End            int
}

// fbSelect targets the nth occurrence (0-based) of exact in text, as a
// browser would: code-point offsets and 32 code points of context.
func fbSelect(t *testing.T, text, exact string, nth int) fbTarget {
	t.Helper()
	b := -1
	for i := 0; i <= nth; i++ {
		j := strings.Index(text[b+1:], exact)
		if j < 0 {
			t.Fatalf("%q (occurrence %d) is not in the grader text", exact, nth)
		}
		b += 1 + j
	}
	start := utf8.RuneCountInString(text[:b])
	end := start + utf8.RuneCountInString(exact)
	runes := []rune(text)
	return fbTarget{Exact: exact, Start: start, End: end,
		Prefix: string(runes[max(start-32, 0):start]), Suffix: string(runes[end:min(end+32, len(runes))])}
}

func (q fbTarget) json() map[string]any {
	return map[string]any{"selector": []any{
		map[string]any{"type": "TextQuoteSelector", "exact": q.Exact, "prefix": q.Prefix, "suffix": q.Suffix},
		map[string]any{"type": "TextPositionSelector", "start": q.Start, "end": q.End},
	}}
}

const fbLong = "Specific, kind and useful: this comment is long enough."

// fbContent is a complete feedback body for the fixture rubric with the
// given levels and four quotes into the grader text: one across a line
// break of the PDF, one with curly quotes, one of a repeated phrase and an
// exact one.
func fbContent(t *testing.T, text string, rev int, levels map[string]string) map[string]any {
	t.Helper()
	lv, cm := map[string]any{}, map[string]any{}
	for _, k := range []string{"thesis", "evidence", "analysis", "organization", "conventions"} {
		lv[k], cm[k] = levels[k], fbLong
	}
	// The PDF breaks this sentence across lines; the extracted text joins
	// them, and a selection copied from the PDF view has the line break.
	q1 := fbSelect(t, text, "the teacher guides each student on an individualized journey. The what, when", 0)
	q1.Exact = strings.Replace(q1.Exact, "individualized journey", "individualized\njourney", 1)
	// The student's curly quotes, typed as straight ones, offsets off by 4.
	q2 := fbSelect(t, text, "a “learning plan” based on how he learns", 0)
	q2.Exact = `a "learning plan" based on how he learns`
	q2.Start, q2.End = q2.Start+4, q2.End+4
	// "the same way" occurs twice; only the context says which, since the
	// offsets are missing.
	q3 := fbSelect(t, text, "the same way", 1)
	q3.Start, q3.End = 0, 0
	q4 := fbSelect(t, text, "Personalized learning allows for students to be assessed on standards", 0)
	return map[string]any{
		"rev": rev, "levels": lv, "comments": cm,
		"quotes": []any{
			map[string]any{"target": q1.json(), "criterion": "thesis", "kind": "strength", "comment": fbLong},
			map[string]any{"target": q2.json(), "criterion": "evidence", "kind": "strength", "comment": fbLong},
			map[string]any{"target": q3.json(), "criterion": "organization", "kind": "growth", "comment": fbLong},
			map[string]any{"target": q4.json(), "criterion": "analysis", "kind": "growth", "comment": fbLong},
		},
		"glows":       []any{map[string]any{"criterion": "thesis", "text": fbLong}},
		"grows":       []any{map[string]any{"criterion": "evidence", "text": fbLong}},
		"focus_notes": []any{map[string]any{"index": 0, "note": fbLong}, map[string]any{"index": 1, "note": fbLong}},
	}
}

// fbAcceptOffer runs a round as the teacher and has the grader accept the
// offered first-read batch holding versionID; it returns the task ID.
func fbAcceptOffer(t *testing.T, in *instance, fc fixtureClass, graderTok, versionID string) string {
	t.Helper()
	m := matchingOf(t, in, fc, true)
	for _, b := range batchesBy(m, "first") {
		if b["state"] != "offered" {
			continue
		}
		for _, it := range asSlice(b["items"]) {
			if it.(map[string]any)["version_id"] == versionID {
				in.must(200, "POST", "/api/v1/grader/offers/"+b["offer"].(map[string]any)["id"].(string)+"/accept", graderTok, nil)
				return versionID + ":first"
			}
		}
	}
	t.Fatalf("no offered first-read batch holds %s: %v (%s)", versionID, batchesBy(m, "first"), unmatchedReasons(m))
	return ""
}

// fbGrade opens a task, saves the feedback and submits it; it returns the
// submitted feedback.
func fbGrade(t *testing.T, in *instance, tok, taskID string, levels map[string]string) map[string]any {
	t.Helper()
	w := in.must(200, "GET", "/api/v1/grader/tasks/"+taskID+"/workspace", tok, nil)
	f := w["feedback"].(map[string]any)
	saved := in.must(200, "PUT", "/api/v1/grader/tasks/"+taskID+"/feedback", tok, fbContent(t, w["text"].(string), int(f["rev"].(float64)), levels))
	return in.must(200, "POST", "/api/v1/grader/tasks/"+taskID+"/submit", tok, map[string]any{"rev": saved["rev"]})
}

// TestE2EFeedback: through HTTP on the real binary, a grader matched to the
// fixture class writes feedback on the PDF essay with four quotes (across a
// line break, with curly quotes, a repeated phrase, an exact one) and
// submits it; the teacher returns it once, then approves and releases it;
// the student reads it with the highlights and rates it, uploads a
// revision, which is graded, and sees the change per criterion. Nobody else
// sees any of it.
func TestE2EFeedback(t *testing.T) {
	in := start(t, "MARGIN_MATCHING_INTERVAL=1h")
	fc := publishFixtureClass(t, in)
	ana, anaTok := signUpGrader(t, in, "ana@tutors.example.net", "Ana Grader", []map[string]int{{"min": 9, "max": 12}}, nil)
	_, benTok := signUpGrader(t, in, "ben@graders.example.com", "Ben Other", []map[string]int{{"min": 1, "max": 5}}, nil)
	admin := adminToken(t, in, "root@example.org")
	in.must(200, "PUT", "/api/v1/admin/graders/"+ana+"/vetting", admin, map[string]any{"status": "approved"})

	sub := fc.Submissions["1004"] // natarajanpriya, the PDF
	v1 := sub + ":v1"
	task := fbAcceptOffer(t, in, fc, anaTok, v1)
	base := "/api/v1/grader/tasks/" + task

	// Only Ana may open the task; it shows the pseudonymised text.
	if r := in.call("GET", base+"/workspace", benTok, nil); r.Status != 404 {
		t.Fatalf("another grader opening the task: %d", r.Status)
	}
	if r := in.call("GET", base+"/workspace", fc.TeacherToken, nil); r.Status != 403 {
		t.Fatalf("a teacher opening the grader's workspace: %d", r.Status)
	}
	w := in.must(200, "GET", base+"/workspace", anaTok, nil)
	text := w["text"].(string)
	if strings.Contains(text, "Natarajan") || w["assignment"].(map[string]any)["rubric"] == nil {
		t.Fatalf("workspace: %v", w["assignment"])
	}
	rev := int(w["feedback"].(map[string]any)["rev"].(float64))

	// 1. Write: four quotes are anchored (repaired where the browser was off).
	levels1 := map[string]string{"thesis": "developing", "evidence": "emerging", "analysis": "developing", "organization": "proficient", "conventions": "developing"}
	saved := in.must(200, "PUT", base+"/feedback", anaTok, fbContent(t, text, rev, levels1))
	want := []string{
		"the teacher guides each student on an individualized journey. The what, when",
		"a “learning plan” based on how he learns",
		"the same way",
		"Personalized learning allows for students to be assessed on standards",
	}
	quotes := asSlice(saved["quotes"])
	for i, q := range quotes {
		sel := asSlice(q.(map[string]any)["target"].(map[string]any)["selector"])
		quote, pos := sel[0].(map[string]any), sel[1].(map[string]any)
		start, end := int(pos["start"].(float64)), int(pos["end"].(float64))
		if quote["exact"] != want[i] || string([]rune(text)[start:end]) != want[i] {
			t.Fatalf("quote %d stored as %q at [%d,%d)", i, quote["exact"], start, end)
		}
	}
	// A stale save is a 409, and a quote that is not in the text is refused.
	if r := in.call("PUT", base+"/feedback", anaTok, fbContent(t, text, rev, levels1)); r.Status != 409 || r.ErrorCode(t) != "version_conflict" {
		t.Fatalf("stale save: %d %s", r.Status, r.Body)
	}
	bad := fbContent(t, text, int(saved["rev"].(float64)), levels1)
	bad["quotes"].([]any)[3].(map[string]any)["target"] = fbTarget{Exact: "words the student never wrote", Start: 5, End: 34}.json()
	if r := in.call("PUT", base+"/feedback", anaTok, bad); r.Status != 400 || !strings.Contains(string(r.Body), "quotes[3].target") {
		t.Fatalf("a quote not in the text: %d %s", r.Status, r.Body)
	}

	// 2. Submit.
	in.must(200, "POST", base+"/submit", anaTok, map[string]any{"rev": saved["rev"]})

	// Nothing is visible to the student before release.
	linkTok := in.must(201, "POST", "/api/v1/classes/"+fc.ClassID+"/students/1004/access-link", fc.TeacherToken, nil)["token"].(string)
	student := in.must(201, "POST", "/api/v1/student-sessions", "", map[string]any{"token": linkTok})["token"].(string)
	otherLink := in.must(201, "POST", "/api/v1/classes/"+fc.ClassID+"/students/1005/access-link", fc.TeacherToken, nil)["token"].(string)
	otherStudent := in.must(201, "POST", "/api/v1/student-sessions", "", map[string]any{"token": otherLink})["token"].(string)
	if r := in.call("GET", "/api/v1/submissions/"+sub+"/feedback", student, nil); r.Status != 404 {
		t.Fatalf("the student before release: %d %s", r.Status, r.Body)
	}

	// 3. The teacher sees the quotes in the original text, returns once, then approves.
	fb := "/api/v1/feedback/" + task
	rv := in.must(200, "GET", fb, fc.TeacherToken, nil)
	orig := []rune(rv["text"].(string))
	hs := asSlice(rv["highlights"])
	if len(hs) != 4 || rv["student_name"] != "Priya Natarajan" {
		t.Fatalf("review: %d highlights, student %v", len(hs), rv["student_name"])
	}
	for _, h := range hs {
		h := h.(map[string]any)
		if h["anchored"] != true || string(orig[int(h["start"].(float64)):int(h["end"].(float64))]) != h["exact"] {
			t.Fatalf("highlight %v is not in the original text", h)
		}
	}
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "other@elsewhere.example.org", "password": teacherPassword, "name": "Other", "role": "teacher", "school": "Elsewhere"})
	other := in.login("other@elsewhere.example.org", teacherPassword)
	for _, r := range []response{in.call("GET", fb, other, nil), in.call("POST", fb+"/approve", other, nil), in.call("GET", "/api/v1/assignments/"+fc.AssignmentID+"/feedback", other, nil)} {
		if r.Status != 404 {
			t.Fatalf("another teacher: %d %s", r.Status, r.Body)
		}
	}
	if r := in.call("POST", fb+"/approve", anaTok, nil); r.Status != 403 {
		t.Fatalf("the grader approving: %d", r.Status)
	}
	in.must(200, "POST", fb+"/return", fc.TeacherToken, map[string]any{"note": "Please say more about the sources."})
	w = in.must(200, "GET", base+"/workspace", anaTok, nil)
	f := w["feedback"].(map[string]any)
	if f["state"] != "returned" || f["return_note"] != "Please say more about the sources." {
		t.Fatalf("returned feedback: %v %v", f["state"], f["return_note"])
	}
	fbGrade(t, in, anaTok, task, levels1)
	approved := in.must(200, "POST", fb+"/approve", fc.TeacherToken, nil)
	if approved["state"] != "approved" {
		t.Fatalf("approved: %v", approved["state"])
	}
	in.must(200, "POST", fb+"/approve", fc.TeacherToken, nil) // a retry is harmless
	if r := in.call("PUT", base+"/feedback", anaTok, fbContent(t, text, int(approved["rev"].(float64)), levels1)); r.Status != 409 {
		t.Fatalf("the grader editing approved feedback: %d", r.Status)
	}

	// 4. Release this student.
	rel := in.must(200, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/release", fc.TeacherToken, map[string]any{"student_id": "1004"})
	if len(asSlice(rel["released"])) != 1 {
		t.Fatalf("release: %v", rel)
	}

	// 5. The student reads it with the highlights and rates it; nobody else can.
	if r := in.call("GET", "/api/v1/submissions/"+sub+"/feedback", otherStudent, nil); r.Status != 404 {
		t.Fatalf("another student reading it: %d", r.Status)
	}
	if r := in.call("GET", "/api/v1/submissions/"+sub+"/feedback", anaTok, nil); r.Status != 403 {
		t.Fatalf("the grader on the student's view: %d", r.Status)
	}
	view := in.must(200, "GET", "/api/v1/submissions/"+sub+"/feedback", student, nil)
	versions := asSlice(view["versions"])
	sv := versions[0].(map[string]any)
	stext := []rune(sv["text"].(string))
	hs = asSlice(sv["highlights"])
	if len(hs) != 4 || len(asSlice(sv["criteria"])) != 5 || sv["grader_name"] != "Ana" {
		t.Fatalf("student view: %d highlights, %d criteria, grader %v", len(hs), len(asSlice(sv["criteria"])), sv["grader_name"])
	}
	if raw, _ := json.Marshal(view); strings.Contains(string(raw), ana) {
		t.Fatal("the student view names the grader's account")
	}
	for _, h := range hs {
		h := h.(map[string]any)
		if string(stext[int(h["start"].(float64)):int(h["end"].(float64))]) != h["exact"] || h["comment"] != fbLong {
			t.Fatalf("student highlight %v", h)
		}
	}
	c0 := asSlice(sv["criteria"])[0].(map[string]any)
	if c0["level"] != "developing" || !strings.Contains(c0["descriptor"].(string), "central claim") {
		t.Fatalf("criterion view %v", c0)
	}
	fid := sv["feedback_id"].(string)
	commentID := hs[0].(map[string]any)["comment_id"].(string)
	if r := in.call("POST", "/api/v1/feedback/"+fid+"/ratings", otherStudent, map[string]any{"comment_id": commentID, "stars": 5}); r.Status != 404 {
		t.Fatalf("another student rating: %d", r.Status)
	}
	rated := in.must(200, "POST", "/api/v1/feedback/"+fid+"/ratings", student, map[string]any{"comment_id": commentID, "stars": 4})
	if len(asSlice(rated["ratings"])) != 1 {
		t.Fatalf("ratings %v", rated)
	}
	in.must(201, "POST", "/api/v1/feedback/"+fid+"/reflections", student, map[string]any{"kind": "question", "text": "Which sources should I add?"})

	// 6. The student resubmits a revision.
	r := in.postMultipart("/api/v1/submissions/"+sub+"/versions", student, nil, upload{Field: "file", Name: "natarajanpriya_1004_5004_what-is-pl-v2.txt", Data: []byte(fbRevision(sv["text"].(string)))})
	if r.Status != 201 {
		t.Fatalf("revision upload: %d %s", r.Status, r.Body)
	}

	// 7. The revision goes back to Ana and is graded, approved and released.
	task2 := fbAcceptOffer(t, in, fc, anaTok, sub+":v2")
	levels2 := map[string]string{"thesis": "proficient", "evidence": "proficient", "analysis": "developing", "organization": "proficient", "conventions": "advanced"}
	fbGrade(t, in, anaTok, task2, levels2)
	in.must(200, "POST", "/api/v1/feedback/"+task2+"/approve", fc.TeacherToken, nil)
	in.must(200, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/release", fc.TeacherToken, map[string]any{"student_id": "1004"})

	// 8. The student sees the change per criterion.
	view = in.must(200, "GET", "/api/v1/submissions/"+sub+"/feedback", student, nil)
	versions = asSlice(view["versions"])
	if len(versions) != 2 {
		t.Fatalf("%d versions with feedback, want 2", len(versions))
	}
	latest := versions[0].(map[string]any)
	steps := map[string]float64{}
	for _, c := range asSlice(latest["changes"]) {
		c := c.(map[string]any)
		steps[c["criterion"].(string)] = c["steps"].(float64)
	}
	wantSteps := map[string]float64{"thesis": 1, "evidence": 2, "analysis": 0, "organization": 0, "conventions": 2}
	for k, v := range wantSteps {
		if steps[k] != v {
			t.Fatalf("changes %v, want %v", latest["changes"], wantSteps)
		}
	}
}

// fbRevision is the student's revised essay: the original with a sentence
// of added evidence.
func fbRevision(original string) string {
	return original + "\n\nRevision: I added evidence from Pane et al. (2017), who found gains in mathematics and reading in schools using personalized learning."
}
