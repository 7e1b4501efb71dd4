package matching

import (
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/intake"
)

// offer puts batch b to a grader: it inserts the offer and moves the batch
// from open to offered, or withdraws the offer if the batch changed.
func (s *Service) offer(ctx context.Context, b Batch, graderID, roundID string, why Explanation) error {
	now := s.stamp()
	o := Offer{
		ID: b.ID + ":o" + itoa(b.Offers+1), BatchID: b.ID, AssignmentID: b.AssignmentID, TeacherID: b.TeacherID,
		GraderID: graderID, Reader: b.Reader, Size: b.Size(), DueAt: b.DueAt, RoundID: roundID, Why: why,
		State: OfferOpen, CreatedAt: now, ExpiresAt: now.Add(s.cfg.OfferTTL),
	}
	if _, err := s.c(colOffers).InsertOne(ctx, o); err != nil {
		if mongostore.IsDuplicateKey(err) {
			return nil // an earlier, interrupted round made it
		}
		return errs.Wrap(err, "insert offer")
	}
	res, err := mongostore.UpdateIf(ctx, s.c(colBatches), bson.D{{Key: "_id", Value: b.ID}, {Key: "state", Value: BatchOpen}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: BatchOffered}, {Key: "offer_id", Value: o.ID}, {Key: "updated_at", Value: now}}},
			{Key: "$inc", Value: bson.D{{Key: "offers", Value: 1}}}})
	if err != nil {
		return errs.Wrap(err, "mark batch offered")
	}
	if res.ModifiedCount == 0 {
		_, err = s.c(colOffers).DeleteOne(ctx, bson.D{{Key: "_id", Value: o.ID}})
		return errs.Wrap(err, "withdraw offer")
	}
	return nil
}

// Offer returns an offer, to its grader, the assignment's teacher or an
// admin. Anyone else gets not_found.
func (s *Service) Offer(ctx context.Context, caller account.User, offerID string) (Offer, error) {
	var o Offer
	if err := s.findByID(ctx, colOffers, offerID, "offer", &o); err != nil {
		return Offer{}, err
	}
	if caller.Role == account.Admin || caller.ID == o.GraderID || caller.Role == account.Teacher && caller.ID == o.TeacherID {
		return o, nil
	}
	return Offer{}, errs.E(errs.NotFound, "No offer with ID %q.", offerID)
}

// MyOffers lists the calling grader's offers, newest first; with open set,
// only those still open. Returns forbidden for anyone but a grader.
func (s *Service) MyOffers(ctx context.Context, caller account.User, open bool) ([]Offer, error) {
	if caller.Role != account.Grader {
		return nil, errs.E(errs.Forbidden, "Only graders have offers.")
	}
	filter := bson.D{{Key: "grader_id", Value: caller.ID}}
	if open {
		filter = append(filter, bson.E{Key: "state", Value: OfferOpen})
	}
	var out []Offer
	if err := s.findAll(ctx, colOffers, filter, &out); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Offer) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// Accept gives the offer's batch to the calling grader, under a lease to
// the due date: it reserves their capacity for every submission of the
// batch, closes the offer, creates the grading tasks, opens the blind
// second-read batch and moves the assignment into grading. Returns
// not_found unless the offer is the caller's, conflict when it is no longer
// open (already accepted, declined or expired) and conflict when the batch
// does not fit the grader's free capacity. Two concurrent accepts of one
// offer, or of offers that together overflow the grader's capacity, never
// both succeed: the capacity is reserved by a conditional update on the
// grader's document and the offer closed by one on the offer's.
func (s *Service) Accept(ctx context.Context, caller account.User, offerID string) (Offer, error) {
	o, b, err := s.openOffer(ctx, caller, offerID)
	if err != nil {
		return Offer{}, err
	}
	taskIDs := batchTaskIDs(b)
	if err := s.reserve(ctx, caller.ID, taskIDs); err != nil {
		return Offer{}, err
	}
	now := s.stamp()
	res, err := mongostore.UpdateIf(ctx, s.c(colOffers),
		bson.D{{Key: "_id", Value: offerID}, {Key: "state", Value: OfferOpen}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: OfferAccepted}, {Key: "decided_at", Value: now}}}})
	if err != nil {
		return Offer{}, errs.Wrap(err, "accept offer")
	}
	if res.ModifiedCount == 0 {
		cur, err := s.Offer(ctx, caller, offerID)
		if err != nil {
			return Offer{}, err
		}
		if cur.State != OfferAccepted {
			// Declined or expired meanwhile: give the capacity back.
			if err := s.release(ctx, caller.ID, taskIDs, nil); err != nil {
				return Offer{}, err
			}
		}
		return Offer{}, errs.E(errs.Conflict, "This offer is already %s.", cur.State)
	}
	o.State, o.DecidedAt = OfferAccepted, &now
	return o, s.finishAccept(ctx, o, b)
}

// openOffer returns the caller's offer and its batch if the offer is still
// open and unexpired.
func (s *Service) openOffer(ctx context.Context, caller account.User, offerID string) (Offer, Batch, error) {
	o, err := s.Offer(ctx, caller, offerID)
	if err != nil {
		return Offer{}, Batch{}, err
	}
	if o.GraderID != caller.ID {
		return Offer{}, Batch{}, errs.E(errs.NotFound, "No offer with ID %q.", offerID)
	}
	if o.State != OfferOpen {
		return Offer{}, Batch{}, errs.E(errs.Conflict, "This offer is already %s.", o.State)
	}
	if !s.now().Before(o.ExpiresAt) {
		return Offer{}, Batch{}, errs.E(errs.Conflict, "This offer has expired.")
	}
	b, err := s.Batch(ctx, o.BatchID)
	return o, b, err
}

func batchTaskIDs(b Batch) []string {
	ids := make([]string, len(b.Items))
	for i, it := range b.Items {
		ids[i] = TaskID(it.VersionID, b.Reader)
	}
	return ids
}

// reserve adds taskIDs to the grader's held work if they fit the free
// capacity, in one conditional update that also checks that held and
// capacity are what was read (optimistic concurrency; it retries a few
// times when another change came between). Reserving tasks already held is
// a no-op. Returns conflict when they do not fit.
func (s *Service) reserve(ctx context.Context, graderID string, taskIDs []string) error {
	first := "holds." + mongostore.FieldKey(taskIDs[0])
	for range 20 {
		d, err := s.profileDoc(ctx, graderID)
		if err != nil {
			return err
		}
		if d.Holds[mongostore.FieldKey(taskIDs[0])] > 0 {
			return nil
		}
		if d.Held+len(taskIDs) > d.Capacity {
			return errs.E(errs.Conflict, "This batch of %d would take you past your capacity: you hold %d of %d submissions.", len(taskIDs), d.Held, d.Capacity)
		}
		set := bson.D{}
		for _, id := range taskIDs {
			set = append(set, bson.E{Key: "holds." + mongostore.FieldKey(id), Value: 1})
		}
		res, err := mongostore.UpdateIf(ctx, s.c(colProfiles),
			bson.D{{Key: "_id", Value: graderID}, {Key: "held", Value: d.Held}, {Key: "capacity", Value: d.Capacity}, {Key: first, Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "held", Value: len(taskIDs)}}}})
		if err != nil {
			return errs.Wrap(err, "reserve capacity")
		}
		if res.ModifiedCount == 1 {
			return nil
		}
	}
	return errs.E(errs.Conflict, "Your capacity changed while accepting; try again.")
}

// finishAccept does the rest of an accept once the offer is closed; every
// step is idempotent, so the loop can repeat it after a crash.
func (s *Service) finishAccept(ctx context.Context, o Offer, b Batch) error {
	now := s.stamp()
	_, err := mongostore.UpdateIf(ctx, s.c(colBatches), bson.D{{Key: "_id", Value: b.ID}, {Key: "state", Value: BatchOffered}, {Key: "offer_id", Value: o.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: BatchAccepted}, {Key: "grader_id", Value: o.GraderID}, {Key: "updated_at", Value: now}}}})
	if err != nil {
		return errs.Wrap(err, "mark batch accepted")
	}
	for _, it := range b.Items {
		if err := s.assignTask(ctx, b, it, o.GraderID, now); err != nil {
			return err
		}
	}
	_, err = s.c(colHistory).UpdateOne(ctx, bson.D{{Key: "_id", Value: b.TeacherID + ":" + o.GraderID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: now}}}}, options.Update().SetUpsert(true))
	if err != nil {
		return errs.Wrap(err, "record history")
	}
	if b.Reader == First && b.Prefer == "" {
		a, err := s.intake.Assignment(ctx, b.AssignmentID)
		if err != nil {
			return err
		}
		if items := secondReads(b.Items, a.SecondReadShare); len(items) > 0 {
			sb, err := s.newBatch(ctx, a, Second, items)
			if err != nil {
				return err
			}
			sb.Exclude = []string{o.GraderID}
			if err := s.insertBatch(ctx, sb); err != nil {
				return err
			}
		}
	}
	return s.intake.Advance(ctx, b.AssignmentID, intake.InGrading)
}

// assignTask creates the task for one item, or gives a withdrawn one to the
// new grader.
func (s *Service) assignTask(ctx context.Context, b Batch, it Item, graderID string, now time.Time) error {
	t := Task{
		ID: TaskID(it.VersionID, b.Reader), GraderID: graderID, AssignmentID: b.AssignmentID, SubmissionID: it.SubmissionID,
		VersionID: it.VersionID, Version: it.Version, Reader: b.Reader, BatchID: b.ID, DueAt: b.DueAt,
		State: TaskAssigned, AssignedAt: now, UpdatedAt: now,
	}
	_, err := s.c(colTasks).InsertOne(ctx, t)
	if err == nil || !mongostore.IsDuplicateKey(err) {
		return errs.Wrap(err, "insert task")
	}
	_, err = mongostore.UpdateIf(ctx, s.c(colTasks), bson.D{{Key: "_id", Value: t.ID}, {Key: "state", Value: TaskWithdrawn}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "grader_id", Value: graderID}, {Key: "batch_id", Value: b.ID}, {Key: "due_at", Value: b.DueAt},
			{Key: "state", Value: TaskAssigned}, {Key: "assigned_at", Value: now}, {Key: "updated_at", Value: now}}}})
	return errs.Wrap(err, "reassign task")
}

// Decline turns the offer down; its batch goes back into the next round,
// never again to this grader. Returns not_found unless the offer is the
// caller's and conflict when it is no longer open.
func (s *Service) Decline(ctx context.Context, caller account.User, offerID string) (Offer, error) {
	o, _, err := s.openOffer(ctx, caller, offerID)
	if err != nil {
		return Offer{}, err
	}
	if err := s.closeOffer(ctx, o, OfferDeclined); err != nil {
		return Offer{}, err
	}
	o.State = OfferDeclined
	return o, nil
}

// closeOffer moves an open offer to declined or expired and reopens its
// batch without the grader. Returns conflict when the offer was not open.
func (s *Service) closeOffer(ctx context.Context, o Offer, to OfferState) error {
	now := s.stamp()
	res, err := mongostore.UpdateIf(ctx, s.c(colOffers), bson.D{{Key: "_id", Value: o.ID}, {Key: "state", Value: OfferOpen}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: to}, {Key: "decided_at", Value: now}}}})
	if err != nil {
		return errs.Wrap(err, "close offer")
	}
	if res.ModifiedCount == 0 {
		return errs.E(errs.Conflict, "This offer is no longer open.")
	}
	_, err = mongostore.UpdateIf(ctx, s.c(colBatches), bson.D{{Key: "_id", Value: o.BatchID}, {Key: "offer_id", Value: o.ID}, {Key: "state", Value: BatchOffered}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: BatchOpen}, {Key: "offer_id", Value: ""}, {Key: "updated_at", Value: now}}},
			{Key: "$addToSet", Value: bson.D{{Key: "exclude", Value: o.GraderID}}}})
	return errs.Wrap(err, "reopen batch")
}
