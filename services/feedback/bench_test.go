package feedback

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/services/feedback/anchor"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/intake/intaketest"
	"github.com/marginschool/margin/services/matching/matchingtest"
)

// longEssay is a 20,000-character essay of varied sentences, with curly
// quotes and a repeated phrase.
func longEssay() string {
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("students learn at different paces and teachers guide each one on an individualized journey through standards skills strategies evidence claims sources data binders learning plans walls community mastery assessment review")
	var b strings.Builder
	for b.Len() < 20000 {
		n := 8 + r.IntN(12)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		switch r.IntN(6) {
		case 0:
			b.WriteString(", a “learning plan” matters. ")
		case 1:
			b.WriteString(". Schools need support.\n\n")
		default:
			b.WriteString(". ")
		}
	}
	return b.String()
}

// tenQuotes targets ten passages of text as a browser would, half of them
// with offsets a few characters off (so they are repaired).
func tenQuotes(tb testing.TB, text string) []Quote {
	runes := []rune(text)
	var qs []Quote
	for i := 0; i < 10; i++ {
		start := 1000 + i*1800
		end := start + 60
		prefix, suffix := anchor.Context(text, start, end, anchor.ContextLen)
		t := anchor.Target{Quote: anchor.TextQuoteSelector{Exact: string(runes[start:end]), Prefix: prefix, Suffix: suffix},
			Position: anchor.TextPositionSelector{Start: start, End: end}}
		if i%2 == 1 {
			t.Position.Start, t.Position.End = start+3, end+3
		}
		kind := Strength
		if i%2 == 1 {
			kind = Growth
		}
		qs = append(qs, Quote{Target: t, Criterion: "thesis", Kind: kind, Comment: long})
	}
	return qs
}

// BenchmarkAnchorQuotes measures what a save costs before it touches the
// store: preparing the 20,000-character text and validating and anchoring
// ten quotes (five of them repaired).
func BenchmarkAnchorQuotes(b *testing.B) {
	text := longEssay()
	r := loadRubric(b)
	a := intake.Assignment{Rubric: r, FocusPoints: r.FocusPoints}
	c := emptyContent()
	c.Quotes = tenQuotes(b, text)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := checkContent(c, a, anchor.NewDoc(text)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWorkspace32 runs 32 graders at once, each opening its
// workspace and saving its draft (ten quotes, 20,000-character essay) in a
// loop, and, in the same run, 32 workers doing a raw driver FindOne and
// ReplaceOne of the same documents. It reports saves per second and the
// p50 and p99 latency of an open-and-save.
func BenchmarkWorkspace32(b *testing.B) {
	const graders = 32
	f := newFixture(b)
	text := longEssay()
	accts := account.New(f.db)
	users := make([]account.User, graders)
	tasks := make([]string, graders)
	// 32 more students, and 32 graders of one submission each: a round
	// gives each grader one student's first read.
	for i := range graders {
		u, err := accts.Create(ctx, fmt.Sprintf("g%d@graders.example.com", i), "correct horse battery", "Grader", account.Grader, "")
		must(b, err)
		users[i] = u
		sid := fmt.Sprintf("2%03d", i)
		intaketest.Enrol(b, f.in, f.teacher, f.asg.ClassID, intaketest.Student{ID: sid, Given: "Student", Family: sid})
		intaketest.Submit(b, f.in, f.teacher, f.asg.ID, sid, text)
		matchingtest.Ready(b, f.match, u, 1)
	}
	held := matchingtest.Take(b, f.match, users...)
	for i, u := range users {
		if len(held[u.ID]) != 1 {
			b.Fatalf("grader %d holds %d tasks, want 1", i, len(held[u.ID]))
		}
		tasks[i] = held[u.ID][0].ID
		_, err := f.svc.Open(ctx, u, tasks[i])
		must(b, err)
	}
	c := emptyContent()
	c.Quotes = tenQuotes(b, text)

	b.Run("open+save", func(b *testing.B) {
		concurrently(b, graders, "ops/s", func(i int) error {
			w, err := f.svc.Open(ctx, users[i], tasks[i])
			if err != nil {
				return err
			}
			_, err = f.svc.Save(ctx, users[i], tasks[i], w.Feedback.Rev, c)
			return err
		})
	})
	b.Run("raw-findone+replaceone", func(b *testing.B) {
		col := f.db.Collection(colFeedback)
		concurrently(b, graders, "ops/s", func(i int) error {
			var fb Feedback
			if err := col.FindOne(ctx, bson.D{{Key: "_id", Value: tasks[i]}}).Decode(&fb); err != nil {
				return err
			}
			_, err := col.ReplaceOne(ctx, bson.D{{Key: "_id", Value: tasks[i]}}, fb)
			return err
		})
	})
}

// concurrently runs op(i) on n workers at once (worker i always with i)
// for the benchmark's iterations, and reports the rate in unit and the p50,
// p95 and p99 latency.
func concurrently(b *testing.B, n int, unit string, op func(i int) error) {
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(n / max(1, runtime.GOMAXPROCS(0)))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)-1) % n
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if err := op(i); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	el := time.Since(start)
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/el.Seconds(), unit)
		for _, p := range []int{50, 95, 99} {
			b.ReportMetric(float64(lat[len(lat)*p/100].Microseconds())/1000, fmt.Sprintf("p%d-ms", p))
		}
	}
}

// BenchmarkStudentReads32 has 32 students read their released feedback at
// once (ForSubmission, and the JSON encoding the API does), each on an
// essay of about 8,000 characters, and, in the same run, 32 workers doing a
// raw driver FindOne of the same feedback documents. It reports reads per
// second and latencies; the target is ours at half the raw rate or more.
func BenchmarkStudentReads32(b *testing.B) {
	const students = 32
	f := newFixture(b)
	accts := account.New(f.db)
	text := essay + "\n\n" + longEssay()[:8000]
	users := make([]account.User, students)
	subs, ids := make([]string, students), make([]string, students)
	for i := range students {
		sid := fmt.Sprintf("3%03d", i)
		intaketest.Enrol(b, f.in, f.teacher, f.asg.ClassID, intaketest.Student{ID: sid, Given: "Student", Family: sid})
		u, err := accts.EnsureStudent(ctx, f.asg.SchoolID, f.asg.ClassID, sid, "Student "+sid)
		must(b, err)
		users[i] = u
		subs[i] = f.addVersion(b, sid, 1, text).ID
		ids[i] = f.released(b, sid)
	}
	b.Run("student-read", func(b *testing.B) {
		concurrently(b, students, "reads/s", func(i int) error {
			sf, err := f.svc.ForSubmission(ctx, users[i], subs[i])
			if err == nil {
				_, err = json.Marshal(sf)
			}
			return err
		})
	})
	b.Run("raw-findone", func(b *testing.B) {
		col := f.db.Collection(colFeedback)
		concurrently(b, students, "reads/s", func(i int) error {
			var fb Feedback
			return col.FindOne(ctx, bson.D{{Key: "_id", Value: ids[i]}}).Decode(&fb)
		})
	})
}
