package matching

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

func newID(prefix string) string { return account.NewID(prefix) }

// lease is a matching_leases document: who holds a named piece of
// background work, until when.
type lease struct {
	ID    string    `bson:"_id"`
	Owner string    `bson:"owner"`
	Until time.Time `bson:"until"`
}

// tryLease claims the named lease for ttl if it is free or lapsed. It
// reports whether it got it and returns a release func that frees it early
// (only if still held by this claim). Each call is its own owner, so two
// goroutines of one process exclude each other too.
func (s *Service) tryLease(ctx context.Context, name string, ttl time.Duration) (bool, func(), error) {
	owner := s.owner + "/" + newID("l")
	now := s.stamp()
	l := lease{ID: name, Owner: owner, Until: now.Add(ttl)}
	res, err := mongostore.UpdateIf(ctx, s.c(colLeases),
		bson.D{{Key: "_id", Value: name}, {Key: "until", Value: bson.D{{Key: "$lt", Value: now}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: owner}, {Key: "until", Value: l.Until}}}})
	if err != nil {
		return false, nil, errs.Wrap(err, "claim lease")
	}
	if res.ModifiedCount == 0 {
		if _, err := s.c(colLeases).InsertOne(ctx, l); err != nil {
			if mongostore.IsDuplicateKey(err) {
				return false, nil, nil
			}
			return false, nil, errs.Wrap(err, "insert lease")
		}
	}
	release := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, err := mongostore.UpdateIf(ctx, s.c(colLeases), bson.D{{Key: "_id", Value: name}, {Key: "owner", Value: owner}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "until", Value: time.Unix(0, 0).UTC()}}}})
		if err != nil {
			s.log.Warn("release lease", "lease", name, "err", err)
		}
	}
	return true, release, nil
}

// waitLease claims the named lease, waiting up to wait for it to come free.
// Returns conflict when it does not.
func (s *Service) waitLease(ctx context.Context, name string, ttl, wait time.Duration) (func(), error) {
	deadline := time.Now().Add(wait)
	for {
		ok, release, err := s.tryLease(ctx, name, ttl)
		if err != nil {
			return nil, err
		}
		if ok {
			return release, nil
		}
		if time.Now().After(deadline) {
			return nil, errs.E(errs.Conflict, "A matching round is already running; try again in a moment.")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// roundLease is how long a matching round's lease lasts. A round of 2,000
// batches takes seconds, so a minute is ample; it is also the longest a
// round interrupted by a crash keeps others waiting.
const roundLease = time.Minute
