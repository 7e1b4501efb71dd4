package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/services/payouts/stripeclient/stripetest"
)

// killAt restarts the instance with MARGIN_TEST_FAULT=fault, runs act (a
// request that reaches the fault point and is held there), waits for the
// process to log that it is held, and kills it (kill -9); then it starts it
// again, as usual, on the same data directory.
func killAt(t *testing.T, in *instance, fault, held string, act func()) {
	t.Helper()
	base := in.env
	in.stop()
	in.env = append(append([]string{}, base...), "MARGIN_TEST_FAULT="+fault)
	in.run()
	go act()
	waitFor(t, held, func() bool { return strings.Contains(in.stderr.String(), held) })
	if err := in.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-in.exited
	in.cmd = nil
	in.env = base
	in.run()
}

// detached sends a request whose answer nobody waits for (the process is
// killed while it works on it).
func detached(in *instance, method, path, token, body string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, in.url(path), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// TestE2ERecoveryFeedbackSave kills margin (kill -9) inside a feedback
// save: after the feedback document is written and before its list row
// is. After a restart the acknowledged save is there, the killed one is
// either wholly there or wholly not (the teacher's list row agrees with
// the feedback), and the grader saves again at once: no lock is left to
// answer 409 "someone else is saving".
func TestE2ERecoveryFeedbackSave(t *testing.T) {
	in := start(t, "MARGIN_MATCHING_INTERVAL=1h")
	fc := publishFixtureClass(t, in)
	ana, anaTok := signUpGrader(t, in, "ana@tutors.example.net", "Ana Grader", []map[string]int{{"min": 9, "max": 12}}, nil)
	admin := adminToken(t, in, "root@example.org")
	in.must(200, "PUT", "/api/v1/admin/graders/"+ana+"/vetting", admin, map[string]any{"status": "approved"})
	task := fbAcceptOffer(t, in, fc, anaTok, fc.Submissions["1004"]+":v1")
	base := "/api/v1/grader/tasks/" + task
	w := in.must(200, "GET", base+"/workspace", anaTok, nil)
	text := w["text"].(string)
	levels := map[string]string{"thesis": "developing", "evidence": "proficient", "analysis": "proficient", "organization": "proficient", "conventions": "proficient"}
	acked := in.must(200, "PUT", base+"/feedback", anaTok, fbContent(t, text, int(w["feedback"].(map[string]any)["rev"].(float64)), levels))
	rev := int(acked["rev"].(float64))

	killed := map[string]string{}
	for k, v := range levels {
		killed[k] = v
	}
	killed["thesis"] = "advanced"
	body, _ := jsonString(fbContent(t, text, rev, killed))
	killAt(t, in, "feedback.save.mid", "feedback paused for a crash test", func() { detached(in, "PUT", base+"/feedback", anaTok, body) })

	f := in.must(200, "GET", base+"/workspace", anaTok, nil)["feedback"].(map[string]any)
	rows := asSlice(in.must(200, "GET", "/api/v1/assignments/"+fc.AssignmentID+"/feedback", fc.TeacherToken, nil)["feedback"])
	var row map[string]any
	for _, r := range rows {
		if r.(map[string]any)["task_id"] == task {
			row = r.(map[string]any)
		}
	}
	thesis := f["levels"].(map[string]any)["thesis"]
	if row == nil || row["levels"].(map[string]any)["thesis"] != thesis {
		t.Fatalf("after the kill the feedback says thesis %v and its list row %v: a half record", thesis, row)
	}
	if got := int(f["rev"].(float64)); !(got == rev && thesis == "developing" || got == rev+1 && thesis == "advanced") {
		t.Fatalf("after the kill: rev %d, thesis %v (acknowledged: rev %d, developing)", got, thesis, rev)
	}
	if !strings.Contains(in.stderr.String(), "projected changes an interrupted run left") {
		t.Errorf("the restart did not replay the interrupted change; log:\n%s", in.stderr.String())
	}

	started := time.Now()
	levels["conventions"] = "advanced"
	again := in.call("PUT", base+"/feedback", anaTok, fbContent(t, text, int(f["rev"].(float64)), levels))
	if again.Status != 200 || time.Since(started) > 3*time.Second {
		t.Fatalf("the first save after the restart: %d in %s: %s", again.Status, time.Since(started), again.Body)
	}
}

// TestE2ERecoveryPayoutRun kills margin (kill -9) inside a payout run:
// after Stripe accepted the transfer and before the ledger recorded it.
// The restart resumes the run at once (the dead process's lease, ten
// minutes long here, is released at start), Stripe is asked again with the
// same idempotency key only, the payment is recorded once, and the ledger
// balances.
func TestE2ERecoveryPayoutRun(t *testing.T) {
	mock := stripetest.Start(t)
	in := start(t, "MARGIN_MATCHING_INTERVAL=1h",
		"MARGIN_STRIPE_SECRET_KEY=sk_test_e2e", "MARGIN_STRIPE_API_BASE="+mock.URL, "MARGIN_STRIPE_WEBHOOK_SECRET="+payoutsWhsec,
		"MARGIN_PAYOUTS_SCHEDULE=off", "MARGIN_PAYOUTS_TICK=200ms", "MARGIN_PAYOUTS_LEASE=10m",
		"MARGIN_PAYOUTS_MINIMUM_CENTS=1000", "MARGIN_PAYOUTS_FEE_BPS=1500")
	fc := publishFixtureClass(t, in)
	ana, anaTok := signUpGrader(t, in, "ana@tutors.example.net", "Ana Grader", []map[string]int{{"min": 9, "max": 12}}, nil)
	admin := adminToken(t, in, "root@example.org")
	in.must(200, "PUT", "/api/v1/admin/graders/"+ana+"/vetting", admin, map[string]any{"status": "approved"})
	acct := in.must(200, "POST", "/api/v1/payouts/onboarding", anaTok, nil)["onboarding"].(map[string]any)["account_id"].(string)
	payoutsWebhook(t, in, 200, stripetest.Event("evt_acct_ok", "account.updated", acct, map[string]any{
		"id": acct, "object": "account", "payouts_enabled": true, "charges_enabled": true, "details_submitted": true,
		"requirements": map[string]any{"currently_due": []string{}}}), payoutsWhsec, time.Now())
	fbAcceptOffer(t, in, fc, anaTok, fc.Submissions["1004"]+":v1")
	levels := map[string]string{"thesis": "proficient", "evidence": "proficient", "analysis": "proficient", "organization": "proficient", "conventions": "proficient"}
	for _, sid := range []string{"1001", "1002"} {
		task := fc.Submissions[sid] + ":v1:first"
		w := in.must(200, "GET", "/api/v1/grader/tasks/"+task+"/workspace", anaTok, nil)
		text := w["text"].(string)
		q := anQuotes{anPassage(t, text, 5, nil), anPassage(t, text, 25, nil), anPassage(t, text, 45, nil), anPassage(t, text, 65, nil)}
		saved := in.must(200, "PUT", "/api/v1/grader/tasks/"+task+"/feedback", anaTok, anContent(t, text, q, int(w["feedback"].(map[string]any)["rev"].(float64)), levels))
		in.must(200, "POST", "/api/v1/grader/tasks/"+task+"/submit", anaTok, map[string]any{"rev": saved["rev"]})
		in.must(200, "POST", "/api/v1/feedback/"+task+"/approve", fc.TeacherToken, nil)
	}
	payoutsWaitFor(t, "two earnings", func() (map[string]any, bool) {
		me := in.must(200, "GET", "/api/v1/payouts/me", anaTok, nil)
		return me, me["balance_cents"].(float64) == 2*680
	})

	started := make(chan string, 1)
	killAt(t, in, "payouts.run.after-transfer", "payouts paused for a crash test", func() {
		r := in.call("POST", "/api/v1/admin/payouts/runs", admin, nil)
		id, _ := r.JSON(t)["id"].(string)
		started <- id
	})
	runID := <-started
	if runID == "" {
		t.Fatal("the run was not started before the kill")
	}
	run := payoutsWaitFor(t, "the killed run to finish", func() (map[string]any, bool) {
		r := in.must(200, "GET", "/api/v1/admin/payouts/runs/"+runID, admin, nil)
		return r, r["run"].(map[string]any)["state"] == "done"
	})
	ps := asSlice(run["payments"])
	p := ps[0].(map[string]any)
	keys := mock.TransferKeys()
	if len(ps) != 1 || p["state"] != "sent" || p["cents"].(float64) != 2*680 || len(keys) != 1 || keys[p["idempotency_key"].(string)] != 2 {
		t.Fatalf("after the kill: payments %v, Stripe keys %v (want one payment sent, asked twice with one key)", ps, keys)
	}
	me := in.must(200, "GET", "/api/v1/payouts/me", anaTok, nil)
	payouts := 0
	for _, e := range asSlice(me["entries"]) {
		if e.(map[string]any)["kind"] == "payout" {
			payouts++
		}
	}
	if payouts != 1 || me["balance_cents"].(float64) != 0 {
		t.Fatalf("after the kill the grader's ledger has %d payouts and balance %v", payouts, me["balance_cents"])
	}
	payoutsBalanced(t, in, admin, 0)
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
