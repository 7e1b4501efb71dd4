package e2e

import (
	"bytes"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rowsByStudent is the assignment's list, by student ID.
func rowsByStudent(t *testing.T, in *instance, tok, asg string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, r := range asSlice(in.must(200, "GET", "/api/v1/assignments/"+asg+"/submissions?limit=500", tok, nil)["rows"]) {
		r := r.(map[string]any)
		out[r["student_id"].(string)] = r
	}
	return out
}

// batchedVersions are the version IDs in the assignment's batches after a
// matching round.
func batchedVersions(t *testing.T, in *instance, fc fixtureClass) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, b := range asSlice(matchingOf(t, in, fc, true)["batches"]) {
		for _, it := range asSlice(b.(map[string]any)["items"]) {
			out[it.(map[string]any)["version_id"].(string)] = true
		}
	}
	return out
}

// TestE2EIntakeFlags: issue 17, item 3. A Canvas-named file whose name part
// names one rostered student and whose ID is another's is stored for the
// ID's student with a warning naming both, and so is one whose name part
// names nobody; both wait for the teacher: matching leaves them out and
// the student does not see them. The teacher confirms one through the
// API and moves the other through the assignment page's control; then
// matching takes both, each as the right student's work.
func TestE2EIntakeFlags(t *testing.T) {
	in := start(t, "MARGIN_MATCHING_INTERVAL=1h")
	fc := publishFixtureClass(t, in)
	tok, asg := fc.TeacherToken, fc.AssignmentID
	path := "/api/v1/assignments/" + asg + "/submissions"
	avery, jordan, sam := fc.Submissions["1001"], fc.Submissions["1002"], fc.Submissions["1003"]
	batchedVersions(t, in, fc) // the first round batches every first version

	up := in.postMultipart(path, tok, nil,
		upload{Field: "file", Name: "riveraavery_1002_9001_final.txt", Data: []byte(strings.Repeat("Avery's final essay on personalized learning. ", 30))},
		upload{Field: "file", Name: "smithjo_1003_9002_final.txt", Data: []byte(strings.Repeat("Sam's final essay, under an old name. ", 30))})
	if up.Status != 201 {
		t.Fatalf("upload: %d %s", up.Status, up.Body)
	}
	outs := asSlice(up.JSON(t)["outcomes"])
	mis, unknown := outs[0].(map[string]any), outs[1].(map[string]any)
	flag, _ := mis["flag"].(map[string]any)
	warn := strings.Join(toStrings(mis["warnings"]), " ")
	if mis["status"] != "new_version" || mis["student_id"] != "1002" || flag["reason"] != "name_mismatch" || flag["named_student_id"] != "1001" ||
		!strings.Contains(warn, "Avery Rivera") || !strings.Contains(warn, "Jordan Okafor") {
		t.Fatalf("the file named for Avery with Jordan's ID: %v", mis)
	}
	if f, _ := unknown["flag"].(map[string]any); unknown["status"] != "new_version" || f["reason"] != "unknown_name" || !strings.Contains(strings.Join(toStrings(unknown["warnings"]), " "), "smithjo") {
		t.Fatalf("the file with a name part of nobody's: %v", unknown)
	}
	if c := up.JSON(t)["counts"].(map[string]any); c["flagged"] != 2.0 {
		t.Fatalf("counts: %v", c)
	}
	rows := rowsByStudent(t, in, tok, asg)
	if rows["1002"]["flag"] == nil || rows["1003"]["flag"] == nil || rows["1001"]["flag"] != nil {
		t.Fatalf("row flags: 1001 %v, 1002 %v, 1003 %v", rows["1001"]["flag"], rows["1002"]["flag"], rows["1003"]["flag"])
	}
	if b := batchedVersions(t, in, fc); b[jordan+":v2"] || b[sam+":v2"] {
		t.Fatalf("matching took a flagged version: %v", b)
	}
	link := in.must(201, "POST", "/api/v1/classes/"+fc.ClassID+"/students/1002/access-link", tok, nil)["token"].(string)
	student := in.must(201, "POST", "/api/v1/student-sessions", "", map[string]any{"token": link})["token"].(string)
	if s := in.must(200, "GET", "/api/v1/submissions/"+jordan, student, nil); len(asSlice(s["submission"].(map[string]any)["versions"])) != 1 || s["version"] != 1.0 {
		t.Fatalf("Jordan sees the flagged version: %v", s["submission"])
	}

	// Confirmed through the API: Sam's after all.
	if r := in.call("POST", "/api/v1/submissions/"+avery+"/versions/1/confirm", tok, nil); r.Status != 409 {
		t.Fatalf("confirming an unflagged version: %d %s", r.Status, r.Body)
	}
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "other@elsewhere.example.org", "password": teacherPassword, "name": "Other", "role": "teacher", "school": "Elsewhere"})
	other := in.login("other@elsewhere.example.org", teacherPassword)
	for _, action := range []string{"confirm", "reassign"} {
		if r := in.call("POST", "/api/v1/submissions/"+sam+"/versions/2/"+action, other, map[string]any{"student_id": "1001"}); r.Status != 404 {
			t.Fatalf("another teacher's %s: %d %s", action, r.Status, r.Body)
		}
	}
	in.must(200, "POST", "/api/v1/submissions/"+sam+"/versions/2/confirm", tok, nil)

	// Moved through the assignment page: Avery's.
	c := reviewSignIn(t, in, fc.TeacherEmail, teacherPassword)
	resp, body, _ := page(t, c, in, "/teacher/assignments/"+asg)
	if resp.StatusCode != 200 || !strings.Contains(body, "held back: whose work is this?") || !strings.Contains(body, html.EscapeString("named for Avery Rivera")) {
		t.Fatalf("the assignment page does not show the flag: %d", resp.StatusCode)
	}
	action := regexp.MustCompile(`action="(/teacher/submissions/[^"]*/versions/2/reassign)"`).FindStringSubmatch(body)
	if action == nil {
		t.Fatalf("no reassign control on the page:\n%s", body)
	}
	form := reviewForm(t, body, action[1])
	if form.Get("student_id") != "1001" {
		t.Fatalf("the control does not offer the student the name names: %v", form)
	}
	if r := postForm(t, c, in, html.UnescapeString(action[1]), form); r.StatusCode != http.StatusSeeOther || !strings.HasSuffix(r.Header.Get("Location"), "?done=reassigned#submissions") {
		t.Fatalf("moving through the page: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if _, body, _ := page(t, c, in, "/teacher/assignments/"+asg+"?done=reassigned"); strings.Contains(body, "held back") || !strings.Contains(body, "Moved: the file is now a version") {
		t.Fatalf("the page after the move still shows a flag")
	}

	rows = rowsByStudent(t, in, tok, asg)
	for st, v := range map[string]float64{"1001": 2, "1002": 1, "1003": 2} {
		if rows[st]["version"] != v || rows[st]["flag"] != nil {
			t.Errorf("row of %s after the teacher's choices: %v", st, rows[st])
		}
	}
	txt := in.must(200, "GET", "/api/v1/submissions/"+avery+"?version=2", tok, nil)["text"].(string)
	if !strings.HasPrefix(txt, "Avery's final essay") {
		t.Errorf("Avery's version 2 is not the moved file: %.60q", txt)
	}
	if r := in.call("GET", "/api/v1/submissions/"+jordan+"/versions/2/original", tok, nil); r.Status != 404 {
		t.Errorf("Jordan still has the moved version: %d", r.Status)
	}
	b := batchedVersions(t, in, fc)
	if !b[avery+":v2"] || !b[sam+":v2"] || b[jordan+":v2"] {
		t.Fatalf("matching after the teacher's choices: %v", b)
	}
}

// TestE2EIntakeTeacherRevision: issue 17, item 4. After release, the
// teacher uploads a student's revised file (Canvas-named): it is a new
// version, not a 409, and matching offers it for grading as it would a
// student's revision, to the grader of the first version.
func TestE2EIntakeTeacherRevision(t *testing.T) {
	in := start(t, "MARGIN_MATCHING_INTERVAL=1h")
	// A class of one, so that releasing her feedback releases the assignment.
	fc := fixtureClass{TeacherEmail: "solo.teacher@lincoln.example.org", Submissions: map[string]string{}}
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": fc.TeacherEmail, "password": teacherPassword, "name": "Ms Solo", "role": "teacher", "school": "Lincoln High"})
	fc.TeacherToken = in.login(fc.TeacherEmail, teacherPassword)
	fc.ClassID = in.must(201, "POST", "/api/v1/classes", fc.TeacherToken, map[string]any{"name": "English 10", "subject": "english", "grade_level": 10})["id"].(string)
	roster := "student_id,given_name,family_name,email\n1004,Priya,Natarajan,priya.natarajan@students.example.org\n"
	if r := in.call("POST", "/api/v1/classes/"+fc.ClassID+"/roster", fc.TeacherToken, strings.NewReader(roster), "Content-Type", "text/csv"); r.Status != 200 {
		t.Fatalf("roster: %d %s", r.Status, r.Body)
	}
	var rubric map[string]any
	mustUnmarshal(t, readFixture(t, "rubric.json"), &rubric)
	fc.AssignmentID = in.must(201, "POST", "/api/v1/assignments", fc.TeacherToken, map[string]any{
		"class_id": fc.ClassID, "title": "Research essay", "prompt": "Write a research essay.", "rubric": rubric,
		"due_at": time.Now().Add(14 * 24 * time.Hour).UTC().Format(time.RFC3339), "price_cents": 800, "second_read_share": 0,
	})["id"].(string)
	path := "/api/v1/assignments/" + fc.AssignmentID + "/submissions"
	pdf := upload{Field: "file", Name: "natarajanpriya_1004_5004_what-is-pl.pdf", Data: readFixtureSub(t, "natarajanpriya_1004_5004_what-is-pl.pdf")}
	sub := asSlice(in.postMultipart(path, fc.TeacherToken, nil, pdf).JSON(t)["outcomes"])[0].(map[string]any)["submission_id"].(string)
	in.must(200, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/publish", fc.TeacherToken, nil)

	ana, anaTok := signUpGrader(t, in, "ana@tutors.example.net", "Ana Grader", []map[string]int{{"min": 9, "max": 12}}, nil)
	admin := adminToken(t, in, "root@example.org")
	in.must(200, "PUT", "/api/v1/admin/graders/"+ana+"/vetting", admin, map[string]any{"status": "approved"})
	task := fbAcceptOffer(t, in, fc, anaTok, sub+":v1")
	fbGrade(t, in, anaTok, task, map[string]string{"thesis": "developing", "evidence": "emerging", "analysis": "developing", "organization": "proficient", "conventions": "developing"})
	in.must(200, "POST", "/api/v1/feedback/"+task+"/approve", fc.TeacherToken, nil)
	in.must(200, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/release", fc.TeacherToken, map[string]any{})
	if a := in.must(200, "GET", "/api/v1/assignments/"+fc.AssignmentID, fc.TeacherToken, nil); a["state"] != "released" {
		t.Fatalf("the assignment is %v after releasing its only submission", a["state"])
	}

	revised := bytes.Replace(readFixtureSub(t, "lindqvistsam_1003_5003_personalized-learning.txt"), []byte("Sam"), []byte("Priya"), -1)
	r := in.postMultipart(path, fc.TeacherToken, nil, upload{Field: "file", Name: "natarajanpriya_1004_5099_revised.txt", Data: revised})
	if r.Status != 201 {
		t.Fatalf("the teacher's revision after release: %d %s", r.Status, r.Body)
	}
	if o := asSlice(r.JSON(t)["outcomes"])[0].(map[string]any); o["status"] != "new_version" || o["version"] != 2.0 || o["flag"] != nil {
		t.Fatalf("its outcome: %v", o)
	}
	if a := in.must(200, "GET", "/api/v1/assignments/"+fc.AssignmentID, fc.TeacherToken, nil); a["reopened_at"] == nil || a["state"] != "released" {
		t.Fatalf("the assignment after the revision: %v", a)
	}
	m := matchingOf(t, in, fc, true)
	for _, b := range batchesBy(m, "first") {
		for _, it := range asSlice(b["items"]) {
			if it.(map[string]any)["version_id"] == sub+":v2" {
				if o, _ := b["offer"].(map[string]any); o == nil || b["state"] != "offered" {
					t.Fatalf("the revision's batch is not offered: %v (%s)", b, unmatchedReasons(m))
				}
				return
			}
		}
	}
	t.Fatalf("matching did not take the teacher's revision: %v (%s)", batchesBy(m, "first"), unmatchedReasons(m))
}
