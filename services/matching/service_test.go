package matching

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/blob/blobtest"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"github.com/marginschool/margin/services/intake"
)

const fixtures = "../../testdata/class-a"
const pw = "lesson plans and coffee"

// world is a matching service on a fresh store with the class-a fixture
// published through intake's API.
type world struct {
	s       *Service
	in      *intake.Service
	acc     *account.Service
	teacher account.User
	asg     intake.Assignment
	clock   time.Time
	db      *mongo.Database
}

func (w *world) advance(d time.Duration) { w.clock = w.clock.Add(d) }

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	db := mongotest.DB(t)
	blobs := blobtest.Store(t)
	acc := account.New(db)
	if err := acc.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	w := &world{acc: acc, in: intake.New(db, blobs, acc, intake.Config{}, nil), clock: time.Now().UTC(), db: db}
	w.s = New(db, acc, w.in, Config{}, nil)
	w.s.now = func() time.Time { return w.clock }
	var err error
	w.teacher, err = acc.SignUp(ctx, account.SignUp{Email: "rivera@lincoln.example.org", Password: pw, Name: "Ms Rivera", Role: account.Teacher, School: "Lincoln High"})
	must(t, err)
	ten := 10
	class, err := w.in.CreateClass(ctx, w.teacher, intake.ClassInput{Name: "English 10", Subject: "english", GradeLevel: &ten})
	must(t, err)
	f, err := os.Open(fixtures + "/roster.csv")
	must(t, err)
	defer f.Close()
	_, err = w.in.ImportRoster(ctx, w.teacher, class.ID, f)
	must(t, err)
	price := int64(800)
	var rubric intake.Rubric
	must(t, json.Unmarshal(read(t, "rubric.json"), &rubric))
	w.asg, err = w.in.CreateAssignment(ctx, w.teacher, intake.AssignmentInput{ClassID: class.ID, Title: "Essay", Prompt: "Write.", Rubric: &rubric, DueAt: w.clock.Add(14 * 24 * time.Hour), AllowResubmission: true, PriceCents: &price})
	must(t, err)
	b, err := w.in.StartUpload(ctx, w.teacher, w.asg.ID, "")
	must(t, err)
	zip := read(t, "class-a-submissions.zip")
	must(t, b.Add(ctx, "class-a-submissions.zip", "", bytes.NewReader(zip), int64(len(zip))))
	w.asg, err = w.in.Publish(ctx, w.teacher, w.asg.ID)
	must(t, err)
	return w
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixtures + "/" + name)
	must(t, err)
	return b
}

// grader signs up a grader of grade-10 English with the given capacity,
// approved unless pending is set.
func (w *world) grader(t *testing.T, email string, capacity int) account.User {
	t.Helper()
	ctx := context.Background()
	u, err := w.acc.SignUp(ctx, account.SignUp{Email: email, Password: pw, Name: email, Role: account.Grader})
	must(t, err)
	_, err = w.s.SaveProfile(ctx, u, ProfileInput{Subjects: []string{"English"}, GradeBands: []GradeBand{{9, 12}}, Capacity: capacity, Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}})
	must(t, err)
	_, err = w.s.Vet(ctx, account.User{ID: "adm", Role: account.Admin}, u.ID, Approved)
	must(t, err)
	return u
}

func (w *world) round(t *testing.T) Round {
	t.Helper()
	r, err := w.s.RunRound(context.Background())
	must(t, err)
	return r
}

func (w *world) openOffer(t *testing.T, g account.User) Offer {
	t.Helper()
	os, err := w.s.MyOffers(context.Background(), g, true)
	must(t, err)
	if len(os) != 1 {
		t.Fatalf("%s has %d open offers, want 1", g.Email, len(os))
	}
	return os[0]
}

func TestAcceptIsAtomic(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	g := w.grader(t, "g@readers.example.org", 10)
	if r := w.round(t); r.Assigned != 1 || !r.Optimal {
		t.Fatalf("round: %+v", r)
	}
	o := w.openOffer(t, g)
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); _, err := w.s.Accept(ctx, g, o.ID); results <- err }()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case !errs.Is(err, errs.Conflict):
			t.Fatalf("accept: %v", err)
		}
	}
	p, err := w.s.Profile(ctx, g.ID)
	must(t, err)
	if ok != 1 || p.Held != 5 {
		t.Fatalf("%d accepts won, grader holds %d; want 1 and 5", ok, p.Held)
	}
	ts, err := w.s.TasksForGrader(ctx, g.ID)
	must(t, err)
	if len(ts) != 5 {
		t.Fatalf("%d tasks, want 5", len(ts))
	}
	a, err := w.in.Assignment(ctx, w.asg.ID)
	must(t, err)
	if a.State != intake.InGrading {
		t.Fatalf("assignment is %s", a.State)
	}
}

// Two offers that each fit but together overflow: concurrent accepts let
// exactly one through.
func TestAcceptNeverOverflowsCapacity(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	g := w.grader(t, "g@readers.example.org", 3) // splits the class of 5 into 3 + 2
	r := w.round(t)
	if r.Assigned != 1 {
		t.Fatalf("round: %+v", r)
	}
	o1 := w.openOffer(t, g)
	// The grader raises capacity, a second round offers the rest, and they
	// lower it again before accepting both at once.
	_, err := w.s.SaveProfile(ctx, g, ProfileInput{Subjects: []string{"english"}, GradeBands: []GradeBand{{9, 12}}, Capacity: 5, Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}})
	must(t, err)
	w.round(t)
	offers, err := w.s.MyOffers(ctx, g, true)
	must(t, err)
	if len(offers) != 2 {
		t.Fatalf("%d offers, want 2", len(offers))
	}
	_, err = w.s.SaveProfile(ctx, g, ProfileInput{Subjects: []string{"english"}, GradeBands: []GradeBand{{9, 12}}, Capacity: 3, Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}})
	must(t, err)
	var wg sync.WaitGroup
	errsOut := make([]error, 2)
	for i, o := range offers {
		wg.Add(1)
		go func() { defer wg.Done(); _, errsOut[i] = w.s.Accept(ctx, g, o.ID) }()
	}
	wg.Wait()
	p, err := w.s.Profile(ctx, g.ID)
	must(t, err)
	if p.Held > p.Capacity || (errsOut[0] == nil) == (errsOut[1] == nil) {
		t.Fatalf("held %d of %d; errors %v", p.Held, p.Capacity, errsOut)
	}
	_ = o1
}

func TestDeclineExpiryAndTaskReports(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	g1 := w.grader(t, "a@readers.example.org", 10)
	w.round(t)
	o := w.openOffer(t, g1)
	if _, err := w.s.Decline(ctx, g1, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Decline(ctx, g1, o.ID); !errs.Is(err, errs.Conflict) {
		t.Fatalf("second decline: %v", err)
	}
	// Nobody else: the reason says g1 declined.
	w.round(t)
	st, err := w.s.status(ctx, w.asg.ID)
	must(t, err)
	if len(st.Unmatched) != 1 || st.Unmatched[0].Reason != "No eligible grader for grade 10 english: 1 already declined it or first-read it." {
		t.Fatalf("unmatched: %+v", st.Unmatched)
	}
	// g2 lets the offer lapse; it goes back and to g3.
	g2 := w.grader(t, "b@readers.example.org", 10)
	w.round(t)
	o2 := w.openOffer(t, g2)
	w.advance(13 * time.Hour)
	must(t, w.s.Tick(ctx))
	if _, err := w.s.Accept(ctx, g2, o2.ID); !errs.Is(err, errs.Conflict) {
		t.Fatalf("accepting an expired offer: %v", err)
	}
	g3 := w.grader(t, "c@readers.example.org", 10)
	w.round(t)
	o3 := w.openOffer(t, g3)
	_, err = w.s.Accept(ctx, g3, o3.ID)
	must(t, err)

	// Task reports move capacity and are idempotent.
	ts, err := w.s.TasksForGrader(ctx, g3.ID)
	must(t, err)
	id := ts[0].ID
	must(t, w.s.TaskSubmitted(ctx, id))
	must(t, w.s.TaskSubmitted(ctx, id))
	held := func() int { p, err := w.s.Profile(ctx, g3.ID); must(t, err); return p.Held }
	if held() != 4 {
		t.Fatalf("after a submit the grader holds %d, want 4", held())
	}
	must(t, w.s.TaskReturned(ctx, id))
	if held() != 5 {
		t.Fatalf("after a return the grader holds %d, want 5", held())
	}
	if err := w.s.TaskApproved(ctx, id); !errs.Is(err, errs.Conflict) {
		t.Fatalf("approving returned work: %v", err)
	}
	must(t, w.s.TaskSubmitted(ctx, id))
	must(t, w.s.TaskApproved(ctx, id))
	must(t, w.s.TaskApproved(ctx, id))
	q, err := w.s.Quality(ctx, g3.ID)
	must(t, err)
	if q.Submitted != 2 || q.Returns != 1 || q.Approvals != 1 || q.OnTimeRate == nil || *q.OnTimeRate != 1 {
		t.Fatalf("quality %+v", q)
	}
	if vt, err := w.s.TasksForVersion(ctx, ts[0].VersionID); err != nil || len(vt) != 1 || vt[0].ID != id {
		t.Fatalf("tasks for version: %v %v", vt, err)
	}
}

// Near the due date, unsubmitted work goes back to matching and submitted
// work stays with its grader.
func TestLeaseTakesBackUnfinishedWork(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	g1 := w.grader(t, "a@readers.example.org", 10)
	w.round(t)
	_, err := w.s.Accept(ctx, g1, w.openOffer(t, g1).ID)
	must(t, err)
	ts, err := w.s.TasksForGrader(ctx, g1.ID)
	must(t, err)
	must(t, w.s.TaskSubmitted(ctx, ts[0].ID))
	g2 := w.grader(t, "b@readers.example.org", 10)
	w.advance(14*24*time.Hour - 2*time.Hour) // inside the 24h margin
	must(t, w.s.Tick(ctx))
	p, err := w.s.Profile(ctx, g1.ID)
	must(t, err)
	if p.Held != 0 {
		t.Fatalf("g1 still holds %d", p.Held)
	}
	if t0, _ := w.s.Task(ctx, ts[0].ID); t0.State != TaskSubmitted || t0.GraderID != g1.ID {
		t.Fatalf("submitted task %+v", t0)
	}
	// The second read opened at accept and the taken-back first reads both
	// go to g2 (g1 is excluded from both).
	offers, err := w.s.MyOffers(ctx, g2, true)
	must(t, err)
	size := 0
	for _, o := range offers {
		if o.Reader == First {
			size += o.Size
			_, err := w.s.Accept(ctx, g2, o.ID)
			must(t, err)
		}
	}
	if size != 4 {
		t.Fatalf("g2 was offered %d first reads, want the 4 unfinished", size)
	}
	if t1, _ := w.s.Task(ctx, ts[1].ID); t1.GraderID != g2.ID || t1.State != TaskAssigned {
		t.Fatalf("taken-back task %+v", t1)
	}
	q, err := w.s.Quality(ctx, g1.ID)
	must(t, err)
	if q.OnTimeRate == nil || *q.OnTimeRate != 0.2 {
		t.Fatalf("g1's on-time rate %v, want 1 of 5", q.OnTimeRate)
	}
}

// A revised version gets its own first-reader batch, preferring the grader
// of the earlier version.
func TestRevisionPrefersSameGrader(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	g1 := w.grader(t, "a@readers.example.org", 10)
	g2 := w.grader(t, "b@readers.example.org", 10)
	w.round(t)
	var winner account.User
	for _, g := range []account.User{g1, g2} {
		if os, _ := w.s.MyOffers(ctx, g, true); len(os) == 1 && os[0].Reader == First {
			_, err := w.s.Accept(ctx, g, os[0].ID)
			must(t, err)
			winner = g
		}
	}
	ts, err := w.s.TasksForGrader(ctx, winner.ID)
	must(t, err)
	sub, err := w.in.Submission(ctx, ts[0].SubmissionID)
	must(t, err)
	b, err := w.in.StartUpload(ctx, w.teacher, w.asg.ID, "")
	must(t, err)
	text := []byte("A revised essay about personalized learning, rewritten from the start with new evidence and a clearer thesis.")
	must(t, b.Add(ctx, "revision.txt", sub.StudentID, bytes.NewReader(text), int64(len(text))))
	w.round(t)
	offers, err := w.s.MyOffers(ctx, winner, true)
	must(t, err)
	var rev *Offer
	for _, o := range offers {
		if o.Reader == First {
			rev = &o
		}
	}
	if rev == nil || rev.Size != 1 {
		t.Fatalf("no revision offer for the earlier grader: %+v", offers)
	}
	if f := rev.Why.Factors[2]; f.Name != "continuity" || f.Note != "graded the earlier version of this work" {
		t.Fatalf("continuity factor %+v", f)
	}
}

func TestRoundLeaseExcludesConcurrentRounds(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ok, release, err := w.s.tryLease(ctx, "round", time.Minute)
	must(t, err)
	if !ok {
		t.Fatal("could not claim a free lease")
	}
	ok2, _, err := w.s.tryLease(ctx, "round", time.Minute)
	must(t, err)
	if ok2 {
		t.Fatal("two claims of one lease")
	}
	must(t, w.s.Tick(ctx)) // does nothing while the lease is held
	if n, _ := w.s.c(colBatches).CountDocuments(ctx, map[string]any{}); n != 0 {
		t.Fatalf("a tick acted without the lease: %d batches", n)
	}
	release()
	must(t, w.s.Tick(ctx))
	if n, _ := w.s.c(colBatches).CountDocuments(ctx, map[string]any{}); n != 1 {
		t.Fatalf("after release, %d batches, want 1", n)
	}
}

// TestCalibrationsListsWhatStandsBetweenAGraderAndWork: a grader sees an
// anchored assignment they fit until they pass it or use their attempts
// (then it shows as attempted); a grader of another subject or one with a
// tie to the school never sees it.
func TestCalibrationsListsWhatStandsBetweenAGraderAndWork(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	fits := w.grader(t, "fits@graders.example.com", 10)
	tied := w.grader(t, "tied@graders.example.com", 10)
	_, err := w.s.SaveProfile(ctx, tied, ProfileInput{Subjects: []string{"English"}, GradeBands: []GradeBand{{9, 12}}, Capacity: 10,
		Days: []string{"mon"}, Affiliations: []Affiliation{{School: "Lincoln High", Kind: Works}}})
	must(t, err)
	maths := w.grader(t, "maths@graders.example.com", 10)
	_, err = w.s.SaveProfile(ctx, maths, ProfileInput{Subjects: []string{"Maths"}, GradeBands: []GradeBand{{9, 12}}, Capacity: 10, Days: []string{"mon"}})
	must(t, err)

	list := func(g account.User) []CalibrationOpening {
		t.Helper()
		out, err := w.s.Calibrations(ctx, g)
		must(t, err)
		return out
	}
	if got := list(fits); len(got) != 0 {
		t.Fatalf("without anchors: %+v", got)
	}
	levels := map[string]string{}
	for _, c := range w.asg.Rubric.Criteria {
		levels[c.Key] = w.asg.Rubric.Scale[2].Key
	}
	students, err := w.in.Roster(ctx, w.teacher, w.asg.ClassID)
	must(t, err)
	_, err = w.s.SetAnchors(ctx, w.teacher, w.asg.ID, []AnchorInput{{StudentID: students[0].StudentID, Levels: levels}})
	must(t, err)

	for _, c := range []struct {
		who  account.User
		want int
	}{{fits, 1}, {tied, 0}, {maths, 0}} {
		if got := list(c.who); len(got) != c.want {
			t.Errorf("%s sees %d openings, want %d: %+v", c.who.Email, len(got), c.want, got)
		}
	}
	if got := list(fits)[0]; got.AssignmentID != w.asg.ID || !got.MayAttempt || got.Passed || got.Attempts != 0 || got.Title != "Essay" {
		t.Fatalf("the opening: %+v", got)
	}
	// The grader who does not fit may not open the paper by its ID either.
	if _, err := w.s.Calibration(ctx, tied, w.asg.ID); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("a grader with a tie to the school opening the anchor paper: %v", err)
	}
	if _, err := w.s.Calibrate(ctx, fits, w.asg.ID, levels); err != nil {
		t.Fatal(err)
	}
	if got, err := w.s.Outcome(ctx, fits, w.asg.ID, 1); err != nil || !got.Attempt.Passed || got.Attempt.N != 1 {
		t.Fatalf("the outcome of attempt 1: %+v, %v", got, err)
	}
	if ats, err := w.s.attempts(ctx, w.asg.ID, fits.ID); err != nil || len(ats) != 1 || ats[0].SubmissionID == "" {
		t.Fatalf("the attempt does not name its paper: %+v, %v", ats, err)
	}
	if _, err := w.s.Outcome(ctx, fits, w.asg.ID, 2); !errs.Is(err, errs.NotFound) {
		t.Fatalf("an attempt not made: %v", err)
	}
	if got := list(fits); len(got) != 1 || !got[0].Passed || got[0].MayAttempt || got[0].Attempts != 1 {
		t.Fatalf("after passing: %+v", got)
	}
	if _, err := w.s.Calibrations(ctx, w.teacher); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("a teacher listing calibrations: %v", err)
	}
}
