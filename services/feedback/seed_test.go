package feedback

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"github.com/marginschool/margin/services/feedback/anchor"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// The service tests seed intake's and matching's documents directly, in
// their own exported types, rather than drive an upload and a matching
// round: those flows have their own tests, and the end-to-end test
// (e2e/feedback_test.go) drives the whole path through HTTP.

// essay is a student's text: a line break inside a sentence joined by the
// extractor, curly quotes, the student's name (pseudonymised for graders)
// and a phrase that occurs twice.
const essay = "Personalized Learning in Schools\n\n" +
	"My name is Priya Natarajan and I believe every student learns differently. " +
	"Each student gets a “learning plan” based on how he learns, what he knows, and what his skills and interests are. " +
	"Instead, the teacher guides each student on an individualized journey. The what, when, where and how of learning is tailored.\n\n" +
	"Personalized learning allows for students to be assessed when they are ready. " +
	"Teachers need support. Students need time. Schools need support."

// fixture is one seeded assignment with one submission and its tasks.
type fixture struct {
	svc      *Service
	db       *mongo.Database
	accts    *account.Service
	teacher  account.User
	other    account.User // another school's teacher
	grader   account.User
	grader2  account.User
	student  account.User
	student2 account.User
	asg      intake.Assignment
	sub      intake.Submission
}

var ctx = context.Background()

func loadRubric(t testing.TB) intake.Rubric {
	t.Helper()
	b, err := os.ReadFile("../../testdata/class-a/rubric.json")
	if err != nil {
		b = []byte(testRubric)
	}
	var r intake.Rubric
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

const testRubric = `{"scale":[{"key":"emerging","label":"Emerging","points":1},{"key":"developing","label":"Developing","points":2},
{"key":"proficient","label":"Proficient","points":3},{"key":"advanced","label":"Advanced","points":4}],
"criteria":[{"key":"thesis","title":"Thesis and focus","weight":2,"levels":{"emerging":"a","developing":"b","proficient":"c","advanced":"d"}},
{"key":"evidence","title":"Use of evidence and sources","weight":2,"levels":{"emerging":"a","developing":"b","proficient":"c","advanced":"d"}},
{"key":"analysis","title":"Analysis and reasoning","weight":2,"levels":{"emerging":"a","developing":"b","proficient":"c","advanced":"d"}},
{"key":"organization","title":"Organization","weight":1,"levels":{"emerging":"a","developing":"b","proficient":"c","advanced":"d"}},
{"key":"conventions","title":"Conventions and citation format","weight":1,"levels":{"emerging":"a","developing":"b","proficient":"c","advanced":"d"}}],
"focus_points":["Does the essay answer the question?","Are the claims supported by cited research?"]}`

func newFixture(t testing.TB) *fixture {
	t.Helper()
	db := mongotest.DB(t)
	accts := account.New(db)
	in := intake.New(db, nil, accts, intake.Config{}, nil)
	f := &fixture{db: db, accts: accts, svc: New(db, accts, in, matching.New(db, accts, in, matching.Config{}, nil), Config{}, nil)}
	school, err := accts.CreateSchool(ctx, "Lakeside High")
	must(t, err)
	otherSchool, err := accts.CreateSchool(ctx, "Hillview")
	must(t, err)
	f.teacher = mustUser(t)(accts.Create(ctx, "teacher@example.org", "correct horse battery", "Tess Teacher", account.Teacher, school.ID))
	f.other = mustUser(t)(accts.Create(ctx, "other@example.org", "correct horse battery", "Otto Other", account.Teacher, otherSchool.ID))
	f.grader = mustUser(t)(accts.Create(ctx, "grader@example.org", "correct horse battery", "Gita Grader", account.Grader, ""))
	f.grader2 = mustUser(t)(accts.Create(ctx, "grader2@example.org", "correct horse battery", "Hal Second", account.Grader, ""))
	f.student = mustUser(t)(accts.EnsureStudent(ctx, school.ID, "cls_test", "1004", "Priya Natarajan"))
	f.student2 = mustUser(t)(accts.EnsureStudent(ctx, school.ID, "cls_test", "1005", "Mateo Alvarez"))

	r := loadRubric(t)
	f.asg = intake.Assignment{
		ID: "asg_test", ClassID: "cls_test", SchoolID: school.ID, TeacherID: f.teacher.ID, Title: "Research essay",
		Prompt: "How should a school implement personalized learning?", Rubric: r, FocusPoints: r.FocusPoints,
		PriceCents: 450, Currency: "usd", AllowResubmission: true, State: intake.InGrading, CreatedAt: time.Now(),
	}
	insert(t, db, "classes", intake.Class{ID: "cls_test", SchoolID: school.ID, TeacherID: f.teacher.ID, Name: "English 10"})
	insert(t, db, "assignments", f.asg)
	for _, st := range []struct{ id, given, family string }{{"1004", "Priya", "Natarajan"}, {"1005", "Mateo", "Alvarez"}} {
		insert(t, db, "students", bson.M{"_id": "cls_test:" + st.id, "class_id": "cls_test", "student_id": st.id, "given_name": st.given, "family_name": st.family})
	}
	f.sub = f.addVersion(t, "1004", 1, essay)
	f.addVersion(t, "1005", 1, "Mateo's essay is short. It has a thesis and some evidence and a conclusion.")
	return f
}

// addVersion seeds version n of a student's submission with its text, and
// the assignment's list row.
func (f *fixture) addVersion(t testing.TB, studentID string, n int, text string) intake.Submission {
	t.Helper()
	subID := f.asg.ID + ":" + studentID
	var sub intake.Submission
	err := f.db.Collection("submissions").FindOne(ctx, bson.M{"_id": subID}).Decode(&sub)
	if err == mongo.ErrNoDocuments {
		sub = intake.Submission{ID: subID, AssignmentID: f.asg.ID, ClassID: "cls_test", StudentID: studentID, Pseudonym: "Student " + studentID}
	}
	sub.Versions = append(sub.Versions, intake.Version{N: n, Filename: "essay.txt", Format: "txt", Chars: len([]rune(text)), UploadedAt: time.Now()})
	_, err = f.db.Collection("submissions").ReplaceOne(ctx, bson.M{"_id": subID}, sub, optsUpsert())
	must(t, err)
	grader := strings.NewReplacer("Priya Natarajan", "Student 1004", "Priya", "Student").Replace(text)
	insert(t, f.db, "submission_texts", intake.Text{VersionID: intake.VersionID(subID, n), Text: text, GraderText: grader})
	_, err = f.db.Collection("submission_lists").UpdateOne(ctx, bson.M{"_id": f.asg.ID},
		bson.M{"$set": bson.M{"rows." + studentID: intake.Row{StudentID: studentID, Version: n}}}, upsert)
	must(t, err)
	return sub
}

// task seeds a grading task as matching would on an accepted offer.
func (f *fixture) task(t testing.TB, studentID string, n int, reader matching.Reader, grader account.User) string {
	t.Helper()
	subID := f.asg.ID + ":" + studentID
	vid := intake.VersionID(subID, n)
	tk := matching.Task{ID: matching.TaskID(vid, reader), GraderID: grader.ID, AssignmentID: f.asg.ID, SubmissionID: subID,
		VersionID: vid, Version: n, Reader: reader, State: matching.TaskAssigned, DueAt: time.Now().Add(72 * time.Hour), AssignedAt: time.Now()}
	insert(t, f.db, "grading_tasks", tk)
	return tk.ID
}

func insert(t testing.TB, db *mongo.Database, col string, doc any) {
	t.Helper()
	if _, err := db.Collection(col).InsertOne(ctx, doc); err != nil {
		t.Fatal(err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustUser(t testing.TB) func(account.User, error) account.User {
	return func(u account.User, err error) account.User {
		t.Helper()
		must(t, err)
		return u
	}
}

// quote builds a target for the n-th occurrence (0-based) of exact in text,
// as a browser would: offsets in code points and 32 characters of context.
func quote(t testing.TB, text, exact string, nth int) anchor.Target {
	t.Helper()
	b := -1
	for i := 0; i <= nth; i++ {
		j := strings.Index(text[b+1:], exact)
		if j < 0 {
			t.Fatalf("%q not in text", exact)
		}
		b += 1 + j
	}
	start := len([]rune(text[:b]))
	end := start + len([]rune(exact))
	prefix, suffix := anchor.Context(text, start, end, anchor.ContextLen)
	return anchor.Target{Quote: anchor.TextQuoteSelector{Exact: exact, Prefix: prefix, Suffix: suffix},
		Position: anchor.TextPositionSelector{Start: start, End: end}}
}

func optsUpsert() *options.ReplaceOptions { return options.Replace().SetUpsert(true) }

func newDoc(s string) *anchor.Doc { return anchor.NewDoc(s) }
