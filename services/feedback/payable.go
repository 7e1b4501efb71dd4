package feedback

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/intake"
)

// Payable events reach payouts through the payable log: each event, once
// recorded in payable_events (keyed by PayableEventID, so a grader earns
// once per version), also has a place in an append-only log whose
// documents are keyed by their position, so that payouts reads only what
// is new, by _id, from where it stopped. A position is taken from a counter
// before its document is written; a position whose writer died stays
// empty, and the reader passes it once a later event has been logged for
// longer than logGrace. The log is written before payable_events, so an
// approval interrupted in between is logged again when it is retried or
// recovered: an event may appear twice in the log, but never not at all.
// Only a retry (Recover, a repeated approval, Migrate) can log an event a
// second time, and it marks what it logs Recheck, so that payouts looks
// for an earlier copy of those only.

const (
	logCounterID = "counter"
	logGrace     = 2 * time.Minute
)

type logDoc struct {
	ID    string       `bson:"_id"`
	Event PayableEvent `bson:"event"`
	At    time.Time    `bson:"at"`
}

type logCounter struct {
	ID string `bson:"_id"`
	N  int64  `bson:"n"`
}

func logID(seq int64) string { return fmt.Sprintf("%016d", seq) }

// ensurePayable records the payable event of approved feedback f, and logs
// it, unless both are done; with retry, what it logs is marked Recheck.
func (s *Service) ensurePayable(ctx context.Context, f Feedback, a intake.Assignment, retry bool) error {
	id := PayableEventID(f.VersionID, f.GraderID)
	ev, err := mongostore.Get[PayableEvent](ctx, s.c(colPayable), id, "payable event")
	stored := err == nil
	switch {
	case stored && ev.Seq > 0:
		return nil
	case !stored && !errs.Is(err, errs.NotFound):
		return err
	case !stored:
		ev = PayableEvent{
			ID: id, VersionID: f.VersionID, SubmissionID: f.SubmissionID, AssignmentID: f.AssignmentID,
			SchoolID: f.SchoolID, GraderID: f.GraderID, Reader: f.Reader,
			PriceCents: a.PriceCents, Currency: a.Currency, ApprovedAt: *f.ApprovedAt,
		}
	}
	var c logCounter
	err = s.c(colLog).FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: logCounterID}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&c)
	if err != nil && mongostore.IsDuplicateKey(err) { // the first event, logged twice at once on MongoDB
		return s.ensurePayable(ctx, f, a, retry)
	}
	if err != nil {
		return errs.Wrap(err, "log payable event")
	}
	ev.Seq = c.N
	logged := ev
	logged.Recheck = retry
	if _, err := s.c(colLog).InsertOne(ctx, logDoc{ID: logID(c.N), Event: logged, At: s.stamp()}); err != nil {
		return errs.Wrap(err, "log payable event")
	}
	if stored { // an event recorded before the log existed
		_, err = s.c(colPayable).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: c.N}}}})
		return errs.Wrap(err, "record payable event")
	}
	if _, err := s.c(colPayable).InsertOne(ctx, ev); err != nil && !mongostore.IsDuplicateKey(err) {
		return errs.Wrap(err, "record payable event")
	}
	return nil
}

// PayablePage is a page of the payable log: its events in log order, and
// the position to ask for more after (Next equals the position asked for
// when there is nothing new).
type PayablePage struct {
	Events []PayableEvent `json:"events"`
	Next   int64          `json:"next"`
}

// PayableLog returns up to limit payable events logged after position
// after (0 for the start), for payouts to read from where it stopped: each
// is read by _id. An event can appear more than once (see the log's doc),
// with the same ID each time. limit is capped at 1000 (0 means 100).
func (s *Service) PayableLog(ctx context.Context, after int64, limit int) (PayablePage, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	page := PayablePage{Events: []PayableEvent{}, Next: after}
	c, err := mongostore.Get[logCounter](ctx, s.c(colLog), logCounterID, "payable log")
	if errs.Is(err, errs.NotFound) {
		return page, nil
	}
	if err != nil {
		return PayablePage{}, err
	}
	top := min(c.N, after+int64(limit))
	ids := make([]string, 0, int(max(0, top-after)))
	for seq := after + 1; seq <= top; seq++ {
		ids = append(ids, logID(seq))
	}
	docs, err := mongostore.GetMany(ctx, s.c(colLog), ids, func(d logDoc) string { return d.ID })
	if err != nil {
		return PayablePage{}, err
	}
	now := s.now()
	for seq := after + 1; seq <= top; seq++ {
		if d, ok := docs[logID(seq)]; ok {
			page.Events = append(page.Events, d.Event)
			page.Next = seq
			continue
		}
		if !passable(docs, seq, top, now) {
			break
		}
		page.Next = seq
	}
	return page, nil
}

// passable reports whether the empty position seq can be passed: the next
// logged event was logged more than logGrace ago, so seq's writer, which
// took its position first, is gone.
func passable(docs map[string]logDoc, seq, top int64, now time.Time) bool {
	for next := seq + 1; next <= top; next++ {
		if d, ok := docs[logID(next)]; ok {
			return now.Sub(d.At) > logGrace
		}
	}
	return false
}

// PayableEvents returns up to limit payable events with IDs after afterID
// ("" for the start), ordered by ID. It scans the collection on the
// embedded store: an audit, not what payouts reads (PayableLog). limit is
// capped at 1000 (0 means 100).
func (s *Service) PayableEvents(ctx context.Context, afterID string, limit int) ([]PayableEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	return mongostore.FindAll[PayableEvent](ctx, s.c(colPayable), bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: afterID}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(min(limit, 1000))))
}
