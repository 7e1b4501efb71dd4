package payouts

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/payouts/stripeclient"
)

// Purchase kinds.
const (
	PurchaseCheckout = "checkout" // a card payment through Stripe Checkout
	PurchaseInvoice  = "invoice"  // a Stripe invoice, e.g. for a purchase order
	PurchaseManual   = "manual"   // an admin's manual credit: no money moved
)

// Purchase states: open until Stripe says the money is there (paid), or
// the session expires or the invoice is voided.
const (
	PurchaseOpen    = "open"
	PurchasePaid    = "paid"
	PurchaseExpired = "expired"
	PurchaseVoid    = "void"
)

// Purchase is one purchase of credit by a school (school_purchases, _id =
// its ID). It is written before Stripe is asked for anything, so that every
// Stripe object Margin makes for it carries its ID (metadata
// margin_purchase) and an idempotency key derived from it. Its credit is
// the ledger entry purchase:<id> (credit:<id> for a manual one); State is
// set to paid after that entry is applied.
type Purchase struct {
	ID       string `json:"id" bson:"_id"`
	SchoolID string `json:"school_id" bson:"school_id"`
	Kind     string `json:"kind" bson:"kind"`
	Cents    int64  `json:"cents" bson:"cents"`
	Currency string `json:"currency" bson:"currency"`
	State    string `json:"state" bson:"state"`
	By       string `json:"by" bson:"by"`
	Note     string `json:"note,omitempty" bson:"note,omitempty"`
	PONumber string `json:"po_number,omitempty" bson:"po_number,omitempty"`
	// Stripe's objects and links: the Checkout Session and its page, or
	// the invoice and its hosted page; the PaymentIntent, and the receipt.
	SessionID       string     `json:"session_id,omitempty" bson:"session_id,omitempty"`
	CheckoutURL     string     `json:"checkout_url,omitempty" bson:"checkout_url,omitempty"`
	InvoiceID       string     `json:"invoice_id,omitempty" bson:"invoice_id,omitempty"`
	InvoiceURL      string     `json:"invoice_url,omitempty" bson:"invoice_url,omitempty"`
	PaymentIntentID string     `json:"payment_intent_id,omitempty" bson:"payment_intent_id,omitempty"`
	ChargeID        string     `json:"charge_id,omitempty" bson:"charge_id,omitempty"`
	ReceiptURL      string     `json:"receipt_url,omitempty" bson:"receipt_url,omitempty"`
	RefundedCents   int64      `json:"refunded_cents" bson:"refunded_cents"`
	CreatedAt       time.Time  `json:"created_at" bson:"created_at"`
	PaidAt          *time.Time `json:"paid_at,omitempty" bson:"paid_at,omitempty"`
}

// BuyRequest is a billing manager's request for credit.
type BuyRequest struct {
	Cents int64 `json:"cents"`
	// PONumber, for an invoice, is printed on it.
	PONumber string `json:"po_number"`
	// Email receives the invoice (default: the caller's).
	Email string `json:"email"`
}

func (s *Service) checkAmount(cents int64) error {
	if cents < s.cfg.Billing.MinimumCents || cents > maxPurchaseCents {
		return errs.F(errs.Invalid, "cents", "Buy between %s and %s of credit (in cents: %d to %d).",
			money(s.cfg.Billing.MinimumCents, s.cfg.Currency), money(maxPurchaseCents, s.cfg.Currency), s.cfg.Billing.MinimumCents, maxPurchaseCents)
	}
	return nil
}

// manager reads the caller's school book and checks they manage its
// billing: errs.Forbidden otherwise.
func (s *Service) manager(ctx context.Context, caller account.User) (schoolBook, error) {
	b, err := s.readSchool(ctx, caller.SchoolID)
	if err != nil {
		return b, err
	}
	ok, err := s.isManager(ctx, caller, b)
	if err == nil && !ok {
		err = errs.E(errs.Forbidden, "Only the school's billing managers can buy credit or see its purchases.")
	}
	return b, err
}

func (s *Service) needStripe() error {
	if !s.stripe.Configured() {
		return errs.E(errs.Unavailable, "Stripe is not configured on this Margin, so credit cannot be bought; an admin can grant manual credit.")
	}
	return nil
}

func (s *Service) newPurchase(caller account.User, kind string, r BuyRequest) Purchase {
	return Purchase{ID: account.NewID("pur"), SchoolID: caller.SchoolID, Kind: kind, Cents: r.Cents, Currency: s.cfg.Currency,
		State: PurchaseOpen, By: caller.ID, PONumber: strings.TrimSpace(r.PONumber), CreatedAt: s.now()}
}

func purchaseMeta(p Purchase) map[string]string {
	return map[string]string{"margin_purchase": p.ID, "margin_school": p.SchoolID}
}

// BuyCredit starts a purchase through Stripe Checkout (mode payment) and
// returns it with the page to pay on (CheckoutURL). The credit lands when
// Stripe reports the payment (webhook or reconciliation). Errors:
// Forbidden for a caller who does not manage the school's billing,
// Invalid for an amount out of range, Unavailable without Stripe.
func (s *Service) BuyCredit(ctx context.Context, caller account.User, r BuyRequest) (Purchase, error) {
	if _, err := s.manager(ctx, caller); err != nil {
		return Purchase{}, err
	}
	if err := errors.Join(s.checkAmount(r.Cents), s.needStripe()); err != nil {
		return Purchase{}, firstCode(err)
	}
	p := s.newPurchase(caller, PurchaseCheckout, r)
	if _, err := s.purchases.InsertOne(ctx, p); err != nil {
		return Purchase{}, errs.Wrap(err, "record purchase")
	}
	base := s.cfg.Billing.ReturnURL
	cs, err := s.stripe.CreateCheckoutSession(ctx, stripeclient.CheckoutRequest{
		Cents: p.Cents, Currency: p.Currency, Description: "Margin grading credit", ClientReferenceID: p.ID,
		Metadata: purchaseMeta(p), SuccessURL: base + "?purchase=" + p.ID, CancelURL: base + "?cancelled=" + p.ID,
		CustomerEmail: caller.Email, IdempotencyKey: "margin-checkout:" + p.ID,
	})
	if err != nil {
		return Purchase{}, stripeErr(err, "start the checkout")
	}
	p.SessionID, p.CheckoutURL = cs.ID, cs.URL
	return p, s.setPurchase(ctx, p.ID, bson.M{"session_id": p.SessionID, "checkout_url": p.CheckoutURL})
}

// RequestInvoice sends the school a Stripe invoice for credit
// (collection_method send_invoice, due in Billing.InvoiceDays days), e.g.
// for a purchase order. Errors as BuyCredit.
func (s *Service) RequestInvoice(ctx context.Context, caller account.User, r BuyRequest) (Purchase, error) {
	b, err := s.manager(ctx, caller)
	if err != nil {
		return Purchase{}, err
	}
	if err := errors.Join(s.checkAmount(r.Cents), s.needStripe()); err != nil {
		return Purchase{}, firstCode(err)
	}
	p := s.newPurchase(caller, PurchaseInvoice, r)
	if _, err := s.purchases.InsertOne(ctx, p); err != nil {
		return Purchase{}, errs.Wrap(err, "record purchase")
	}
	cust, err := s.customer(ctx, b, caller, r.Email)
	if err != nil {
		return Purchase{}, err
	}
	in, err := s.stripe.SendInvoice(ctx, stripeclient.InvoiceRequest{CustomerID: cust, Cents: p.Cents, Currency: p.Currency,
		Description: "Margin grading credit", PONumber: p.PONumber, DaysUntilDue: s.cfg.Billing.InvoiceDays,
		Metadata: purchaseMeta(p), KeyPrefix: "margin-invoice:" + p.ID})
	if err != nil {
		return Purchase{}, stripeErr(err, "send the invoice")
	}
	p.InvoiceID, p.InvoiceURL = in.ID, in.HostedURL
	return p, s.setPurchase(ctx, p.ID, bson.M{"invoice_id": p.InvoiceID, "invoice_url": p.InvoiceURL})
}

// customer returns the school's Stripe customer, creating it once.
func (s *Service) customer(ctx context.Context, b schoolBook, caller account.User, email string) (string, error) {
	if b.CustomerID != "" {
		return b.CustomerID, nil
	}
	name := b.ID
	if sc, err := s.accounts.School(ctx, b.ID); err == nil {
		name = sc.Name
	}
	if email == "" {
		email = caller.Email
	}
	id, err := s.stripe.CreateCustomer(ctx, stripeclient.CustomerRequest{Name: name, Email: email,
		Metadata: map[string]string{"margin_school": b.ID}, IdempotencyKey: "margin-customer:" + b.ID})
	if err != nil {
		return "", stripeErr(err, "create the school's customer")
	}
	_, err = s.changeSchool(ctx, b.ID, func(b *schoolBook) error {
		if b.CustomerID != "" {
			return errSkip
		}
		b.CustomerID = id
		return nil
	})
	return id, err
}

// Grant is an admin's manual credit to a school (no payment).
type Grant struct {
	// ID makes the grant idempotent.
	ID       string `json:"id"`
	SchoolID string `json:"school_id"`
	Cents    int64  `json:"cents"`
	Note     string `json:"note"`
	By       string `json:"-"`
}

// GrantCredit records a manual credit: a purchase of kind manual, paid at
// once, with the ledger entry credit:<id> (from grants:manual, never shown
// as paid through Stripe). Invalid for a missing ID or note or a
// non-positive amount; NotFound for an unknown school. Repeating an ID
// returns the first grant.
func (s *Service) GrantCredit(ctx context.Context, g Grant) (Purchase, error) {
	var problems errs.List
	if strings.TrimSpace(g.ID) == "" || len(g.ID) > 200 {
		problems = append(problems, errs.F(errs.Invalid, "id", "Give the grant an ID (up to 200 characters) so that a retry is not recorded twice."))
	}
	if g.Cents <= 0 || g.Cents > maxPurchaseCents {
		problems = append(problems, errs.F(errs.Invalid, "cents", "Grant a positive amount of cents, at most %d.", maxPurchaseCents))
	}
	if strings.TrimSpace(g.Note) == "" {
		problems = append(problems, errs.F(errs.Invalid, "note", "Say why the credit is granted."))
	}
	if err := problems.Err(); err != nil {
		return Purchase{}, err
	}
	if _, err := s.accounts.School(ctx, g.SchoolID); err != nil {
		return Purchase{}, errs.F(errs.NotFound, "school_id", "There is no school with this ID.")
	}
	now := s.now()
	p := Purchase{ID: "grant_" + g.ID, SchoolID: g.SchoolID, Kind: PurchaseManual, Cents: g.Cents, Currency: s.cfg.Currency,
		State: PurchaseOpen, By: g.By, Note: strings.TrimSpace(g.Note), CreatedAt: now}
	if _, err := s.purchases.InsertOne(ctx, p); mongostore.IsDuplicateKey(err) {
		if p, err = mongostore.Get[Purchase](ctx, s.purchases, p.ID, "purchase"); err != nil {
			return Purchase{}, err
		}
		if p.SchoolID != g.SchoolID || p.Kind != PurchaseManual {
			return Purchase{}, errs.F(errs.Conflict, "id", "This ID names another purchase.")
		}
	} else if err != nil {
		return Purchase{}, errs.Wrap(err, "record grant")
	}
	return s.credit(ctx, p, paid{})
}

// credit applies a purchase's credit to its school's ledger (once), then
// marks it paid with what Stripe said of the payment.
func (s *Service) credit(ctx context.Context, p Purchase, st paid) (Purchase, error) {
	stripeID := st.stripeID
	e := Entry{ID: "purchase:" + p.ID, Kind: KindPurchase, Currency: p.Currency, At: s.now(), SchoolID: p.SchoolID,
		PurchaseID: p.ID, StripeID: stripeID, PriceCents: p.Cents, By: p.By, Reason: p.Note,
		Lines: []Line{{AccountStripeCharges, p.Cents}, {SchoolAccount(p.SchoolID), -p.Cents}}}
	if p.Kind == PurchaseManual {
		e.ID, e.Kind = "credit:"+p.ID, KindCredit
		e.Lines[0].Account = AccountManualCredit
	}
	if _, _, err := s.addSchoolEntry(ctx, e, nil); err != nil {
		return Purchase{}, err
	}
	now := s.now()
	set := bson.M{"state": PurchasePaid, "paid_at": now}
	for k, v := range map[string]string{"receipt_url": st.receipt, "payment_intent_id": st.pi, "charge_id": st.chargeID} {
		if v != "" {
			set[k] = v
		}
	}
	if err := s.setPurchase(ctx, p.ID, set); err != nil {
		return Purchase{}, err
	}
	return mongostore.Get[Purchase](ctx, s.purchases, p.ID, "purchase")
}

func (s *Service) setPurchase(ctx context.Context, id string, set bson.M) error {
	_, err := s.purchases.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": set})
	return errs.Wrap(err, "update purchase")
}

// firstCode returns the first coded error of a joined error.
func firstCode(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()[0]
	}
	return err
}

// paid is what Stripe says of a purchase's payment.
type paid struct {
	ok                bool // the money is there
	over              bool // it never will be (expired session, void invoice)
	cents             int64
	stripeID, receipt string
	pi, chargeID      string
}

// settle credits a purchase Stripe reports paid, once: the amount must be
// the purchase's. It runs the BeforeCredit fault point first.
func (s *Service) settle(ctx context.Context, purchaseID string, st paid) (string, error) {
	p, err := mongostore.Get[Purchase](ctx, s.purchases, purchaseID, "purchase")
	if errs.Is(err, errs.NotFound) {
		return "unknown purchase", nil
	}
	if err != nil {
		return "", err
	}
	switch {
	case p.State == PurchasePaid:
		return "purchase already credited", nil
	case st.over && !st.ok:
		return "purchase closed unpaid", s.setPurchase(ctx, p.ID, bson.M{"state": map[bool]string{true: PurchaseExpired, false: PurchaseVoid}[p.Kind == PurchaseCheckout]})
	case !st.ok:
		return "purchase not paid yet", nil
	case st.cents != 0 && st.cents != p.Cents:
		s.log.Error("a purchase was paid a different amount; not credited", "purchase", p.ID, "paid", st.cents, "want", p.Cents)
		return "amount differs from the purchase: not credited", nil
	}
	if err := s.stripe.Checkpoint(stripeclient.BeforeCredit); err != nil {
		return "", err
	}
	if _, err := s.credit(ctx, p, st); err != nil {
		return "", err
	}
	return "school credited", nil
}

// applyBilling acts on the events of school billing; ok is false for
// other events.
func (s *Service) applyBilling(ctx context.Context, ev stripe.Event) (note string, ok bool, err error) {
	switch ev.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded", "checkout.session.expired":
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &cs); err != nil {
			return "", true, err
		}
		return s.settleSession(ctx, stripeclient.SessionOf(&cs))
	case "invoice.paid", "invoice.voided", "invoice.marked_uncollectible":
		var in stripe.Invoice
		if err := json.Unmarshal(ev.Data.Raw, &in); err != nil {
			return "", true, err
		}
		return s.settleInvoice(ctx, stripeclient.InvoiceOf(&in))
	}
	return "", false, nil
}

func (s *Service) settleSession(ctx context.Context, cs stripeclient.CheckoutSession) (string, bool, error) {
	id := cs.Metadata["margin_purchase"]
	if id == "" {
		id = cs.ClientReferenceID
	}
	if id == "" {
		return "not a Margin purchase", true, nil
	}
	st := paid{ok: cs.PaymentStatus == "paid", over: cs.Status == "expired", cents: cs.AmountTotal, stripeID: cs.PaymentIntentID, pi: cs.PaymentIntentID}
	if st.ok && cs.PaymentIntentID != "" {
		// The hosted receipt is for the statement; without it the credit
		// is still right.
		st.receipt, _ = s.stripe.ReceiptURL(ctx, cs.PaymentIntentID)
	}
	note, err := s.settle(ctx, id, st)
	return note, true, err
}

func (s *Service) settleInvoice(ctx context.Context, in stripeclient.Invoice) (string, bool, error) {
	id := in.Metadata["margin_purchase"]
	if id == "" {
		return "not a Margin purchase", true, nil
	}
	st := paid{ok: in.Status == "paid", over: in.Status == "void" || in.Status == "uncollectible", cents: in.AmountPaid,
		stripeID: in.ID, receipt: in.HostedURL, pi: in.PaymentIntentID, chargeID: in.ChargeID}
	if st.ok && st.cents == 0 {
		st.cents = in.AmountDue
	}
	note, err := s.settle(ctx, id, st)
	return note, true, err
}
