package payouts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v76"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/services/payouts/stripeclient"
)

// eventDoc is a received Stripe event (stripe_events, _id = the event ID).
// It is inserted before the event is acted on, and marked applied after;
// its unique _id is what dedupes Stripe's redeliveries.
type eventDoc struct {
	ID         string     `bson:"_id"`
	Type       string     `bson:"type"`
	Account    string     `bson:"account,omitempty"`
	Created    time.Time  `bson:"created"`
	ReceivedAt time.Time  `bson:"received_at"`
	Payload    string     `bson:"payload"`
	Applied    bool       `bson:"applied"`
	AppliedAt  *time.Time `bson:"applied_at,omitempty"`
	Note       string     `bson:"note,omitempty"`
}

// WebhookResult says what became of a delivered event.
type WebhookResult struct {
	EventID   string `json:"event_id"`
	Type      string `json:"type"`
	Duplicate bool   `json:"duplicate"`
	Note      string `json:"note,omitempty"`
}

// HandleWebhook verifies a Stripe webhook delivery, records the event
// durably, and applies it once. It returns Invalid for a missing or bad
// signature, an old timestamp, or an event of another API version than the
// pinned one (nothing is recorded in any of these cases),
// and Unavailable without a webhook secret. A redelivered event that was
// applied already is reported as a duplicate and changes nothing. When it
// returns an error after recording, the event is applied on redelivery.
func (s *Service) HandleWebhook(ctx context.Context, payload []byte, signature string) (WebhookResult, error) {
	ev, err := s.stripe.VerifyEvent(payload, signature)
	switch {
	case errors.Is(err, stripeclient.ErrNotConfigured):
		return WebhookResult{}, errs.E(errs.Unavailable, "Stripe webhooks are not configured on this Margin.")
	case errors.Is(err, stripeclient.ErrTooOld):
		return WebhookResult{}, errs.E(errs.Invalid, "The webhook's signature timestamp is too old; it may be a replay.")
	case errors.Is(err, stripeclient.ErrAPIVersion):
		return WebhookResult{}, errs.E(errs.Invalid, "The event's API version is not %s, which this endpoint is pinned to.", stripeclient.APIVersion)
	case err != nil:
		return WebhookResult{}, errs.E(errs.Invalid, "The Stripe-Signature header does not verify.")
	}
	res := WebhookResult{EventID: ev.ID, Type: string(ev.Type)}
	doc := eventDoc{ID: ev.ID, Type: string(ev.Type), Account: ev.Account, Created: time.Unix(ev.Created, 0).UTC(),
		ReceivedAt: s.now(), Payload: string(payload)}
	if _, err := s.events.InsertOne(ctx, doc); err != nil {
		if !mongostore.IsDuplicateKey(err) {
			return WebhookResult{}, errs.Wrap(err, "record event")
		}
		var prior eventDoc
		if _, err := get(ctx, s.events, ev.ID, &prior); err != nil {
			return WebhookResult{}, errs.Wrap(err, "record event")
		}
		if prior.Applied {
			res.Duplicate, res.Note = true, prior.Note
			return res, nil
		}
	}
	note, err := s.apply(ctx, ev)
	if err != nil {
		return WebhookResult{}, errs.Wrap(err, "apply event %s", ev.ID)
	}
	now := s.now()
	if _, err := s.events.UpdateOne(ctx, bson.M{"_id": ev.ID}, bson.M{"$set": bson.M{"applied": true, "applied_at": now, "note": note}}); err != nil {
		return WebhookResult{}, errs.Wrap(err, "record event")
	}
	res.Note = note
	return res, nil
}

// apply acts on one event. Every action is idempotent, so an event whose
// application was interrupted can be applied again.
func (s *Service) apply(ctx context.Context, ev stripe.Event) (string, error) {
	if note, ok, err := s.applyBilling(ctx, ev); ok {
		return note, err
	}
	at := time.Unix(ev.Created, 0).UTC()
	switch ev.Type {
	case "account.updated":
		var a stripe.Account
		if err := json.Unmarshal(ev.Data.Raw, &a); err != nil {
			return "", err
		}
		g, err := s.graderOf(ctx, a.ID)
		if err != nil || g == "" {
			return "unknown account", err
		}
		return "account status recorded", s.setStatus(ctx, g, stripeclient.StatusOf(&a), at)
	case "payout.paid", "payout.failed", "payout.updated", "payout.canceled":
		var p stripe.Payout
		if err := json.Unmarshal(ev.Data.Raw, &p); err != nil {
			return "", err
		}
		g, err := s.graderOf(ctx, ev.Account)
		if err != nil || g == "" {
			return "unknown account", err
		}
		bp := BankPayout{ID: p.ID, Cents: p.Amount, Currency: string(p.Currency),
			Status: string(p.Status), FailureCode: string(p.FailureCode), FailureMessage: p.FailureMessage, EventCreated: at}
		if err := s.setBankPayout(ctx, g, bp); err != nil {
			return "", err
		}
		if ev.Type == "payout.failed" {
			why := "Stripe could not send it to your bank."
			if bp.FailureMessage != "" {
				why = "Stripe says: " + bp.FailureMessage
			}
			s.notifyGrader(ctx, g, notify.Event{Kind: notify.PayoutFailed, Key: "bank:" + bp.ID + "/failed", Link: "/grader/earnings",
				Title: fmt.Sprintf("Bank payout of %s failed", money(bp.Cents, bp.Currency)),
				Text:  why + " Update your bank details in your Stripe account from your earnings page; Stripe sends the money again once they are fixed."})
		}
		return "bank payout recorded", nil
	case "transfer.reversed":
		var t stripe.Transfer
		if err := json.Unmarshal(ev.Data.Raw, &t); err != nil {
			return "", err
		}
		return s.recordReversal(ctx, &t, at)
	}
	return "ignored", nil
}

func (s *Service) graderOf(ctx context.Context, accountID string) (string, error) {
	if accountID == "" {
		return "", nil
	}
	var o ownerDoc
	if _, err := get(ctx, s.owners, accountID, &o); err != nil {
		return "", err
	}
	return o.GraderID, nil
}

// setBankPayout records a bank payout's status unless a newer event has.
func (s *Service) setBankPayout(ctx context.Context, graderID string, bp BankPayout) error {
	d, err := s.accountOf(ctx, graderID)
	if err != nil {
		return err
	}
	k := key(bp.ID)
	if prior, ok := d.Bank[k]; ok && prior.EventCreated.After(bp.EventCreated) {
		return nil
	}
	_, err = s.stripeAccounts.UpdateOne(ctx, bson.M{"_id": graderID}, bson.M{"$set": bson.M{"bank_payouts." + k: bp}})
	return err
}

// recordReversal adds one reversal entry per transfer reversal (the money
// came back to the platform, so the grader is owed it again until an
// adjustment says otherwise).
func (s *Service) recordReversal(ctx context.Context, t *stripe.Transfer, at time.Time) (string, error) {
	pid := t.Metadata["margin_payment"]
	var p Payment
	found, err := get(ctx, s.payments, pid, &p)
	if err != nil {
		return "", err
	}
	if found {
		ps, err := s.withOutcomes(ctx, []Payment{p})
		if err != nil {
			return "", err
		}
		p = ps[0]
	}
	if pid == "" || !found || p.TransferID != t.ID {
		return "transfer not paid by Margin's ledger", nil
	}
	var es []Entry
	add := func(id string, cents int64) {
		es = append(es, Entry{ID: "reversal:" + id, Kind: KindReversal, GraderID: p.GraderID, Currency: p.Currency,
			Lines: []Line{{AccountStripeTransfers, cents}, {GraderAccount(p.GraderID), -cents}},
			At:    at, PaymentID: p.ID, TransferID: t.ID})
	}
	var listed int64
	if t.Reversals != nil {
		for _, r := range t.Reversals.Data {
			add(r.ID, r.Amount)
			listed += r.Amount
		}
	}
	if rest := t.AmountReversed - listed; rest > 0 {
		// Reversals beyond the first page are recorded by their total.
		add(fmt.Sprintf("%s:%d", t.ID, t.AmountReversed), rest)
	}
	if _, err := s.appendEntries(ctx, p.GraderID, es); err != nil {
		return "", err
	}
	if _, err = s.payments.UpdateOne(ctx, bson.M{"_id": p.ID}, bson.M{"$set": bson.M{"reversed_cents": t.AmountReversed}}); err != nil {
		return "", err
	}
	s.notifyGrader(ctx, p.GraderID, notify.Event{Kind: notify.PayoutFailed, Key: fmt.Sprintf("reversal:%s:%d", t.ID, t.AmountReversed), Link: "/grader/earnings",
		Title: fmt.Sprintf("%s of a payout came back", money(t.AmountReversed, p.Currency)),
		Text:  "A payment to your Stripe account was reversed, so the amount is owed to you again and goes out in a later payout run."})
	return "reversal recorded", nil
}
