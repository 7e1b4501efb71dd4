package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/marginschool/margin/services/payouts/stripeclient/stripetest"
)

// TestBenchSchool runs `margin bench school` on a small school as a test of
// correctness, not speed: the bench itself checks (--verify) that every
// list is complete and every summary, data wall and total equals its
// recomputation from the raw documents, and fails otherwise. Here we check
// that it reports every measure in the promised JSON shape, that the payout
// run made exactly one Stripe call per paid grader, and that no collection
// the services created is left without the _id index.
func TestBenchSchool(t *testing.T) {
	mock := stripetest.Start(t)
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "school", "--students", "10", "--assignments", "2", "--samples", "2", "--reads", "1", "--ingest-files", "10",
		"--workers", "2", "--json", "--verify", "--stripe-url", mock.URL, "--dir", t.TempDir()}
	if err := run(context.Background(), args, nil, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	want := map[string]string{
		"seeding": "job", "teacher_assignment_page": "request", "submission_list_page_100": "request",
		"grader_workspace_open_autosave": "request", "student_feedback_read": "request", "class_summary": "request",
		"class_summary_vs_scan": "job", "class_data_wall": "request", "class_data_wall_vs_scan": "job",
		"admin_school_totals": "request", "student_feedback_reads_32_clients": "job", "class_ingest_10_files": "job",
		"payout_run": "job", "matching_pass": "job", "whole_run": "job",
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		for _, f := range []string{"measure", "kind", "p50_ms", "p95_ms", "raw_ms", "ratio"} {
			if _, ok := line[f]; !ok {
				t.Errorf("%s: no %q", sc.Text(), f)
			}
		}
		name, _ := line["measure"].(string)
		if f, ok := line["failed"]; ok {
			t.Errorf("%s failed: %v", name, f)
		}
		if kind, ok := want[name]; !ok || line["kind"] != kind {
			t.Errorf("unexpected measure %s of kind %v", name, line["kind"])
		}
		delete(want, name)
		if line["kind"] == "job" && strings.HasSuffix(name, "_vs_scan") && line["raw_ms"] == nil {
			t.Errorf("%s has no raw figure", name)
		}
		if name == "payout_run" {
			if g, calls := line["graders"], line["stripe_calls"]; g == nil || g != calls {
				t.Errorf("payout run: %v graders paid with %v Stripe calls, want one call each", g, calls)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("measures missing from the report: %v", want)
	}
	if !strings.Contains(stderr.String(), "verified:") {
		t.Errorf("the bench did not verify its lists and summaries:\n%s", stderr.String())
	}
}

// TestClassify checks how the bench tells a lookup by _id (answered from
// the embedded store's index) from a scan.
func TestClassify(t *testing.T) {
	doc := func(d bson.D) bson.Raw { b, _ := bson.Marshal(d); return b }
	id := bson.D{{Key: "_id", Value: "a"}}
	for _, tc := range []struct {
		name string
		cmd  bson.D
		kind string
		id   string
	}{
		{"find", bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: id}}, "id", "a"},
		{"find", bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: primitive.ObjectID{1}}}}}, "id", primitive.ObjectID{1}.Hex()},
		{"find", bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: 7}}}}, "scan", ""},
		{"find", bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: "a"}, {Key: "state", Value: "open"}}}}, "scan", ""},
		{"find", bson.D{{Key: "find", Value: "c"}}, "scan", ""},
		{"update", bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: id}, {Key: "u", Value: bson.D{}}}}}}, "id", "a"},
		{"delete", bson.D{{Key: "delete", Value: "c"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "owner", Value: "x"}}}}}}}, "scan", ""},
		{"findAndModify", bson.D{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: id}}, "id", "a"},
		{"insert", bson.D{{Key: "insert", Value: "c"}}, "insert", ""},
		{"aggregate", bson.D{{Key: "aggregate", Value: "c"}}, "scan", ""},
		{"getMore", bson.D{{Key: "getMore", Value: int64(1)}, {Key: "collection", Value: "c"}}, "more", ""},
		{"ping", bson.D{{Key: "ping", Value: 1}}, "other", ""},
	} {
		op := classify(tc.name, doc(tc.cmd))
		if op.Kind != tc.kind || op.ID != tc.id || (tc.kind != "other" && op.Collection != "c") {
			t.Errorf("%s %v: got %+v, want kind %s, id %q, collection c", tc.name, tc.cmd, op, tc.kind, tc.id)
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    int
		want float64
	}{
		{ms(5, 1, 3, 2, 4), 50, 3},
		{ms(5, 1, 3, 2, 4), 95, 5},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 95, 19},
		{ms(7), 50, 7},
		{nil, 50, 0},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %d) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
}

// TestMain lets this test binary stand in for margin itself when bench load
// starts `serve` as a child process (os.Executable is the test binary).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchLoad runs a short load against a real serve process on a small
// school: every kind of request is made, none fails, and the report is one
// JSON line per kind and a total with the server's peak RSS.
func TestBenchLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a school and starts a server")
	}
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "load", "--students", "10", "--assignments", "1", "--duration", "8s", "--student-users", "3",
		"--grader-users", "1", "--teacher-users", "2", "--uploaders", "1", "--json", "--dir", t.TempDir()}
	if err := run(context.Background(), args, nil, &stdout, &stderr); err != nil {
		t.Fatalf("bench load: %v\n%s", err, stderr.String())
	}
	kinds := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var r loadResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // the seeding's line
		}
		if r.Kind == "total" && (r.PeakRSS <= 0 || r.Count == 0) {
			t.Errorf("total: %+v", r)
		}
		if r.Kind == "load" {
			kinds[r.Measure] = true
		}
		if r.Errors > 0 || r.Timeouts > 0 {
			t.Errorf("%s: %d errors, %d timeouts: %s", r.Measure, r.Errors, r.Timeouts, r.Error)
		}
	}
	for _, k := range []string{"student_home_page", "student_feedback_read", "student_progress", "grader_autosave", "grader_workspace_open",
		"teacher_assignment_page", "class_summary", "class_data_wall", "upload_small_file"} {
		if !kinds[k] {
			t.Errorf("no %s requests in 8 s", k)
		}
	}
}
