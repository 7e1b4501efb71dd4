package payouts

import (
	"context"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/payouts/stripeclient"
)

// MismatchKind names a way the ledger and Stripe disagree.
type MismatchKind string

// The mismatches reconciliation reports.
const (
	MissingInStripe MismatchKind = "missing_in_stripe" // the ledger says sent; Stripe has no such transfer
	MissingInLedger MismatchKind = "missing_in_ledger" // Stripe has a transfer for a payment the ledger does not hold as sent
	AmountDiffers   MismatchKind = "amount_differs"
	Duplicate       MismatchKind = "duplicate_transfer" // more than one transfer for one payment
	OtherTransfer   MismatchKind = "other_transfer"     // the ledger records a different transfer for the payment
)

// Mismatch is one disagreement between the ledger and Stripe.
type Mismatch struct {
	Kind        MismatchKind `json:"kind"`
	PaymentID   string       `json:"payment_id,omitempty"`
	TransferID  string       `json:"transfer_id,omitempty"`
	LedgerCents int64        `json:"ledger_cents"`
	StripeCents int64        `json:"stripe_cents"`
}

// Reconciliation compares one run's sent payments with Stripe's transfers
// in the run's transfer group that carry the run's metadata.
type Reconciliation struct {
	RunID      string     `json:"run_id"`
	At         time.Time  `json:"at"`
	Sent       int        `json:"sent"`
	Transfers  int        `json:"transfers"`
	OK         bool       `json:"ok"`
	Mismatches []Mismatch `json:"mismatches"`
}

// Compare reports every mismatch between the ledger's payments of a run and
// Stripe's transfers of it (already filtered to the run's metadata).
func Compare(payments []Payment, transfers []stripeclient.Transfer) []Mismatch {
	byPayment := map[string][]stripeclient.Transfer{}
	for _, t := range transfers {
		byPayment[t.Metadata["margin_payment"]] = append(byPayment[t.Metadata["margin_payment"]], t)
	}
	out := []Mismatch{}
	known := map[string]bool{}
	for _, p := range payments {
		known[p.ID] = true
		ts := byPayment[p.ID]
		if p.State != PaymentSent {
			for _, t := range ts {
				out = append(out, Mismatch{Kind: MissingInLedger, PaymentID: p.ID, TransferID: t.ID, StripeCents: t.Amount})
			}
			continue
		}
		switch {
		case len(ts) == 0:
			out = append(out, Mismatch{Kind: MissingInStripe, PaymentID: p.ID, TransferID: p.TransferID, LedgerCents: p.Cents})
			continue
		case len(ts) > 1:
			for _, t := range ts {
				out = append(out, Mismatch{Kind: Duplicate, PaymentID: p.ID, TransferID: t.ID, LedgerCents: p.Cents, StripeCents: t.Amount})
			}
			continue
		}
		t := ts[0]
		if t.ID != p.TransferID {
			out = append(out, Mismatch{Kind: OtherTransfer, PaymentID: p.ID, TransferID: t.ID, LedgerCents: p.Cents, StripeCents: t.Amount})
		}
		if t.Amount != p.Cents {
			out = append(out, Mismatch{Kind: AmountDiffers, PaymentID: p.ID, TransferID: t.ID, LedgerCents: p.Cents, StripeCents: t.Amount})
		}
	}
	for pid, ts := range byPayment {
		if !known[pid] {
			for _, t := range ts {
				out = append(out, Mismatch{Kind: MissingInLedger, PaymentID: pid, TransferID: t.ID, StripeCents: t.Amount})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].PaymentID != out[j].PaymentID {
			return out[i].PaymentID < out[j].PaymentID
		}
		return out[i].TransferID < out[j].TransferID
	})
	return out
}

// Reconcile compares a run's ledger with Stripe, records the result on the
// run, and returns it. It returns NotFound for an unknown run, and
// Unavailable without Stripe or when Stripe cannot be reached.
func (s *Service) Reconcile(ctx context.Context, runID string) (Reconciliation, error) {
	run, payments, err := s.RunDetail(ctx, runID)
	if err != nil {
		return Reconciliation{}, err
	}
	all, err := s.stripe.TransfersInGroup(ctx, run.ID)
	if err != nil {
		return Reconciliation{}, stripeErr(err, "list the run's transfers")
	}
	var ours []stripeclient.Transfer
	for _, t := range all {
		if t.Metadata["margin_run"] == run.ID {
			ours = append(ours, t)
		}
	}
	r := Reconciliation{RunID: run.ID, At: s.now(), Transfers: len(ours), Mismatches: Compare(payments, ours)}
	for _, p := range payments {
		if p.State == PaymentSent {
			r.Sent++
		}
	}
	r.OK = len(r.Mismatches) == 0
	if _, err := s.runs.UpdateOne(ctx, bson.M{"_id": run.ID}, bson.M{"$set": bson.M{"reconciliation": r}}); err != nil {
		return Reconciliation{}, errs.Wrap(err, "record reconciliation")
	}
	return r, nil
}
