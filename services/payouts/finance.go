package payouts

import (
	"context"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/payouts/stripeclient"
)

// RefundRequest is an admin's refund of a purchase.
type RefundRequest struct {
	// ID makes the refund idempotent: the same ID refunds once.
	ID         string `json:"id"`
	PurchaseID string `json:"purchase_id"`
	Cents      int64  `json:"cents"`
	Reason     string `json:"reason"`
	By         string `json:"-"`
}

// RefundResult is a refund as recorded.
type RefundResult struct {
	ID             string `json:"id"`
	PurchaseID     string `json:"purchase_id"`
	Cents          int64  `json:"cents"`
	StripeRefundID string `json:"stripe_refund_id,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// State is "succeeded" once the ledger has it, "pending" while it
	// waits for Stripe (reconciliation finishes it).
	State string `json:"state"`
}

// Refund returns money to a school: part or all of a paid purchase,
// through a Stripe refund (idempotency key margin-refund:<id>), or by
// taking back a manual credit. It can never make the school's balance
// negative: the refundable amount is the least of what is left of the
// purchase and the school's available credit, and more is refused
// (errs.InsufficientCredit, saying how much can be refunded). The cents
// are set aside in the school's book before Stripe is asked, and the ledger
// entry refund:<id> written after; a refund interrupted between is
// finished by Refund again with its ID or by reconciliation. Invalid for
// a missing ID or reason or a non-positive amount; NotFound for an
// unknown purchase; Conflict for one not paid.
func (s *Service) Refund(ctx context.Context, r RefundRequest) (RefundResult, error) {
	var problems errs.List
	if strings.TrimSpace(r.ID) == "" || len(r.ID) > 200 {
		problems = append(problems, errs.F(errs.Invalid, "id", "Give the refund an ID (up to 200 characters) so that a retry does not refund twice."))
	}
	if r.Cents <= 0 {
		problems = append(problems, errs.F(errs.Invalid, "cents", "Refund a positive amount of cents."))
	}
	if strings.TrimSpace(r.Reason) == "" {
		problems = append(problems, errs.F(errs.Invalid, "reason", "Say why the money is refunded."))
	}
	if err := problems.Err(); err != nil {
		return RefundResult{}, err
	}
	p, err := mongostore.Get[Purchase](ctx, s.purchases, r.PurchaseID, "purchase")
	if errs.Is(err, errs.NotFound) {
		return RefundResult{}, errs.F(errs.NotFound, "purchase_id", "There is no purchase with this ID.")
	} else if err != nil {
		return RefundResult{}, err
	}
	if p.State != PurchasePaid {
		return RefundResult{}, errs.E(errs.Conflict, "This purchase is %s, not paid: there is nothing to refund.", p.State)
	}
	id := "refund_" + r.ID
	done, err := s.applied(ctx, "refund:"+id)
	if err != nil {
		return RefundResult{}, err
	}
	if e, ok := done["refund:"+id]; ok {
		return refundResult(e, p), nil
	}
	_, err = s.changeSchool(ctx, p.SchoolID, func(b *schoolBook) error {
		if have, err := s.applied(ctx, "refund:"+id); err != nil || len(have) > 0 {
			return firstErr(err, errSkip)
		}
		if _, ok := b.Refunding[id]; ok {
			return errSkip
		}
		can := max(min(p.Cents-b.Refunded[p.ID], b.Available), 0)
		if r.Cents > can {
			e := errs.E(errs.InsufficientCredit, "At most %s of this purchase can be refunded now: the rest is refunded already, spent or held for grading.", money(can, p.Currency))
			e.Data = map[string]any{"refundable_cents": can, "currency": p.Currency}
			return e
		}
		b.Available -= r.Cents
		b.Refunded[p.ID] += r.Cents
		b.Refunding[id] = pendingRefund{PurchaseID: p.ID, Cents: r.Cents, Reason: strings.TrimSpace(r.Reason), By: r.By, At: s.now()}
		return nil
	})
	if err != nil {
		return RefundResult{}, err
	}
	return s.finishRefund(ctx, p, id)
}

func refundResult(e Entry, p Purchase) RefundResult {
	res := RefundResult{ID: strings.TrimPrefix(e.RefundID, "refund_"), PurchaseID: p.ID, Cents: e.PriceCents, StripeRefundID: e.StripeID, State: "succeeded"}
	if p.Kind != PurchaseManual {
		res.IdempotencyKey = refundKey(e.RefundID)
	}
	return res
}

func refundKey(id string) string { return "margin-refund:" + id }

// finishRefund sends a started refund to Stripe (again: the idempotency
// key makes it one refund) and records it in the ledger. Stripe refusing
// it gives the set-aside cents back.
func (s *Service) finishRefund(ctx context.Context, p Purchase, id string) (RefundResult, error) {
	b, err := s.readSchool(ctx, p.SchoolID)
	if err != nil {
		return RefundResult{}, err
	}
	pr, ok := b.Refunding[id]
	if !ok { // finished meanwhile
		done, err := s.applied(ctx, "refund:"+id)
		if e, ok := done["refund:"+id]; ok && err == nil {
			return refundResult(e, p), nil
		}
		return RefundResult{}, firstErr(err, errs.E(errs.Conflict, "The refund was not made."))
	}
	e := Entry{ID: "refund:" + id, Kind: KindRefund, Currency: p.Currency, At: s.now(), SchoolID: p.SchoolID, PurchaseID: p.ID,
		RefundID: id, PriceCents: pr.Cents, Reason: pr.Reason, By: pr.By,
		Lines: []Line{{SchoolAccount(p.SchoolID), pr.Cents}, {AccountStripeRefunds, -pr.Cents}}}
	if p.Kind == PurchaseManual {
		e.Lines[1].Account = AccountManualCredit
	} else {
		ref, err := s.stripe.CreateRefund(ctx, stripeclient.RefundRequest{PaymentIntentID: p.PaymentIntentID, ChargeID: p.ChargeID, Cents: pr.Cents,
			Metadata: map[string]string{"margin_purchase": p.ID, "margin_refund": id}, IdempotencyKey: refundKey(id)})
		if stripeclient.Permanent(err) {
			_, uerr := s.changeSchool(ctx, p.SchoolID, func(b *schoolBook) error {
				if _, ok := b.Refunding[id]; !ok {
					return errSkip
				}
				delete(b.Refunding, id)
				b.Available += pr.Cents
				b.Refunded[p.ID] -= pr.Cents
				return nil
			})
			return RefundResult{}, firstErr(uerr, stripeErr(err, "refund the payment"))
		}
		if err != nil {
			return RefundResult{ID: strings.TrimPrefix(id, "refund_"), PurchaseID: p.ID, Cents: pr.Cents, IdempotencyKey: refundKey(id), State: "pending"},
				stripeErr(err, "refund the payment")
		}
		e.StripeID = ref.ID
	}
	if _, _, err := s.addSchoolEntry(ctx, e, nil); err != nil {
		return RefundResult{}, err
	}
	if b, err = s.readSchool(ctx, p.SchoolID); err == nil {
		err = s.setPurchase(ctx, p.ID, bson.M{"refunded_cents": b.Refunded[p.ID]})
	}
	return refundResult(e, p), err
}

// BillingReconciliation is what one pass of ReconcileBilling did.
type BillingReconciliation struct {
	// Checked is how many open purchases Stripe was asked about; Credited
	// how many of them it reported paid and were credited now.
	Checked  int      `json:"checked"`
	Credited int      `json:"credited"`
	Closed   int      `json:"closed"`
	Refunds  int      `json:"refunds"` // interrupted refunds finished
	Errors   []string `json:"errors"`
}

// ReconcileBilling heals missed webhooks and interrupted steps: it asks
// Stripe about every open purchase (its Checkout Session or invoice) and
// credits those paid, and finishes every refund started and not recorded.
// It also tells billing managers of unpaid invoices about to fall due.
// It reads every open purchase and every school book: an admin's action
// and a background pass every Billing.Reconcile, not a hot path.
func (s *Service) ReconcileBilling(ctx context.Context) (BillingReconciliation, error) {
	out := BillingReconciliation{Errors: []string{}}
	open, err := mongostore.FindAll[Purchase](ctx, s.purchases, bson.M{"state": PurchaseOpen})
	if err != nil {
		return out, err
	}
	for _, p := range open {
		var note string
		var err error
		switch {
		case p.Kind == PurchaseManual:
			_, err = s.credit(ctx, p, paid{})
			note = "school credited"
		case !s.stripe.Configured():
			continue
		case p.SessionID != "":
			var cs stripeclient.CheckoutSession
			if cs, err = s.stripe.GetCheckoutSession(ctx, p.SessionID); err == nil {
				note, _, err = s.settleSession(ctx, cs)
			}
		case p.InvoiceID != "":
			var in stripeclient.Invoice
			if in, err = s.stripe.GetInvoice(ctx, p.InvoiceID); err == nil {
				note, _, err = s.settleInvoice(ctx, in)
			}
		default:
			continue // Stripe was never reached for it
		}
		out.Checked++
		if err == nil && note != "school credited" && note != "purchase closed unpaid" {
			s.notifyInvoiceDue(ctx, p) // still unpaid
		}
		switch {
		case err != nil:
			out.Errors = append(out.Errors, p.ID+": "+err.Error())
		case note == "school credited":
			out.Credited++
		case note == "purchase closed unpaid":
			out.Closed++
		}
	}
	books, err := mongostore.FindAll[schoolBook](ctx, s.schoolBooks, bson.M{})
	if err != nil {
		return out, err
	}
	for _, b := range books {
		for id, pr := range b.Refunding {
			p, err := mongostore.Get[Purchase](ctx, s.purchases, pr.PurchaseID, "purchase")
			if err == nil {
				_, err = s.finishRefund(ctx, p, id)
			}
			if err != nil {
				out.Errors = append(out.Errors, id+": "+err.Error())
				continue
			}
			out.Refunds++
		}
	}
	return out, nil
}

// reconcileDue runs ReconcileBilling from the background loop at most once
// per Billing.Reconcile.
func (s *Service) reconcileDue(ctx context.Context) {
	s.billingMu.Lock()
	due := s.now().Sub(s.lastReconcile) >= s.cfg.Billing.Reconcile
	if due {
		s.lastReconcile = s.now()
	}
	s.billingMu.Unlock()
	if !due {
		return
	}
	if r, err := s.ReconcileBilling(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("reconciling school billing", "err", err)
	} else if len(r.Errors) > 0 {
		s.log.Warn("reconciling school billing", "errors", r.Errors)
	}
}

// SchoolBilling is a school's billing as its teachers see it; Purchases
// only for its billing managers (and admins).
type SchoolBilling struct {
	SchoolID         string `json:"school_id"`
	Currency         string `json:"currency"`
	Mode             string `json:"mode"`
	StripeConfigured bool   `json:"stripe_configured"`
	MinimumCents     int64  `json:"minimum_cents"`
	AvailableCents   int64  `json:"available_cents"`
	HeldCents        int64  `json:"held_cents"`
	RefundingCents   int64  `json:"refunding_cents"`
	PurchasedCents   int64  `json:"purchased_cents"`
	ChargedCents     int64  `json:"charged_cents"`
	RefundedCents    int64  `json:"refunded_cents"`
	Charges          int    `json:"charges"`
	// Manager says whether the caller manages the school's billing.
	Manager   bool       `json:"manager"`
	Managers  []string   `json:"managers,omitempty"`
	Purchases []Purchase `json:"purchases,omitempty"`
	// BuyCreditPath is the page to buy credit on.
	BuyCreditPath string `json:"buy_credit_path"`
}

// School returns a school's billing for caller, a teacher of the school or
// an admin (errs.NotFound otherwise).
func (s *Service) School(ctx context.Context, caller account.User, schoolID string) (SchoolBilling, error) {
	b, err := s.schoolFor(ctx, caller, schoolID)
	if err != nil {
		return SchoolBilling{}, err
	}
	v := SchoolBilling{SchoolID: schoolID, Currency: s.cfg.Currency, Mode: s.cfg.Billing.Mode, StripeConfigured: s.stripe.Configured(),
		MinimumCents: s.cfg.Billing.MinimumCents, AvailableCents: b.Available, HeldCents: b.Held, RefundingCents: b.refunding(),
		PurchasedCents: b.PurchasedCents, ChargedCents: b.ChargedCents, RefundedCents: b.RefundedCents, Charges: b.Charges,
		BuyCreditPath: BuyCreditPath}
	if v.Manager, err = s.isManager(ctx, caller, b); err != nil || !v.Manager {
		return v, err
	}
	v.Managers = b.Managers
	v.Purchases, err = mongostore.FindAll[Purchase](ctx, s.purchases, bson.M{"school_id": schoolID}, options.Find().SetSort(bson.M{"created_at": -1}))
	return v, err
}

// schoolFor reads a school's book for caller, a teacher of the school or
// an admin (errs.NotFound otherwise).
func (s *Service) schoolFor(ctx context.Context, caller account.User, schoolID string) (schoolBook, error) {
	if caller.Role != account.Admin && (caller.Role != account.Teacher || caller.SchoolID != schoolID) {
		return schoolBook{}, errs.E(errs.NotFound, "No school with this ID.")
	}
	return s.readSchool(ctx, schoolID)
}

// AssignmentHold is what is held of a school's credit for one assignment.
func (s *Service) AssignmentHold(ctx context.Context, schoolID, assignmentID string) (held, available int64, err error) {
	b, err := s.readSchool(ctx, schoolID)
	return b.Holds[mongostore.FieldKey(assignmentID)], b.Available, err
}

// StatementLine is one line of a school's statement.
type StatementLine struct {
	At           time.Time `json:"at"`
	EntryID      string    `json:"entry_id"`
	Kind         EntryKind `json:"kind"`
	Description  string    `json:"description"`
	AssignmentID string    `json:"assignment_id,omitempty"`
	SubmissionID string    `json:"submission_id,omitempty"`
	Pseudonym    string    `json:"pseudonym,omitempty"`
	PurchaseID   string    `json:"purchase_id,omitempty"`
	// Cents is the change to the school's credit (available + held);
	// AvailableCents and HeldCents are the running balances after it.
	Cents          int64  `json:"cents"`
	AvailableCents int64  `json:"available_cents"`
	HeldCents      int64  `json:"held_cents"`
	Link           string `json:"link,omitempty"` // Stripe's receipt or invoice
}

// Statement is every entry of a school's, oldest first, with running
// balances.
type Statement struct {
	SchoolID       string          `json:"school_id"`
	Currency       string          `json:"currency"`
	Lines          []StatementLine `json:"lines"`
	AvailableCents int64           `json:"available_cents"`
	HeldCents      int64           `json:"held_cents"`
}

// Statement returns a school's statement for a billing manager or admin
// (Forbidden for another teacher of the school, NotFound for anyone
// else). It scans the ledger's entries for the school's: a statement is
// read rarely.
func (s *Service) Statement(ctx context.Context, caller account.User, schoolID string) (Statement, error) {
	b, err := s.schoolFor(ctx, caller, schoolID)
	if err != nil {
		return Statement{}, err
	}
	if ok, err := s.isManager(ctx, caller, b); err != nil || !ok {
		return Statement{}, firstErr(err, errs.E(errs.Forbidden, "Only the school's billing managers can read its statement."))
	}
	docs, err := mongostore.FindAll[entryDoc](ctx, s.entries, bson.M{"school_id": schoolID})
	if err != nil {
		return Statement{}, err
	}
	seen := map[string]bool{}
	var es []Entry
	for _, d := range docs {
		seen[d.ID] = true
		es = append(es, d.Entry)
	}
	for _, e := range b.Pending {
		if !seen[e.ID] {
			es = append(es, e)
		}
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].At.Before(es[j].At) })
	ps, err := mongostore.FindAll[Purchase](ctx, s.purchases, bson.M{"school_id": schoolID})
	if err != nil {
		return Statement{}, err
	}
	links := map[string]string{}
	for _, p := range ps {
		links[p.ID] = firstNonEmpty(p.ReceiptURL, p.InvoiceURL)
	}
	st := Statement{SchoolID: schoolID, Currency: s.cfg.Currency, Lines: []StatementLine{}}
	school, held := SchoolAccount(schoolID), SchoolHeldAccount(schoolID)
	for _, e := range es {
		var dAvail, dHeld int64
		for _, l := range e.Lines {
			switch l.Account {
			case school:
				dAvail -= l.Cents
			case held:
				dHeld -= l.Cents
			}
		}
		st.AvailableCents += dAvail
		st.HeldCents += dHeld
		ln := StatementLine{At: e.At, EntryID: e.ID, Kind: e.Kind, Description: describe(e), AssignmentID: e.AssignmentID,
			SubmissionID: e.SubmissionID, Pseudonym: e.Pseudonym, PurchaseID: e.PurchaseID, Cents: dAvail + dHeld,
			AvailableCents: st.AvailableCents, HeldCents: st.HeldCents}
		if e.Kind == KindPurchase {
			ln.Link = links[e.PurchaseID]
		}
		st.Lines = append(st.Lines, ln)
	}
	return st, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// describe is a statement line's sentence.
func describe(e Entry) string {
	switch e.Kind {
	case KindPurchase:
		return "Credit bought through Stripe"
	case KindCredit:
		return "Manual credit: " + e.Reason
	case KindHold:
		return "Held for grading: " + e.Reason
	case KindCharge:
		return "Graded submission charged"
	case KindRelease:
		return "Hold released: the assignment closed"
	case KindRefund:
		return "Refund: " + e.Reason
	}
	return string(e.Kind)
}

// Invariant is the ledger's money equation, shown to admins: cash
// collected − refunds − grader payouts − platform revenue = money held
// for schools and graders − manual credit (granted, never collected) +
// Margin's own costs (uncovered charges, second reads, adjustments). All
// in cents of one currency; Holds says the two sides agree.
type Invariant struct {
	Currency           string `json:"currency"`
	CollectedCents     int64  `json:"collected_cents"`
	RefundedCents      int64  `json:"refunded_cents"`
	PaidToGradersCents int64  `json:"paid_to_graders_cents"`
	RevenueCents       int64  `json:"revenue_cents"`
	SchoolCreditCents  int64  `json:"school_credit_cents"`
	SchoolHeldCents    int64  `json:"school_held_cents"`
	OwedToGradersCents int64  `json:"owed_to_graders_cents"`
	ManualCreditCents  int64  `json:"manual_credit_cents"`
	MarginCostsCents   int64  `json:"margin_costs_cents"`
	LeftCents          int64  `json:"left_cents"`
	RightCents         int64  `json:"right_cents"`
	Holds              bool   `json:"holds"`
	TrialBalanced      bool   `json:"trial_balanced"`
}

// InvariantOf reads the equation off a trial balance.
func InvariantOf(tb TrialBalance, currency string) Invariant {
	a := func(acct string) int64 { return tb.Accounts[acct][currency] }
	v := Invariant{Currency: currency, TrialBalanced: tb.Balanced,
		CollectedCents: a(AccountStripeCharges), RefundedCents: -a(AccountStripeRefunds), PaidToGradersCents: -a(AccountStripeTransfers),
		RevenueCents: -a(AccountFees), SchoolCreditCents: -a("schools"), SchoolHeldCents: -a("schools_held"), OwedToGradersCents: -a("graders"),
		ManualCreditCents: a(AccountManualCredit), MarginCostsCents: a(AccountGradingExpense) + a(AccountAdjustmentExpense) + a(AccountUncovered)}
	v.LeftCents = v.CollectedCents - v.RefundedCents - v.PaidToGradersCents - v.RevenueCents
	v.RightCents = v.SchoolCreditCents + v.SchoolHeldCents + v.OwedToGradersCents - v.ManualCreditCents - v.MarginCostsCents
	v.Holds = v.LeftCents == v.RightCents && tb.Balanced
	return v
}

// SchoolSummary is one school on the admin's finance page.
type SchoolSummary struct {
	SchoolID       string `json:"school_id"`
	Name           string `json:"name"`
	AvailableCents int64  `json:"available_cents"`
	HeldCents      int64  `json:"held_cents"`
	RefundingCents int64  `json:"refunding_cents"`
	PurchasedCents int64  `json:"purchased_cents"`
	ChargedCents   int64  `json:"charged_cents"`
	RefundedCents  int64  `json:"refunded_cents"`
}

// Finance is the admin's view of school billing.
type Finance struct {
	Schools   []SchoolSummary `json:"schools"`
	Invariant Invariant       `json:"invariant"`
	Trial     TrialBalance    `json:"trial"`
}

// Finance returns every school's balances and the ledger's invariant. It
// reads the whole ledger (see Trial): an admin's page.
func (s *Service) Finance(ctx context.Context) (Finance, error) {
	tb, err := s.Trial(ctx)
	if err != nil {
		return Finance{}, err
	}
	books, err := mongostore.FindAll[schoolBook](ctx, s.schoolBooks, bson.M{}, options.Find().SetSort(bson.M{"_id": 1}))
	if err != nil {
		return Finance{}, err
	}
	f := Finance{Schools: []SchoolSummary{}, Invariant: InvariantOf(tb, s.cfg.Currency), Trial: tb}
	for _, b := range books {
		sum := SchoolSummary{SchoolID: b.ID, AvailableCents: b.Available, HeldCents: b.Held, RefundingCents: b.refunding(),
			PurchasedCents: b.PurchasedCents, ChargedCents: b.ChargedCents, RefundedCents: b.RefundedCents}
		if sc, err := s.accounts.School(ctx, b.ID); err == nil {
			sum.Name = sc.Name
		}
		f.Schools = append(f.Schools, sum)
	}
	return f, nil
}

// schoolTrial adds the school books to a trial balance: their pending
// entries not yet written (returned), and which schools' books disagree
// with their entries.
func (s *Service) schoolTrial(ctx context.Context, seen map[string]bool) (pending []Entry, books []schoolBook, err error) {
	books, err = mongostore.FindAll[schoolBook](ctx, s.schoolBooks, bson.M{})
	if err != nil {
		return nil, nil, err
	}
	for _, b := range books {
		for _, e := range b.Pending {
			if !seen[e.ID] {
				seen[e.ID] = true
				pending = append(pending, e)
			}
		}
	}
	return pending, books, nil
}

// schoolsDisagreeing lists the schools whose book differs from the sum of
// their entries (in-flight refunds count as spent from the book).
func schoolsDisagreeing(books []schoolBook, entries []Entry) []string {
	sums := map[string][2]int64{}
	for _, e := range entries {
		if e.SchoolID == "" {
			continue
		}
		x := sums[e.SchoolID]
		for _, l := range e.Lines {
			switch l.Account {
			case SchoolAccount(e.SchoolID):
				x[0] -= l.Cents
			case SchoolHeldAccount(e.SchoolID):
				x[1] -= l.Cents
			}
		}
		sums[e.SchoolID] = x
	}
	var out []string
	for _, b := range books {
		if x := sums[b.ID]; x[0] != b.Available+b.refunding() || x[1] != b.Held {
			out = append(out, "school:"+b.ID)
		}
	}
	return out
}
