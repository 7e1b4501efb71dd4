package analytics

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/feedback/anchor"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// storedReads serves feedback's read models built from feedback documents
// given by the test, with feedback's own projections (RowOf, InfoOf):
// analytics reads feedback only through FeedbackReads, and here the
// documents are written by hand rather than through feedback's whole
// grading flow (the end-to-end test drives that).
type storedReads struct {
	fbs []feedback.Feedback
	in  *intake.Service
}

func (r *storedReads) Rows(_ context.Context, id string) ([]feedback.Row, error) {
	var out []feedback.Row
	for _, f := range r.fbs {
		if f.AssignmentID == id {
			out = append(out, feedback.RowOf(f))
		}
	}
	return out, nil
}

func (r *storedReads) Student(_ context.Context, class, student string) (feedback.StudentRecord, error) {
	rec := feedback.StudentRecord{ClassID: class, StudentID: student, Work: map[string]feedback.WorkRecord{}}
	for _, f := range r.fbs {
		if f.ClassID == class && f.StudentID == student && f.Reader == feedback.First && f.State.Final() {
			rec.Work[f.VersionID] = feedback.WorkRecord{AssignmentID: f.AssignmentID, VersionID: f.VersionID, FeedbackID: f.ID,
				Version: f.Version, State: f.State, Levels: f.Levels, ApprovedAt: f.ApprovedAt}
		}
	}
	return rec, nil
}

func (r *storedReads) Students(ctx context.Context, class string, ids []string) (map[string]feedback.StudentRecord, error) {
	out := map[string]feedback.StudentRecord{}
	for _, id := range ids {
		out[id], _ = r.Student(ctx, class, id)
	}
	return out, nil
}

func (r *storedReads) Class(ctx context.Context, class string) (feedback.ClassRecord, error) {
	rec := feedback.ClassRecord{ID: class, Assignments: map[string]feedback.AssignmentInfo{}}
	for _, f := range r.fbs {
		if f.ClassID == class && f.State.Final() {
			a, err := r.in.Assignment(ctx, f.AssignmentID)
			if err != nil {
				return rec, err
			}
			rec.Assignments[mongostore.FieldKey(a.ID)] = feedback.InfoOf(a)
		}
	}
	return rec, nil
}

type world struct {
	svc               *Service
	reads             *storedReads
	teacher, other    account.User
	class             intake.Class
	asg               intake.Assignment
	student, student2 account.User
	in                *intake.Service
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	db := mongotest.DB(t)
	accts := account.New(db)
	if err := accts.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := intake.New(db, nil, accts, intake.Config{}, log)
	reads := &storedReads{in: in}
	w := &world{svc: New(db, in, matching.New(db, accts, in, matching.Config{}, log), reads, Config{}, log), reads: reads, in: in}
	var err error
	if w.teacher, err = accts.SignUp(ctx, account.SignUp{Email: "t@school.example", Password: "correct horse battery", Name: "Teacher", Role: account.Teacher, School: "North High"}); err != nil {
		t.Fatal(err)
	}
	if w.other, err = accts.SignUp(ctx, account.SignUp{Email: "o@school.example", Password: "correct horse battery", Name: "Other", Role: account.Teacher, School: "South High"}); err != nil {
		t.Fatal(err)
	}
	if w.class, err = in.CreateClass(ctx, w.teacher, intake.ClassInput{Name: "Period 3", Subject: "English", GradeLevel: ptr(10)}); err != nil {
		t.Fatal(err)
	}
	roster, err := os.Open("../../testdata/class-a/roster.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer roster.Close()
	if _, err := in.ImportRoster(ctx, w.teacher, w.class.ID, roster); err != nil {
		t.Fatal(err)
	}
	r := fixtureRubric(t)
	if w.asg, err = in.CreateAssignment(ctx, w.teacher, intake.AssignmentInput{ClassID: w.class.ID, Title: "Essay", Prompt: "Write an essay.", Rubric: &r, DueAt: time.Now().Add(72 * time.Hour), PriceCents: ptr(int64(800)), Currency: "usd"}); err != nil {
		t.Fatal(err)
	}
	if err := in.Advance(ctx, w.asg.ID, intake.Released); err != nil {
		t.Fatal(err)
	}
	w.student = enrolled(w.class, "1001", "Avery Rivera")
	w.student2 = enrolled(w.class, "1002", "Jordan Okafor")
	return w
}

// enrolled is the account of a student's enrolment in a class.
func enrolled(c intake.Class, studentID, name string) account.User {
	return account.User{ID: account.EnrolmentUserID(c.ID, studentID), Role: account.Student, SchoolID: c.SchoolID,
		ClassID: c.ID, StudentID: studentID, Name: name}
}

// add stores a first read of the student's next version with the given
// levels.
func (w *world) add(student string, state feedback.State, levels map[string]string) {
	n := 1
	for _, f := range w.reads.fbs {
		if f.StudentID == student {
			n++
		}
	}
	vid := intake.VersionID(w.asg.ID+":"+student, n)
	now := time.Now().UTC()
	w.reads.fbs = append(w.reads.fbs, feedback.Feedback{
		ID: feedback.TaskID(vid, feedback.First), VersionID: vid, AssignmentID: w.asg.ID, ClassID: w.class.ID, SchoolID: w.class.SchoolID,
		StudentID: student, GraderID: "usr_g", Version: n, Reader: feedback.First, State: state, Rev: 1, ApprovedAt: &now, UpdatedAt: now,
		Content: feedback.Content{Levels: levels, Quotes: []feedback.Quote{{ID: "q1", Criterion: "thesis", Kind: feedback.Strength,
			Target: anchor.Target{Quote: anchor.TextQuoteSelector{Exact: "quote of " + student}}}}},
	})
}

func TestClassSummaryAccessAndCache(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.add("1001", feedback.Released, map[string]string{"thesis": "advanced"})
	w.add("1002", feedback.Approved, map[string]string{"thesis": "developing"})

	s, err := w.svc.ClassSummary(ctx, w.teacher, w.asg.ID, Options{Names: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Criteria[0].Dist.Levels; got[1].Count != 1 || got[3].Count != 1 || s.Students[0].Student != "Avery Rivera" {
		t.Fatalf("thesis levels %+v, first student %q", got, s.Students[0].Student)
	}
	if s.Strengths[0].Evidence[0].Quote != "quote of 1001" && s.Strengths[0].Evidence[0].Quote != "quote of 1002" {
		t.Errorf("evidence = %+v", s.Strengths[0].Evidence)
	}
	for _, who := range []account.User{w.other, w.student, {ID: "usr_g", Role: account.Grader}} {
		if _, err := w.svc.ClassSummary(ctx, who, w.asg.ID, Options{}); !errs.Is(err, errs.NotFound) {
			t.Errorf("%s %s: err = %v; want not_found", who.Role, who.ID, err)
		}
	}

	// Released: the summary is cached, and any change to the feedback
	// (here an edit that bumps the revision) makes a fresh one.
	n, _ := w.svc.c(colSummaries).CountDocuments(ctx, bson.D{})
	if n != 1 {
		t.Fatalf("%d cached summaries; want 1", n)
	}
	// A change feedback did not record (no new row) is not seen: proof
	// that the cache answered.
	w.reads.fbs[0].Quotes[0].Target.Quote.Exact = "changed behind the cache"
	s2, err := w.svc.ClassSummary(ctx, w.teacher, w.asg.ID, Options{Names: true})
	if err != nil || len(s2.Strengths[0].Evidence) != 2 {
		t.Fatalf("cached summary: %v, %+v", err, s2.Strengths)
	}
	for _, e := range s2.Strengths[0].Evidence {
		if e.Quote == "changed behind the cache" {
			t.Fatal("the cached summary was recomputed")
		}
	}
	w.reads.fbs[1].Levels = map[string]string{"thesis": "advanced"}
	w.reads.fbs[1].Rev++
	w.reads.fbs[1].UpdatedAt = w.reads.fbs[1].UpdatedAt.Add(time.Millisecond)
	s3, err := w.svc.ClassSummary(ctx, w.teacher, w.asg.ID, Options{Names: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := s3.Criteria[0].Dist.Levels[3].Count; got != 2 {
		t.Errorf("after an edit, %d students at Advanced; want 2 (a stale cache was served)", got)
	}
}

func TestShareLinks(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.add("1001", feedback.Released, map[string]string{"thesis": "advanced"})
	w.add("1001", feedback.Approved, map[string]string{"evidence": "advanced"}) // not released: hidden from family

	if _, err := w.svc.CreateShareLink(ctx, w.student2, w.class.ID, "1001"); !errs.Is(err, errs.NotFound) {
		t.Errorf("another student made a link: %v", err)
	}
	if _, err := w.svc.CreateShareLink(ctx, w.other, w.class.ID, "1001"); !errs.Is(err, errs.NotFound) {
		t.Errorf("another teacher made a link: %v", err)
	}
	link, err := w.svc.CreateShareLink(ctx, w.student, w.class.ID, "1001")
	if err != nil {
		t.Fatal(err)
	}
	var raw bson.M
	if err := w.svc.c(colLinks).FindOne(ctx, bson.D{{Key: "_id", Value: link.ID}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	_, secret, _ := strings.Cut(link.Token, ".")
	for k, v := range raw {
		if s, ok := v.(string); ok && strings.Contains(s, secret) {
			t.Errorf("the stored link holds the token in %q", k)
		}
	}

	p, err := w.svc.FamilyProgress(ctx, link.Token)
	if err != nil {
		t.Fatal(err)
	}
	if p.StudentID != "1001" || len(p.Strands) != 1 || p.Strands[0].Marks[0].Label != "Advanced" {
		t.Errorf("family progress = %+v; want 1001's released thesis only", p)
	}
	for _, bad := range []string{"", "nodot", link.ID + ".wrong", "shl_nope." + secret} {
		if _, err := w.svc.FamilyProgress(ctx, bad); !errs.Is(err, errs.NotFound) {
			t.Errorf("token %q: err = %v; want not_found", bad, err)
		}
	}
	if _, err := w.svc.RevokeShareLink(ctx, w.student2, link.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("another student revoked the link: %v", err)
	}
	if _, err := w.svc.RevokeShareLink(ctx, w.teacher, link.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.FamilyProgress(ctx, link.Token); !errs.Is(err, errs.NotFound) {
		t.Errorf("a revoked link still works: %v", err)
	}
	links, err := w.svc.ShareLinks(ctx, w.student, w.class.ID, "1001")
	if err != nil || len(links) != 1 || links[0].RevokedAt == nil || links[0].RevokedBy != w.teacher.ID {
		t.Errorf("links = %+v, %v; want one, revoked by the teacher", links, err)
	}
}

func TestProgressAccess(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.add("1001", feedback.Released, map[string]string{"thesis": "advanced"})
	w.add("1001", feedback.Approved, map[string]string{"evidence": "advanced"})
	// The same student's released work in another class.
	c2, err := w.in.CreateClass(ctx, w.teacher, intake.ClassInput{Name: "Period 5", Subject: "English", GradeLevel: ptr(10)})
	if err != nil {
		t.Fatal(err)
	}
	r := fixtureRubric(t)
	a2, err := w.in.CreateAssignment(ctx, w.teacher, intake.AssignmentInput{ClassID: c2.ID, Title: "Other", Prompt: "Write.", Rubric: &r, DueAt: time.Now().Add(72 * time.Hour), PriceCents: ptr(int64(800)), Currency: "usd"})
	if err != nil {
		t.Fatal(err)
	}
	w.add("1001", feedback.Released, map[string]string{"analysis": "advanced"})
	w.reads.fbs[2].ClassID, w.reads.fbs[2].AssignmentID = c2.ID, a2.ID

	tp, err := w.svc.StudentProgress(ctx, w.teacher, w.class.ID, "1001")
	if err != nil || len(tp.Strands) != 2 {
		t.Errorf("teacher sees %+v, %v; want approved and released in this class (2 strands)", tp, err)
	}
	sp, err := w.svc.MyProgress(ctx, w.student)
	if err != nil || len(sp.Strands) != 1 || sp.Strands[0].Marks[0].AssignmentID != w.asg.ID {
		t.Errorf("student sees %+v, %v; want released in this class only (1 strand)", sp, err)
	}
	// The same student ID's enrolment in the other class is another
	// account: it sees that class's work, and nothing of this one.
	other := enrolled(c2, "1001", "Avery Rivera")
	if op, err := w.svc.MyProgress(ctx, other); err != nil || len(op.Strands) != 1 || op.Strands[0].Marks[0].AssignmentID != a2.ID {
		t.Errorf("the other enrolment sees %+v, %v; want its own class's work only", op, err)
	}
	if _, err := w.svc.StudentProgress(ctx, other, w.class.ID, "1001"); !errs.Is(err, errs.NotFound) {
		t.Errorf("the same student ID enrolled in another class saw this class's progress: %v", err)
	}
	if _, err := w.svc.CreateShareLink(ctx, other, w.class.ID, "1001"); !errs.Is(err, errs.NotFound) {
		t.Errorf("the same student ID enrolled in another class made a family link here: %v", err)
	}
	if _, err := w.svc.StudentProgress(ctx, w.student2, w.class.ID, "1001"); !errs.Is(err, errs.NotFound) {
		t.Errorf("another student saw progress: %v", err)
	}
	if _, err := w.svc.StudentProgress(ctx, w.other, w.class.ID, "1001"); !errs.Is(err, errs.NotFound) {
		t.Errorf("another teacher saw progress: %v", err)
	}
	if _, err := w.svc.MyProgress(ctx, w.teacher); !errs.Is(err, errs.Forbidden) {
		t.Errorf("a teacher has own progress: %v", err)
	}
	wall, err := w.svc.ClassWall(ctx, w.teacher, w.class.ID)
	if err != nil || len(wall.Rows) != 5 || len(wall.Strands) != 2 {
		t.Fatalf("wall = %+v, %v", wall, err)
	}
	if _, err := w.svc.ClassWall(ctx, w.other, w.class.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("another teacher saw the wall: %v", err)
	}
}

// Concurrent summaries of a released assignment race to fill the cache;
// every caller gets the same summary, and a lost cache write only costs a
// recomputation.
func TestClassSummaryConcurrent(t *testing.T) {
	w := newWorld(t)
	w.add("1001", feedback.Released, map[string]string{"thesis": "advanced"})
	w.add("1002", feedback.Released, map[string]string{"thesis": "developing"})
	const n = 8
	var wg sync.WaitGroup
	got := make([]string, n)
	fails := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := w.svc.ClassSummary(context.Background(), w.teacher, w.asg.ID, Options{})
			b, _ := json.Marshal(s)
			got[i], fails[i] = string(b), err
		}()
	}
	wg.Wait()
	for i := range n {
		if fails[i] != nil || got[i] != got[0] {
			t.Fatalf("caller %d: %v (same summary: %t)", i, fails[i], got[i] == got[0])
		}
	}
}

// Revoking a link twice, or at once from two callers, leaves it revoked
// and reports no error.
func TestRevokeShareLinkIdempotent(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	l, err := w.svc.CreateShareLink(ctx, w.teacher, w.class.ID, "1001")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, who := range []account.User{w.teacher, w.student, w.teacher} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.svc.RevokeShareLink(ctx, who, l.ID); err != nil {
				t.Errorf("revoke by %s: %v", who.Role, err)
			}
		}()
	}
	wg.Wait()
	if _, err := w.svc.FamilyProgress(ctx, l.Token); !errs.Is(err, errs.NotFound) {
		t.Errorf("after revoking, the link gives %v", err)
	}
}

// The platform totals are one document, kept as released summaries are
// computed and family links made and revoked: a summary recomputed with
// the same figures adds nothing, a change adds its difference, and a count
// interrupted between its two writes is completed once by Migrate.
func TestPlatformTotals(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.svc.Migrate(ctx); err != nil { // at start-up, as main does
		t.Fatal(err)
	}
	admin := account.User{ID: "usr_admin", Role: account.Admin}
	w.add("1001", feedback.Released, map[string]string{"thesis": "advanced"})
	w.add("1002", feedback.Released, map[string]string{"thesis": "developing"})
	for range 2 {
		if _, err := w.svc.ClassSummary(ctx, w.teacher, w.asg.ID, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.svc.ClassSummary(ctx, w.teacher, w.asg.ID, Options{Names: true}); err != nil {
		t.Fatal(err)
	}
	total := func() Totals {
		t.Helper()
		tot, err := w.svc.PlatformTotals(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		return tot
	}
	if got := total(); got.Assignments != 1 || got.Students != 2 {
		t.Fatalf("after three summaries of one assignment: %+v", got)
	}
	w.add("1003", feedback.Released, map[string]string{"thesis": "advanced"})
	if _, err := w.svc.ClassSummary(ctx, w.teacher, w.asg.ID, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := total(); got.Assignments != 1 || got.Students != 3 {
		t.Fatalf("after a third student: %+v", got)
	}
	l, err := w.svc.CreateShareLink(ctx, w.student, w.class.ID, "1001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CreateShareLink(ctx, w.teacher, w.class.ID, "1002"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := w.svc.RevokeShareLink(ctx, w.teacher, l.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := total(); got.ShareLinks != 2 || got.ActiveShareLinks != 1 {
		t.Fatalf("after two links, one revoked twice: %+v", got)
	}

	// A count written but not added to the totals (a crash between the
	// two), and a link made but not counted: Migrate, at the next start,
	// adds each once.
	_, err = w.svc.c(colCounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: w.asg.ID}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "applied", Value: false}, {Key: "prior", Value: Totals{Assignments: 1, Students: 2}}, {Key: "counted", Value: Totals{Assignments: 1, Students: 3}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var raw totalsDoc
	if err := w.svc.c(colTotals).FindOne(ctx, bson.D{{Key: "_id", Value: totalsID}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	raw.Totals.Students = 2 // as before the interrupted count
	raw.Ops = raw.Ops[:len(raw.Ops)-4]
	raw.Totals.ShareLinks, raw.Totals.ActiveShareLinks = 1, 1
	if _, err := w.svc.c(colTotals).ReplaceOne(ctx, bson.D{{Key: "_id", Value: totalsID}}, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.c(colLinks).UpdateOne(ctx, bson.D{{Key: "_id", Value: l.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "revoke_counted", Value: false}}}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := w.svc.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.ClassSummary(ctx, w.teacher, w.asg.ID, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := total(); got.Assignments != 1 || got.Students != 3 || got.ShareLinks != 1 || got.ActiveShareLinks != 0 {
		t.Fatalf("after recovery: %+v", got)
	}
	if _, err := w.svc.PlatformTotals(ctx, w.teacher); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("a teacher's totals: %v", err)
	}
}
