package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/intake/extract"
	"github.com/marginschool/margin/services/payouts"
	"github.com/marginschool/margin/services/payouts/stripeclient"
)

// token returns a session token of the user, starting a session the first
// time (a student's session is what redeeming their access link starts).
func (b *bench) token(ctx context.Context, userID string) (string, error) {
	if tok, ok := b.tokens[userID]; ok {
		return tok, nil
	}
	tok, err := b.d.accounts.StartSession(ctx, userID)
	if err != nil {
		return "", err
	}
	if b.tokens == nil {
		b.tokens = map[string]string{}
	}
	b.tokens[userID] = tok
	return tok, nil
}

// sample picks the i-th sample's class, one of its released assignments
// and one of its students, spread over the school.
func (b *bench) sample(i int) (*benchClass, string, intake.Student) {
	cs := b.sc.classes
	c := cs[(i*len(cs)/max(1, b.o.Samples)+i)%len(cs)]
	return c, c.assignments[i%b.o.Assignments], c.students[i%len(c.students)]
}

// request is an interactive request to measure: sample i is run(ctx, i,
// token) with a session token of user(i), started beforehand.
type request struct {
	name string
	user func(i int) string
	run  func(ctx context.Context, i int, token string) error
}

// requests measures each interactive request over HTTP, one at a time,
// o.Samples times, recording its store commands for the profile.
func (b *bench) requests(ctx context.Context) error {
	teacher := func(i int) string { c, _, _ := b.sample(i); return c.teacher.ID }
	get := func(path func(i int) string, out func() any) func(ctx context.Context, i int, tok string) error {
		return func(ctx context.Context, i int, tok string) error {
			var o any
			if out != nil {
				o = out()
			}
			return b.call(ctx, http.MethodGet, path(i), tok, nil, o)
		}
	}
	for _, r := range []request{
		{"teacher_assignment_page", teacher, get(func(i int) string { _, a, _ := b.sample(i); return "/teacher/assignments/" + a }, nil)},
		{"submission_list_page_100", teacher, b.listPage},
		{"grader_workspace_open_autosave", func(i int) string { return b.sc.open[i%len(b.sc.open)].grader.ID }, b.workspace},
		{"student_feedback_read", func(i int) string { _, _, st := b.sample(i); return st.UserID }, get(func(i int) string {
			c, a, st := b.sample(i)
			return "/api/v1/submissions/" + c.subs[a][st.StudentID] + "/feedback"
		}, func() any { return new(feedback.StudentFeedback) })},
		{"class_summary", teacher, get(func(i int) string { _, a, _ := b.sample(i); return "/api/v1/analytics/assignments/" + a + "/summary" }, nil)},
		{"class_data_wall", teacher, get(func(i int) string { c, _, _ := b.sample(i); return "/api/v1/analytics/classes/" + c.ID + "/data-wall" }, nil)},
		{"admin_school_totals", func(int) string { return b.sc.admin.ID }, get(func(int) string { return "/api/v1/analytics/admin/totals" }, nil)},
	} {
		res := b.measure(ctx, r)
		b.report(res)
		var err error
		switch {
		case res.Failed != "":
		case r.name == "class_summary":
			err = b.versusRaw(ctx, res, "class_summary_vs_scan", func(c *benchClass, a string) ([]string, bson.D) {
				return feedbackIDs(c, a), bson.D{{Key: "assignment_id", Value: a}}
			})
		case r.name == "class_data_wall":
			err = b.versusRaw(ctx, res, "class_data_wall_vs_scan", func(c *benchClass, _ string) ([]string, bson.D) {
				var ids []string
				for _, a := range c.assignments[:b.o.Assignments] {
					ids = append(ids, feedbackIDs(c, a)...)
				}
				return ids, bson.D{{Key: "class_id", Value: c.ID}}
			})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// feedbackIDs are the IDs the first and second reads of the class's
// submissions to an assignment would have (second reads exist for a tenth).
func feedbackIDs(c *benchClass, assignmentID string) []string {
	var ids []string
	for _, st := range c.students {
		v := intake.VersionID(c.subs[assignmentID][st.StudentID], 1)
		ids = append(ids, feedback.TaskID(v, feedback.First), feedback.TaskID(v, feedback.Second))
	}
	return ids
}

// measure runs a request o.Samples times and returns its latency (and, with
// --profile, its store profile). A failed sample ends the measure, which
// reports the failure (a store operation over the client's 30 s timeout
// fails the request, as it would for a user).
func (b *bench) measure(ctx context.Context, r request) measureResult {
	res := measureResult{Measure: r.name, Kind: "request"}
	var took []time.Duration
	var samples [][]storeOp
	for i := range b.o.Samples {
		tok, err := b.token(ctx, r.user(i))
		var d time.Duration
		var ops []storeOp
		if err == nil {
			ops, err = b.rec.record(func() error {
				start := time.Now()
				err := r.run(ctx, i, tok)
				d = time.Since(start)
				return err
			})
		}
		if err != nil {
			res.Failed = fmt.Sprintf("sample %d failed after %s: %v", i, d.Round(time.Millisecond), err)
			break
		}
		took, samples = append(took, d), append(samples, ops)
	}
	res.P50, res.P95, res.Samples = percentile(took, 50), percentile(took, 95), len(took)
	if b.o.Profile && len(samples) > 0 {
		p := profile(ctx, b.d.store.DB, samples, "request", len(samples))
		res.Store = &p
	}
	return res
}

// listPage is the first page of 100 of an assignment's submission list,
// which must hold every student (a class has fewer than 100).
func (b *bench) listPage(ctx context.Context, i int, tok string) error {
	c, a, _ := b.sample(i)
	var p intake.Page
	if err := b.call(ctx, http.MethodGet, "/api/v1/assignments/"+a+"/submissions?limit=100", tok, nil, &p); err != nil {
		return err
	}
	if len(p.Rows) != len(c.students) || p.Total != len(c.students) {
		return fmt.Errorf("list of %s: %d rows of %d, want %d", a, len(p.Rows), p.Total, len(c.students))
	}
	return nil
}

// workspace opens a task's grading workspace and autosaves a draft on it,
// as the grader's page does.
func (b *bench) workspace(ctx context.Context, i int, tok string) error {
	t := b.sc.open[i%len(b.sc.open)]
	var w feedback.Workspace
	if err := b.call(ctx, http.MethodGet, "/api/v1/grader/tasks/"+t.id+"/workspace", tok, nil, &w); err != nil {
		return err
	}
	draft := struct {
		Rev int `json:"rev"`
		feedback.Content
	}{w.Feedback.Rev, demoContent(w, demoLevel)}
	return b.call(ctx, http.MethodPut, "/api/v1/grader/tasks/"+t.id+"/feedback", tok, draft, nil)
}

// versusRaw compares a request measured over the samples with raw driver
// reads of the feedback documents it is computed from, for the same
// samples: each read by _id (missing second reads included), which is the
// fastest way to read them on the embedded store; and, once, a Find with the
// filter that selects them, which is how one would read them on MongoDB
// but which scans the whole collection on the embedded store (with a long
// deadline: it can pass the client's 30 s).
func (b *bench) versusRaw(ctx context.Context, ours measureResult, name string, docs func(c *benchClass, a string) ([]string, bson.D)) error {
	col := b.d.store.DB.Collection("feedback")
	var took []time.Duration
	for i := range b.o.Samples {
		c, a, _ := b.sample(i)
		ids, _ := docs(c, a)
		start := time.Now()
		for _, id := range ids {
			var f feedback.Feedback
			if err := col.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&f); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
				return err
			}
		}
		took = append(took, time.Since(start))
	}
	c, a, _ := b.sample(0)
	_, filter := docs(c, a)
	fctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	start := time.Now()
	cur, err := col.Find(fctx, filter)
	if err != nil {
		return err
	}
	var fbs []feedback.Feedback
	if err := cur.All(fctx, &fbs); err != nil {
		return err
	}
	find := ms(time.Since(start))
	raw := percentile(took, 50)
	b.report(measureResult{Measure: name, Kind: "job", P50: ours.P50, P95: ours.P95, RawMS: ptr(raw), Ratio: ptr(ours.P50 / raw), Samples: len(took),
		RawFindMS: ptr(find), Note: "raw: FindOne by _id of the same feedback documents; raw_find: one Find with their filter, which scans the collection here"})
	return nil
}

// jobs measures the heavy work against its raw equivalent.
func (b *bench) jobs(ctx context.Context) error {
	for _, job := range []func(context.Context) (measureResult, error){b.concurrentReads, b.ingest, b.payoutRun, b.matchingPass} {
		start := time.Now()
		res, err := job(ctx)
		if err != nil {
			return err
		}
		b.report(res)
		b.logf("%s took %s", res.Measure, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// concurrentReads has 32 students read their released feedback at once,
// o.Reads times each, over HTTP; then 32 clients read the same feedback
// documents as often with a raw FindOne by _id.
func (b *bench) concurrentReads(ctx context.Context) (measureResult, error) {
	const clients = 32
	type target struct{ token, path, feedbackID string }
	targets := make([]target, clients)
	for k := range clients {
		c := b.sc.classes[k%len(b.sc.classes)]
		st := c.students[(k/len(b.sc.classes)*7+k)%len(c.students)]
		a := c.assignments[k%b.o.Assignments]
		sub := c.subs[a][st.StudentID]
		tok, err := b.token(ctx, st.UserID)
		if err != nil {
			return measureResult{}, err
		}
		targets[k] = target{tok, "/api/v1/submissions/" + sub + "/feedback", feedback.TaskID(intake.VersionID(sub, 1), feedback.First)}
	}
	var ours []time.Duration
	var oursWall time.Duration
	ops, err := b.rec.record(func() (err error) {
		ours, oursWall, err = concurrently(clients, b.o.Reads, func(k int) error {
			var sf feedback.StudentFeedback
			return b.call(ctx, http.MethodGet, targets[k].path, targets[k].token, nil, &sf)
		})
		return err
	})
	if err != nil {
		return measureResult{}, fmt.Errorf("bench: concurrent feedback reads: %w", err)
	}
	col := b.d.store.DB.Collection("feedback")
	raw, rawWall, err := concurrently(clients, b.o.Reads, func(k int) error {
		return col.FindOne(ctx, bson.D{{Key: "_id", Value: targets[k].feedbackID}}).Err()
	})
	if err != nil {
		return measureResult{}, fmt.Errorf("bench: raw feedback reads: %w", err)
	}
	n := float64(clients * b.o.Reads)
	return b.withProfile(ctx, measureResult{Measure: "student_feedback_reads_32_clients", Kind: "job", P50: percentile(ours, 50), P95: percentile(ours, 95),
		RawMS: ptr(percentile(raw, 50)), Ratio: ptr(float64(oursWall) / float64(rawWall)), Samples: len(ours),
		PerSecond: n / oursWall.Seconds(), RawPerSecond: n / rawWall.Seconds(),
		Note: "p50/p95: latency of one read under load; raw: FindOne of the same feedback documents; ratio: raw throughput over ours"}, ops, "read", int(n)), nil
}

// concurrently runs f(k) reads times on each of clients goroutines and
// returns every call's latency and the wall time.
func concurrently(clients, reads int, f func(k int) error) ([]time.Duration, time.Duration, error) {
	var mu sync.Mutex
	var took []time.Duration
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for k := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range reads {
				t := time.Now()
				err := f(k)
				mu.Lock()
				took = append(took, time.Since(t))
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return took, time.Since(start), first
}

// ingest uploads a class of o.IngestFiles (150) students' files in mixed
// formats as one ZIP through an upload batch; raw is an S3 put plus text
// extraction of each of the same files.
func (b *bench) ingest(ctx context.Context) (measureResult, error) {
	size := b.o.IngestFiles
	s := &seeder{d: b.d, o: b.o, sc: b.sc, rec: b.rec}
	teacher := b.sc.classes[0].teacher
	grade := 10
	cl, err := b.d.intake.CreateClass(ctx, teacher, intake.ClassInput{Name: benchIngestClass, Subject: "english", GradeLevel: &grade})
	if err != nil {
		return measureResult{}, err
	}
	res, err := b.d.intake.ImportRoster(ctx, teacher, cl.ID, strings.NewReader(benchRoster(900000, 900000+size)))
	if err != nil || len(res.Students) != size {
		return measureResult{}, fmt.Errorf("bench: ingest roster: %d students, %v %v", len(res.Students), err, res.Errors)
	}
	c := &benchClass{Class: cl, teacher: teacher, students: res.Students}
	aID, err := s.createAssignment(ctx, c, 1, 0)
	if err != nil {
		return measureResult{}, err
	}
	entries, err := s.essays(c.students, 1)
	if err != nil {
		return measureResult{}, err
	}
	zip, err := zipOf(entries)
	if err != nil {
		return measureResult{}, err
	}

	start := time.Now()
	var batch *intake.Batch
	ops, err := b.rec.record(func() error {
		f, n, err := intake.Spool(bytes.NewReader(zip), "class.zip", 1<<30)
		if err != nil {
			return err
		}
		defer func() { f.Close(); os.Remove(f.Name()) }()
		if batch, err = b.d.intake.StartUpload(ctx, teacher, aID, ""); err != nil {
			return err
		}
		if err := batch.Add(ctx, "class.zip", "", f, n); err != nil {
			return err
		}
		_, err = batch.Finish(ctx, "")
		return err
	})
	if err != nil {
		return measureResult{}, fmt.Errorf("bench: ingest: %w", err)
	}
	ours := time.Since(start)
	if got := batch.Upload().Counts; got.Created != size {
		return measureResult{}, fmt.Errorf("bench: ingest created %d submissions of %d: %+v", got.Created, size, got)
	}

	start = time.Now()
	for _, e := range entries {
		data := []byte(e[1])
		sum := sha256.Sum256(data)
		if _, err := b.d.blobs.Put(ctx, "bench-raw/"+hex.EncodeToString(sum[:]), bytes.NewReader(data), "application/octet-stream"); err != nil {
			return measureResult{}, err
		}
		if _, err := extract.Extract(ctx, bytes.NewReader(data), int64(len(data)), e[0]); err != nil {
			return measureResult{}, fmt.Errorf("bench: raw extract %s: %w", e[0], err)
		}
	}
	raw := time.Since(start)
	return b.withProfile(ctx, measureResult{Measure: fmt.Sprintf("class_ingest_%d_files", size), Kind: "job", P50: ms(ours), P95: ms(ours), RawMS: ptr(ms(raw)), Ratio: ptr(float64(ours) / float64(raw)),
		Samples: 1, Note: fmt.Sprintf("one ZIP of %s through an upload batch; raw: S3 put + extraction of each file", bytesText(int64(len(zip))))}, ops, "file", size), nil
}

// matchingPass times one pass of matching's background loop (Tick: offer
// expiries, interrupted accepts, leases near due dates, a round) over the
// whole school; on the embedded store it holds the one connection, so
// every request waits for what it reads.
func (b *bench) matchingPass(ctx context.Context) (measureResult, error) {
	start := time.Now()
	ops, err := b.rec.record(func() error { return b.d.matching.Tick(ctx) })
	if err != nil {
		return measureResult{}, fmt.Errorf("bench: matching pass: %w", err)
	}
	took := time.Since(start)
	return b.withProfile(ctx, measureResult{Measure: "matching_pass", Kind: "job", P50: ms(took), P95: ms(took), Samples: 1,
		Note: "one pass of the matching loop, which runs every MARGIN_MATCHING_INTERVAL"}, ops, "pass", 1), nil
}

// payoutRun pays every grader with earnings in one run against stripe-mock;
// raw is the same number of bare transfer calls through Margin's Stripe
// adapter.
func (b *bench) payoutRun(ctx context.Context) (measureResult, error) {
	if b.mock == nil {
		return measureResult{Measure: "payout_run", Kind: "job", Note: "not measured: no stripe-mock"}, nil
	}
	if _, err := b.d.payouts.Ingest(ctx); err != nil {
		return measureResult{}, err
	}
	before := len(b.mock.Requests(http.MethodPost, "/v1/transfers"))
	start := time.Now()
	var run payouts.PayoutRun
	ops, err := b.rec.record(func() (err error) {
		if run, err = b.d.payouts.StartRun(ctx, b.sc.admin.ID); err != nil {
			return err
		}
		return b.d.payouts.Advance(ctx, run.ID)
	})
	if err != nil {
		return measureResult{}, fmt.Errorf("bench: payout run: %w", err)
	}
	ours := time.Since(start)
	calls := len(b.mock.Requests(http.MethodPost, "/v1/transfers")) - before
	run, payments, err := b.d.payouts.RunDetail(ctx, run.ID)
	if err != nil {
		return measureResult{}, err
	}
	if len(payments) == 0 {
		return measureResult{Measure: "payout_run", Kind: "job", P50: ms(ours), P95: ms(ours), Samples: 1, Note: "nothing left to pay: an earlier run on this data directory paid every balance"}, nil
	}
	if run.SentCount != len(run.Graders) || run.SentCount != calls {
		return measureResult{}, fmt.Errorf("bench: payout run sent %d payments to %d graders with %d Stripe calls", run.SentCount, len(run.Graders), calls)
	}

	sc := stripeclient.New(stripeclient.Config{SecretKey: "sk_test_bench", APIBase: b.mock.URL})
	start = time.Now()
	for i, p := range payments {
		_, err := sc.CreateTransfer(ctx, stripeclient.TransferRequest{Amount: p.Cents, Currency: p.Currency, Destination: p.Destination,
			Group: "bench-raw", Description: "bench", IdempotencyKey: fmt.Sprintf("bench-raw-%d", i)})
		if err != nil {
			return measureResult{}, fmt.Errorf("bench: raw transfer: %w", err)
		}
	}
	raw := time.Since(start)
	return b.withProfile(ctx, measureResult{Measure: "payout_run", Kind: "job", P50: ms(ours), P95: ms(ours), RawMS: ptr(ms(raw)), Ratio: ptr(float64(ours) / float64(raw)),
		Samples: 1, Graders: len(run.Graders), StripeCalls: calls, Note: "raw: the same transfers as bare Stripe calls"}, ops, "grader paid", len(run.Graders)), nil
}

// withProfile adds, with --profile, what a job did to the store per unit of
// its work.
func (b *bench) withProfile(ctx context.Context, r measureResult, ops []storeOp, unit string, units int) measureResult {
	if b.o.Profile {
		p := profile(ctx, b.d.store.DB, [][]storeOp{ops}, unit, units)
		r.Store = &p
	}
	return r
}
