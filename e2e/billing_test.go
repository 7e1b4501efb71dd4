package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/services/payouts/stripeclient/stripetest"
)

// TestE2EBilling: with billing required and Stripe at stripe-mock, a
// school cannot publish without credit (402, the amount short and where to
// buy); its billing manager buys credit through Checkout, and Stripe's
// signed webhook, delivered to the running binary, credits it once; the
// teacher publishes (the price of five submissions held), a grader grades
// and the teacher approves three (the school charged, the grader earning);
// closing releases the rest, an admin refunds the unspent credit through
// Stripe, and the statement and the admin's invariant match to the cent.
func TestE2EBilling(t *testing.T) {
	mock := stripetest.Start(t)
	in := start(t, "MARGIN_MATCHING_INTERVAL=1h", "MARGIN_BILLING=required",
		"MARGIN_STRIPE_SECRET_KEY=sk_test_e2e", "MARGIN_STRIPE_API_BASE="+mock.URL, "MARGIN_STRIPE_WEBHOOK_SECRET="+payoutsWhsec,
		"MARGIN_PAYOUTS_SCHEDULE=off", "MARGIN_PAYOUTS_TICK=200ms", "MARGIN_PAYOUTS_FEE_BPS=1500")
	fc := uploadFixtureClass(t, in)
	ana, anaTok := signUpGrader(t, in, "ana@tutors.example.net", "Ana Grader", []map[string]int{{"min": 9, "max": 12}}, nil)
	admin := adminToken(t, in, "root@example.org")
	in.must(200, "PUT", "/api/v1/admin/graders/"+ana+"/vetting", admin, map[string]any{"status": "approved"})
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "lee@lincoln.example.org", "password": teacherPassword,
		"name": "Mr Lee", "role": "teacher", "school": "Other School"})
	otherTok := in.login("lee@lincoln.example.org", teacherPassword)

	// Who may do what.
	for _, c := range []struct {
		method, path, tok string
		body              any
		want              int
	}{
		{"GET", "/api/v1/billing", anaTok, nil, 403},
		{"GET", "/api/v1/billing", "", nil, 401},
		{"GET", "/api/v1/admin/billing", fc.TeacherToken, nil, 403},
		{"POST", "/api/v1/admin/billing/refunds", fc.TeacherToken, map[string]any{}, 403},
		{"GET", "/api/v1/billing/assignments/" + fc.AssignmentID, otherTok, nil, 404},
		{"POST", "/api/v1/billing/checkout", fc.TeacherToken, map[string]any{"cents": 4999}, 400},
	} {
		if r := in.call(c.method, c.path, c.tok, c.body); r.Status != c.want {
			t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, r.Status, c.want, r.Body)
		}
	}

	// 1. Publishing with no credit is refused, saying by how much.
	r := in.call("POST", "/api/v1/assignments/"+fc.AssignmentID+"/publish", fc.TeacherToken, nil)
	if r.Status != 402 {
		t.Fatalf("publish without credit: %d %s", r.Status, r.Body)
	}
	e := r.JSON(t)["error"].(map[string]any)
	if d := e["data"].(map[string]any); e["code"] != "insufficient_credit" || d["short_cents"] != 4000.0 || d["buy_credit_path"] != "/billing" {
		t.Fatalf("the refusal: %v", e)
	}

	// 2. The billing manager buys $50 through Checkout; Stripe's signed
	// webhook credits it, once.
	p := in.must(201, "POST", "/api/v1/billing/checkout", fc.TeacherToken, map[string]any{"cents": 5000})
	pid, session := p["id"].(string), p["session_id"].(string)
	if !strings.HasPrefix(session, "cs_") || p["checkout_url"] == "" || p["state"] != "open" {
		t.Fatalf("purchase: %v", p)
	}
	if keys := mock.Keys("POST", "/v1/checkout/sessions"); len(keys) != 1 || keys["margin-checkout:"+pid] != 1 {
		t.Fatalf("Checkout sessions made: %v", keys)
	}
	if b := in.must(200, "GET", "/api/v1/billing", fc.TeacherToken, nil); b["available_cents"] != 0.0 {
		t.Fatalf("credited before Stripe said paid: %v", b)
	}
	ev := stripetest.Event("evt_billing_paid", "checkout.session.completed", "", map[string]any{"id": session, "object": "checkout.session",
		"status": "complete", "payment_status": "paid", "amount_total": 5000, "currency": "usd", "client_reference_id": pid,
		"payment_intent": "pi_e2e", "metadata": map[string]any{"margin_purchase": pid}})
	if res := payoutsWebhook(t, in, 200, ev, payoutsWhsec, time.Now()); res["note"] != "school credited" {
		t.Fatalf("webhook: %v", res)
	}
	if res := payoutsWebhook(t, in, 200, ev, payoutsWhsec, time.Now()); res["duplicate"] != true {
		t.Fatalf("redelivery: %v", res)
	}
	payoutsWebhook(t, in, 400, ev, "whsec_forged", time.Now())
	if b := in.must(200, "GET", "/api/v1/billing", fc.TeacherToken, nil); b["available_cents"] != 5000.0 || b["manager"] != true {
		t.Fatalf("after the payment: %v", b)
	}

	// 3. Publishing holds 5 × 800.
	cost := in.must(200, "GET", "/api/v1/billing/assignments/"+fc.AssignmentID, fc.TeacherToken, nil)
	if cost["cost_cents"] != 4000.0 || cost["covered"] != true || cost["held_cents"] != 0.0 {
		t.Fatalf("cost before publishing: %v", cost)
	}
	in.must(200, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/publish", fc.TeacherToken, nil)
	if b := in.must(200, "GET", "/api/v1/billing", fc.TeacherToken, nil); b["available_cents"] != 1000.0 || b["held_cents"] != 4000.0 {
		t.Fatalf("after publishing: %v", b)
	}

	// 4. Three approved reads: the school is charged, the grader earns.
	fbAcceptOffer(t, in, fc, anaTok, fc.Submissions["1004"]+":v1")
	for _, sid := range []string{"1001", "1002", "1004"} {
		id := fc.Submissions[sid] + ":v1:first"
		w := in.must(200, "GET", "/api/v1/grader/tasks/"+id+"/workspace", anaTok, nil)
		text := w["text"].(string)
		q := anQuotes{anPassage(t, text, 5, nil), anPassage(t, text, 25, nil), anPassage(t, text, 45, nil), anPassage(t, text, 65, nil)}
		rev := int(w["feedback"].(map[string]any)["rev"].(float64))
		saved := in.must(200, "PUT", "/api/v1/grader/tasks/"+id+"/feedback", anaTok, anContent(t, text, q, rev, anLevelMap([5]int{1, 2, 1, 2, 1})))
		in.must(200, "POST", "/api/v1/grader/tasks/"+id+"/submit", anaTok, map[string]any{"rev": saved["rev"]})
		in.must(200, "POST", "/api/v1/feedback/"+id+"/approve", fc.TeacherToken, nil)
	}
	b := payoutsWaitFor(t, "three charges", func() (map[string]any, bool) {
		b := in.must(200, "GET", "/api/v1/billing", fc.TeacherToken, nil)
		return b, b["charges"] == 3.0
	})
	if b["held_cents"] != 1600.0 || b["available_cents"] != 1000.0 || b["charged_cents"] != 2400.0 {
		t.Fatalf("after three charges: %v", b)
	}
	if me := in.must(200, "GET", "/api/v1/payouts/me", anaTok, nil); me["balance_cents"] != 3*680.0 {
		t.Fatalf("the grader's balance: %v", me["balance_cents"])
	}

	// 5. Closing releases what was held for the two never graded; the
	// admin refunds the unspent credit (not a cent more).
	in.must(200, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/close", fc.TeacherToken, nil)
	if b := in.must(200, "GET", "/api/v1/billing", fc.TeacherToken, nil); b["held_cents"] != 0.0 || b["available_cents"] != 2600.0 {
		t.Fatalf("after closing: %v", b)
	}
	r = in.call("POST", "/api/v1/admin/billing/refunds", admin, map[string]any{"id": "unspent", "purchase_id": pid, "cents": 2601, "reason": "unused credit"})
	if r.Status != 402 || r.JSON(t)["error"].(map[string]any)["data"].(map[string]any)["refundable_cents"] != 2600.0 {
		t.Fatalf("over-refund: %d %s", r.Status, r.Body)
	}
	ref := in.must(201, "POST", "/api/v1/admin/billing/refunds", admin, map[string]any{"id": "unspent", "purchase_id": pid, "cents": 2600, "reason": "unused credit"})
	if ref["state"] != "succeeded" || !strings.HasPrefix(ref["stripe_refund_id"].(string), "re_") {
		t.Fatalf("refund: %v", ref)
	}
	in.must(201, "POST", "/api/v1/admin/billing/refunds", admin, map[string]any{"id": "unspent", "purchase_id": pid, "cents": 2600, "reason": "unused credit"})
	if keys := mock.Keys("POST", "/v1/refunds"); len(keys) != 1 || keys["margin-refund:refund_unspent"] != 1 {
		t.Fatalf("Stripe refunds: %v", keys)
	}

	// 6. The statement and the invariant, to the cent.
	st := in.must(200, "GET", "/api/v1/billing/statement", fc.TeacherToken, nil)
	var kinds []string
	var sum float64
	for _, l := range asSlice(st["lines"]) {
		l := l.(map[string]any)
		kinds = append(kinds, l["kind"].(string))
		sum += l["cents"].(float64)
		if l["kind"] == "charge" && l["pseudonym"] == "" {
			t.Fatalf("a charge without the student's pseudonym: %v", l)
		}
	}
	if strings.Join(kinds, " ") != "purchase hold charge charge charge release refund" || sum != 0 || st["available_cents"] != 0.0 || st["held_cents"] != 0.0 {
		t.Fatalf("statement: %v (sum %v)", st, sum)
	}
	csv := in.call("GET", "/api/v1/billing/statement?format=csv", fc.TeacherToken, nil)
	if csv.Status != 200 || strings.Count(string(csv.Body), "\n") != 8 || strings.Contains(string(csv.Body), "Rivera") {
		t.Fatalf("CSV statement: %d %s", csv.Status, csv.Body)
	}
	fin := in.must(200, "GET", "/api/v1/admin/billing", admin, nil)
	inv := fin["invariant"].(map[string]any)
	for k, want := range map[string]float64{"collected_cents": 5000, "refunded_cents": 2600, "revenue_cents": 3 * 120,
		"owed_to_graders_cents": 3 * 680, "school_credit_cents": 0, "school_held_cents": 0, "left_cents": 2040, "right_cents": 2040} {
		if inv[k] != want {
			t.Fatalf("invariant %s = %v, want %v: %v", k, inv[k], want, inv)
		}
	}
	if inv["holds"] != true {
		t.Fatalf("the invariant does not hold: %v", inv)
	}
	payoutsBalanced(t, in, admin, 3*680)
}
