package payouts

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/payouts/stripeclient"
	"github.com/marginschool/margin/services/payouts/stripeclient/stripetest"
)

// billed is a fixture with billing required and one school whose founding
// teacher manages its billing.
func billed(t *testing.T, stripe bool) (*fixture, account.User) {
	f := newFixture(t, stripe)
	f.cfg.Billing = BillingConfig{Mode: BillingRequired, MinimumCents: 5000}
	f.svc = f.service()
	sc, err := f.accts.CreateSchool(f.ctx, "Hill School")
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.accts.Create(f.ctx, "head@hill.example.org", "correct horse battery", "Head Teacher", account.Teacher, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	return f, u
}

func (f *fixture) school(u account.User) SchoolBilling {
	f.t.Helper()
	v, err := f.svc.School(f.ctx, u, u.SchoolID)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func (f *fixture) invariant() Invariant {
	f.t.Helper()
	fin, err := f.svc.Finance(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if !fin.Invariant.Holds || !fin.Trial.Balanced {
		f.t.Fatalf("the invariant does not hold: %+v %+v", fin.Invariant, fin.Trial)
	}
	return fin.Invariant
}

func wantCode(t *testing.T, err error, code errs.Code) *errs.Error {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	return e
}

// A manual credit is held on publish, charged on approval (the grader's
// earning paid from it), released on close, and the rest refunded; every
// step balances, and nothing can overdraw the school.
func TestBillingLifecycleManual(t *testing.T) {
	f, teacher := billed(t, false)
	g := f.grader("gia")
	sid := teacher.SchoolID
	if _, err := f.svc.BuyCredit(f.ctx, teacher, BuyRequest{Cents: 5000}); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("buying without Stripe: %v", err)
	}
	hold := intake.Hold{SchoolID: sid, AssignmentID: "a1", Title: "Essay", Key: "publish:3", Submissions: 3, Cents: 3 * 800, Currency: "usd"}
	e := wantCode(t, f.svc.Hold(f.ctx, hold), errs.InsufficientCredit)
	if e.Data["short_cents"] != int64(2400) || e.Data["buy_credit_path"] != BuyCreditPath {
		t.Fatalf("the refusal's data: %v", e.Data)
	}
	p, err := f.svc.GrantCredit(f.ctx, Grant{ID: "trial-1", SchoolID: sid, Cents: 3000, Note: "trial", By: "admin"})
	if err != nil || p.State != PurchasePaid || p.Kind != PurchaseManual {
		t.Fatalf("grant: %+v %v", p, err)
	}
	if _, err := f.svc.GrantCredit(f.ctx, Grant{ID: "trial-1", SchoolID: sid, Cents: 3000, Note: "trial"}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a retried publish holds once
		if err := f.svc.Hold(f.ctx, hold); err != nil {
			t.Fatal(err)
		}
	}
	if v := f.school(teacher); v.AvailableCents != 600 || v.HeldCents != 2400 || !v.Manager {
		t.Fatalf("after the hold: %+v", v)
	}
	f.invariant()

	// Two approvals by the first reader charge twice; the second reader's
	// approval of the same version charges nothing.
	for i, reader := range []string{"first", "first", "second"} {
		v := fmt.Sprintf("a1:s%d:v1", min(i, 1))
		f.src.add(feedback.PayableEvent{ID: v + ":" + g.ID + reader, VersionID: v, SubmissionID: v[:5], AssignmentID: "a1", SchoolID: sid,
			GraderID: g.ID, Reader: reader, PriceCents: 800, Currency: "usd", ApprovedAt: time.Now().UTC()})
	}
	if _, err := f.svc.Ingest(f.ctx); err != nil {
		t.Fatal(err)
	}
	if v := f.school(teacher); v.AvailableCents != 600 || v.HeldCents != 800 || v.ChargedCents != 1600 || v.Charges != 2 {
		t.Fatalf("after two charges: %+v", v)
	}
	inv := f.invariant()
	if inv.RevenueCents != 2*120 || inv.OwedToGradersCents != 3*680 || inv.MarginCostsCents != 680 || inv.ManualCreditCents != 3000 {
		t.Fatalf("invariant after charges: %+v", inv)
	}
	// Closing releases the rest; releasing again changes nothing.
	for range 2 {
		if err := f.svc.Release(f.ctx, sid, "a1"); err != nil {
			t.Fatal(err)
		}
	}
	if v := f.school(teacher); v.AvailableCents != 1400 || v.HeldCents != 0 {
		t.Fatalf("after the release: %+v", v)
	}
	// Refunds: more than available is refused, saying how much can be.
	e = wantCode(t, errOnly(f.svc.Refund(f.ctx, RefundRequest{ID: "r1", PurchaseID: p.ID, Cents: 1500, Reason: "end of trial"})), errs.InsufficientCredit)
	if e.Data["refundable_cents"] != int64(1400) {
		t.Fatalf("refusal data: %v", e.Data)
	}
	for range 2 {
		r, err := f.svc.Refund(f.ctx, RefundRequest{ID: "r1", PurchaseID: p.ID, Cents: 1400, Reason: "end of trial", By: "admin"})
		if err != nil || r.State != "succeeded" || r.Cents != 1400 {
			t.Fatalf("refund: %+v %v", r, err)
		}
	}
	if v := f.school(teacher); v.AvailableCents != 0 || v.RefundedCents != 1400 {
		t.Fatalf("after the refund: %+v", v)
	}
	st, err := f.svc.Statement(f.ctx, teacher, sid)
	if err != nil {
		t.Fatal(err)
	}
	kinds := ""
	for _, l := range st.Lines {
		kinds += string(l.Kind) + " "
	}
	if kinds != "credit hold charge charge release refund " || st.AvailableCents != 0 || st.HeldCents != 0 {
		t.Fatalf("statement: %s %+v", kinds, st)
	}
	f.invariant()

	// Another teacher of the school sees the balance, not the purchases.
	other, _ := f.accts.Create(f.ctx, "t2@hill.example.org", "correct horse battery", "T Two", account.Teacher, sid)
	if v := f.school(other); v.Manager || v.Purchases != nil {
		t.Fatalf("a non-manager's view: %+v", v)
	}
	if _, err := f.svc.Statement(f.ctx, other, sid); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("a non-manager's statement: %v", err)
	}
	if _, err := f.svc.AddManager(f.ctx, teacher, other.ID); err != nil {
		t.Fatal(err)
	}
	if v := f.school(other); !v.Manager {
		t.Fatal("a named manager is not one")
	}
}

func errOnly[T any](_ T, err error) error { return err }

// Two assignments published at the same moment against credit that covers
// one: exactly one holds, and the balance never goes negative.
func TestBillingConcurrentHolds(t *testing.T) {
	f, teacher := billed(t, false)
	if _, err := f.svc.GrantCredit(f.ctx, Grant{ID: "g", SchoolID: teacher.SchoolID, Cents: 1000, Note: "n"}); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		var wg sync.WaitGroup
		results := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := f.service() // as two processes would
				results[i] = svc.Hold(f.ctx, intake.Hold{SchoolID: teacher.SchoolID, AssignmentID: fmt.Sprintf("r%d-a%d", round, i),
					Key: "publish:1", Submissions: 1, Cents: 1000, Currency: "usd"})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range results {
			if err == nil {
				ok++
			} else if !errs.Is(err, errs.InsufficientCredit) {
				t.Fatal(err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d holds succeeded, want 1", round, ok)
		}
		v := f.school(teacher)
		if v.AvailableCents != 0 || v.HeldCents != 1000 {
			t.Fatalf("round %d: %+v", round, v)
		}
		if err := f.svc.Release(f.ctx, teacher.SchoolID, fmt.Sprintf("r%d-a0", round)); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Release(f.ctx, teacher.SchoolID, fmt.Sprintf("r%d-a1", round)); err != nil {
			t.Fatal(err)
		}
	}
	f.invariant()
}

// Checkout against stripe-mock: the session carries an idempotency key;
// the signed checkout.session.completed credits the school once (a crash
// before the credit is healed by redelivery or by reconciliation, which
// asks Stripe); a Stripe refund interrupted after Stripe answered is
// finished by reconciliation with the same key: one refund.
func TestBillingCheckoutAndRefund(t *testing.T) {
	f, teacher := billed(t, true)
	p, err := f.svc.BuyCredit(f.ctx, teacher, BuyRequest{Cents: 6000})
	if err != nil || p.SessionID == "" || p.CheckoutURL == "" || p.State != PurchaseOpen {
		t.Fatalf("buy: %+v %v", p, err)
	}
	if keys := f.mock.Keys(http.MethodPost, "/v1/checkout/sessions"); len(keys) != 1 || keys["margin-checkout:"+p.ID] != 1 {
		t.Fatalf("checkout keys: %v", keys)
	}
	if _, err := f.svc.BuyCredit(f.ctx, teacher, BuyRequest{Cents: 4999}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("under the minimum: %v", err)
	}
	session := map[string]any{"id": p.SessionID, "object": "checkout.session", "status": "complete", "payment_status": "paid",
		"amount_total": 6000, "currency": "usd", "client_reference_id": p.ID, "payment_intent": "pi_123",
		"metadata": map[string]any{"margin_purchase": p.ID}}

	// 1. The process fails between Stripe's word and the ledger write.
	f.faults.point = stripeclient.BeforeCredit
	evtN++
	payload := stripeEvent(fmt.Sprintf("evt_cs_%d", evtN), "checkout.session.completed", session)
	if _, err := f.svc.HandleWebhook(f.ctx, payload, sign(payload)); err == nil {
		t.Fatal("the injected fault did not fail the webhook")
	}
	if v := f.school(teacher); v.AvailableCents != 0 {
		t.Fatalf("credited before the ledger write: %+v", v)
	}
	// Reconciliation asks Stripe (stripe-mock, told the session is paid).
	f.mock.Patch(http.MethodGet, "/v1/checkout/sessions/"+p.SessionID, map[string]any{"status": "complete", "payment_status": "paid",
		"amount_total": 6000, "client_reference_id": p.ID, "metadata": map[string]any{"margin_purchase": p.ID}})
	r, err := f.svc.ReconcileBilling(f.ctx)
	if err != nil || r.Credited != 1 {
		t.Fatalf("reconcile: %+v %v", r, err)
	}
	// The redelivered event, and another event for the same session,
	// credit nothing more.
	if res, err := f.svc.HandleWebhook(f.ctx, payload, sign(payload)); err != nil || res.Note != "purchase already credited" {
		t.Fatalf("redelivery: %+v %v", res, err)
	}
	f.webhook("checkout.session.completed", "", session)
	if v := f.school(teacher); v.AvailableCents != 6000 || v.PurchasedCents != 6000 {
		t.Fatalf("after the payment: %+v", v)
	}
	inv := f.invariant()
	if inv.CollectedCents != 6000 || inv.SchoolCreditCents != 6000 {
		t.Fatalf("invariant: %+v", inv)
	}

	// 2. A refund of part, interrupted after Stripe made it.
	if err := f.svc.Hold(f.ctx, intake.Hold{SchoolID: teacher.SchoolID, AssignmentID: "a", Key: "publish:5", Submissions: 5, Cents: 4000, Currency: "usd"}); err != nil {
		t.Fatal(err)
	}
	f.faults.point, f.faults.fired = stripeclient.RefundAfterStripe, 0
	if _, err := f.svc.Refund(f.ctx, RefundRequest{ID: "x", PurchaseID: p.ID, Cents: 2500, Reason: "too much"}); !errs.Is(err, errs.InsufficientCredit) {
		t.Fatalf("refunding held credit: %v", err)
	}
	if _, err := f.svc.Refund(f.ctx, RefundRequest{ID: "r1", PurchaseID: p.ID, Cents: 1500, Reason: "unused"}); err == nil {
		t.Fatal("the injected fault did not fail the refund")
	}
	if v := f.school(teacher); v.AvailableCents != 500 || v.RefundingCents != 1500 {
		t.Fatalf("during the refund: %+v", v)
	}
	f.invariant() // the in-flight refund is set aside, not in the ledger yet
	if r, err := f.svc.ReconcileBilling(f.ctx); err != nil || r.Refunds != 1 {
		t.Fatalf("reconcile: %+v %v", r, err)
	}
	res, err := f.svc.Refund(f.ctx, RefundRequest{ID: "r1", PurchaseID: p.ID, Cents: 1500, Reason: "unused"})
	if err != nil || res.State != "succeeded" || res.StripeRefundID == "" {
		t.Fatalf("the refund: %+v %v", res, err)
	}
	if keys := f.mock.Keys(http.MethodPost, "/v1/refunds"); len(keys) != 1 || keys["margin-refund:refund_r1"] != 2 {
		t.Fatalf("refund keys: %v", keys)
	}
	if v := f.school(teacher); v.AvailableCents != 500 || v.RefundingCents != 0 || v.RefundedCents != 1500 {
		t.Fatalf("after the refund: %+v", v)
	}
	inv = f.invariant()
	if inv.RefundedCents != 1500 || inv.SchoolCreditCents != 500 || inv.SchoolHeldCents != 4000 {
		t.Fatalf("invariant: %+v", inv)
	}
}

// A purchase order: an invoice sent (each of its three Stripe calls with a
// key derived from the purchase), credited on invoice.paid once.
func TestBillingInvoice(t *testing.T) {
	f, teacher := billed(t, true)
	p, err := f.svc.RequestInvoice(f.ctx, teacher, BuyRequest{Cents: 250000, PONumber: "PO-77"})
	if err != nil || p.InvoiceID == "" || p.Kind != PurchaseInvoice {
		t.Fatalf("invoice: %+v %v", p, err)
	}
	for path, key := range map[string]string{"/v1/customers": "margin-customer:" + teacher.SchoolID, "/v1/invoices": "margin-invoice:" + p.ID + ":create",
		"/v1/invoiceitems": "margin-invoice:" + p.ID + ":item"} {
		if keys := f.mock.Keys(http.MethodPost, path); keys[key] != 1 {
			t.Fatalf("%s keys: %v", path, keys)
		}
	}
	inv := map[string]any{"id": p.InvoiceID, "object": "invoice", "status": "paid", "amount_paid": 250000, "amount_due": 250000,
		"currency": "usd", "hosted_invoice_url": "https://invoice.stripe.com/i/x", "metadata": map[string]any{"margin_purchase": p.ID}}
	for range 2 {
		f.webhook("invoice.paid", "", inv)
	}
	if v := f.school(teacher); v.AvailableCents != 250000 || len(v.Purchases) != 1 || v.Purchases[0].ReceiptURL != "https://invoice.stripe.com/i/x" {
		t.Fatalf("after invoice.paid: %+v", v)
	}
	// A session paid a different amount is not credited.
	p2, _ := f.svc.BuyCredit(f.ctx, teacher, BuyRequest{Cents: 5000})
	res := f.webhook("checkout.session.completed", "", map[string]any{"id": p2.SessionID, "object": "checkout.session", "status": "complete",
		"payment_status": "paid", "amount_total": 100, "client_reference_id": p2.ID})
	if res.Note != "amount differs from the purchase: not credited" {
		t.Fatalf("a wrong amount: %+v", res)
	}
	f.invariant()
}

func stripeEvent(id, typ string, obj map[string]any) []byte {
	return stripetest.Event(id, typ, "", obj)
}

func sign(payload []byte) string { return stripetest.Sign(payload, whsec, time.Now()) }

// TestBillingLowBalanceNotification: a hold that leaves the school's
// credit under Billing.LowBalanceCents tells its billing manager once;
// another hold at the same level of purchases tells no one again.
func TestBillingLowBalanceNotification(t *testing.T) {
	f := newFixture(t, false)
	f.cfg.Billing = BillingConfig{Mode: BillingRequired, MinimumCents: 5000, LowBalanceCents: 1000}
	f.svc = f.service()
	notes, err := notify.New(f.ctx, f.db, notify.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.SetNotifier(notes)
	sc, err := f.accts.CreateSchool(f.ctx, "Hill School")
	if err != nil {
		t.Fatal(err)
	}
	head, err := f.accts.Create(f.ctx, "head@hill.example.org", "correct horse battery", "Head Teacher", account.Teacher, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.GrantCredit(f.ctx, Grant{ID: "g1", SchoolID: sc.ID, Cents: 3000, Note: "trial", By: "admin"}); err != nil {
		t.Fatal(err)
	}
	inbox := func() []notify.Item {
		t.Helper()
		p, err := notes.Inbox(f.ctx, head.ID, -1)
		if err != nil {
			t.Fatal(err)
		}
		return p.Items
	}
	hold := func(key string, cents int64) {
		t.Helper()
		h := intake.Hold{SchoolID: sc.ID, AssignmentID: "a-" + key, Title: "Essay", Key: key, Submissions: 1, Cents: cents, Currency: "usd"}
		if err := f.svc.Hold(f.ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	hold("1", 1500) // 1,500 left: above the threshold
	if got := inbox(); len(got) != 0 {
		t.Fatalf("above the threshold: %+v", got)
	}
	hold("2", 800) // 700 left
	hold("3", 200) // 500 left: the same level, no second warning
	got := inbox()
	if len(got) != 1 || got[0].Kind != notify.LowBalance || !strings.Contains(got[0].Title, "$7.00 left") {
		t.Fatalf("the billing manager's inbox: %+v, want one low_balance at $7.00", got)
	}
}

// TestBillingInvoiceDueNotification: reconciliation three days before an
// unpaid invoice falls due tells the school's billing manager, once.
func TestBillingInvoiceDueNotification(t *testing.T) {
	f, teacher := billed(t, true)
	notes, err := notify.New(f.ctx, f.db, notify.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.SetNotifier(notes)
	p, err := f.svc.RequestInvoice(f.ctx, teacher, BuyRequest{Cents: 250000, PONumber: "PO-78"})
	if err != nil {
		t.Fatal(err)
	}
	f.mock.Patch(http.MethodGet, "/v1/invoices/"+p.InvoiceID, map[string]any{"status": "open", "amount_paid": 0, "amount_due": 250000,
		"metadata": map[string]any{"margin_purchase": p.ID}})
	count := func() int {
		t.Helper()
		pg, err := notes.Inbox(f.ctx, teacher.ID, -1)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, it := range pg.Items {
			if it.Kind == notify.InvoiceDue {
				n++
			}
		}
		return n
	}
	if _, err := f.svc.ReconcileBilling(f.ctx); err != nil || count() != 0 {
		t.Fatalf("a new invoice: %v, %d warnings", err, count())
	}
	f.svc.now = func() time.Time { return time.Now().UTC().Add(28 * 24 * time.Hour) } // due in 30 days
	for range 2 {
		if r, err := f.svc.ReconcileBilling(f.ctx); err != nil || len(r.Errors) > 0 {
			t.Fatalf("reconcile: %+v %v", r, err)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("%d invoice_due warnings two days before the due date, want 1", n)
	}
}
