package analytics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/feedback/anchor"
	"github.com/marginschool/margin/services/intake"
)

// The benchmarks read feedback through feedback's real read functions, so
// they seed feedback's storage the way feedback writes it: one document per
// feedback in "feedback" and one bucket per assignment in "feedback_lists"
// with rows.<task id>. This is test-only knowledge of feedback's documents;
// production code reads them only through feedback.ForAssignment.

// sixCriteria is a rubric of six criteria on the fixture's four levels.
func sixCriteria(t testing.TB) intake.Rubric {
	r := fixtureRubric(t)
	extra := r.Criteria[4]
	extra.Key, extra.Title, extra.Standard = "voice", "Voice and style", "CCSS.ELA-LITERACY.W.9-10.1.D"
	r.Criteria = append(r.Criteria, extra)
	return r
}

type benchEnv struct {
	svc     *Service
	db      *mongo.Database
	teacher account.User
	class   intake.Class
	in      *intake.Service
}

func newBenchEnv(b *testing.B, rosterSize int) *benchEnv {
	ctx := context.Background()
	db := mongotest.DB(b)
	accts := account.New(db)
	if err := accts.EnsureIndexes(ctx); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &benchEnv{svc: New(db, nil, accts, Config{}, log), db: db, in: intake.New(db, nil, accts, intake.Config{}, log)}
	var err error
	if e.teacher, err = accts.SignUp(ctx, account.SignUp{Email: "bench@school.example", Password: "correct horse battery", Name: "Bench", Role: account.Teacher, School: "Bench High"}); err != nil {
		b.Fatal(err)
	}
	if e.class, err = e.in.CreateClass(ctx, e.teacher, intake.ClassInput{Name: "Bench", Subject: "English", GradeLevel: ptr(10)}); err != nil {
		b.Fatal(err)
	}
	if rosterSize > 0 {
		var csv strings.Builder
		csv.WriteString("student_id,given_name,family_name,email\n")
		for i := range rosterSize {
			fmt.Fprintf(&csv, "%d,Given%d,Family%d,\n", 10000+i, i, i)
		}
		if _, err := e.in.ImportRoster(ctx, e.teacher, e.class.ID, strings.NewReader(csv.String())); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

func (e *benchEnv) assignment(b *testing.B, r intake.Rubric, title string) intake.Assignment {
	a, err := e.in.CreateAssignment(context.Background(), e.teacher, intake.AssignmentInput{
		ClassID: e.class.ID, Title: title, Prompt: "Write.", Rubric: &r,
		DueAt: time.Now().Add(72 * time.Hour), PriceCents: ptr(int64(800)), Currency: "usd",
	})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// seed writes approved first reads for students on assignment a (and a
// second read for every tenth), with random levels, two quotes, a glow and
// a grow each.
func (e *benchEnv) seed(b *testing.B, a intake.Assignment, students []string, rng *rand.Rand) int {
	ctx := context.Background()
	rows := bson.M{}
	var docs []any
	now := time.Now().UTC().Truncate(time.Millisecond)
	flush := func() {
		if len(docs) == 0 {
			return
		}
		if _, err := e.db.Collection("feedback").InsertMany(ctx, docs); err != nil {
			b.Fatal(err)
		}
		docs = docs[:0]
	}
	n := 0
	for i, sid := range students {
		for _, reader := range []string{feedback.First, feedback.Second} {
			if reader == feedback.Second && i%10 != 0 {
				continue
			}
			vid := intake.VersionID(a.ID+":"+sid, 1)
			levels := map[string]string{}
			for _, c := range a.Rubric.Criteria {
				levels[c.Key] = a.Rubric.Scale[rng.IntN(len(a.Rubric.Scale))].Key
			}
			f := feedback.Feedback{
				ID: feedback.TaskID(vid, reader), VersionID: vid, SubmissionID: a.ID + ":" + sid, AssignmentID: a.ID,
				ClassID: e.class.ID, SchoolID: e.class.SchoolID, StudentID: sid, GraderID: "usr_g" + fmt.Sprint(i%7), Version: 1,
				Reader: reader, State: feedback.Approved, Rev: 3, CreatedAt: now, UpdatedAt: now, ApprovedAt: &now,
				Content: feedback.Content{
					Levels:   levels,
					Comments: map[string]string{"thesis": "A clear claim that the body of the essay supports throughout."},
					Quotes: []feedback.Quote{
						{ID: "q1", Criterion: "thesis", Kind: feedback.Strength, Comment: "Strong opening.", Target: anchor.Target{Quote: anchor.TextQuoteSelector{Exact: "passage " + sid + " one"}}},
						{ID: "q2", Criterion: "evidence", Kind: feedback.Growth, Comment: "Cite this.", Target: anchor.Target{Quote: anchor.TextQuoteSelector{Exact: "passage " + sid + " two"}}},
					},
					Glows: []feedback.Point{{Criterion: "thesis", Text: "Clear claim"}},
					Grows: []feedback.Point{{Criterion: "evidence", Text: "Cite your sources"}},
				},
				Ratings: []feedback.Rating{{CommentID: "q1", Stars: 1 + rng.IntN(5), At: now}},
			}
			docs = append(docs, f)
			rows[f.ID] = feedback.Row{TaskID: f.ID, StudentID: sid, Version: 1, Reader: reader, State: f.State, GraderID: f.GraderID, Levels: levels, AssignedID: a.ID, UpdatedAt: now}
			n++
			if len(docs) == 500 {
				flush()
			}
		}
	}
	flush()
	if _, err := e.db.Collection("feedback_lists").InsertOne(ctx, bson.M{"_id": a.ID, "rows": rows}); err != nil {
		b.Fatal(err)
	}
	return n
}

// peak samples the Go heap while f runs and returns the highest live heap
// above the level before it (the embedded store runs in this process too,
// so its allocations count, for both sides alike).
func peak(f func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var top atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if v := read(); v > top.Load() {
				top.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	if v := read(); v > top.Load() {
		top.Store(v)
	}
	if top.Load() < base {
		return 0
	}
	return top.Load() - base
}

// rawScan reads the same feedback documents with the driver alone: a Find
// on the feedback collection decoded into feedback.Feedback.
func rawScan(b *testing.B, db *mongo.Database, filter bson.D) int {
	cur, err := db.Collection("feedback").Find(context.Background(), filter)
	if err != nil {
		b.Fatal(err)
	}
	var out []feedback.Feedback
	if err := cur.All(context.Background(), &out); err != nil {
		b.Fatal(err)
	}
	return len(out)
}

// BenchmarkClassSummary: the class summary of one assignment with 150
// students × 6 criteria (and 15 second reads), uncached, against a raw
// driver scan of the same 165 feedback documents in the same run.
func BenchmarkClassSummary(b *testing.B) {
	e := newBenchEnv(b, 150)
	a := e.assignment(b, sixCriteria(b), "Bench essay")
	students := make([]string, 150)
	for i := range students {
		students[i] = fmt.Sprint(10000 + i)
	}
	docs := e.seed(b, a, students, rand.New(rand.NewPCG(1, 2)))
	ctx := context.Background()

	b.Run("summary", func(b *testing.B) {
		run := func() {
			s, err := e.svc.ClassSummary(ctx, e.teacher, a.ID, Options{})
			if err != nil || s.Criteria[0].Dist.N != 150 || s.Agreement[0].Agreement.Pairs != 15 {
				b.Fatalf("summary: %v, %+v", err, s.Criteria[0].Dist)
			}
		}
		mem := peak(run) // measured once, outside the timed loop
		for b.Loop() {
			run()
		}
		b.ReportMetric(float64(mem)/(1<<20), "peak-MiB")
	})
	b.Run("summary-cached", func(b *testing.B) {
		// Released: the first call caches, the rest check the fingerprint
		// (feedback's list row bucket and the cached document).
		if err := e.in.Advance(ctx, a.ID, intake.Released); err != nil {
			b.Fatal(err)
		}
		run := func() {
			if _, err := e.svc.ClassSummary(ctx, e.teacher, a.ID, Options{}); err != nil {
				b.Fatal(err)
			}
		}
		run()
		mem := peak(run)
		for b.Loop() {
			run()
		}
		b.ReportMetric(float64(mem)/(1<<20), "peak-MiB")
	})
	b.Run("raw-scan", func(b *testing.B) {
		run := func() {
			if n := rawScan(b, e.db, bson.D{{Key: "assignment_id", Value: a.ID}}); n != docs {
				b.Fatalf("scanned %d, want %d", n, docs)
			}
		}
		mem := peak(run) // measured once, outside the timed loop
		for b.Loop() {
			run()
		}
		b.ReportMetric(float64(mem)/(1<<20), "peak-MiB")
	})
}

// wallStudents and wallAssignments size the school-wide data wall; the
// issue asks for 5,000 × 20.
const (
	wallStudents    = 5000
	wallAssignments = 20
)

// BenchmarkSchoolDataWall: the data wall of 5,000 students over 20
// assignments of six criteria (105,000 feedback documents), against a raw
// driver scan of the whole feedback collection in the same run.
func BenchmarkSchoolDataWall(b *testing.B) {
	e := newBenchEnv(b, 0)
	students := make([]WallStudent, wallStudents)
	ids := make([]string, wallStudents)
	for i := range students {
		ids[i] = fmt.Sprint(10000 + i)
		students[i] = WallStudent{StudentID: ids[i], Name: "Student " + ids[i]}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var asgIDs []string
	docs := 0
	start := time.Now()
	for j := range wallAssignments {
		a := e.assignment(b, sixCriteria(b), fmt.Sprintf("Assignment %d", j+1))
		asgIDs = append(asgIDs, a.ID)
		docs += e.seed(b, a, ids, rng)
	}
	b.Logf("seeded %d feedback documents in %s", docs, time.Since(start).Round(time.Second))
	ctx := context.Background()

	b.Run("wall", func(b *testing.B) {
		run := func() {
			w, err := e.svc.Wall(ctx, e.teacher, students, asgIDs)
			if err != nil || len(w.Rows) != wallStudents || w.Rows[0].Cells[0] == nil {
				b.Fatalf("wall: %v", err)
			}
		}
		mem := peak(run) // measured once, outside the timed loop
		for b.Loop() {
			run()
		}
		b.ReportMetric(float64(mem)/(1<<20), "peak-MiB")
	})
	b.Run("raw-scan", func(b *testing.B) {
		run := func() {
			if n := rawScan(b, e.db, bson.D{}); n != docs {
				b.Fatalf("scanned %d, want %d", n, docs)
			}
		}
		mem := peak(run) // measured once, outside the timed loop
		for b.Loop() {
			run()
		}
		b.ReportMetric(float64(mem)/(1<<20), "peak-MiB")
	})
}
