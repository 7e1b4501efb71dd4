package analytics

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/blob/blobtest"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/feedback/anchor"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// benchClass is a class seeded through the services' own public write
// paths, as its teacher, graders and admin would: the roster imported,
// each assignment created, every student's essay uploaded, published,
// matched (first reads, then a tenth read again blind), graded, approved
// and released.
type benchClass struct {
	db          *mongo.Database
	svc         *Service
	fb          *feedback.Service
	teacher     account.User
	class       intake.Class
	assignments []string
}

// seedClass builds a class of students × assignments (MARGIN_BENCH_STUDENTS,
// MARGIN_BENCH_ASSIGNMENTS override the defaults given).
func seedClass(b *testing.B, students, assignments int) *benchClass {
	b.Helper()
	if n, err := strconv.Atoi(os.Getenv("MARGIN_BENCH_STUDENTS")); err == nil && n > 0 {
		students = n
	}
	if n, err := strconv.Atoi(os.Getenv("MARGIN_BENCH_ASSIGNMENTS")); err == nil && n > 0 {
		assignments = n
	}
	ctx := context.Background()
	db := mongotest.DB(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	accts := account.New(db)
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	must(accts.EnsureIndexes(ctx))
	in := intake.New(db, blobtest.Store(b), accts, intake.Config{}, log)
	mt := matching.New(db, accts, in, matching.Config{}, log)
	fb := feedback.New(db, accts, in, mt, feedback.Config{}, log)
	c := &benchClass{db: db, svc: New(db, in, mt, fb, Config{}, log), fb: fb}
	var err error
	c.teacher, err = accts.SignUp(ctx, account.SignUp{Email: "t@bench.example", Password: "correct horse battery", Name: "Teacher", Role: account.Teacher, School: "Bench High"})
	must(err)
	admin, err := accts.Create(ctx, "admin@bench.example", "correct horse battery", "Admin", account.Admin, "")
	must(err)
	graders := map[string]account.User{}
	for i := range 4 {
		g, err := accts.SignUp(ctx, account.SignUp{Email: fmt.Sprintf("g%d@graders.example", i), Password: "correct horse battery", Name: fmt.Sprintf("Grader %d", i), Role: account.Grader})
		must(err)
		_, err = mt.SaveProfile(ctx, g, matching.ProfileInput{Subjects: []string{"english"}, GradeBands: []matching.GradeBand{{Min: 9, Max: 12}},
			Capacity: 500, Days: []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}, Bio: "Bench grader."})
		must(err)
		_, err = mt.Vet(ctx, admin, g.ID, matching.Approved)
		must(err)
		graders[g.ID] = g
	}
	grade := 10
	c.class, err = in.CreateClass(ctx, c.teacher, intake.ClassInput{Name: "English 10", Subject: "english", GradeLevel: &grade})
	must(err)
	var roster strings.Builder
	roster.WriteString("student_id,given_name,family_name,email\n")
	for s := range students {
		fmt.Fprintf(&roster, "%d,Given%d,Family%d,s%d@students.bench.example\n", 100001+s, s, s, s)
	}
	res, err := in.ImportRoster(ctx, c.teacher, c.class.ID, strings.NewReader(roster.String()))
	must(err)
	if len(res.Students) != students {
		b.Fatalf("roster: %d students of %d (%v)", len(res.Students), students, res.Errors)
	}
	rubric := fixtureRubric(b)
	share := 0.1
	for n := range assignments {
		a, err := in.CreateAssignment(ctx, c.teacher, intake.AssignmentInput{ClassID: c.class.ID, Title: fmt.Sprintf("Essay %d", n+1),
			Prompt: "Write a research essay.", Rubric: &rubric, DueAt: time.Now().Add(72 * time.Hour), PriceCents: ptr(int64(800)),
			Currency: "usd", SecondReadShare: &share})
		must(err)
		up, err := in.StartUpload(ctx, c.teacher, a.ID, "")
		must(err)
		for _, st := range res.Students {
			text := []byte(benchEssay(st.StudentID, n))
			must(up.Add(ctx, "essay.txt", st.StudentID, bytes.NewReader(text), int64(len(text))))
		}
		_, err = in.Publish(ctx, c.teacher, a.ID)
		must(err)
		var tasks []string
		holder := map[string]account.User{}
		for _, reader := range []matching.Reader{matching.First, matching.Second} {
			_, err := mt.RunRound(ctx)
			must(err)
			m, err := mt.ForAssignment(ctx, c.teacher, a.ID)
			must(err)
			for _, bt := range m.Batches {
				if bt.Reader != reader || bt.Offer == nil || bt.Offer.State != matching.OfferOpen {
					continue
				}
				g := graders[bt.Offer.GraderID]
				_, err := mt.Accept(ctx, g, bt.Offer.ID)
				must(err)
				for _, it := range bt.Items {
					id := matching.TaskID(it.VersionID, reader)
					tasks, holder[id] = append(tasks, id), g
				}
			}
		}
		if len(tasks) < students {
			b.Fatalf("assignment %d: %d tasks for %d students", n+1, len(tasks), students)
		}
		for _, id := range tasks {
			g := holder[id]
			w, err := fb.Open(ctx, g, id)
			must(err)
			h := fnv.New32a()
			fmt.Fprint(h, w.Task.VersionID)
			c := benchContent(b, rubric, w.Text, int(h.Sum32()%1000))
			if w.Task.Reader == matching.Second { // a step apart on one criterion: agreement, not a disagreement
				k := rubric.Criteria[0].Key
				j, _ := rubric.LevelIndex(c.Levels[k])
				c.Levels[k] = rubric.Scale[min(j+1, len(rubric.Scale)-1)].Key
			}
			f, err := fb.Save(ctx, g, id, w.Feedback.Rev, c)
			must(err)
			_, err = fb.Submit(ctx, g, id, f.Rev)
			must(err)
		}
		for _, id := range tasks {
			_, err := fb.Approve(ctx, c.teacher, id)
			must(err)
		}
		_, err = fb.Release(ctx, c.teacher, a.ID, "")
		must(err)
		c.assignments = append(c.assignments, a.ID)
	}
	return c
}

// benchEssay is a student's essay of about 2,000 characters.
func benchEssay(student string, n int) string {
	var sb strings.Builder
	words := strings.Fields("students learn at different paces and teachers guide each one through evidence claims sources data reasoning structure conventions")
	h := fnv.New32a()
	fmt.Fprint(h, student, n)
	r := h.Sum32()
	for i := 0; sb.Len() < 2000; i++ {
		r = r*1664525 + 1013904223
		sb.WriteString(words[int(r>>8)%len(words)])
		if i%12 == 11 {
			sb.WriteString(". ")
		} else {
			sb.WriteByte(' ')
		}
	}
	return fmt.Sprintf("Essay %d by student %s. %s", n+1, student, sb.String())
}

// benchContent is complete feedback on a grader text: a level per
// criterion from i, a comment on each, four quotes (two strengths, two
// growths, on rotating criteria), a glow, a grow and the focus notes.
func benchContent(b *testing.B, r intake.Rubric, text string, i int) feedback.Content {
	const long = "A comment long enough to count for the bench."
	c := feedback.Content{Levels: map[string]string{}, Comments: map[string]string{}}
	for k, cr := range r.Criteria {
		c.Levels[cr.Key] = r.Scale[(i+k)%len(r.Scale)].Key
		c.Comments[cr.Key] = long
	}
	runes := []rune(text)
	for q := range 4 {
		start := 80 + q*300
		if start+40 > len(runes) {
			b.Fatalf("the text is too short for quote %d", q)
		}
		prefix, suffix := anchor.Context(text, start, start+40, anchor.ContextLen)
		kind := feedback.Strength
		if q%2 == 1 {
			kind = feedback.Growth
		}
		c.Quotes = append(c.Quotes, feedback.Quote{Criterion: r.Criteria[(i+q)%len(r.Criteria)].Key, Kind: kind, Comment: long,
			Target: anchor.Target{Quote: anchor.TextQuoteSelector{Exact: string(runes[start : start+40]), Prefix: prefix, Suffix: suffix},
				Position: anchor.TextPositionSelector{Start: start, End: start + 40}}})
	}
	c.Glows = []feedback.Point{{Criterion: r.Criteria[i%len(r.Criteria)].Key, Text: long}}
	c.Grows = []feedback.Point{{Criterion: r.Criteria[(i+1)%len(r.Criteria)].Key, Text: long}}
	for k := range r.FocusPoints {
		c.FocusNotes = append(c.FocusNotes, feedback.FocusNote{Index: k, Note: long})
	}
	return c
}

// raw is a raw driver scan of the feedback documents filter selects,
// decoded: what the class summary and the wall are compared with.
func (c *benchClass) raw(b *testing.B, filter bson.D) int {
	cur, err := c.db.Collection("feedback").Find(context.Background(), filter)
	if err != nil {
		b.Fatal(err)
	}
	var fbs []feedback.Feedback
	if err := cur.All(context.Background(), &fbs); err != nil {
		b.Fatal(err)
	}
	return len(fbs)
}

// BenchmarkClassSummary is the class summary of the last assignment of a
// class of 25 students with 4 assignments (about 28 feedback documents per
// assignment, a tenth read twice): computed (the cache emptied each time),
// served from the cache, and a raw driver scan of the same feedback
// documents.
func BenchmarkClassSummary(b *testing.B) {
	c := seedClass(b, 25, 4)
	ctx := context.Background()
	a := c.assignments[len(c.assignments)-1]
	b.Run("computed", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.svc.c(colSummaries).DeleteMany(ctx, bson.D{}); err != nil {
				b.Fatal(err)
			}
			s, err := c.svc.ClassSummary(ctx, c.teacher, a, Options{})
			if err != nil || len(s.Students) == 0 {
				b.Fatalf("%d students, %v", len(s.Students), err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.svc.ClassSummary(ctx, c.teacher, a, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-scan", func(b *testing.B) {
		for b.Loop() {
			if n := c.raw(b, bson.D{{Key: "assignment_id", Value: a}}); n == 0 {
				b.Fatal("no feedback")
			}
		}
	})
}

// BenchmarkClassWall is the data wall of the same class (25 students × 4
// assignments), and a raw driver scan of the class's feedback documents.
func BenchmarkClassWall(b *testing.B) {
	c := seedClass(b, 25, 4)
	ctx := context.Background()
	b.Run("wall", func(b *testing.B) {
		for b.Loop() {
			w, err := c.svc.ClassWall(ctx, c.teacher, c.class.ID)
			if err != nil || len(w.Rows) == 0 || w.Rows[0].Cells[0] == nil {
				b.Fatalf("wall %+v, %v", w.Strands, err)
			}
		}
	})
	b.Run("raw-scan", func(b *testing.B) {
		for b.Loop() {
			if n := c.raw(b, bson.D{{Key: "class_id", Value: c.class.ID}}); n == 0 {
				b.Fatal("no feedback")
			}
		}
	})
}
