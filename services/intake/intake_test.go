package intake

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/blob/blobtest"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
)

// world is a service on the real embedded store and S3 with one school,
// its teacher, a class with the fixture roster and a draft assignment with
// the fixture rubric.
type world struct {
	ctx     context.Context
	s       *Service
	acct    *account.Service
	teacher account.User
	class   Class
	asg     Assignment
}

const testPassword = "a long enough test passphrase 7"

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	db := mongotest.DB(t)
	acct := account.New(db)
	if err := acct.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	w := &world{ctx: ctx, acct: acct, s: New(db, blobtest.Store(t), acct, Config{}, nil)}
	w.teacher = w.signUp(t, "teacher@school.example", "Riverside High")
	w.class = w.newClass(t, w.teacher)
	if _, err := w.s.ImportRoster(ctx, w.teacher, w.class.ID, bytes.NewReader(fixtureBytes(t, "roster.csv"))); err != nil {
		t.Fatal(err)
	}
	w.asg = w.newAssignment(t, w.teacher, w.class.ID)
	return w
}

func (w *world) signUp(t testing.TB, email, school string) account.User {
	t.Helper()
	u, err := w.acct.SignUp(w.ctx, account.SignUp{Email: email, Password: testPassword, Name: "T " + email, Role: account.Teacher, School: school})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (w *world) newClass(t testing.TB, teacher account.User) Class {
	t.Helper()
	g := 9
	c, err := w.s.CreateClass(w.ctx, teacher, ClassInput{Name: "English 9", Subject: "English", GradeLevel: &g})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *world) newAssignment(t testing.TB, teacher account.User, classID string) Assignment {
	t.Helper()
	var r Rubric
	if err := json.Unmarshal(fixtureBytes(t, "rubric.json"), &r); err != nil {
		t.Fatal(err)
	}
	price := int64(500)
	a, err := w.s.CreateAssignment(w.ctx, teacher, AssignmentInput{
		ClassID: classID, Title: "Personalized learning", Prompt: "Write about personalized learning.",
		Rubric: &r, DueAt: time.Now().Add(7 * 24 * time.Hour), PriceCents: &price,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// upload sends files as one batch and returns its outcomes.
func (w *world) upload(t testing.TB, files ...namedFile) []Outcome {
	t.Helper()
	b, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := b.Add(w.ctx, f.name, f.studentID, bytes.NewReader(f.data), int64(len(f.data))); err != nil {
			t.Fatal(err)
		}
	}
	return b.Upload().Outcomes
}

type namedFile struct {
	name, studentID string
	data            []byte
}

func zipOf(t testing.TB, files ...namedFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		fw, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(f.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fixtureSubmissions(t testing.TB) []namedFile {
	var out []namedFile
	for _, f := range fixtureFiles {
		out = append(out, namedFile{name: f, data: fixtureBytes(t, "submissions/"+f)})
	}
	return out
}

func TestImportRosterIdempotent(t *testing.T) {
	w := newWorld(t) // imported the fixture once
	ctx := w.ctx
	again, err := w.s.ImportRoster(ctx, w.teacher, w.class.ID, bytes.NewReader(fixtureBytes(t, "roster.csv")))
	if err != nil {
		t.Fatal(err)
	}
	if again.Created != 0 || again.Updated != 0 || again.Unchanged != 5 || len(again.Errors) != 0 || len(again.Students) != 5 {
		t.Fatalf("second import: %+v", again)
	}
	before, _ := w.s.Student(ctx, w.class.ID, "1001")

	// Columns in another order, a BOM, a changed email, a new student and
	// two bad rows.
	csv := "\uFEFFemail,family_name,student_id,given_name\n" +
		"avery.r@new.example.org,Rivera,1001,Avery\n" +
		"jordan.okafor@students.example.org,Okafor,1002,Jordan\n" +
		"no-at-sign,Bad,1006,Email\n" +
		"x@example.org,Nobody,,Missing\n" +
		"kim@example.org,Kim,1007,Dana\n"
	res, err := w.s.ImportRoster(ctx, w.teacher, w.class.ID, strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 1 || res.Updated != 1 || res.Unchanged != 1 {
		t.Errorf("counts: created %d updated %d unchanged %d", res.Created, res.Updated, res.Unchanged)
	}
	wantErrs := map[string]errs.Code{"rows[4].email": errs.InvalidEmail, "rows[5].student_id": errs.Invalid}
	if len(res.Errors) != len(wantErrs) {
		t.Fatalf("errors: %v", res.Errors)
	}
	for _, e := range res.Errors {
		if wantErrs[e.Field] != e.Code {
			t.Errorf("unexpected row error %s %s: %s", e.Code, e.Field, e.Message)
		}
	}
	if len(res.Students) != 6 { // five kept, one added; nobody duplicated or dropped
		t.Errorf("%d students after import, want 6", len(res.Students))
	}
	after, err := w.s.Student(ctx, w.class.ID, "1001")
	if err != nil || after.Email != "avery.r@new.example.org" || after.UserID != before.UserID {
		t.Errorf("1001 after update: %+v (%v); user was %s", after, err, before.UserID)
	}
	if _, err := w.s.Student(ctx, w.class.ID, "1006"); !errs.Is(err, errs.NotFound) {
		t.Errorf("a bad row went in: %v", err)
	}
}

func TestUploadVersions(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	v1 := []byte("Sam Lindqvist\n\nMy essay on personalized learning, first draft. Sam thinks it works.\n")
	v2 := []byte("Sam Lindqvist\n\nMy essay on personalized learning, second draft, much improved.\n")

	first := w.upload(t, namedFile{"essay.txt", "1003", v1})
	if o := first[0]; o.Status != StatusCreated || o.Version != 1 || o.StudentID != "1003" || o.Pseudonym == "" {
		t.Fatalf("first upload: %+v", o)
	}
	same := w.upload(t, namedFile{"renamed.txt", "1003", v1})
	if o := same[0]; o.Status != StatusUnchanged || o.Version != 1 || o.SubmissionID != first[0].SubmissionID || o.Pseudonym != first[0].Pseudonym {
		t.Fatalf("same bytes again: %+v", o)
	}
	second := w.upload(t, namedFile{"essay.txt", "1003", v2})
	if o := second[0]; o.Status != StatusNewVersion || o.Version != 2 || o.Pseudonym != first[0].Pseudonym {
		t.Fatalf("different file: %+v", o)
	}

	sub, err := w.s.Submission(ctx, first[0].SubmissionID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Versions) != 2 || sub.N != 2 || sub.Versions[0].Filename != "essay.txt" {
		t.Fatalf("versions: %+v", sub.Versions)
	}
	for n, want := range map[int][]byte{1: v1, 2: v2} {
		rc, v, err := w.s.Original(ctx, w.teacher, sub.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, want) || v.N != n || v.Size != int64(len(want)) {
			t.Errorf("original of version %d: %q", n, got)
		}
		txt, err := w.s.Text(ctx, VersionID(sub.ID, n))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(txt.Text, "Sam Lindqvist") {
			t.Errorf("text of version %d: %q", n, txt.Text)
		}
		if strings.Contains(txt.GraderText, "Sam") || strings.Contains(txt.GraderText, "Lindqvist") || !strings.HasPrefix(txt.GraderText, sub.Pseudonym+"\n\n") {
			t.Errorf("grader text of version %d names the student: %q", n, txt.GraderText)
		}
	}
	rows, _ := w.s.Rows(ctx, w.asg.ID)
	if len(rows) != 1 || rows[0].Version != 2 {
		t.Errorf("rows: %+v", rows)
	}
}

// TestZipWithBadEntries: every bad file gets its own outcome and the good
// ones still go in.
func TestZipWithBadEntries(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	bad := []struct {
		f    namedFile
		code errs.Code
	}{
		{namedFile{name: "../lindqvistsam_1003_1_escape.txt", data: []byte("x")}, errs.Invalid},
		{namedFile{name: "inner.zip", data: zipOf(t, namedFile{name: "a.txt", data: []byte("a")})}, errs.UnsupportedType},
		{namedFile{name: "notes.txt", data: []byte("whose is this?")}, errs.Invalid},
		{namedFile{name: "smithjo_9999_1_essay.txt", data: []byte("not on the roster")}, errs.Invalid},
		{namedFile{name: "riveraavery_1001_2_empty.txt"}, errs.Invalid},
		{namedFile{name: "okaforjordan_1002_2_photo.pdf", data: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")}, errs.UnsupportedType},
		{namedFile{name: "natarajanpriya_1004_2_latin1.txt", data: []byte("caf\xe9 au lait")}, errs.Unprocessable},
		{namedFile{name: "alvarezmateo_1005_2_broken.pdf", data: []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n")}, errs.Unprocessable},
	}
	var files []namedFile
	for _, b := range bad {
		files = append(files, b.f)
	}
	files = append(files, fixtureSubmissions(t)...)
	files = append(files, namedFile{name: "__MACOSX/._riveraavery_1001_5001_x.docx", data: []byte("junk")})
	out := w.upload(t, namedFile{name: "class-a.zip", data: zipOf(t, files...)})

	if len(out) != len(bad)+len(fixtureFiles) {
		t.Fatalf("%d outcomes, want %d: %+v", len(out), len(bad)+len(fixtureFiles), out)
	}
	for i, b := range bad {
		o := out[i]
		if o.Status != StatusRejected || o.Error == nil || o.Error.Code != b.code || o.Error.Message == "" {
			t.Errorf("%s: %+v, want rejected with %s", b.f.name, o, b.code)
		} else {
			t.Logf("%s: %s: %s", b.f.name, o.Error.Code, o.Error.Message)
		}
	}
	for _, o := range out[len(bad):] {
		if o.Status != StatusCreated || o.Chars == 0 {
			t.Errorf("%s: %+v, want created", o.File, o)
		}
	}
	rows, err := w.s.Rows(ctx, w.asg.ID)
	if err != nil || len(rows) != 5 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		dup := len(r.Duplicates) == 1
		if want := r.StudentID == "1004" || r.StudentID == "1005"; dup != want {
			t.Errorf("student %s: duplicates %+v", r.StudentID, r.Duplicates)
		}
	}
}

// TestRetryAfterFailureHalfway replays the steps of an ingest that
// stopped partway and checks the retry completes it without duplicates.
func TestRetryAfterFailureHalfway(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	txt := namedFile{name: "lindqvistsam_1003_5003_personalized-learning.txt", data: fixtureBytes(t, "submissions/lindqvistsam_1003_5003_personalized-learning.txt")}

	t.Run("object and pseudonym stored, nothing recorded", func(t *testing.T) {
		ids, err := w.s.identities(ctx, w.asg.ID)
		if err != nil {
			t.Fatal(err)
		}
		id, err := w.s.identity(ctx, &ids, "1003") // the first try gave it out, then died
		if err != nil {
			t.Fatal(err)
		}
		p := id.Pseudonym
		o := w.upload(t, txt)[0]
		if o.Status != StatusCreated || o.Version != 1 || o.Pseudonym != p {
			t.Fatalf("retry: %+v, want created v1 with pseudonym %s", o, p)
		}
	})

	t.Run("version recorded, list row lost", func(t *testing.T) {
		if _, err := w.s.c(colBuckets).UpdateOne(ctx, bson.D{{Key: "_id", Value: w.asg.ID}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "rows.1003", Value: ""}}}}); err != nil {
			t.Fatal(err)
		}
		o := w.upload(t, txt)[0]
		if o.Status != StatusUnchanged || o.Version != 1 {
			t.Fatalf("retry: %+v", o)
		}
		rows, _ := w.s.Rows(ctx, w.asg.ID)
		if len(rows) != 1 || rows[0].StudentID != "1003" {
			t.Errorf("the retry did not restore the list row: %+v", rows)
		}
	})

	t.Run("ingest twice", func(t *testing.T) {
		b, err := w.s.StartUpload(ctx, w.teacher, w.asg.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		data := []byte("A second draft by Sam, different bytes.")
		o1 := b.ingest(ctx, "x.txt", "1003", bytes.NewReader(data), int64(len(data)))
		o2 := b.ingest(ctx, "x.txt", "1003", bytes.NewReader(data), int64(len(data)))
		if o1.Status != StatusNewVersion || o2.Status != StatusUnchanged || o1.Version != o2.Version {
			t.Fatalf("ingest twice: %+v then %+v", o1, o2)
		}
		sub, _ := w.s.Submission(ctx, o1.SubmissionID)
		if sub.N != 2 || len(sub.Versions) != 2 {
			t.Errorf("%d versions (n %d), want 2", len(sub.Versions), sub.N)
		}
	})
}

// TestConcurrentVersions: two uploads for one student at once never take
// the same version number, and the loser is told to retry.
func TestConcurrentVersions(t *testing.T) {
	w := newWorld(t)
	var wg sync.WaitGroup
	outs := make([]Outcome, 4)
	for i := range outs {
		wg.Go(func() {
			b, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "")
			if err != nil {
				t.Error(err)
				return
			}
			data := []byte("Draft number " + itoa(i) + " of an essay on personalized learning.")
			outs[i] = b.ingest(w.ctx, "d.txt", "1001", bytes.NewReader(data), int64(len(data)))
		})
	}
	wg.Wait()
	ok := 0
	for _, o := range outs {
		switch {
		case o.Status == StatusCreated || o.Status == StatusNewVersion:
			ok++
		case o.Error != nil && o.Error.Code == errs.Conflict:
		default:
			t.Errorf("outcome %+v", o)
		}
	}
	sub, err := w.s.SubmissionOf(w.ctx, w.asg.ID, "1001")
	if err != nil {
		t.Fatal(err)
	}
	if sub.N != ok || len(sub.Versions) != ok {
		t.Errorf("%d uploads succeeded but the submission has %d versions (n %d)", ok, len(sub.Versions), sub.N)
	}
	for i, v := range sub.Versions {
		if v.N != i+1 {
			t.Errorf("version %d numbered %d", i+1, v.N)
		}
	}
}

func TestPseudonymCollision(t *testing.T) {
	w := newWorld(t)
	if _, err := w.s.c(colPseudonyms).InsertOne(w.ctx, bson.D{{Key: "_id", Value: w.asg.ID + ":Student AAAA"}, {Key: "student_id", Value: "someone-else"}}); err != nil {
		t.Fatal(err)
	}
	draws := []string{"Student AAAA", "Student BBBB"}
	p, err := w.s.reservePseudonym(w.ctx, w.asg.ID, "1001", func() string { d := draws[0]; draws = draws[1:]; return d })
	if err != nil || p != "Student BBBB" {
		t.Errorf("pseudonym %q (%v), want the second draw (the first is taken)", p, err)
	}
}

// TestAccess: only the class's teacher (and admins) see the class, its
// assignments and submissions; a student sees their own submission only.
func TestAccess(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	out := w.upload(t, fixtureSubmissions(t)...)
	subID := out[0].SubmissionID // riveraavery, 1001
	batchID := func() string {
		b, _ := w.s.StartUpload(ctx, w.teacher, w.asg.ID, "")
		return b.Upload().ID
	}()

	other := w.signUp(t, "other@school.example", "Other School")
	grader, err := w.acct.SignUp(ctx, account.SignUp{Email: "grader@example.org", Password: testPassword, Name: "G", Role: account.Grader})
	if err != nil {
		t.Fatal(err)
	}
	avery := w.enrolment(t, w.class.ID, "1001")
	jordan := w.enrolment(t, w.class.ID, "1002")
	sameSchool, err := w.acct.Create(ctx, "colleague@school.example", testPassword, "Colleague", account.Teacher, w.teacher.SchoolID)
	if err != nil {
		t.Fatal(err)
	}

	checks := map[string]func(account.User) error{
		"class":  func(u account.User) error { _, err := w.s.AuthorizeClass(ctx, u, w.class.ID); return err },
		"roster": func(u account.User) error { _, err := w.s.Roster(ctx, u, w.class.ID); return err },
		"import roster": func(u account.User) error {
			_, err := w.s.ImportRoster(ctx, u, w.class.ID, strings.NewReader("student_id,given_name,family_name,email\n9,A,B,\n"))
			return err
		},
		"access link":  func(u account.User) error { _, _, err := w.s.RotateAccessLink(ctx, u, w.class.ID, "1001"); return err },
		"remove":       func(u account.User) error { return w.s.RemoveStudent(ctx, u, w.class.ID, "1005") },
		"assignment":   func(u account.User) error { _, err := w.s.AuthorizeAssignment(ctx, u, w.asg.ID); return err },
		"publish":      func(u account.User) error { _, err := w.s.Publish(ctx, u, w.asg.ID); return err },
		"upload":       func(u account.User) error { _, err := w.s.StartUpload(ctx, u, w.asg.ID, ""); return err },
		"upload batch": func(u account.User) error { _, err := w.s.UploadBatch(ctx, u, batchID); return err },
		"list":         func(u account.User) error { _, err := w.s.ListSubmissions(ctx, u, w.asg.ID, "", 0); return err },
		"submission":   func(u account.User) error { _, _, err := w.s.SubmissionFor(ctx, u, subID); return err },
		"text":         func(u account.User) error { _, err := w.s.TextFor(ctx, u, subID, 0); return err },
		"original": func(u account.User) error {
			rc, _, err := w.s.Original(ctx, u, subID, 1)
			if rc != nil {
				rc.Close()
			}
			return err
		},
	}
	studentMay := map[string]bool{"submission": true, "text": true, "original": true}
	for name, check := range checks {
		t.Run(name, func(t *testing.T) {
			for who, u := range map[string]account.User{"other school's teacher": other, "same school's other teacher": sameSchool, "grader": grader, "another student": jordan, "nobody": {}} {
				if err := check(u); !errs.Is(err, errs.NotFound) && !errs.Is(err, errs.Forbidden) {
					t.Errorf("%s: err %v, want not_found or forbidden", who, err)
				}
			}
			if err := check(w.teacher); err != nil {
				t.Errorf("teacher: %v", err)
			}
			if err := check(avery); (err == nil) != studentMay[name] {
				t.Errorf("the submission's own student: err %v", err)
			}
		})
	}
	// An unknown ID is the same not_found as someone else's.
	if _, _, err := w.s.SubmissionFor(ctx, other, w.asg.ID+":9999"); !errs.Is(err, errs.NotFound) {
		t.Errorf("unknown submission: %v", err)
	}
}
