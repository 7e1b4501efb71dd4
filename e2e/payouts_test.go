package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/services/payouts/stripeclient/stripetest"
)

const payoutsWhsec = "whsec_e2e_payouts"

// TestE2EPayouts: against stripe-mock (behind a proxy that records what
// Margin asks of Stripe), a grader onboards, three of their reads are
// approved (three earnings), an admin runs a payout (one transfer, its
// idempotency key in the record), replays it (no new transfer), runs
// another that crashes after Stripe accepts and is finished after a
// restart (still one transfer for it), and Stripe's signed payout.failed
// webhook counts while a forged one does not. The ledger balances at every
// step, and nobody but the grader sees their money.
func TestE2EPayouts(t *testing.T) {
	mock := stripetest.Start(t)
	in := start(t, "MARGIN_MATCHING_INTERVAL=1h",
		"MARGIN_STRIPE_SECRET_KEY=sk_test_e2e", "MARGIN_STRIPE_API_BASE="+mock.URL, "MARGIN_STRIPE_WEBHOOK_SECRET="+payoutsWhsec,
		"MARGIN_PAYOUTS_SCHEDULE=off", "MARGIN_PAYOUTS_TICK=200ms", "MARGIN_PAYOUTS_LEASE=2s",
		"MARGIN_PAYOUTS_MINIMUM_CENTS=1000", "MARGIN_PAYOUTS_FEE_BPS=1500", "MARGIN_TEST_FAULTS=1")
	fc := publishFixtureClass(t, in)
	ana, anaTok := signUpGrader(t, in, "ana@tutors.example.net", "Ana Grader", []map[string]int{{"min": 9, "max": 12}}, nil)
	_, benTok := signUpGrader(t, in, "ben@graders.example.com", "Ben Other", []map[string]int{{"min": 1, "max": 5}}, nil)
	admin := adminToken(t, in, "root@example.org")
	in.must(200, "PUT", "/api/v1/admin/graders/"+ana+"/vetting", admin, map[string]any{"status": "approved"})

	// Who may see and do what.
	for _, c := range []struct {
		method, path, tok string
		want              int
	}{
		{"GET", "/api/v1/payouts/me", fc.TeacherToken, 403},
		{"GET", "/api/v1/payouts/me", "", 401},
		{"POST", "/api/v1/admin/payouts/runs", anaTok, 403},
		{"POST", "/api/v1/admin/payouts/runs", fc.TeacherToken, 403},
		{"GET", "/api/v1/admin/payouts/runs", anaTok, 403},
		{"GET", "/api/v1/admin/payouts/ledger", fc.TeacherToken, 403},
	} {
		if r := in.call(c.method, c.path, c.tok, nil); r.Status != c.want {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, r.Status, c.want)
		}
	}

	// 1. Onboarding: an Express account and a link; the account.updated
	// webhook says payouts are enabled.
	ob := in.must(200, "POST", "/api/v1/payouts/onboarding", anaTok, nil)
	acct := ob["onboarding"].(map[string]any)["account_id"].(string)
	if !strings.HasPrefix(acct, "acct_") || !strings.HasPrefix(ob["url"].(string), "https://") || ob["onboarding"].(map[string]any)["state"] != "in_progress" {
		t.Fatalf("onboarding: %v", ob)
	}
	if again := in.must(200, "POST", "/api/v1/payouts/onboarding", anaTok, nil); again["onboarding"].(map[string]any)["account_id"] != acct {
		t.Fatal("a second onboarding call made another account")
	}
	in.must(200, "POST", "/api/v1/payouts/onboarding/sync", anaTok, nil)
	if r := in.call("POST", "/api/v1/payouts/login-link", benTok, nil); r.Status != 404 {
		t.Fatalf("login link before onboarding: %d", r.Status)
	}
	in.must(200, "POST", "/api/v1/payouts/login-link", anaTok, nil)
	payoutsWebhook(t, in, 200, stripetest.Event("evt_acct_ok", "account.updated", acct, map[string]any{
		"id": acct, "object": "account", "payouts_enabled": true, "charges_enabled": true, "details_submitted": true,
		"requirements": map[string]any{"currently_due": []string{}}}), payoutsWhsec, time.Now())
	if st := in.must(200, "GET", "/api/v1/payouts/me", anaTok, nil)["onboarding"].(map[string]any)["state"]; st != "complete" {
		t.Fatalf("after account.updated the onboarding is %v", st)
	}
	payoutsBalanced(t, in, admin, 0)

	// 2. Three approved reads: three earnings of 800 less 15%.
	fbAcceptOffer(t, in, fc, anaTok, fc.Submissions["1004"]+":v1") // the class's one first-read batch
	approved := 0
	for _, sid := range []string{"1001", "1002", "1004"} {
		id := fc.Submissions[sid] + ":v1:first"
		w := in.must(200, "GET", "/api/v1/grader/tasks/"+id+"/workspace", anaTok, nil)
		text := w["text"].(string)
		q := anQuotes{anPassage(t, text, 5, nil), anPassage(t, text, 25, nil), anPassage(t, text, 45, nil), anPassage(t, text, 65, nil)}
		rev := int(w["feedback"].(map[string]any)["rev"].(float64))
		saved := in.must(200, "PUT", "/api/v1/grader/tasks/"+id+"/feedback", anaTok, anContent(t, text, q, rev, anLevelMap([5]int{1, 2, 1, 2, 1})))
		in.must(200, "POST", "/api/v1/grader/tasks/"+id+"/submit", anaTok, map[string]any{"rev": saved["rev"]})
		in.must(200, "POST", "/api/v1/feedback/"+id+"/approve", fc.TeacherToken, nil)
		approved++
	}
	me := payoutsWaitFor(t, "three earnings", func() (map[string]any, bool) {
		me := in.must(200, "GET", "/api/v1/payouts/me", anaTok, nil)
		return me, len(asSlice(me["entries"])) == approved
	})
	if me["balance_cents"].(float64) != 3*680 || me["payable_cents"].(float64) != 3*680 {
		t.Fatalf("after three approvals: balance %v payable %v", me["balance_cents"], me["payable_cents"])
	}
	if e := asSlice(me["earnings"]); len(e) != 1 || e[0].(map[string]any)["reads"].(float64) != 3 {
		t.Fatalf("earnings per assignment: %v", e)
	}
	if other := in.must(200, "GET", "/api/v1/payouts/me", benTok, nil); other["balance_cents"].(float64) != 0 || len(asSlice(other["entries"])) != 0 {
		t.Fatalf("another grader sees money: %v", other)
	}
	payoutsBalanced(t, in, admin, 3*680)

	// 3. A payout run: one transfer, the idempotency key in the record.
	run1 := payoutsRun(t, in, admin)
	ps := asSlice(run1["payments"])
	p := ps[0].(map[string]any)
	key := p["idempotency_key"].(string)
	if len(ps) != 1 || p["state"] != "sent" || p["cents"].(float64) != 3*680 || key != "margin-payout:"+run1["run"].(map[string]any)["id"].(string)+":"+ana || p["settles_entries"] != 3.0 {
		t.Fatalf("run 1 payments: %v", ps)
	}
	if keys := mock.TransferKeys(); len(keys) != 1 || keys[key] != 1 {
		t.Fatalf("Stripe saw transfers %v, want one with key %s", keys, key)
	}
	me = in.must(200, "GET", "/api/v1/payouts/me", anaTok, nil)
	if mp := asSlice(me["payments"]); me["balance_cents"].(float64) != 0 || len(mp) != 1 || mp[0].(map[string]any)["idempotency_key"] != key {
		t.Fatalf("the grader's view after the run: %v", me)
	}
	payoutsBalanced(t, in, admin, 0)

	// 4. Replaying the run, and a run with nothing payable, send nothing.
	runID := run1["run"].(map[string]any)["id"].(string)
	in.must(202, "POST", "/api/v1/admin/payouts/runs/"+runID+"/resume", admin, nil)
	time.Sleep(time.Second) // several background ticks
	if empty := payoutsRun(t, in, admin); len(asSlice(empty["payments"])) != 0 {
		t.Fatalf("a run with nothing payable: %v", empty)
	}
	if n := len(mock.Requests("POST", "/v1/transfers")); n != 1 {
		t.Fatalf("after the replay Stripe saw %d transfer requests, want 1", n)
	}
	payoutsBalanced(t, in, admin, 0)

	// 5. A crash after Stripe accepts a transfer, then a restart.
	in.must(201, "POST", "/api/v1/admin/payouts/adjustments", admin, map[string]any{"id": "e2e-bonus", "grader_id": ana, "cents": 1500, "reason": "Calibration bonus"})
	payoutsBalanced(t, in, admin, 1500)
	in.stop()
	env := in.env
	in.env = append(append([]string{}, env...), "MARGIN_PAYOUTS_FAULT=after_stripe")
	in.run()
	crashed := in.must(202, "POST", "/api/v1/admin/payouts/runs", admin, nil)
	select {
	case <-in.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("margin did not exit at the injected fault")
	}
	in.env = env
	in.run()
	crashID := crashed["id"].(string)
	run3 := payoutsWaitFor(t, "the crashed run to finish", func() (map[string]any, bool) {
		r := in.must(200, "GET", "/api/v1/admin/payouts/runs/"+crashID, admin, nil)
		return r, r["run"].(map[string]any)["state"] == "done"
	})
	p3 := asSlice(run3["payments"])[0].(map[string]any)
	keys := mock.TransferKeys()
	if p3["state"] != "sent" || p3["cents"].(float64) != 1500 || len(keys) != 2 || keys[p3["idempotency_key"].(string)] != 2 {
		t.Fatalf("after the crash: payment %v, Stripe keys %v (want the crashed one sent twice with one key)", p3, keys)
	}
	me = in.must(200, "GET", "/api/v1/payouts/me", anaTok, nil)
	payoutEntries := 0
	for _, e := range asSlice(me["entries"]) {
		if e.(map[string]any)["kind"] == "payout" {
			payoutEntries++
		}
	}
	if payoutEntries != 2 || me["balance_cents"].(float64) != 0 {
		t.Fatalf("after the crash the ledger has %d payouts and balance %v", payoutEntries, me["balance_cents"])
	}
	payoutsBalanced(t, in, admin, 0)

	// 6. A signed payout.failed counts; a forged one, an old one and a replay do not.
	failed := func(id, msg string) []byte {
		return stripetest.Event(id, "payout.failed", acct, map[string]any{"id": "po_" + id, "object": "payout", "amount": 3540,
			"currency": "usd", "status": "failed", "failure_code": "account_closed", "failure_message": msg})
	}
	payoutsWebhook(t, in, 400, failed("evt_forged", "Forged."), "whsec_forged", time.Now())
	payoutsWebhook(t, in, 400, failed("evt_old", "Old."), payoutsWhsec, time.Now().Add(-time.Hour))
	signed := failed("evt_real", "The bank account has been closed.")
	payoutsWebhook(t, in, 200, signed, payoutsWhsec, time.Now())
	if r := payoutsWebhook(t, in, 200, signed, payoutsWhsec, time.Now()); r["duplicate"] != true {
		t.Fatalf("a replayed event: %v", r)
	}
	bank := asSlice(in.must(200, "GET", "/api/v1/payouts/me", anaTok, nil)["bank_payouts"])
	if len(bank) != 1 || bank[0].(map[string]any)["failure_message"] != "The bank account has been closed." {
		t.Fatalf("bank payouts the grader sees: %v", bank)
	}
	payoutsBalanced(t, in, admin, 0)

	// Admin views: history, failures, and reconciliation (stripe-mock keeps
	// no transfers, so each sent payment is reported missing there).
	if runs := asSlice(in.must(200, "GET", "/api/v1/admin/payouts/runs", admin, nil)["runs"]); len(runs) != 3 {
		t.Fatalf("%d runs in the history, want 3", len(runs))
	}
	in.must(200, "GET", "/api/v1/admin/payouts/failures", admin, nil)
	rec := in.must(200, "POST", "/api/v1/admin/payouts/runs/"+runID+"/reconciliation", admin, nil)
	if rec["sent"].(float64) != 1 || len(asSlice(rec["mismatches"])) != 1 {
		t.Fatalf("reconciliation: %v", rec)
	}
}

// payoutsWebhook posts a Stripe event signed with secret at time at and
// checks the status.
func payoutsWebhook(t *testing.T, in *instance, want int, payload []byte, secret string, at time.Time) map[string]any {
	t.Helper()
	r := in.call("POST", "/api/v1/webhooks/stripe", "", strings.NewReader(string(payload)),
		"Content-Type", "application/json", "Stripe-Signature", stripetest.Sign(payload, secret, at))
	if r.Status != want {
		t.Fatalf("webhook: %d, want %d: %s", r.Status, want, r.Body)
	}
	return r.JSON(t)
}

// payoutsBalanced checks the trial balance: every entry and the whole
// ledger sum to zero, and the graders are owed owed cents.
func payoutsBalanced(t *testing.T, in *instance, admin string, owed float64) {
	t.Helper()
	tb := in.must(200, "GET", "/api/v1/admin/payouts/ledger", admin, nil)
	graders, _ := tb["accounts"].(map[string]any)["graders"].(map[string]any)
	var got float64
	if graders != nil {
		got, _ = graders["usd"].(float64)
	}
	if tb["balanced"] != true || -got != owed {
		t.Fatalf("ledger: %v (want graders owed %v)", tb, owed)
	}
}

// payoutsRun starts a run and waits until it is done.
func payoutsRun(t *testing.T, in *instance, admin string) map[string]any {
	t.Helper()
	id := in.must(202, "POST", "/api/v1/admin/payouts/runs", admin, nil)["id"].(string)
	return payoutsWaitFor(t, "run "+id, func() (map[string]any, bool) {
		r := in.must(200, "GET", "/api/v1/admin/payouts/runs/"+id, admin, nil)
		return r, r["run"].(map[string]any)["state"] == "done"
	})
}

// payoutsWaitFor polls check for up to 30 s.
func payoutsWaitFor(t *testing.T, what string, check func() (map[string]any, bool)) map[string]any {
	t.Helper()
	var last map[string]any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		v, ok := check()
		if ok {
			return v
		}
		last = v
	}
	t.Fatalf("waiting for %s: %s", what, fmt.Sprint(last))
	return nil
}
