package payouts

import (
	"time"
)

// EntryKind says why a ledger entry exists.
type EntryKind string

// The kinds of ledger entry. Only payout entries settle others.
const (
	KindEarning    EntryKind = "earning"    // an approved submission read
	KindAdjustment EntryKind = "adjustment" // a return, a dispute, or a manual credit or debit
	KindPayout     EntryKind = "payout"     // money sent to the grader by a Stripe transfer
	KindReversal   EntryKind = "reversal"   // a transfer reversed: the money is owed again
)

// The ledger's accounts. Each grader has one, GraderAccount(id), which holds
// what Margin owes them (a credit, so negative in the signed sum).
const (
	AccountGradingExpense    = "expense:grading"
	AccountAdjustmentExpense = "expense:adjustments"
	AccountStripeTransfers   = "stripe:transfers"
)

// GraderAccount is the ledger account of what Margin owes a grader.
func GraderAccount(graderID string) string { return "grader:" + graderID }

// Line is one leg of an entry: a signed amount in integer cents, positive
// for a debit and negative for a credit.
type Line struct {
	Account string `json:"account" bson:"account"`
	Cents   int64  `json:"cents" bson:"cents"`
}

// Entry is one double-entry ledger entry: its lines sum to zero. Entries
// are appended and never changed; a correction is another entry.
type Entry struct {
	ID       string    `json:"id" bson:"id"`
	Kind     EntryKind `json:"kind" bson:"kind"`
	GraderID string    `json:"grader_id" bson:"grader_id"`
	Currency string    `json:"currency" bson:"currency"`
	Lines    []Line    `json:"lines" bson:"lines"`
	At       time.Time `json:"at" bson:"at"`

	// Earnings: what was read. PriceCents and FeeCents explain the amount.
	AssignmentID string `json:"assignment_id,omitempty" bson:"assignment_id,omitempty"`
	SubmissionID string `json:"submission_id,omitempty" bson:"submission_id,omitempty"`
	VersionID    string `json:"version_id,omitempty" bson:"version_id,omitempty"`
	Reader       string `json:"reader,omitempty" bson:"reader,omitempty"`
	PriceCents   int64  `json:"price_cents,omitempty" bson:"price_cents,omitempty"`
	FeeCents     int64  `json:"fee_cents,omitempty" bson:"fee_cents,omitempty"`

	// Adjustments: why, and who made it.
	Reason string `json:"reason,omitempty" bson:"reason,omitempty"`
	By     string `json:"by,omitempty" bson:"by,omitempty"`

	// Payouts and reversals: the payment and transfer; a payout settles
	// the SettlesEntries entries that were open when its payment was
	// planned (see Payment).
	PaymentID      string `json:"payment_id,omitempty" bson:"payment_id,omitempty"`
	TransferID     string `json:"transfer_id,omitempty" bson:"transfer_id,omitempty"`
	SettlesEntries int    `json:"settles_entries,omitempty" bson:"settles_entries,omitempty"`

	// School entries (see billing.go): the school, and the purchase,
	// refund or submission's pseudonym the entry is about; StripeID is
	// Stripe's object for it (a refund, a PaymentIntent, an invoice).
	SchoolID   string `json:"school_id,omitempty" bson:"school_id,omitempty"`
	PurchaseID string `json:"purchase_id,omitempty" bson:"purchase_id,omitempty"`
	RefundID   string `json:"refund_id,omitempty" bson:"refund_id,omitempty"`
	StripeID   string `json:"stripe_id,omitempty" bson:"stripe_id,omitempty"`
	Pseudonym  string `json:"pseudonym,omitempty" bson:"pseudonym,omitempty"`
}

// GraderCents is the entry's effect on what the grader is owed: positive
// when it adds to their balance.
func (e Entry) GraderCents() int64 {
	var n int64
	acct := GraderAccount(e.GraderID)
	for _, l := range e.Lines {
		if l.Account == acct {
			n -= l.Cents
		}
	}
	return n
}

// Balanced reports whether the entry's lines sum to zero.
func (e Entry) Balanced() bool {
	var n int64
	for _, l := range e.Lines {
		n += l.Cents
	}
	return n == 0 && len(e.Lines) >= 2
}

// PaymentState is where a payment is in its state machine:
// pending → sending → sent | failed; or not_sent without Stripe.
type PaymentState string

// The payment states. Sent, failed and not_sent are final.
const (
	PaymentPending PaymentState = "pending"
	PaymentSending PaymentState = "sending"
	PaymentSent    PaymentState = "sent"
	PaymentFailed  PaymentState = "failed"
	PaymentNotSent PaymentState = "not_sent"
)

// Final reports whether nothing more will happen to a payment in this state.
func (s PaymentState) Final() bool {
	return s == PaymentSent || s == PaymentFailed || s == PaymentNotSent
}

// NotConfigured is the reason recorded on payments of a run without Stripe.
const NotConfigured = "not sent: Stripe is not configured"

// Payment is one grader's payment in one run: exactly one Stripe transfer,
// whose idempotency key is derived from (run, grader). Its ID is
// "<run id>:<grader id>". It pays what was open in the grader's book when
// the run was planned: Cents, the sum of SettlesEntries entries. Its
// document is written when the run is planned; once the transfer is sent,
// its payout entry (payout:<payment id>) is its record, and a payment whose
// payout entry exists is sent (see withOutcomes).
type Payment struct {
	ID             string       `json:"id" bson:"_id"`
	RunID          string       `json:"run_id" bson:"run_id"`
	GraderID       string       `json:"grader_id" bson:"grader_id"`
	Cents          int64        `json:"cents" bson:"cents"`
	Currency       string       `json:"currency" bson:"currency"`
	Destination    string       `json:"destination,omitempty" bson:"destination,omitempty"`
	SettlesEntries int          `json:"settles_entries" bson:"settles_entries"`
	IdempotencyKey string       `json:"idempotency_key" bson:"idempotency_key"`
	State          PaymentState `json:"state" bson:"state"`
	Attempts       int          `json:"attempts" bson:"attempts"`
	TransferID     string       `json:"transfer_id,omitempty" bson:"transfer_id,omitempty"`
	Reason         string       `json:"reason,omitempty" bson:"reason,omitempty"`
	ReversedCents  int64        `json:"reversed_cents,omitempty" bson:"reversed_cents,omitempty"`
	CreatedAt      time.Time    `json:"created_at" bson:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at" bson:"updated_at"`
	SentAt         *time.Time   `json:"sent_at,omitempty" bson:"sent_at,omitempty"`
}

// PaymentID is the ID of a grader's payment in a run.
func PaymentID(runID, graderID string) string { return runID + ":" + graderID }

// IdempotencyKey is the Stripe idempotency key of a grader's transfer in a
// run: the same on every retry, by any process.
func IdempotencyKey(runID, graderID string) string { return "margin-payout:" + runID + ":" + graderID }

// RunState is where a payout run is: pending (not planned yet), sending
// (payments planned, some not final) or done.
type RunState string

// The run states.
const (
	RunPending RunState = "pending"
	RunSending RunState = "sending"
	RunDone    RunState = "done"
)

// Held is a grader left out of a run, and why.
type Held struct {
	GraderID string `json:"grader_id" bson:"grader_id"`
	Cents    int64  `json:"cents" bson:"cents"`
	Reason   string `json:"reason" bson:"reason"`
}

// Failure is a payment of a run that did not send.
type Failure struct {
	PaymentID string       `json:"payment_id" bson:"payment_id"`
	GraderID  string       `json:"grader_id" bson:"grader_id"`
	Cents     int64        `json:"cents" bson:"cents"`
	State     PaymentState `json:"state" bson:"state"`
	Reason    string       `json:"reason" bson:"reason"`
}

// PayoutRun is one run over every grader's payable balance.
type PayoutRun struct {
	ID      string   `json:"id" bson:"_id"`
	Trigger string   `json:"trigger" bson:"trigger"` // "admin" or "schedule"
	By      string   `json:"by,omitempty" bson:"by,omitempty"`
	State   RunState `json:"state" bson:"state"`
	// StripeConfigured is whether payments were to be sent at all.
	StripeConfigured bool `json:"stripe_configured" bson:"stripe_configured"`
	// Graders are those with a payment in this run, in order.
	Graders    []string   `json:"graders" bson:"graders"`
	Held       []Held     `json:"held" bson:"held"`
	Failures   []Failure  `json:"failures" bson:"failures"`
	SentCount  int        `json:"sent_count" bson:"sent_count"`
	SentCents  int64      `json:"sent_cents" bson:"sent_cents"`
	Currency   string     `json:"currency" bson:"currency"`
	LeaseOwner string     `json:"-" bson:"lease_owner"`
	LeaseUntil time.Time  `json:"-" bson:"lease_until"`
	CreatedAt  time.Time  `json:"created_at" bson:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at" bson:"updated_at"`
	DoneAt     *time.Time `json:"done_at,omitempty" bson:"done_at,omitempty"`
	LastError  string     `json:"last_error,omitempty" bson:"last_error,omitempty"`
	// Reconciliation is the last comparison of this run with Stripe.
	Reconciliation *Reconciliation `json:"reconciliation,omitempty" bson:"reconciliation,omitempty"`
}

// Onboarding is a grader's connected account as Margin last saw it.
type Onboarding struct {
	AccountID        string    `json:"account_id,omitempty" bson:"account_id,omitempty"`
	ChargesEnabled   bool      `json:"charges_enabled" bson:"charges_enabled"`
	PayoutsEnabled   bool      `json:"payouts_enabled" bson:"payouts_enabled"`
	DetailsSubmitted bool      `json:"details_submitted" bson:"details_submitted"`
	CurrentlyDue     []string  `json:"currently_due" bson:"currently_due"`
	DisabledReason   string    `json:"disabled_reason,omitempty" bson:"disabled_reason,omitempty"`
	StatusAt         time.Time `json:"status_at,omitempty" bson:"status_at,omitempty"`
	// State is a summary: "not_started", "in_progress" or "complete".
	State string `json:"state" bson:"-"`
}

// BankPayout is a payout from the grader's Stripe balance to their bank, as
// reported by payout.paid and payout.failed webhooks.
type BankPayout struct {
	ID             string    `json:"id" bson:"id"`
	Cents          int64     `json:"cents" bson:"cents"`
	Currency       string    `json:"currency" bson:"currency"`
	Status         string    `json:"status" bson:"status"`
	FailureCode    string    `json:"failure_code,omitempty" bson:"failure_code,omitempty"`
	FailureMessage string    `json:"failure_message,omitempty" bson:"failure_message,omitempty"`
	EventCreated   time.Time `json:"updated_at" bson:"event_created"`
}
