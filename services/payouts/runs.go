package payouts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
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
// transfer's idempotency key is derived from (run, grader), and a sent
// payment's record is its payout entry, whose ID is deterministic. A crash
// anywhere leaves the run claimable again (at once on a store only this
// process uses, else when the lease expires), and resuming it ends in
// exactly one transfer per payment. Only one run is unfinished at a time
// (the active_run lock in payout_state), so two runs never settle the same
// entries.
//
// A run writes no grader's book: each payment costs its Stripe call and a
// share of a batched insert of the payout entries. The payouts are folded
// into the books after the run (fold, by the background loop, and before
// the next run is planned); until then the grader's view and the trial
// balance add them in (see unfolded), so nothing reads a stale balance.

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

// releaseLeases frees the leases of unfinished runs held by other owners.
// It is called at start-up when this process is the only one that can use
// the store (Config.Exclusive), so those owners are processes that are
// gone, and their runs resume at once instead of after their lease.
func (s *Service) releaseLeases(ctx context.Context) error {
	_, err := s.runs.UpdateMany(ctx, bson.M{"state": bson.M{"$ne": RunDone}, "lease_owner": bson.M{"$ne": s.owner}},
		bson.M{"$set": bson.M{"lease_until": time.Time{}}})
	return err
}

// advance plans the run if it is pending, sends its unsent payments,
// Config.Concurrency at a time (Stripe calls overlap with the store's
// work), and finishes it. The first error stops sending new payments; the
// ones under way complete.
func (s *Service) advance(ctx context.Context, run *PayoutRun) error {
	var payments []Payment
	if run.State == RunPending {
		var err error
		if payments, err = s.plan(ctx, run); err != nil {
			return err
		}
	} else {
		ids := make([]string, len(run.Graders))
		for i, g := range run.Graders {
			ids[i] = PaymentID(run.ID, g)
		}
		got, err := mongostore.GetMany(ctx, s.payments, ids, func(p Payment) string { return p.ID })
		if err != nil {
			return err
		}
		for _, id := range ids {
			p, ok := got[id]
			if !ok {
				return fmt.Errorf("payment %s is planned but missing", id)
			}
			payments = append(payments, p)
		}
		if payments, err = s.withOutcomes(ctx, payments); err != nil {
			return err
		}
	}
	work := make(chan int)
	errc := make(chan error, len(payments))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sent []Entry // payout entries not written yet, written a batch at a time
	flush := func(all bool) error {
		mu.Lock()
		var batch []Entry
		if all || len(sent) >= entryBatch {
			batch, sent = sent, nil
		}
		mu.Unlock()
		return s.writeEntries(ctx, batch)
	}
	for range max(1, s.cfg.Concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				e, err := s.pay(ctx, &payments[i])
				if e != nil {
					mu.Lock()
					sent = append(sent, *e)
					mu.Unlock()
				}
				errc <- cmp.Or(err, flush(false))
			}
		}()
	}
	renewed := s.now()
	var failed error
	for i := range payments {
		if payments[i].State.Final() {
			continue
		}
		select {
		case err := <-errc:
			failed = err
		default:
		}
		if failed == nil && s.now().Sub(renewed) > s.cfg.Lease/3 {
			failed = s.renew(ctx, run.ID)
			renewed = s.now()
		}
		if failed != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	close(errc)
	for err := range errc {
		failed = cmp.Or(failed, err)
	}
	if err := cmp.Or(flush(true), failed); err != nil {
		return err
	}
	return s.finish(ctx, run, payments)
}

// entryBatch is how many payout entries a run writes at once.
const entryBatch = 100

// plan ingests the latest earnings and creates one payment for each grader
// whose open balance meets the minimum (and, with Stripe, whose account can
// receive payouts; the others are held), and returns the run's payments.
// It reads every book once. Re-planning after a crash keeps the payments
// already created.
func (s *Service) plan(ctx context.Context, run *PayoutRun) ([]Payment, error) {
	if err := s.fold(ctx); err != nil {
		return nil, err
	}
	if _, err := s.Ingest(ctx); err != nil {
		return nil, err
	}
	if err := s.setFold(ctx, foldState{RunID: run.ID}); err != nil {
		return nil, err
	}
	books, err := s.allBooks(ctx)
	if err != nil {
		return nil, err
	}
	accts, err := s.allAccounts(ctx)
	if err != nil {
		return nil, err
	}
	graders, held, planned := []string{}, []Held{}, []Payment{}
	now := s.now()
	for _, b := range books {
		open := b.Open[run.Currency]
		acct := accts[b.ID]
		switch {
		case open.Cents <= 0:
			continue
		case open.Cents < s.cfg.MinimumCents:
			held = append(held, Held{GraderID: b.ID, Cents: open.Cents, Reason: fmt.Sprintf("below the minimum payout of %d cents", s.cfg.MinimumCents)})
			continue
		case run.StripeConfigured && (acct.AccountID == "" || !acct.PayoutsEnabled):
			held = append(held, Held{GraderID: b.ID, Cents: open.Cents, Reason: "onboarding not finished: the Stripe account cannot receive payouts yet"})
			continue
		}
		p := Payment{ID: PaymentID(run.ID, b.ID), RunID: run.ID, GraderID: b.ID, Cents: open.Cents, SettlesEntries: open.Entries,
			Currency: run.Currency, Destination: acct.AccountID, IdempotencyKey: IdempotencyKey(run.ID, b.ID),
			State: PaymentPending, CreatedAt: now, UpdatedAt: now}
		if !run.StripeConfigured {
			p.State, p.Reason = PaymentNotSent, NotConfigured
		}
		planned = append(planned, p)
		graders = append(graders, b.ID)
	}
	payments, err := s.insertPayments(ctx, planned)
	if err != nil {
		return nil, err
	}
	for _, p := range payments {
		if p.State == PaymentNotSent {
			if _, err := s.changeBook(ctx, p.GraderID, func(b *book) error { b.notePayment(p.ID); return nil }); err != nil {
				return nil, err
			}
		}
	}
	run.State, run.Graders, run.Held = RunSending, graders, held
	_, err = s.runs.UpdateOne(ctx, bson.M{"_id": run.ID}, bson.M{"$set": bson.M{
		"state": RunSending, "graders": graders, "held": held, "updated_at": now}})
	return payments, err
}

// insertPayments writes planned payments, and returns them as stored: a
// payment planned before a crash is kept as it was (and as it went on).
func (s *Service) insertPayments(ctx context.Context, planned []Payment) ([]Payment, error) {
	var dups []string
	for i := 0; i < len(planned); i += 500 {
		chunk := planned[i:min(i+500, len(planned))]
		docs := make([]any, len(chunk))
		for j, p := range chunk {
			docs[j] = p
		}
		_, err := s.payments.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		var bw mongo.BulkWriteException
		if errors.As(err, &bw) && bw.WriteConcernError == nil {
			err = nil
			for _, we := range bw.WriteErrors {
				if !mongostore.IsDuplicateKey(we) {
					err = bw
					break
				}
				dups = append(dups, chunk[we.Index].ID)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("plan payments: %w", err)
		}
	}
	if len(dups) == 0 {
		return planned, nil
	}
	stored, err := mongostore.GetMany(ctx, s.payments, dups, func(p Payment) string { return p.ID })
	if err != nil {
		return nil, err
	}
	out := slices.Clone(planned)
	for i, p := range out {
		if st, ok := stored[p.ID]; ok {
			out[i] = st
		}
	}
	return s.withOutcomes(ctx, out)
}

// withOutcomes marks sent the payments whose payout entry is written (the
// record of a sent payment), with its transfer.
func (s *Service) withOutcomes(ctx context.Context, ps []Payment) ([]Payment, error) {
	var ids []string
	for _, p := range ps {
		if !p.State.Final() {
			ids = append(ids, "payout:"+p.ID)
		}
	}
	sent, err := s.getEntries(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, p := range ps {
		if e, ok := sent["payout:"+p.ID]; ok {
			at := e.At
			ps[i].State, ps[i].TransferID, ps[i].SentAt, ps[i].Reason, ps[i].UpdatedAt = PaymentSent, e.TransferID, &at, "", at
		}
	}
	return ps, nil
}

// pay drives one payment from pending or sending to a final state: it
// calls Stripe with the payment's idempotency key (so a repeat after a
// crash or timeout returns the first transfer), and returns the payment's
// payout entry, whose document (the record that the payment is sent) the
// caller writes. A transient Stripe error leaves the payment sending and
// is returned.
func (s *Service) pay(ctx context.Context, p *Payment) (*Entry, error) {
	tr, err := s.transferFor(ctx, *p)
	if err != nil {
		if stripeclient.Permanent(err) {
			return nil, s.failPayment(ctx, p, "Stripe refused the transfer: "+stripeclient.Message(err))
		}
		p.State, p.Attempts, p.Reason, p.UpdatedAt = PaymentSending, p.Attempts+1, "retrying: "+stripeclient.Message(err), s.now()
		_, _ = s.payments.UpdateOne(ctx, bson.M{"_id": p.ID}, bson.M{
			"$set": bson.M{"state": p.State, "reason": p.Reason, "updated_at": p.UpdatedAt}, "$inc": bson.M{"attempts": 1}})
		_, _ = s.changeBook(ctx, p.GraderID, func(b *book) error { b.notePayment(p.ID); return nil })
		return nil, fmt.Errorf("payment %s: %w", p.ID, err)
	}
	if err := s.pause(ctx, FaultAfterTransfer); err != nil {
		return nil, err
	}
	if tr.Amount != 0 && tr.Amount != p.Cents {
		s.log.Warn("transfer amount differs from the payment", "payment", p.ID, "transfer", tr.ID, "stripe_cents", tr.Amount, "cents", p.Cents)
	}
	now := s.now()
	e := payoutEntry(*p, tr.ID, now)
	p.State, p.TransferID, p.SentAt, p.UpdatedAt, p.Reason = PaymentSent, tr.ID, &now, now, ""
	return &e, s.stripe.Checkpoint(stripeclient.AfterWrite)
}

// payoutEntry is the ledger entry of a sent payment.
func payoutEntry(p Payment, transferID string, at time.Time) Entry {
	return Entry{ID: "payout:" + p.ID, Kind: KindPayout, GraderID: p.GraderID, Currency: p.Currency,
		Lines: []Line{{GraderAccount(p.GraderID), p.Cents}, {AccountStripeTransfers, -p.Cents}},
		At:    at, PaymentID: p.ID, TransferID: transferID, SettlesEntries: p.SettlesEntries}
}

// idempotencyWindow is how long Stripe keeps an idempotency key; after it,
// a retry looks for the transfer in the run's transfer group instead.
const idempotencyWindow = 23 * time.Hour

func (s *Service) transferFor(ctx context.Context, p Payment) (stripeclient.Transfer, error) {
	if s.now().Sub(p.CreatedAt) > idempotencyWindow {
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

func (s *Service) failPayment(ctx context.Context, p *Payment, reason string) error {
	now := s.now()
	p.State, p.Reason, p.UpdatedAt = PaymentFailed, reason, now
	if _, err := s.payments.UpdateOne(ctx, bson.M{"_id": p.ID}, bson.M{"$set": bson.M{
		"state": PaymentFailed, "reason": reason, "updated_at": now}}); err != nil {
		return err
	}
	_, err := s.changeBook(ctx, p.GraderID, func(b *book) error { b.notePayment(p.ID); return nil })
	return err
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
	ids := make([]string, len(run.Graders))
	for i, g := range run.Graders {
		ids[i] = PaymentID(runID, g)
	}
	got, err := mongostore.GetMany(ctx, s.payments, ids, func(p Payment) string { return p.ID })
	if err != nil {
		return PayoutRun{}, nil, errs.Wrap(err, "run payments")
	}
	payments := []Payment{}
	for _, id := range ids {
		if p, ok := got[id]; ok {
			payments = append(payments, p)
		}
	}
	payments, err = s.withOutcomes(ctx, payments)
	return run, payments, errs.Wrap(err, "run payments")
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
