package intake

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
)

func TestNameMatches(t *testing.T) {
	avery := Student{GivenName: "Avery", FamilyName: "Rivera"}
	for _, tc := range []struct {
		part string
		st   Student
		want bool
	}{
		{"riveraavery", avery, true},
		{"averyrivera", avery, true},
		{"rivera", avery, false},
		{"riveraave", avery, false},
		{"okaforjordan", avery, false},
		{"garciamaria", Student{GivenName: "María", FamilyName: "García"}, true},
		{"garcíamaría", Student{GivenName: "Maria", FamilyName: "Garcia"}, true},
		{"vanderbergannmarie", Student{GivenName: "Ann-Marie", FamilyName: "van der Berg"}, true},
		{"obrienliam", Student{GivenName: "Liam", FamilyName: "O'Brien"}, true},
		{"", avery, false},
		{"x", Student{}, false},
	} {
		if got := nameMatches(tc.part, tc.st); got != tc.want {
			t.Errorf("nameMatches(%q, %s %s) = %v", tc.part, tc.st.GivenName, tc.st.FamilyName, got)
		}
	}
}

// TestMismatchedNameIsFlagged: issue 17, item 3. A Canvas-style file whose
// name part names one rostered student and whose ID is another's is
// stored for the ID's student with a flag naming both; so is one whose
// name part names nobody. Flagged versions are out of the grading list
// and the student's view until the teacher confirms them.
func TestMismatchedNameIsFlagged(t *testing.T) {
	w := newWorld(t)
	essay := []byte("An essay on personalized learning, in the student's own words, long enough to read.")
	out := w.upload(t,
		namedFile{name: "riveraavery_1002_7001_essay.txt", data: essay},
		namedFile{name: "smithjo_1003_7002_essay.txt", data: []byte("Another essay altogether, about something else entirely.")},
		namedFile{name: "natarajanpriya_1004_7003_essay.txt", data: []byte("Priya's own essay, correctly named, about learning.")},
	)
	mis, unknown, fine := out[0], out[1], out[2]
	if mis.Status != StatusCreated || mis.StudentID != "1002" || mis.Flag == nil || mis.Flag.Reason != FlagNameMismatch || mis.Flag.NamedStudentID != "1001" {
		t.Fatalf("mismatched name: %+v", mis)
	}
	if w := strings.Join(mis.Warnings, " "); !strings.Contains(w, "Avery Rivera") || !strings.Contains(w, "Jordan Okafor") || !strings.Contains(w, "1001") || !strings.Contains(w, "1002") {
		t.Errorf("the warning does not name both students: %q", w)
	}
	if unknown.Flag == nil || unknown.Flag.Reason != FlagUnknownName || !strings.Contains(strings.Join(unknown.Warnings, " "), "smithjo") {
		t.Fatalf("unknown name: %+v", unknown)
	}
	if fine.Flag != nil || len(fine.Warnings) != 0 {
		t.Fatalf("a well-named file: %+v", fine)
	}
	rows, _ := w.s.Rows(w.ctx, w.asg.ID)
	flagged := map[string]bool{}
	for _, r := range rows {
		flagged[r.StudentID] = r.Flag != nil
	}
	if !flagged["1002"] || !flagged["1003"] || flagged["1004"] {
		t.Fatalf("row flags %v", flagged)
	}

	// The student whose ID it carries does not see it yet.
	jordan := w.enrolment(t, w.class.ID, "1002")
	if _, _, err := w.s.SubmissionFor(w.ctx, jordan, mis.SubmissionID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the student sees a flagged version: %v", err)
	}
	if subs, _ := w.s.MySubmissions(w.ctx, jordan); len(subs) != 0 {
		t.Errorf("the student's submissions list a flagged version: %+v", subs)
	}

	// Confirmed, it is the student's like any other.
	sub, err := w.s.ConfirmVersion(w.ctx, w.teacher, mis.SubmissionID, 1)
	if err != nil || sub.Versions[0].Flag.Open() || sub.Versions[0].Flag.ConfirmedBy != w.teacher.ID {
		t.Fatalf("confirm: %+v, %v", sub, err)
	}
	if _, err := w.s.ConfirmVersion(w.ctx, w.teacher, mis.SubmissionID, 1); err != nil {
		t.Errorf("confirming again: %v", err)
	}
	rows, _ = w.s.Rows(w.ctx, w.asg.ID)
	for _, r := range rows {
		if r.StudentID == "1002" && r.Flag != nil {
			t.Errorf("the confirmed row is still flagged")
		}
	}
	seen, _, err := w.s.SubmissionFor(w.ctx, jordan, mis.SubmissionID)
	if err != nil || len(seen.Versions) != 1 || seen.Versions[0].Flag != nil {
		t.Errorf("the student's view after confirming: %+v, %v", seen, err)
	}
	work, _ := w.s.StudentWork(w.ctx, w.class.ID, "1002")
	if len(work) != 1 || work[0].Version != 1 {
		t.Errorf("student work after confirming: %+v", work)
	}
	if _, err := w.s.ConfirmVersion(w.ctx, w.teacher, fine.SubmissionID, 1); !errs.Is(err, errs.Conflict) {
		t.Errorf("confirming an unflagged version: %v", err)
	}
	other := w.signUp(t, "other@school.example", "Other School")
	if _, err := w.s.ConfirmVersion(w.ctx, other, unknown.SubmissionID, 1); !errs.Is(err, errs.NotFound) {
		t.Errorf("another school's teacher confirms: %v", err)
	}
}

// TestReassignFlaggedVersion: the teacher moves a flagged file to the
// student it names. It becomes that student's next version, with grader
// text naming the right student, and leaves the first student's
// submission: their row goes back to their previous version, or away.
func TestReassignFlaggedVersion(t *testing.T) {
	w := newWorld(t)
	jordanV1 := []byte("Jordan Okafor's own first essay on personalized learning.")
	averyEssay := []byte("Avery Rivera wrote this essay on personalized learning; Avery thinks it helps.")
	w.upload(t, namedFile{name: "okaforjordan_1002_1_essay.txt", data: jordanV1})
	w.upload(t, namedFile{name: "riveraavery_1001_1_draft.txt", data: []byte("Avery's first draft.")})
	mis := w.upload(t, namedFile{name: "riveraavery_1002_2_essay.txt", data: averyEssay})[0]
	stray := w.upload(t, namedFile{name: "lindqvistsam_1005_3_essay.txt", data: []byte("Sam's essay, filed under Mateo by its ID.")})[0]
	if mis.Version != 2 || mis.Flag == nil || stray.Flag == nil {
		t.Fatalf("uploads: %+v / %+v", mis, stray)
	}
	if _, err := w.s.ReassignVersion(w.ctx, w.teacher, mis.SubmissionID, 1, "1001"); !errs.Is(err, errs.Conflict) {
		t.Errorf("moving an unflagged version: %v", err)
	}
	if _, err := w.s.ReassignVersion(w.ctx, w.teacher, mis.SubmissionID, 2, "9999"); !errs.Is(err, errs.Invalid) {
		t.Errorf("moving to a student not on the roster: %v", err)
	}
	up, err := w.s.ReassignVersion(w.ctx, w.teacher, mis.SubmissionID, 2, "1001")
	if err != nil || len(up.Outcomes) != 1 {
		t.Fatalf("reassign: %+v, %v", up, err)
	}
	if o := up.Outcomes[0]; o.Status != StatusNewVersion || o.StudentID != "1001" || o.Version != 2 || o.Flag != nil {
		t.Fatalf("the move's outcome: %+v", o)
	}
	avery, _ := w.s.SubmissionOf(w.ctx, w.asg.ID, "1001")
	txt, _ := w.s.Text(w.ctx, VersionID(avery.ID, 2))
	if txt.Text != string(averyEssay) || strings.Contains(txt.GraderText, "Avery") || !strings.Contains(txt.GraderText, avery.Pseudonym) {
		t.Errorf("the moved version's texts: %q / %q", txt.Text, txt.GraderText)
	}
	jordan, _ := w.s.Submission(w.ctx, mis.SubmissionID)
	if len(jordan.Versions) != 1 || jordan.N != 1 || jordan.Current().SHA256 != sha(jordanV1) {
		t.Errorf("Jordan's submission after the move: %+v", jordan)
	}
	if _, err := w.s.Text(w.ctx, VersionID(mis.SubmissionID, 2)); !errs.Is(err, errs.NotFound) {
		t.Errorf("the moved version's old text is still there: %v", err)
	}

	// A student's only version moves: their submission and row go away.
	if _, err := w.s.ReassignVersion(w.ctx, w.teacher, stray.SubmissionID, 1, "1003"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Submission(w.ctx, stray.SubmissionID); !errs.Is(err, errs.NotFound) {
		t.Errorf("Mateo's emptied submission: %v", err)
	}
	rows, _ := w.s.Rows(w.ctx, w.asg.ID)
	got := map[string]int{}
	for _, r := range rows {
		got[r.StudentID] = r.Version
		if r.Flag != nil {
			t.Errorf("row %s still flagged", r.StudentID)
		}
	}
	if want := map[string]int{"1001": 2, "1002": 1, "1003": 1}; !mapsEqual(got, want) {
		t.Errorf("rows after the moves %v, want %v", got, want)
	}
	if p, _ := w.s.ListSubmissions(w.ctx, w.teacher, w.asg.ID, "", 0); p.Total != 3 || len(p.Rows) != 3 {
		t.Errorf("list after the moves: total %d, %d rows", p.Total, len(p.Rows))
	}
	// Mateo later hands in his own work: version 1 again.
	o := w.upload(t, namedFile{name: "alvarezmateo_1005_4_essay.txt", data: []byte("Mateo's own essay.")})[0]
	if o.Status != StatusCreated || o.Version != 1 || o.Pseudonym != stray.Pseudonym {
		t.Errorf("Mateo's own upload after the move: %+v", o)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sha(b []byte) string {
	s, _ := sha256Of(bytes.NewReader(b), int64(len(b)))
	return s
}

// TestTeacherRevisionAfterRelease: issue 17, item 4. After release the
// teacher's upload of a Canvas-named revised file is a new version, and
// matching reads the assignment again even though it takes no students'
// revisions.
func TestTeacherRevisionAfterRelease(t *testing.T) {
	w := newWorld(t)
	w.upload(t, fixtureSubmissions(t)...)
	if _, err := w.s.Publish(w.ctx, w.teacher, w.asg.ID); err != nil {
		t.Fatal(err)
	}
	for _, st := range []State{InGrading, Graded, Released} {
		if err := w.s.Advance(w.ctx, w.asg.ID, st); err != nil {
			t.Fatal(err)
		}
	}
	open, _ := w.s.OpenAssignments(w.ctx)
	if slices.ContainsFunc(open, func(a Assignment) bool { return a.ID == w.asg.ID }) {
		t.Fatal("a released assignment without revisions is open before any revision")
	}
	o := w.upload(t, namedFile{name: "lindqvistsam_1003_5009_revised.txt", data: []byte("Sam Lindqvist's revised essay, now with evidence.")})[0]
	if o.Status != StatusNewVersion || o.Version != 2 || o.Flag != nil {
		t.Fatalf("teacher's revision after release: %+v", o)
	}
	a, _ := w.s.Assignment(w.ctx, w.asg.ID)
	if a.ReopenedAt == nil || a.State != Released {
		t.Errorf("assignment after the revision: %+v", a)
	}
	open, _ = w.s.OpenAssignments(w.ctx)
	if !slices.ContainsFunc(open, func(a Assignment) bool { return a.ID == w.asg.ID }) {
		t.Error("matching does not see the revised assignment")
	}
}

// TestStudentWork: a student's home is the class's published assignments
// with their latest version, kept current as assignments change and
// versions arrive; a read model written before it existed is built on
// first read.
func TestStudentWork(t *testing.T) {
	w := newWorld(t)
	second := w.newAssignment(t, w.teacher, w.class.ID)
	w.upload(t, namedFile{"essay.txt", "1001", []byte("Avery's essay, version one.")})
	work, err := w.s.StudentWork(w.ctx, w.class.ID, "1001")
	if err != nil || len(work) != 1 || work[0].AssignmentID != w.asg.ID || work[0].Version != 1 || work[0].State != Draft {
		t.Fatalf("a draft with work in it: %+v, %v", work, err)
	}
	if work, _ := w.s.StudentWork(w.ctx, w.class.ID, "1002"); len(work) != 0 {
		t.Fatalf("drafts shown to a student with no work in them: %+v", work)
	}
	if _, err := w.s.Publish(w.ctx, w.teacher, w.asg.ID); err != nil {
		t.Fatal(err)
	}
	w.upload(t, namedFile{"essay.txt", "1001", []byte("Avery's essay, version two.")})
	work, _ = w.s.StudentWork(w.ctx, w.class.ID, "1001")
	if sub, _ := w.s.SubmissionOf(w.ctx, w.asg.ID, "1001"); len(work) != 1 || work[0].Version != 2 || work[0].State != Published || work[0].SubmissionID != sub.ID {
		t.Fatalf("after publishing and a new version: %+v", work)
	}
	if work, _ := w.s.StudentWork(w.ctx, w.class.ID, "1002"); len(work) != 1 || work[0].Version != 0 || work[0].SubmissionID != "" {
		t.Fatalf("a published assignment not handed in: %+v", work)
	}
	// Written before the read model: built on first read, the same.
	if _, err := w.s.c(colWork).DeleteMany(w.ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	w.asg = second
	w.upload(t, namedFile{"essay.txt", "1001", []byte("Avery's second assignment.")}) // a partial enrolment document
	work, err = w.s.StudentWork(w.ctx, w.class.ID, "1001")
	if err != nil || len(work) != 2 || work[0].AssignmentID != second.ID || work[0].Version != 1 || work[1].Version != 2 {
		t.Fatalf("rebuilt: %+v, %v", work, err)
	}
}

// TestAssignmentChangeRecovered: a crash between an assignment's change
// and its students' read model is finished by Recover.
func TestAssignmentChangeRecovered(t *testing.T) {
	w := newWorld(t)
	w.s.cfg.SoleProcess = true
	w.upload(t, namedFile{"essay.txt", "1001", []byte("Avery's essay.")})
	if _, err := w.s.StudentWork(w.ctx, w.class.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	// The publish's first two writes, then the crash.
	now := time.Now().UTC()
	if _, err := w.s.c(colInflight).InsertOne(w.ctx, flightDoc{ID: assignmentFlightID(w.asg.ID), Kind: flightAssignment, AssignmentID: w.asg.ID, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.c(colAssignments).UpdateOne(w.ctx, bson.D{{Key: "_id", Value: w.asg.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: Published}}}}); err != nil {
		t.Fatal(err)
	}
	if work, _ := w.s.StudentWork(w.ctx, w.class.ID, "1001"); work[0].State != Draft {
		t.Fatalf("the crash did not leave the read model behind: %+v", work)
	}
	if rep, err := w.s.Recover(w.ctx); err != nil || rep.Assignments != 1 {
		t.Fatalf("recover: %+v, %v", rep, err)
	}
	if work, _ := w.s.StudentWork(w.ctx, w.class.ID, "1001"); work[0].State != Published {
		t.Fatalf("after recovery: %+v", work)
	}
}
