package payouts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/payouts/stripeclient"
	"github.com/marginschool/margin/services/payouts/stripeclient/stripetest"
)

const whsec = "whsec_test_secret"

// events is a payable log for tests (feedback's real one is tested in
// feedback): events in the order added, an event's position its index + 1.
type events struct {
	mu  sync.Mutex
	evs []feedback.PayableEvent
}

func (e *events) add(ev ...feedback.PayableEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range ev {
		x.Seq = int64(len(e.evs) + 1)
		e.evs = append(e.evs, x)
	}
}

func (e *events) PayableLog(_ context.Context, after int64, limit int) (feedback.PayablePage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	page := feedback.PayablePage{Events: []feedback.PayableEvent{}, Next: after}
	for i := after; i < int64(len(e.evs)) && len(page.Events) < limit; i++ {
		page.Events = append(page.Events, e.evs[i])
		page.Next = i + 1
	}
	return page, nil
}

type fixture struct {
	t      testing.TB
	ctx    context.Context
	db     *mongo.Database
	svc    *Service
	src    *events
	mock   *stripetest.Mock
	accts  *account.Service
	cfg    Config
	faults *faultOnce
}

// faultOnce fails once at one point, as a crash or timeout there would.
type faultOnce struct {
	mu    sync.Mutex
	point stripeclient.Point
	fired int
}

var errInjected = errors.New("injected fault")

func (f *faultOnce) hook(p stripeclient.Point) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p == f.point && f.fired == 0 {
		f.fired++
		return errInjected
	}
	return nil
}

// newFixture starts a service on a fresh database; with stripe, against
// stripe-mock behind a recording proxy.
func newFixture(t *testing.T, stripe bool) *fixture { return newFixtureWith(t, stripe) }

// newFixtureTB is a fixture with Stripe for benchmarks.
func newFixtureTB(b *testing.B) *fixture { return newFixtureWith(b, true) }

func newFixtureWith(t testing.TB, stripe bool) *fixture {
	t.Helper()
	db := mongotest.DB(t)
	f := &fixture{t: t, ctx: context.Background(), db: db, src: &events{}, accts: account.New(db), faults: &faultOnce{}}
	f.cfg = Config{StripeWebhookSecret: whsec, MinimumCents: 500, FeeBasisPoints: 1500, Schedule: "off", Lease: time.Minute, Concurrency: concurrencyForTests()}
	if stripe {
		f.mock = stripetest.Start(t)
		f.cfg.StripeSecretKey, f.cfg.StripeAPIBase = "sk_test_123", f.mock.URL
	}
	f.svc = f.service()
	return f
}

// service builds a Service on the fixture's database, as another process
// would (its own lease owner), with the fixture's fault hook.
func (f *fixture) service() *Service {
	s := New(f.db, f.accts, f.src, f.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.stripe = stripeclient.New(stripeclient.Config{SecretKey: f.cfg.StripeSecretKey, APIBase: f.cfg.StripeAPIBase, WebhookSecret: whsec, Fault: f.faults.hook})
	return s
}

func (f *fixture) grader(name string) account.User {
	f.t.Helper()
	u, err := f.accts.Create(f.ctx, name+"@example.org", "correct horse battery", name, account.Grader, "")
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// approve adds n payable events for the grader on an assignment.
func (f *fixture) approve(g account.User, assignment string, n int, price int64) {
	for i := range n {
		v := fmt.Sprintf("%s:%d:v1", assignment, 1000+i)
		f.src.add(feedback.PayableEvent{ID: v + ":" + g.ID, VersionID: v, SubmissionID: fmt.Sprintf("%s:%d", assignment, 1000+i),
			AssignmentID: assignment, GraderID: g.ID, Reader: "first", PriceCents: price, Currency: "usd", ApprovedAt: time.Now().UTC()})
	}
}

// onboard creates the grader's Express account and marks it able to
// receive payouts through a signed account.updated webhook.
func (f *fixture) onboard(g account.User) string {
	f.t.Helper()
	url, ob, err := f.svc.StartOnboarding(f.ctx, g)
	if err != nil || url == "" || ob.AccountID == "" || ob.State != "in_progress" {
		f.t.Fatalf("onboarding: %q %+v %v", url, ob, err)
	}
	f.webhook("account.updated", "", map[string]any{"id": ob.AccountID, "object": "account",
		"payouts_enabled": true, "charges_enabled": true, "details_submitted": true, "requirements": map[string]any{"currently_due": []string{}}})
	return ob.AccountID
}

var evtN int

func (f *fixture) webhook(typ, acct string, obj map[string]any) WebhookResult {
	f.t.Helper()
	evtN++
	p := stripetest.Event(fmt.Sprintf("evt_%s_%d", strings.ReplaceAll(typ, ".", "_"), evtN), typ, acct, obj)
	r, err := f.svc.HandleWebhook(f.ctx, p, stripetest.Sign(p, whsec, time.Now()))
	if err != nil {
		f.t.Fatalf("webhook %s: %v", typ, err)
	}
	return r
}

func (f *fixture) view(g account.User) GraderView {
	f.t.Helper()
	v, err := f.svc.Grader(f.ctx, g.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func (f *fixture) balanced() TrialBalance {
	f.t.Helper()
	tb, err := f.svc.Trial(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if !tb.Balanced {
		f.t.Fatalf("the ledger does not balance: %+v", tb)
	}
	return tb
}

// runToEnd starts a run and advances it until done, allowing for injected
// faults (each of which fails one Advance).
func (f *fixture) runToEnd(svc *Service) (PayoutRun, []Payment) {
	f.t.Helper()
	run, err := svc.StartRun(f.ctx, "admin-1")
	if err != nil {
		f.t.Fatal(err)
	}
	return f.finish(svc, run.ID)
}

func (f *fixture) finish(svc *Service, id string) (PayoutRun, []Payment) {
	f.t.Helper()
	for range 5 {
		if err := svc.Advance(f.ctx, id); err != nil && !errors.Is(err, errInjected) {
			f.t.Fatal(err)
		}
		run, ps, err := svc.RunDetail(f.ctx, id)
		if err != nil {
			f.t.Fatal(err)
		}
		if run.State == RunDone {
			return run, ps
		}
	}
	f.t.Fatalf("run %s not done after 5 advances", id)
	return PayoutRun{}, nil
}

func TestIngestIsIdempotentAndBalances(t *testing.T) {
	f := newFixture(t, false)
	g := f.grader("ada")
	f.approve(g, "asg_a", 2, 1000)
	f.approve(g, "asg_b", 1, 600)
	for range 2 {
		if _, err := f.svc.Ingest(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	v := f.view(g)
	if len(v.Entries) != 3 || v.EntryCount != 3 || v.BalanceCents != 850+850+510 || v.PayableCents != v.BalanceCents {
		t.Fatalf("after ingesting twice: %d entries, balance %d, payable %d", len(v.Entries), v.BalanceCents, v.PayableCents)
	}
	if len(v.Earnings) != 2 || v.Earnings[0].Reads != 2 || v.Earnings[0].Cents != 1700 || v.Earnings[1].Cents != 510 {
		t.Fatalf("earnings per assignment: %+v", v.Earnings)
	}
	tb := f.balanced()
	if tb.Accounts["graders"]["usd"] != -2210 || tb.Accounts[AccountGradingExpense]["usd"] != 2210 {
		t.Fatalf("trial balance: %+v", tb.Accounts)
	}
}

func TestRunWithoutStripeRecordsNotSent(t *testing.T) {
	f := newFixture(t, false)
	g, low := f.grader("ada"), f.grader("bob")
	f.approve(g, "asg_a", 3, 1000)
	f.approve(low, "asg_a", 0, 0)
	f.src.add(feedback.PayableEvent{ID: "asg_z:1:v1:" + low.ID, GraderID: low.ID, AssignmentID: "asg_z", PriceCents: 100, Currency: "usd"})
	run, ps := f.runToEnd(f.svc)
	if run.StripeConfigured || len(ps) != 1 || ps[0].State != PaymentNotSent || ps[0].Reason != NotConfigured || ps[0].Cents != 2550 {
		t.Fatalf("run %+v payments %+v", run, ps)
	}
	if len(run.Held) != 1 || run.Held[0].GraderID != low.ID || !strings.Contains(run.Held[0].Reason, "minimum") {
		t.Fatalf("held: %+v", run.Held)
	}
	if len(run.Failures) != 1 || run.Failures[0].Reason != NotConfigured {
		t.Fatalf("failures: %+v", run.Failures)
	}
	v := f.view(g)
	if v.BalanceCents != 2550 || v.PayableCents != 2550 || len(v.Payments) != 1 || v.Payments[0].State != PaymentNotSent {
		t.Fatalf("nothing may be faked as paid: %+v", v)
	}
	f.balanced()
}

func TestOneRunAtATime(t *testing.T) {
	f := newFixture(t, false)
	r1, err := f.svc.StartRun(f.ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.StartRun(f.ctx, "admin"); !errs.Is(err, errs.Conflict) {
		t.Fatalf("a second run while one is unfinished: %v", err)
	}
	f.finish(f.svc, r1.ID)
	if _, err := f.svc.StartRun(f.ctx, "admin"); err != nil {
		t.Fatalf("a run after the first finished: %v", err)
	}
}

func TestPayoutExactlyOnceUnderFaults(t *testing.T) {
	for _, point := range []stripeclient.Point{"", stripeclient.BeforeStripe, stripeclient.AfterStripe, stripeclient.AfterWrite} {
		name := string(point)
		if name == "" {
			name = "no_fault"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, true)
			ada, bob, cy := f.grader("ada"), f.grader("bob"), f.grader("cy")
			f.onboard(ada)
			f.onboard(bob)
			f.approve(ada, "asg_a", 3, 1000)
			f.approve(bob, "asg_a", 2, 400)
			f.approve(cy, "asg_a", 2, 1000) // not onboarded: held
			f.faults.point = point

			run, err := f.svc.StartRun(f.ctx, "admin-1")
			if err != nil {
				t.Fatal(err)
			}
			err = f.svc.Advance(f.ctx, run.ID)
			if point != "" && !errors.Is(err, errInjected) {
				t.Fatalf("advance with a fault at %s: %v", point, err)
			}
			if point == "" && err != nil {
				t.Fatal(err)
			}
			f.balanced()
			// Another process takes over once the lease has expired.
			other := f.service()
			other.now = func() time.Time { return time.Now().UTC().Add(2 * f.cfg.Lease) }
			run, ps := f.finish(other, run.ID)

			if len(ps) != 2 || run.SentCount != 2 || run.SentCents != 2550+680 {
				t.Fatalf("run %+v payments %+v", run, ps)
			}
			if len(run.Held) != 1 || run.Held[0].GraderID != cy.ID || !strings.Contains(run.Held[0].Reason, "onboarding") {
				t.Fatalf("held: %+v", run.Held)
			}
			keys := f.mock.TransferKeys()
			// After Stripe accepted, the retry repeats the request with the
			// same key (Stripe answers with the first transfer); at the
			// other points Stripe is asked once per grader.
			wantRequests := 2
			if point == stripeclient.AfterStripe {
				wantRequests = 3
			}
			if n := len(f.mock.Requests("POST", "/v1/transfers")); n != wantRequests {
				t.Fatalf("%d transfer requests, want %d", n, wantRequests)
			}
			if len(keys) != 2 {
				t.Fatalf("Stripe saw %d distinct transfers (%v), want 2", len(keys), keys)
			}
			for _, p := range ps {
				if p.State != PaymentSent || p.TransferID == "" || keys[p.IdempotencyKey] == 0 || p.IdempotencyKey != IdempotencyKey(run.ID, p.GraderID) {
					t.Fatalf("payment %+v (keys %v)", p, keys)
				}
			}
			for _, g := range []account.User{ada, bob} {
				v := f.view(g)
				payouts := 0
				for _, e := range v.Entries {
					if e.Kind == KindPayout {
						payouts++
					}
				}
				if payouts != 1 || v.BalanceCents != 0 || v.PayableCents != 0 || v.Payments[0].State != PaymentSent {
					t.Fatalf("%s after the run: %d payout entries, %+v", g.Name, payouts, v)
				}
			}
			if v := f.view(cy); v.BalanceCents != 1700 || v.HeldCents != 1700 {
				t.Fatalf("held grader: %+v", v)
			}
			f.balanced()

			// Replaying the finished run and a new run send nothing more.
			if err := other.Advance(f.ctx, run.ID); err != nil {
				t.Fatal(err)
			}
			r2, ps2 := f.runToEnd(other)
			if len(ps2) != 0 || len(f.mock.TransferKeys()) != 2 || r2.SentCount != 0 {
				t.Fatalf("second run paid again: %+v %+v", r2, ps2)
			}
			f.balanced()
		})
	}
}

func TestWebhooks(t *testing.T) {
	f := newFixture(t, true)
	notes, err := notify.New(f.ctx, f.db, notify.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.SetNotifier(notes)
	inbox := func(g account.User) []string {
		t.Helper()
		p, err := notes.Inbox(f.ctx, g.ID, -1)
		if err != nil {
			t.Fatal(err)
		}
		var titles []string
		for _, it := range p.Items {
			titles = append(titles, string(it.Kind)+": "+it.Title)
		}
		slices.Sort(titles)
		return titles
	}
	g := f.grader("ada")
	acct := f.onboard(g)
	if ob := f.view(g).Onboarding; ob.State != "complete" || !ob.PayoutsEnabled {
		t.Fatalf("after account.updated: %+v", ob)
	}

	failed := map[string]any{"id": "po_1", "object": "payout", "amount": 2550, "currency": "usd", "status": "failed",
		"failure_code": "account_closed", "failure_message": "The bank account has been closed."}
	payload := stripetest.Event("evt_po_failed", "payout.failed", acct, failed)
	for _, c := range []struct {
		name, header string
	}{
		{"forged", stripetest.Sign(payload, "whsec_wrong", time.Now())},
		{"unsigned", ""},
		{"old", stripetest.Sign(payload, whsec, time.Now().Add(-time.Hour))},
	} {
		if _, err := f.svc.HandleWebhook(f.ctx, payload, c.header); !errs.Is(err, errs.Invalid) {
			t.Fatalf("%s webhook: %v", c.name, err)
		}
	}
	var doc eventDoc
	if found, _ := get(f.ctx, f.svc.events, "evt_po_failed", &doc); found {
		t.Fatal("a rejected webhook was recorded")
	}
	if bp := f.view(g).BankPayouts; len(bp) != 0 {
		t.Fatalf("a rejected webhook changed the view: %+v", bp)
	}
	other := []byte(strings.Replace(string(payload), `"2023-10-16"`, `"2026-08-26"`, 1))
	if _, err := f.svc.HandleWebhook(f.ctx, other, stripetest.Sign(other, whsec, time.Now())); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "pinned") {
		t.Fatalf("an event of another API version: %v", err)
	}

	for i, wantDup := range []bool{false, true} {
		r, err := f.svc.HandleWebhook(f.ctx, payload, stripetest.Sign(payload, whsec, time.Now()))
		if err != nil || r.Duplicate != wantDup {
			t.Fatalf("delivery %d: %+v %v", i, r, err)
		}
	}
	bp := f.view(g).BankPayouts
	if len(bp) != 1 || bp[0].Status != "failed" || bp[0].FailureMessage != "The bank account has been closed." {
		t.Fatalf("bank payouts: %+v", bp)
	}
	// The grader is told once, though Stripe delivered it twice.
	if got := inbox(g); !slices.Equal(got, []string{"payout_failed: Bank payout of $25.50 failed"}) {
		t.Fatalf("the grader's inbox after a failed bank payout: %q", got)
	}

	// A reversed transfer of a sent payment: the money is owed again.
	f.approve(g, "asg_a", 3, 1000)
	_, ps := f.runToEnd(f.svc)
	if err := f.svc.fold(f.ctx); err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	f.webhook("transfer.reversed", "", map[string]any{"id": p.TransferID, "object": "transfer", "amount": p.Cents,
		"amount_reversed": 1000, "currency": "usd", "reversed": false,
		"metadata":  map[string]string{"margin_payment": p.ID, "margin_run": p.RunID},
		"reversals": map[string]any{"object": "list", "data": []map[string]any{{"id": "trr_1", "object": "transfer_reversal", "amount": 1000, "currency": "usd", "transfer": p.TransferID}}}})
	if v := f.view(g); v.BalanceCents != 1000 || v.PayableCents != 1000 {
		t.Fatalf("after a reversal: balance %d payable %d", v.BalanceCents, v.PayableCents)
	}
	if got := inbox(g); !slices.Equal(got, []string{"payout_failed: $10.00 of a payout came back", "payout_failed: Bank payout of $25.50 failed", "payout_sent: Payout of $25.50 sent"}) {
		t.Fatalf("the grader's inbox after a reversal: %q", got)
	}
	f.balanced()
}

func TestAdjust(t *testing.T) {
	f := newFixture(t, false)
	g := f.grader("ada")
	if _, err := f.svc.Adjust(f.ctx, Adjustment{GraderID: g.ID}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("empty adjustment: %v", err)
	}
	if _, err := f.svc.Adjust(f.ctx, Adjustment{ID: "x", GraderID: "usr_nobody", Cents: 5, Reason: "r"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown grader: %v", err)
	}
	for range 2 {
		if _, err := f.svc.Adjust(f.ctx, Adjustment{ID: "bonus-1", GraderID: g.ID, Cents: 700, Reason: "bonus"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Adjust(f.ctx, Adjustment{ID: "dispute-1", GraderID: g.ID, Cents: -200, Reason: "dispute"}); err != nil {
		t.Fatal(err)
	}
	if v := f.view(g); v.BalanceCents != 500 || len(v.Entries) != 2 {
		t.Fatalf("after adjustments: %+v", v)
	}
	f.balanced()
}

func TestReconcileAgainstStatelessStripe(t *testing.T) {
	f := newFixture(t, true)
	g := f.grader("ada")
	f.onboard(g)
	f.approve(g, "asg_a", 3, 1000)
	run, _ := f.runToEnd(f.svc)
	r, err := f.svc.Reconcile(f.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	// stripe-mock keeps nothing, so its list holds no transfer of ours:
	// the one sent payment is reported missing, which shows the check runs.
	if r.OK || r.Sent != 1 || len(r.Mismatches) != 1 || r.Mismatches[0].Kind != MissingInStripe {
		t.Fatalf("reconciliation: %+v", r)
	}
	got, _, _ := f.svc.RunDetail(f.ctx, run.ID)
	if got.Reconciliation == nil || got.Reconciliation.OK {
		t.Fatalf("reconciliation not recorded on the run: %+v", got.Reconciliation)
	}
	nf := newFixture(t, false)
	r2, _ := nf.runToEnd(nf.svc)
	if _, err := nf.svc.Reconcile(nf.ctx, r2.ID); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("reconcile without Stripe: %v", err)
	}
}

func TestIngestReadsEveryPage(t *testing.T) {
	f := newFixture(t, false)
	g := f.grader("ada")
	f.approve(g, "asg_a", ingestPage+3, 100)
	n, err := f.svc.Ingest(f.ctx)
	if err != nil || n != ingestPage+3 {
		t.Fatalf("ingested %d (%v), want %d", n, err, ingestPage+3)
	}
	// An event logged later is picked up; one logged twice (an approval
	// retried after a crash) is recorded once.
	f.src.add(feedback.PayableEvent{ID: "asg_0:1:v1:" + g.ID, GraderID: g.ID, AssignmentID: "asg_0", PriceCents: 100, Currency: "usd"})
	again := f.src.evs[0]
	again.Recheck = true // as feedback marks an event a retry logs
	f.src.add(again)
	if n, err := f.svc.Ingest(f.ctx); err != nil || n != 1 {
		t.Fatalf("second pass ingested %d (%v), want 1", n, err)
	}
	if v := f.view(g); v.EntryCount != ingestPage+4 || len(v.Entries) != maxRecentEntries {
		t.Fatalf("the grader's view: %d entries, %d shown", v.EntryCount, len(v.Entries))
	}
	// A new process reads on from where the last stopped.
	if n, err := f.service().Ingest(f.ctx); err != nil || n != 0 {
		t.Fatalf("a new process ingested %d (%v), want 0", n, err)
	}
	f.balanced()
}

// A book's sums must agree with its entries: the trial balance reads both,
// counts an entry the book applied but whose document a crash left
// unwritten, and reports a book that disagrees.
func TestTrialChecksBooks(t *testing.T) {
	f := newFixture(t, false)
	g := f.grader("ada")
	f.approve(g, "asg_a", 2, 1000)
	if _, err := f.svc.Ingest(f.ctx); err != nil {
		t.Fatal(err)
	}
	// An adjustment applied to the book, its document not written yet.
	b, err := f.svc.readBook(f.ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{ID: "adjustment:crash", Kind: KindAdjustment, GraderID: g.ID, Currency: "usd", At: time.Now().UTC(),
		Lines: []Line{{AccountAdjustmentExpense, 300}, {GraderAccount(g.ID), -300}}}
	b.apply(e)
	b.Pending = []Entry{e}
	b.Rev++
	if err := mongostore.Swap(f.ctx, f.svc.books, g.ID, "rev", b.Rev-1, b.doc()); err != nil {
		t.Fatal(err)
	}
	if tb := f.balanced(); tb.Entries != 3 || tb.Accounts["graders"]["usd"] != -2000 {
		t.Fatalf("trial with a pending entry: %+v", tb)
	}
	// The next change writes it; an adjustment with its ID is a no-op.
	if _, err := f.svc.Adjust(f.ctx, Adjustment{ID: "crash", GraderID: g.ID, Cents: 300, Reason: "retry"}); err != nil {
		t.Fatal(err)
	}
	if v := f.view(g); v.BalanceCents != 2000 || v.EntryCount != 3 {
		t.Fatalf("after the retried adjustment: %+v", v)
	}
	// A book that no longer agrees with its entries is reported.
	b, _ = f.svc.readBook(f.ctx, g.ID)
	b.Balances["usd"] += 1
	b.Rev++
	if err := mongostore.Swap(f.ctx, f.svc.books, g.ID, "rev", b.Rev-1, b.doc()); err != nil {
		t.Fatal(err)
	}
	tb, err := f.svc.Trial(f.ctx)
	if err != nil || tb.Balanced || len(tb.Disagreeing) != 1 || tb.Disagreeing[0] != g.ID {
		t.Fatalf("trial with a book off by a cent: %+v %v", tb, err)
	}
}

// The ledger of earlier versions (one document per grader holding every
// entry, payouts listing what they settled) is split into entry documents
// and bounded books at start, once; the grader's money is as it was.
func TestMigrateOldBooks(t *testing.T) {
	f := newFixture(t, false)
	g := f.grader("ada")
	at := time.Now().UTC().Truncate(time.Millisecond)
	earn := func(id string, cents int64, n int) oldEntry {
		return oldEntry{Entry: Entry{ID: id, Kind: KindEarning, GraderID: g.ID, Currency: "usd", At: at.Add(time.Duration(n) * time.Second),
			AssignmentID: "asg_a", Lines: []Line{{AccountGradingExpense, cents}, {GraderAccount(g.ID), -cents}}}}
	}
	paid := oldEntry{Entry: Entry{ID: "payout:run_1:" + g.ID, Kind: KindPayout, GraderID: g.ID, Currency: "usd", At: at.Add(3 * time.Second),
		PaymentID: "run_1:" + g.ID, TransferID: "tr_1", Lines: []Line{{GraderAccount(g.ID), 1700}, {AccountStripeTransfers, -1700}}},
		Settles: []string{"earning:a", "earning:b"}}
	old := oldBook{ID: g.ID, Entries: map[string]oldEntry{
		key("earning:a"): earn("earning:a", 850, 1), key("earning:b"): earn("earning:b", 850, 2),
		key(paid.ID): paid, key("earning:c"): earn("earning:c", 510, 4)},
		Payments: map[string]PaymentView{key("run_1:" + g.ID): {ID: "run_1:" + g.ID, RunID: "run_1", Cents: 1700, Currency: "usd", State: PaymentSent, TransferID: "tr_1", UpdatedAt: at}}}
	if _, err := f.svc.oldLedger.InsertOne(f.ctx, old); err != nil {
		t.Fatal(err)
	}
	// Its payment, as earlier versions stored it (with the entries it settled).
	if _, err := f.svc.payments.InsertOne(f.ctx, bson.M{"_id": "run_1:" + g.ID, "run_id": "run_1", "grader_id": g.ID, "cents": 1700, "currency": "usd",
		"settles": []string{"earning:a", "earning:b"}, "idempotency_key": IdempotencyKey("run_1", g.ID), "state": PaymentSent, "transfer_id": "tr_1",
		"created_at": at, "updated_at": at}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := f.service().Migrate(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	v := f.view(g)
	if v.BalanceCents != 510 || v.PayableCents != 510 || v.EntryCount != 4 || len(v.Payments) != 1 || v.Payments[0].TransferID != "tr_1" ||
		len(v.Earnings) != 1 || v.Earnings[0].Reads != 3 {
		t.Fatalf("after the migration: %+v", v)
	}
	if b, _ := f.svc.readBook(f.ctx, g.ID); b.Open["usd"] != (Open{Cents: 510, Entries: 1}) {
		t.Fatalf("open after the migration: %+v", b.Open)
	}
	f.balanced()
	// A run pays what was open.
	f.cfg.MinimumCents = 100
	svc := f.service()
	_, ps := f.runToEnd(svc)
	if len(ps) != 1 || ps[0].Cents != 510 || ps[0].SettlesEntries != 1 {
		t.Fatalf("the run after the migration: %+v", ps)
	}
}

// On a store only this process can use (Config.Exclusive), a start
// releases the lease of a run a gone process held, and the run resumes at
// once; otherwise the lease stands until it expires.
func TestLeasesOfGoneProcessesReleased(t *testing.T) {
	f := newFixture(t, false)
	g := f.grader("ada")
	f.approve(g, "asg_a", 3, 1000)
	run, err := f.svc.StartRun(f.ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.svc.claim(f.ctx, run.ID); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	// f.svc dies holding the lease (a minute long).
	shared := f.service()
	if err := shared.Migrate(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := shared.Advance(f.ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := shared.RunDetail(f.ctx, run.ID); r.State == RunDone {
		t.Fatal("a run leased to another process was taken over without Exclusive")
	}
	f.cfg.Exclusive = true
	next := f.service()
	if err := next.Migrate(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := next.Advance(f.ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	if r, ps, _ := next.RunDetail(f.ctx, run.ID); r.State != RunDone || len(ps) != 1 {
		t.Fatalf("after the start released the lease: %+v %+v", r, ps)
	}
}

// A run writes no book: its payouts are folded into the books after it,
// once; until then the grader's view and the trial balance add them in.
func TestPayoutsFoldedAfterTheRun(t *testing.T) {
	f := newFixture(t, true)
	g := f.grader("ada")
	f.onboard(g)
	f.approve(g, "asg_a", 3, 1000)
	_, ps := f.runToEnd(f.svc)
	if len(ps) != 1 || ps[0].State != PaymentSent {
		t.Fatalf("payments %+v", ps)
	}
	raw, err := f.svc.readBook(f.ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Balances["usd"] != 2550 {
		t.Fatalf("the run changed the book: %v", raw.Balances)
	}
	if v := f.view(g); v.BalanceCents != 0 || len(v.Payments) != 1 || v.Payments[0].State != PaymentSent || v.Entries[0].Kind != KindPayout {
		t.Fatalf("the view before folding: %+v", v)
	}
	f.balanced()
	for range 2 {
		if err := f.svc.fold(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := f.svc.readBook(f.ctx, g.ID)
	if b.Balances["usd"] != 0 || b.Open["usd"] != (Open{}) || b.Rev != raw.Rev+1 {
		t.Fatalf("after folding twice: rev %d (was %d), balances %v, open %v", b.Rev, raw.Rev, b.Balances, b.Open)
	}
	if v := f.view(g); v.BalanceCents != 0 || len(v.Payments) != 1 || v.EntryCount != 4 {
		t.Fatalf("the view after folding: %+v", v)
	}
	f.balanced()
}

// concurrencyForTests is Config.Concurrency for the tests and benchmarks:
// MARGIN_PAYOUTS_CONCURRENCY when set, else the default.
func concurrencyForTests() int {
	n, _ := strconv.Atoi(os.Getenv("MARGIN_PAYOUTS_CONCURRENCY"))
	return n
}
