package matching

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Run runs the background loop until ctx ends: every Interval it expires
// lapsed offers, finishes accepts interrupted by a crash, takes back
// unfinished work whose lease nears its due date, and runs a round. Each
// pass is claimed with a lease in the store, so processes running matching
// side by side never act twice.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("matching pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick is one pass of the background loop. It does nothing when another
// process holds the round lease.
func (s *Service) Tick(ctx context.Context) error {
	ok, release, err := s.tryLease(ctx, "round", roundLease)
	if err != nil || !ok {
		return err
	}
	defer release()
	if err := s.expireOffers(ctx); err != nil {
		return err
	}
	if err := s.repairAccepts(ctx); err != nil {
		return err
	}
	if err := s.reclaim(ctx); err != nil {
		return err
	}
	_, err = s.round(ctx)
	return err
}

// expireOffers closes open offers past their expiry; their batches reopen.
// In the same scan it warns the graders of those that expire within
// offerWarning (when there is a Notifier).
func (s *Service) expireOffers(ctx context.Context) error {
	now := s.stamp()
	upTo := now
	if s.notes != nil {
		upTo = now.Add(offerWarning)
	}
	var offers []Offer
	err := s.findAll(ctx, colOffers, bson.D{{Key: "state", Value: OfferOpen}, {Key: "expires_at", Value: bson.D{{Key: "$lte", Value: upTo}}}}, &offers)
	if err != nil {
		return err
	}
	for _, o := range offers {
		if o.ExpiresAt.After(now) {
			s.warnOffer(ctx, o)
			continue
		}
		if err := s.closeOffer(ctx, o, OfferExpired); err != nil && !errs.Is(err, errs.Conflict) {
			return err
		}
	}
	return nil
}

// repairAccepts finishes accepts whose offer was closed but whose batch was
// not marked accepted (the process stopped between the two).
func (s *Service) repairAccepts(ctx context.Context) error {
	batches, err := s.activeBatches(ctx, BatchOffered)
	if err != nil {
		return err
	}
	for _, b := range batches {
		var o Offer
		if err := s.findByID(ctx, colOffers, b.OfferID, "offer", &o); err != nil {
			continue
		}
		if o.State == OfferAccepted {
			if err := s.finishAccept(ctx, o, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// reclaim looks at accepted batches: one whose tasks are all submitted is
// done; one whose due date is within LeaseMargin with work still assigned
// gives that work back (the tasks are withdrawn and the grader's capacity
// freed) in a new open batch without that grader. Submitted work stays
// credited to its grader.
func (s *Service) reclaim(ctx context.Context) error {
	batches, err := s.activeBatches(ctx, BatchAccepted)
	if err != nil {
		return err
	}
	now := s.stamp()
	for _, b := range batches {
		var open []Item
		var tasks []Task
		for _, it := range b.Items {
			t, err := s.Task(ctx, TaskID(it.VersionID, b.Reader))
			if err != nil {
				return err
			}
			if t.BatchID == b.ID && t.Open() {
				open, tasks = append(open, it), append(tasks, t)
			}
		}
		switch {
		case len(open) == 0:
			if err := s.setBatchState(ctx, b.ID, BatchAccepted, BatchDone); err != nil {
				return err
			}
		case now.After(b.DueAt.Add(-s.cfg.LeaseMargin)):
			if err := s.takeBack(ctx, b, open); err != nil {
				return err
			}
		case now.After(b.DueAt.Add(-s.cfg.LeaseMargin - dueWarning)):
			s.warnDue(ctx, tasks)
		}
	}
	return nil
}

// takeBack withdraws the assigned (not returned) tasks among items from
// b's grader and reopens them in a new batch.
func (s *Service) takeBack(ctx context.Context, b Batch, items []Item) error {
	var back []Item
	var ids []string
	for _, it := range items {
		id := TaskID(it.VersionID, b.Reader)
		_, moved, err := s.moveTask(ctx, id, []TaskState{TaskAssigned}, TaskWithdrawn)
		if err != nil && !errs.Is(err, errs.Conflict) {
			return err
		}
		if moved {
			back = append(back, it)
			ids = append(ids, id)
		}
	}
	if len(back) > 0 {
		nb := b
		nb.ID = b.ID + "/r" + itoa(b.Offers)
		nb.Items, nb.State, nb.GraderID, nb.OfferID, nb.Offers = back, BatchOpen, "", "", 0
		nb.Exclude = append(append([]string{}, b.Exclude...), b.GraderID)
		nb.CreatedAt, nb.UpdatedAt = s.stamp(), s.stamp()
		if err := s.insertBatch(ctx, nb); err != nil {
			return err
		}
		if err := s.release(ctx, b.GraderID, ids, bson.D{{Key: "stats.missed", Value: len(ids)}}); err != nil {
			return err
		}
		s.log.Info("took back unfinished work", "batch", b.ID, "grader", b.GraderID, "submissions", len(back))
	}
	return s.setBatchState(ctx, b.ID, BatchAccepted, BatchDone)
}

func (s *Service) setBatchState(ctx context.Context, id string, from, to BatchState) error {
	res, err := mongostore.UpdateIf(ctx, s.c(colBatches), bson.D{{Key: "_id", Value: id}, {Key: "state", Value: from}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: to}, {Key: "updated_at", Value: s.stamp()}}}})
	if err != nil {
		return errs.Wrap(err, "set batch state")
	}
	if res.MatchedCount == 1 && to == BatchDone { // a batch not moved here is not unlisted here (activeBatches drops done ones)
		return s.markActive(ctx, false, id)
	}
	return nil
}
