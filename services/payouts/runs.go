package payouts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/payouts/stripeclient"
)

// A payout run is a state machine in documents. The run document
// (payout_runs) holds a lease; whichever process holds it plans the run
// (pending → sending: one payment document per grader, inserted with the
// deterministic ID <run>:<grader>) and then drives each payment through
// pending → sending → sent | failed. Every step can be repeated: the
// transfer's idempotency key is derived from (run, grader), the payout's
// ledger entry has a deterministic ID and is appended once, and a payment's
// final state is never left. A crash anywhere leaves the run claimable
// again when the lease expires, and resuming it ends in exactly one
// transfer per payment. Only one run is unfinished at a time (the
// active_run lock in payout_state), so two runs never settle the same
// entries.

const activeRunID = "active_run"

type runLock struct {
	ID    string    `bson:"_id"`
	RunID string    `bson:"run_id"`
	At    time.Time `bson:"at"`
}

var errLeaseLost = errors.New("another process took over the payout run")

// StartRun starts a payout run on behalf of an admin and wakes the
// background loop to work on it. It returns Conflict while another run is
// unfinished.
func (s *Service) StartRun(ctx context.Context, by string) (PayoutRun, error) {
	return s.startRun(ctx, account.NewID("run"), "admin", by)
}

func (s *Service) startRun(ctx context.Context, id, trigger, by string) (PayoutRun, error) {
	if err := s.takeRunLock(ctx, id); err != nil {
		return PayoutRun{}, err
	}
	now := s.now()
	run := PayoutRun{ID: id, Trigger: trigger, By: by, State: RunPending, StripeConfigured: s.StripeConfigured(),
		Currency: s.cfg.Currency, Graders: []string{}, Held: []Held{}, Failures: []Failure{}, CreatedAt: now, UpdatedAt: now}
	if _, err := s.runs.InsertOne(ctx, run); err != nil {
		s.releaseRunLock(ctx, id)
		if mongostore.IsDuplicateKey(err) {
			return PayoutRun{}, errs.E(errs.Conflict, "The payout run %s already exists.", id)
		}
		return PayoutRun{}, errs.Wrap(err, "start run")
	}
	s.wake()
	return run, nil
}

// takeRunLock makes id the one unfinished run, clearing a lock left by a
// run that finished (or was never created) before a crash.
func (s *Service) takeRunLock(ctx context.Context, id string) error {
	for range 2 {
		_, err := s.state.InsertOne(ctx, runLock{ID: activeRunID, RunID: id, At: s.now()})
		if err == nil {
			return nil
		}
		if !mongostore.IsDuplicateKey(err) {
			return errs.Wrap(err, "run lock")
		}
		var l runLock
		if found, err := get(ctx, s.state, activeRunID, &l); err != nil {
			return errs.Wrap(err, "run lock")
		} else if !found {
			continue
		}
		var r PayoutRun
		found, err := get(ctx, s.runs, l.RunID, &r)
		if err != nil {
			return errs.Wrap(err, "run lock")
		}
		stale := (found && r.State == RunDone) || (!found && s.now().Sub(l.At) > s.cfg.Lease)
		if !stale {
			return errs.E(errs.Conflict, "Payout run %s has not finished yet; start another when it has.", l.RunID)
		}
		if _, err := s.state.DeleteOne(ctx, bson.M{"_id": activeRunID, "run_id": l.RunID}); err != nil {
			return errs.Wrap(err, "run lock")
		}
	}
	return errs.E(errs.Conflict, "Another payout run is starting; try again in a moment.")
}

func (s *Service) releaseRunLock(ctx context.Context, id string) {
	if _, err := s.state.DeleteOne(ctx, bson.M{"_id": activeRunID, "run_id": id}); err != nil {
		s.log.Error("releasing the run lock", "run", id, "err", err)
	}
}

// ScheduledRunID is the ID of the scheduled run of the period holding now,
// or "" when the schedule is off. Starting a run under this ID at most once
// per period makes the schedule safe to evaluate from many processes.
func ScheduledRunID(schedule string, now time.Time) string {
	now = now.UTC()
	switch schedule {
	case "weekly":
		y, w := now.ISOWeek()
		return fmt.Sprintf("run_%04dw%02d", y, w)
	case "daily":
		return "run_" + now.Format("20060102")
	}
	return ""
}

func (s *Service) startScheduled(ctx context.Context) error {
	id := ScheduledRunID(s.cfg.Schedule, s.now())
	if id == "" {
		return nil
	}
	var r PayoutRun
	if found, err := get(ctx, s.runs, id, &r); err != nil || found {
		return err
	}
	_, err := s.startRun(ctx, id, "schedule", "")
	if errs.Is(err, errs.Conflict) {
		return nil // an unfinished run goes first; the schedule tries again next tick
	}
	return err
}

// AdvanceAll advances every unfinished run whose lease is free.
func (s *Service) AdvanceAll(ctx context.Context) error {
	cur, err := s.runs.Find(ctx, bson.M{"state": bson.M{"$ne": RunDone}}, options.Find().SetProjection(bson.M{"_id": 1}))
	if err != nil {
		return err
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return err
	}
	var all []error
	for _, r := range ids {
		all = append(all, s.Advance(ctx, r.ID))
	}
	return errors.Join(all...)
}

// Advance claims the run (when its lease is free or already this
// process's) and works it as far as it can: plans it, sends every payment,
// and marks it done. A run that is done or leased to another process is
// left alone. An error leaves the run to be resumed.
func (s *Service) Advance(ctx context.Context, runID string) error {
	run, ok, err := s.claim(ctx, runID)
	if err != nil || !ok {
		return err
	}
	if err := s.advance(ctx, &run); err != nil {
		_, _ = s.runs.UpdateOne(ctx, bson.M{"_id": runID}, bson.M{"$set": bson.M{"last_error": err.Error(), "updated_at": s.now()}})
		return fmt.Errorf("payout run %s: %w", runID, err)
	}
	return nil
}

func (s *Service) claim(ctx context.Context, runID string) (PayoutRun, bool, error) {
	now := s.now()
	filter := bson.M{"_id": runID, "state": bson.M{"$ne": RunDone}, "$or": bson.A{
		bson.M{"lease_until": bson.M{"$lt": now}}, bson.M{"lease_owner": s.owner},
	}}
	update := bson.M{"$set": bson.M{"lease_owner": s.owner, "lease_until": now.Add(s.cfg.Lease)}}
	var run PayoutRun
	err := s.runs.FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&run)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return PayoutRun{}, false, nil
	}
	if err != nil {
		return PayoutRun{}, false, fmt.Errorf("claim run %s: %w", runID, err)
	}
	return run, true, nil
}

func (s *Service) renew(ctx context.Context, runID string) error {
	now := s.now()
	res, err := s.runs.UpdateOne(ctx, bson.M{"_id": runID, "lease_owner": s.owner},
		bson.M{"$set": bson.M{"lease_until": now.Add(s.cfg.Lease)}})
	if err != nil {
		return err
	}
	if res.MatchedCount == 0 {
		return errLeaseLost
	}
	return nil
}

func (s *Service) advance(ctx context.Context, run *PayoutRun) error {
	if run.State == RunPending {
		if err := s.plan(ctx, run); err != nil {
			return err
		}
	}
	renewed := s.now()
	payments := make([]Payment, 0, len(run.Graders))
	for _, g := range run.Graders {
		if s.now().Sub(renewed) > s.cfg.Lease/3 {
			if err := s.renew(ctx, run.ID); err != nil {
				return err
			}
			renewed = s.now()
		}
		var p Payment
		found, err := get(ctx, s.payments, PaymentID(run.ID, g), &p)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("payment %s is planned but missing", PaymentID(run.ID, g))
		}
		if !p.State.Final() {
			if err := s.pay(ctx, &p); err != nil {
				return err
			}
		}
		payments = append(payments, p)
	}
	return s.finish(ctx, run, payments)
}

// plan ingests the latest earnings and creates one payment for each grader
// whose unsettled balance meets the minimum (and, with Stripe, whose
// account can receive payouts; the others are held). Re-planning after a
// crash keeps the payments already created.
func (s *Service) plan(ctx context.Context, run *PayoutRun) error {
	if _, err := s.Ingest(ctx); err != nil {
		return err
	}
	var books []book
	cur, err := s.ledger.Find(ctx, bson.M{})
	if err != nil {
		return err
	}
	if err := cur.All(ctx, &books); err != nil {
		return err
	}
	sort.Slice(books, func(i, j int) bool { return books[i].ID < books[j].ID })
	accts, err := s.allAccounts(ctx)
	if err != nil {
		return err
	}
	graders, held := []string{}, []Held{}
	now := s.now()
	for _, b := range books {
		pid := PaymentID(run.ID, b.ID)
		var existing Payment
		if found, err := get(ctx, s.payments, pid, &existing); err != nil {
			return err
		} else if found {
			graders = append(graders, b.ID)
			continue
		}
		entries, cents := Unsettled(b.Entries, run.Currency)
		acct := accts[b.ID]
		switch {
		case cents <= 0:
			continue
		case cents < s.cfg.MinimumCents:
			held = append(held, Held{GraderID: b.ID, Cents: cents, Reason: fmt.Sprintf("below the minimum payout of %d cents", s.cfg.MinimumCents)})
			continue
		case run.StripeConfigured && (acct.AccountID == "" || !acct.PayoutsEnabled):
			held = append(held, Held{GraderID: b.ID, Cents: cents, Reason: "onboarding not finished: the Stripe account cannot receive payouts yet"})
			continue
		}
		p := Payment{ID: pid, RunID: run.ID, GraderID: b.ID, Cents: cents, Currency: run.Currency, Destination: acct.AccountID,
			IdempotencyKey: IdempotencyKey(run.ID, b.ID), State: PaymentPending, CreatedAt: now, UpdatedAt: now}
		for _, e := range entries {
			p.Settles = append(p.Settles, e.ID)
		}
		if !run.StripeConfigured {
			p.State, p.Reason = PaymentNotSent, NotConfigured
		}
		if _, err := s.payments.InsertOne(ctx, p); err != nil && !mongostore.IsDuplicateKey(err) {
			return err
		}
		if err := s.setPaymentView(ctx, p); err != nil {
			return err
		}
		graders = append(graders, b.ID)
	}
	run.State, run.Graders, run.Held = RunSending, graders, held
	_, err = s.runs.UpdateOne(ctx, bson.M{"_id": run.ID}, bson.M{"$set": bson.M{
		"state": RunSending, "graders": graders, "held": held, "updated_at": now}})
	return err
}

// pay drives one payment from pending or sending to a final state: it
// calls Stripe with the payment's idempotency key (so a repeat after a
// crash or timeout returns the first transfer), then records the transfer.
// A transient Stripe error leaves the payment sending and is returned.
func (s *Service) pay(ctx context.Context, p *Payment) error {
	now := s.now()
	if _, err := s.payments.UpdateOne(ctx, bson.M{"_id": p.ID}, bson.M{
		"$set": bson.M{"state": PaymentSending, "updated_at": now}, "$inc": bson.M{"attempts": 1}}); err != nil {
		return err
	}
	p.State, p.Attempts, p.UpdatedAt = PaymentSending, p.Attempts+1, now
	tr, err := s.transferFor(ctx, *p)
	if err != nil {
		if stripeclient.Permanent(err) {
			return s.failPayment(ctx, p, "Stripe refused the transfer: "+stripeclient.Message(err))
		}
		_, _ = s.payments.UpdateOne(ctx, bson.M{"_id": p.ID}, bson.M{"$set": bson.M{"reason": "retrying: " + stripeclient.Message(err)}})
		return fmt.Errorf("payment %s: %w", p.ID, err)
	}
	return s.recordSent(ctx, p, tr)
}

// idempotencyWindow is how long Stripe keeps an idempotency key; after it,
// a retry looks for the transfer in the run's transfer group instead.
const idempotencyWindow = 23 * time.Hour

func (s *Service) transferFor(ctx context.Context, p Payment) (stripeclient.Transfer, error) {
	if p.Attempts > 1 && s.now().Sub(p.CreatedAt) > idempotencyWindow {
		ts, err := s.stripe.TransfersInGroup(ctx, p.RunID)
		if err != nil {
			return stripeclient.Transfer{}, err
		}
		for _, t := range ts {
			if t.Metadata["margin_payment"] == p.ID {
				return t, nil
			}
		}
	}
	return s.stripe.CreateTransfer(ctx, stripeclient.TransferRequest{
		Amount: p.Cents, Currency: p.Currency, Destination: p.Destination, Group: p.RunID,
		Description:    "Margin grading payout " + p.RunID,
		Metadata:       map[string]string{"margin_run": p.RunID, "margin_grader": p.GraderID, "margin_payment": p.ID},
		IdempotencyKey: p.IdempotencyKey,
	})
}

// recordSent appends the payout to the ledger (once, whatever the
// retries), then marks the payment sent with the transfer the ledger
// holds.
func (s *Service) recordSent(ctx context.Context, p *Payment, tr stripeclient.Transfer) error {
	now := s.now()
	if tr.Amount != 0 && tr.Amount != p.Cents {
		s.log.Warn("transfer amount differs from the payment", "payment", p.ID, "transfer", tr.ID, "stripe_cents", tr.Amount, "cents", p.Cents)
	}
	e := Entry{ID: "payout:" + p.ID, Kind: KindPayout, GraderID: p.GraderID, Currency: p.Currency,
		Lines: []Line{{GraderAccount(p.GraderID), p.Cents}, {AccountStripeTransfers, -p.Cents}},
		At:    now, PaymentID: p.ID, TransferID: tr.ID, Settles: p.Settles}
	if _, err := s.appendEntries(ctx, p.GraderID, []Entry{e}); err != nil {
		return err
	}
	b, err := s.readBook(ctx, p.GraderID)
	if err != nil {
		return err
	}
	recorded := b.Entries[key(e.ID)]
	p.State, p.TransferID, p.SentAt, p.UpdatedAt, p.Reason = PaymentSent, recorded.TransferID, &recorded.At, now, ""
	if _, err := s.payments.UpdateOne(ctx, bson.M{"_id": p.ID}, bson.M{"$set": bson.M{
		"state": PaymentSent, "transfer_id": p.TransferID, "sent_at": p.SentAt, "updated_at": now, "reason": ""}}); err != nil {
		return err
	}
	if err := s.setPaymentView(ctx, *p); err != nil {
		return err
	}
	return s.stripe.Checkpoint(stripeclient.AfterWrite)
}

func (s *Service) failPayment(ctx context.Context, p *Payment, reason string) error {
	now := s.now()
	p.State, p.Reason, p.UpdatedAt = PaymentFailed, reason, now
	if _, err := s.payments.UpdateOne(ctx, bson.M{"_id": p.ID}, bson.M{"$set": bson.M{
		"state": PaymentFailed, "reason": reason, "updated_at": now}}); err != nil {
		return err
	}
	return s.setPaymentView(ctx, *p)
}

// finish marks the run done with its totals and failures, and lets the
// next run start.
func (s *Service) finish(ctx context.Context, run *PayoutRun, payments []Payment) error {
	now := s.now()
	run.SentCount, run.SentCents, run.Failures = 0, 0, []Failure{}
	for _, p := range payments {
		switch p.State {
		case PaymentSent:
			run.SentCount++
			run.SentCents += p.Cents
		default:
			run.Failures = append(run.Failures, Failure{PaymentID: p.ID, GraderID: p.GraderID, Cents: p.Cents, State: p.State, Reason: p.Reason})
		}
	}
	run.State, run.DoneAt, run.UpdatedAt, run.LastError = RunDone, &now, now, ""
	if _, err := s.runs.UpdateOne(ctx, bson.M{"_id": run.ID}, bson.M{"$set": bson.M{
		"state": RunDone, "done_at": now, "updated_at": now, "sent_count": run.SentCount, "sent_cents": run.SentCents,
		"failures": run.Failures, "last_error": "", "lease_until": now}}); err != nil {
		return err
	}
	s.releaseRunLock(ctx, run.ID)
	return nil
}

// Runs lists every payout run, newest first.
func (s *Service) Runs(ctx context.Context) ([]PayoutRun, error) {
	cur, err := s.runs.Find(ctx, bson.M{})
	if err != nil {
		return nil, errs.Wrap(err, "runs")
	}
	runs := []PayoutRun{}
	if err := cur.All(ctx, &runs); err != nil {
		return nil, errs.Wrap(err, "runs")
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].CreatedAt.After(runs[j].CreatedAt) })
	return runs, nil
}

// RunDetail returns a run and its payments. It returns NotFound for an
// unknown run.
func (s *Service) RunDetail(ctx context.Context, runID string) (PayoutRun, []Payment, error) {
	var run PayoutRun
	found, err := get(ctx, s.runs, runID, &run)
	if err != nil {
		return PayoutRun{}, nil, errs.Wrap(err, "run")
	}
	if !found {
		return PayoutRun{}, nil, errs.E(errs.NotFound, "There is no payout run %s.", runID)
	}
	payments := []Payment{}
	for _, g := range run.Graders {
		var p Payment
		if found, err := get(ctx, s.payments, PaymentID(runID, g), &p); err != nil {
			return PayoutRun{}, nil, errs.Wrap(err, "run payments")
		} else if found {
			payments = append(payments, p)
		}
	}
	return run, payments, nil
}

// Resume asks for an unfinished run to be worked on again (the background
// loop picks it up when its lease is free). Resuming a finished run
// changes nothing. It returns NotFound for an unknown run.
func (s *Service) Resume(ctx context.Context, runID string) (PayoutRun, error) {
	var run PayoutRun
	found, err := get(ctx, s.runs, runID, &run)
	if err != nil {
		return PayoutRun{}, errs.Wrap(err, "run")
	}
	if !found {
		return PayoutRun{}, errs.E(errs.NotFound, "There is no payout run %s.", runID)
	}
	if run.State != RunDone {
		s.wake()
	}
	return run, nil
}

// RunFailure is a payment that did not send, with its run.
type RunFailure struct {
	RunID string `json:"run_id"`
	Failure
}

// Failures lists the unsent payments of every finished run, newest first.
func (s *Service) Failures(ctx context.Context) ([]RunFailure, error) {
	runs, err := s.Runs(ctx)
	if err != nil {
		return nil, err
	}
	out := []RunFailure{}
	for _, r := range runs {
		for _, f := range r.Failures {
			out = append(out, RunFailure{RunID: r.ID, Failure: f})
		}
	}
	return out, nil
}
