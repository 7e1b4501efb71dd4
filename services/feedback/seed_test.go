package feedback

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/blob/blobtest"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"github.com/marginschool/margin/services/feedback/anchor"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/intake/intaketest"
	"github.com/marginschool/margin/services/matching"
	"github.com/marginschool/margin/services/matching/matchingtest"
)

// The service tests seed intake and matching through their own APIs
// (intaketest, matchingtest): a class, an assignment, each student's text
// uploaded, tasks given by a matching round, as on the platform. The
// end-to-end test (e2e/feedback_test.go) drives the whole path over HTTP.

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
	in       *intake.Service
	match    *matching.Service
	teacher  account.User
	other    account.User // another school's teacher
	grader   account.User
	grader2  account.User
	student  account.User // 1004, Priya Natarajan
	student2 account.User // 1005
	asg      intake.Assignment
	sub      intake.Submission // 1004's
	ready    map[string]bool   // graders with a vetted profile
}

var ctx = context.Background()

func loadRubric(t testing.TB) intake.Rubric {
	t.Helper()
	b, err := os.ReadFile("../../testdata/class-a/rubric.json")
	must(t, err)
	var r intake.Rubric
	must(t, json.Unmarshal(b, &r))
	return r
}

// newFixture seeds, through intake's API, a class of Priya Natarajan (1004)
// and Mateo Alvarez (1005) and a published assignment (every submission
// read twice) with a version from each.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	db := mongotest.DB(t)
	accts := account.New(db)
	must(t, accts.EnsureIndexes(ctx))
	in := intake.New(db, blobtest.Store(t), accts, intake.Config{}, nil)
	m := matching.New(db, accts, in, matching.Config{}, nil)
	f := &fixture{db: db, accts: accts, in: in, match: m, svc: New(db, accts, in, m, Config{}, nil), ready: map[string]bool{}}
	school, err := accts.CreateSchool(ctx, "Lakeside High")
	must(t, err)
	otherSchool, err := accts.CreateSchool(ctx, "Hillview")
	must(t, err)
	f.teacher = mustUser(t)(accts.Create(ctx, "teacher@example.org", "correct horse battery", "Tess Teacher", account.Teacher, school.ID))
	f.other = mustUser(t)(accts.Create(ctx, "other@example.org", "correct horse battery", "Otto Other", account.Teacher, otherSchool.ID))
	f.grader = mustUser(t)(accts.Create(ctx, "grader@graders.example.com", "correct horse battery", "Gita Grader", account.Grader, ""))
	f.grader2 = mustUser(t)(accts.Create(ctx, "grader2@graders.example.com", "correct horse battery", "Hal Second", account.Grader, ""))

	r := loadRubric(t)
	class := intaketest.Class(t, in, f.teacher, "English 10", intaketest.Student{ID: "1004", Given: "Priya", Family: "Natarajan"}, intaketest.Student{ID: "1005", Given: "Mateo", Family: "Alvarez"})
	price, everyOne := int64(450), 1.0
	f.asg = intaketest.Assignment(t, in, f.teacher, class.ID, intake.AssignmentInput{Title: "Research essay",
		Prompt: "How should a school implement personalized learning?", Rubric: &r, PriceCents: &price, AllowResubmission: true, SecondReadShare: &everyOne})
	f.sub = f.addVersion(t, "1004", 1, essay)
	f.addVersion(t, "1005", 1, "Mateo's essay is short. It has a thesis and some evidence and a conclusion.")
	f.asg = intaketest.Publish(t, in, f.teacher, f.asg.ID)
	f.student = mustUser(t)(accts.EnsureStudent(ctx, school.ID, class.ID, "1004", "Priya Natarajan"))
	f.student2 = mustUser(t)(accts.EnsureStudent(ctx, school.ID, class.ID, "1005", "Mateo Alvarez"))
	return f
}

// addVersion uploads the student's next version (version n) as their
// teacher would.
func (f *fixture) addVersion(t testing.TB, studentID string, n int, text string) intake.Submission {
	t.Helper()
	sub := intaketest.Submit(t, f.in, f.teacher, f.asg.ID, studentID, text)
	if sub.Current().N != n {
		t.Fatalf("%s's upload is version %d, want %d", studentID, sub.Current().N, n)
	}
	return sub
}

// task gives grader the task for a student's version n, read by reader,
// through matching (grader gets a vetted profile first).
func (f *fixture) task(t testing.TB, studentID string, n int, reader matching.Reader, grader account.User) string {
	t.Helper()
	if !f.ready[grader.ID] {
		matchingtest.Ready(t, f.match, grader, 100)
		f.ready[grader.ID] = true
	}
	sub, err := f.in.SubmissionOf(ctx, f.asg.ID, studentID)
	must(t, err)
	return matchingtest.Task(t, f.match, grader, intake.VersionID(sub.ID, n), reader)
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

func newDoc(s string) *anchor.Doc { return anchor.NewDoc(s) }
