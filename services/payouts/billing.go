package payouts

import (
	"fmt"
	"time"

	"github.com/marginschool/margin/pkg/errs"
)

// School billing: schools pay for grading with prepaid credit, bought
// through Stripe Checkout or a Stripe invoice (or granted by an admin as a
// manual credit), held when an assignment is published, charged when a
// submission's feedback is approved (on the same payable event that earns
// the grader), released when the assignment closes, and refunded through
// Stripe. Every step is an entry in the one double-entry ledger.
//
// A school's credit lives in its school book (school_books, _id = school
// ID), changed only by compare-and-set: that is what keeps the balance from
// going negative when two assignments are published at once. Like a
// grader's book, it applies an entry first and writes the entry's document
// (and its statement line) after, before its next change. Every entry has a
// deterministic ID, so a retry applies it once:
//
//   - purchase:<purchase>  a Stripe payment credits the school
//     (stripe:charges → school:<id>);
//   - credit:<purchase>    an admin's manual credit (grants:manual → school);
//   - hold:<assignment>:<key> credit held for grading (school → school-held);
//   - charge:<version id>  an approved submission version: the price leaves
//     the hold (or the available credit), the grader's earning is paid for
//     (to expense:grading, which the earning entry debits) and the fee is
//     the platform's (revenue:fees); what no credit covers is the
//     platform's cost (expense:uncovered);
//   - release:<assignment> what is still held when the assignment closes;
//   - refund:<refund>      money back to the school (school → stripe:refunds,
//     or grants:manual for a manual credit).
//
// A submission version is charged once, whichever reader's approval comes
// first: a second read is Margin's quality check, paid for by Margin.

// Billing modes (MARGIN_BILLING).
const (
	// BillingOff: publishing holds nothing and approvals charge no school;
	// credit can still be bought, granted and refunded.
	BillingOff = "off"
	// BillingRequired: publishing needs the school's credit to cover every
	// submission, and approvals are charged.
	BillingRequired = "required"
)

// BillingConfig is school billing's part of the payouts configuration.
type BillingConfig struct {
	// Mode is "off" (the default) or "required".
	Mode string `env:"MARGIN_BILLING" envDefault:"off"`
	// MinimumCents is the smallest purchase of credit.
	MinimumCents int64 `env:"MARGIN_BILLING_MINIMUM_CENTS" envDefault:"5000"`
	// ReturnURL is the billing page Stripe Checkout sends the buyer back to.
	ReturnURL string `env:"MARGIN_BILLING_RETURN_URL" envDefault:"http://127.0.0.1:8080/billing"`
	// InvoiceDays is how long a school has to pay an invoice.
	InvoiceDays int64 `env:"MARGIN_BILLING_INVOICE_DAYS" envDefault:"30"`
	// Reconcile is how often the background loop asks Stripe about
	// purchases and refunds still open, to heal a missed webhook.
	Reconcile time.Duration `env:"MARGIN_BILLING_RECONCILE" envDefault:"5m"`
	// LowBalanceCents: when a hold or a charge leaves a school's available
	// credit below it, the school's billing managers are told (low_balance,
	// once until the school buys more). 0: never.
	LowBalanceCents int64 `env:"MARGIN_BILLING_LOW_BALANCE_CENTS" envDefault:"5000"`
}

// Validate checks the billing settings.
func (c BillingConfig) Validate() error {
	if c.Mode != "" && c.Mode != BillingOff && c.Mode != BillingRequired {
		return fmt.Errorf("MARGIN_BILLING %q: want %q or %q", c.Mode, BillingOff, BillingRequired)
	}
	if c.MinimumCents < 0 || c.InvoiceDays < 0 || c.Reconcile < 0 || c.LowBalanceCents < 0 {
		return fmt.Errorf("MARGIN_BILLING_MINIMUM_CENTS, MARGIN_BILLING_INVOICE_DAYS, MARGIN_BILLING_RECONCILE and MARGIN_BILLING_LOW_BALANCE_CENTS must not be negative")
	}
	return nil
}

func (c BillingConfig) withDefaults() BillingConfig {
	if c.Mode == "" {
		c.Mode = BillingOff
	}
	if c.MinimumCents <= 0 {
		c.MinimumCents = 5000
	}
	if c.ReturnURL == "" {
		c.ReturnURL = "http://127.0.0.1:8080/billing"
	}
	if c.InvoiceDays <= 0 {
		c.InvoiceDays = 30
	}
	if c.Reconcile <= 0 {
		c.Reconcile = 5 * time.Minute
	}
	return c
}

// The kinds of school entry.
const (
	KindPurchase EntryKind = "purchase" // a Stripe payment credited to the school
	KindCredit   EntryKind = "credit"   // an admin's manual credit
	KindHold     EntryKind = "hold"     // credit held for an assignment
	KindCharge   EntryKind = "charge"   // an approved submission version charged
	KindRelease  EntryKind = "release"  // a closed assignment's hold given back
	KindRefund   EntryKind = "refund"   // money returned to the school
)

// The ledger accounts of school billing. A school has two: SchoolAccount,
// its credit not held, and SchoolHeldAccount, its credit held for
// assignments (both credits, so negative in the signed sum).
const (
	AccountStripeCharges = "stripe:charges"    // cash collected from schools through Stripe
	AccountStripeRefunds = "stripe:refunds"    // cash returned to schools through Stripe
	AccountManualCredit  = "grants:manual"     // credit granted without a payment
	AccountFees          = "revenue:fees"      // the platform's fee on each charge
	AccountUncovered     = "expense:uncovered" // charges and refunds no school credit covered
)

// SchoolAccount is the ledger account of a school's credit not held.
func SchoolAccount(schoolID string) string { return "school:" + schoolID }

// SchoolHeldAccount is the ledger account of a school's credit held for
// assignments.
func SchoolHeldAccount(schoolID string) string { return "school-held:" + schoolID }

// BuyCreditPath is the page where a billing manager buys credit.
const BuyCreditPath = "/billing"

// maxPurchaseCents bounds one purchase (Stripe's own limit for a card
// payment is $999,999.99).
const maxPurchaseCents = 99_999_999

// insufficient is the error for credit that does not cover needed cents.
func insufficient(needed, available int64, currency, what string) error {
	short := needed - max(available, 0)
	e := errs.E(errs.InsufficientCredit,
		"The school's available credit (%s) is %s short of the %s %s needs. A billing manager can buy credit at %s.",
		money(available, currency), money(short, currency), money(needed, currency), what, BuyCreditPath)
	e.Data = map[string]any{"needed_cents": needed, "available_cents": available, "short_cents": short,
		"currency": currency, "buy_credit_path": BuyCreditPath}
	return e
}

// money formats cents for a sentence: "$12.50" in dollars, "12.50 EUR"
// otherwise.
func money(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	if currency == "usd" || currency == "" {
		return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, cents/100, cents%100, currency)
}

// billingOn reports whether schools are charged.
func (s *Service) billingOn() bool { return s.cfg.Billing.Mode == BillingRequired }
