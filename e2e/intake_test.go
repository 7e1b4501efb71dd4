package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixtures is the sample class beside the checkout.
const fixtures = "../testdata/class-a" // a copy of ../shared/fixtures/class-a

const teacherPassword = "lesson plans and coffee"

// fixtureClass is what publishFixtureClass set up.
type fixtureClass struct {
	TeacherToken string
	TeacherEmail string
	SchoolID     string
	ClassID      string
	AssignmentID string
	Submissions  map[string]string // student ID -> submission ID
}

// upload is one file of a multipart upload.
type upload struct {
	Field, Name string
	Data        []byte
}

// multipartBody builds a multipart/form-data body of plain fields (name,
// value pairs) and files.
func multipartBody(t testing.TB, fields []string, files ...upload) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := w.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+f.Field+`"; filename="`+f.Name+`"`)
		h.Set("Content-Type", "application/octet-stream")
		p, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		p.Write(f.Data)
	}
	w.Close()
	return &buf, w.FormDataContentType()
}

// postMultipart sends a multipart body and returns the response.
func (in *instance) postMultipart(path, token string, fields []string, files ...upload) response {
	in.t.Helper()
	body, ctype := multipartBody(in.t, fields, files...)
	return in.call("POST", path, token, body, "Content-Type", ctype)
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return b
}

// fixturePath is the absolute path of a fixture, for a browser script.
func fixturePath(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// adminToken stops the instance, creates an admin from the command line
// (the data directory is locked while serving), starts it again and signs
// the admin in.
func adminToken(t *testing.T, in *instance, email string) string {
	t.Helper()
	in.stop()
	cmd := exec.Command(binary, "admin", "create", "--email", email, "--role", "admin", "--password-stdin")
	cmd.Env = in.environ()
	cmd.Stdin = strings.NewReader(teacherPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("admin create: %v: %s", err, out)
	}
	in.run()
	return in.login(email, teacherPassword)
}

// publishFixtureClass does the teacher's first half-hour through the API:
// sign up, create a class, import the fixture roster, create the assignment
// with the fixture rubric, upload the fixture ZIP, and publish.
func publishFixtureClass(t *testing.T, in *instance) fixtureClass {
	t.Helper()
	fc := uploadFixtureClass(t, in)
	in.must(200, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/publish", fc.TeacherToken, nil)
	return fc
}

// uploadFixtureClass is publishFixtureClass up to the publishing: the
// assignment is a draft with its five submissions.
func uploadFixtureClass(t *testing.T, in *instance) fixtureClass {
	t.Helper()
	fc := fixtureClass{TeacherEmail: "rivera.teacher@lincoln.example.org", Submissions: map[string]string{}}
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{
		"email": fc.TeacherEmail, "password": teacherPassword, "name": "Ms Rivera", "role": "teacher", "school": "Lincoln High",
	})
	fc.TeacherToken = in.login(fc.TeacherEmail, teacherPassword)
	fc.SchoolID = in.must(200, "GET", "/api/v1/me", fc.TeacherToken, nil)["school"].(map[string]any)["id"].(string)

	class := in.must(201, "POST", "/api/v1/classes", fc.TeacherToken, map[string]any{"name": "English 10, period 2", "subject": "english", "grade_level": 10})
	fc.ClassID = class["id"].(string)

	roster := in.call("POST", "/api/v1/classes/"+fc.ClassID+"/roster", fc.TeacherToken, bytes.NewReader(readFixture(t, "roster.csv")), "Content-Type", "text/csv")
	if roster.Status != 200 {
		t.Fatalf("roster import: %d %s", roster.Status, roster.Body)
	}
	if got := roster.JSON(t)["created"]; got != 5.0 {
		t.Fatalf("roster import created %v students, want 5: %s", got, roster.Body)
	}

	var rubric map[string]any
	mustUnmarshal(t, readFixture(t, "rubric.json"), &rubric)
	asg := in.must(201, "POST", "/api/v1/assignments", fc.TeacherToken, map[string]any{
		"class_id": fc.ClassID, "title": "Research essay: personalized learning", "prompt": "Write a research essay on personalized learning in schools.",
		"rubric": rubric, "due_at": time.Now().Add(14 * 24 * time.Hour).UTC().Format(time.RFC3339), "price_cents": 800, "allow_resubmission": true,
	})
	fc.AssignmentID = asg["id"].(string)

	up := in.postMultipart("/api/v1/assignments/"+fc.AssignmentID+"/submissions", fc.TeacherToken, nil,
		upload{Field: "files", Name: "class-a-submissions.zip", Data: readFixture(t, "class-a-submissions.zip")})
	if up.Status != 201 {
		t.Fatalf("upload: %d %s", up.Status, up.Body)
	}
	for _, o := range up.JSON(t)["outcomes"].([]any) {
		o := o.(map[string]any)
		if o["status"] == "created" {
			fc.Submissions[o["student_id"].(string)] = o["submission_id"].(string)
		}
	}
	if len(fc.Submissions) != 5 {
		t.Fatalf("upload created %d submissions, want 5: %s", len(fc.Submissions), up.Body)
	}
	return fc
}

// TestE2EIntake: a teacher, through the HTTP API alone, creates a class,
// imports the roster, creates an assignment with the rubric, uploads the
// fixture ZIP (five submissions with text, pseudonyms and one duplicate
// flag) and publishes it; nobody else can see any of it.
func TestE2EIntake(t *testing.T) {
	in := start(t)
	fc := publishFixtureClass(t, in)
	tok := fc.TeacherToken

	// The roster import is idempotent, and bad rows are reported one by one.
	again := in.call("POST", "/api/v1/classes/"+fc.ClassID+"/roster", tok, bytes.NewReader(readFixture(t, "roster.csv")), "Content-Type", "text/csv").JSON(t)
	if again["created"] != 0.0 || again["unchanged"] != 5.0 {
		t.Fatalf("second import: %v", again)
	}
	bad := in.call("POST", "/api/v1/classes/"+fc.ClassID+"/roster", tok,
		strings.NewReader("\ufeffemail,family_name,given_name,student_id\nnew.kid@students.example.org,Kim,Dana,1006\nnot-an-email,Lee,Ash,1007\n"), "Content-Type", "text/csv").JSON(t)
	if bad["created"] != 1.0 || len(bad["errors"].([]any)) != 1 {
		t.Fatalf("roster with a bad row: %v", bad)
	}

	// Five submissions with text and pseudonyms, and one duplicate pair.
	page := in.must(200, "GET", "/api/v1/assignments/"+fc.AssignmentID+"/submissions", tok, nil)
	rows := page["rows"].([]any)
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	dupes := map[string]string{}
	for _, r := range rows {
		r := r.(map[string]any)
		if !strings.HasPrefix(r["pseudonym"].(string), "Student ") || r["chars"].(float64) < 1000 {
			t.Errorf("row %v: want a pseudonym and extracted text", r)
		}
		for _, d := range asSlice(r["possible_duplicates"]) {
			dupes[r["student_id"].(string)] = d.(map[string]any)["student_id"].(string)
		}
	}
	if len(dupes) != 2 || dupes["1004"] != "1005" || dupes["1005"] != "1004" {
		t.Fatalf("duplicate flags = %v, want 1004 <-> 1005 (the same essay as PDF and ODT)", dupes)
	}

	// The teacher reads the original text; the student's name is in it
	// only where the student wrote it, and the download is the same bytes.
	sub := in.must(200, "GET", "/api/v1/submissions/"+fc.Submissions["1004"], tok, nil)
	if !strings.Contains(sub["text"].(string), "What is Personalized Learning?") {
		t.Fatalf("text of 1004 lacks its title: %.200s", sub["text"])
	}
	orig := in.call("GET", "/api/v1/submissions/"+fc.Submissions["1004"]+"/versions/1/original", tok, nil)
	if orig.Status != 200 || !bytes.Equal(orig.Body, zipEntry(t, "natarajanpriya_1004_5004_what-is-pl.pdf")) {
		t.Fatalf("download: %d, %d bytes", orig.Status, len(orig.Body))
	}

	// Uploading the same bytes again is a no-op; per-file errors don't stop the batch.
	up := in.postMultipart("/api/v1/assignments/"+fc.AssignmentID+"/submissions", tok, []string{"student_id", "1003"},
		upload{Field: "file", Name: "lindqvistsam_1003_5003_personalized-learning.txt", Data: readFixtureSub(t, "lindqvistsam_1003_5003_personalized-learning.txt")},
		upload{Field: "file", Name: "empty.txt", Data: nil},
		upload{Field: "file", Name: "photo.txt", Data: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")},
	).JSON(t)
	outs := up["outcomes"].([]any)
	want := []string{"unchanged", "rejected", "rejected"}
	for i, o := range outs {
		if st := o.(map[string]any)["status"]; st != want[i] {
			t.Errorf("outcome %d = %v, want %s", i, o, want[i])
		}
	}
	stray := in.postMultipart("/api/v1/assignments/"+fc.AssignmentID+"/submissions", tok, nil,
		upload{Field: "file", Name: "doejane_9999_1_essay.txt", Data: []byte("An essay by someone not on the roster.")}).JSON(t)
	if o := stray["outcomes"].([]any)[0].(map[string]any); o["status"] != "rejected" || !strings.Contains(o["error"].(map[string]any)["message"].(string), "9999") {
		t.Fatalf("unrostered file: %v", o)
	}
	batch := in.must(200, "GET", "/api/v1/uploads/"+up["id"].(string), tok, nil)
	if batch["counts"].(map[string]any)["files"] != 3.0 {
		t.Fatalf("batch = %v", batch)
	}

	// Nobody else sees any of it.
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "other@elsewhere.example.org", "password": teacherPassword, "name": "Mr Other", "role": "teacher", "school": "Elsewhere High"})
	other := in.login("other@elsewhere.example.org", teacherPassword)
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "grader@example.com", "password": teacherPassword, "name": "Gail", "role": "grader"})
	grader := in.login("grader@example.com", teacherPassword)
	link := in.must(201, "POST", "/api/v1/classes/"+fc.ClassID+"/students/1001/access-link", tok, nil)
	student := in.must(201, "POST", "/api/v1/student-sessions", "", map[string]any{"token": link["token"]})["token"].(string)
	for _, path := range []string{
		"/api/v1/classes/" + fc.ClassID,
		"/api/v1/classes/" + fc.ClassID + "/students",
		"/api/v1/assignments/" + fc.AssignmentID,
		"/api/v1/assignments/" + fc.AssignmentID + "/submissions",
		"/api/v1/submissions/" + fc.Submissions["1004"],
		"/api/v1/submissions/" + fc.Submissions["1004"] + "/versions/1/original",
		"/api/v1/uploads/" + up["id"].(string),
	} {
		for who, tk := range map[string]string{"other teacher": other, "grader": grader, "student 1001": student, "nobody": ""} {
			r := in.call("GET", path, tk, nil)
			if r.Status != 401 && r.Status != 403 && r.Status != 404 {
				t.Errorf("%s GET %s: %d %.200s", who, path, r.Status, r.Body)
			}
		}
	}
	// The student sees their own submission, and only theirs.
	mine := in.must(200, "GET", "/api/v1/me/submissions", student, nil)["submissions"].([]any)
	if len(mine) != 1 || mine[0].(map[string]any)["student_id"] != "1001" {
		t.Fatalf("student's submissions = %v", mine)
	}
	in.must(200, "GET", "/api/v1/submissions/"+fc.Submissions["1001"], student, nil)

	// Published, and everything survives a restart.
	in.restart()
	a := in.must(200, "GET", "/api/v1/assignments/"+fc.AssignmentID, tok, nil)
	if a["state"] != "published" {
		t.Fatalf("state = %v", a["state"])
	}
}

func mustUnmarshal(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func readFixtureSub(t *testing.T, name string) []byte {
	t.Helper()
	return readFixture(t, filepath.Join("submissions", name))
}

// zipEntry is a file of the fixture ZIP.
func zipEntry(t *testing.T, name string) []byte {
	t.Helper()
	data := readFixture(t, "class-a-submissions.zip")
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if filepath.Base(f.Name) == name {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%s is not in the fixture ZIP", name)
	return nil
}
