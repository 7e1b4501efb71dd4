package analytics

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Totals are platform-wide figures for admins, with no student named.
type Totals struct {
	// Assignments counts released assignments with a computed summary;
	// Students the students graded in them.
	Assignments int `json:"assignments" bson:"assignments"`
	Students    int `json:"students" bson:"students"`
	// SecondReadPairs counts first/second read pairs over all criteria.
	SecondReadPairs int `json:"second_read_pairs" bson:"second_read_pairs"`
	// ShareLinks counts family links made, and ActiveShareLinks those not
	// revoked.
	ShareLinks       int `json:"share_links" bson:"share_links"`
	ActiveShareLinks int `json:"active_share_links" bson:"active_share_links"`
}

func (t *Totals) add(d Totals) {
	t.Assignments += d.Assignments
	t.Students += d.Students
	t.SecondReadPairs += d.SecondReadPairs
	t.ShareLinks += d.ShareLinks
	t.ActiveShareLinks += d.ActiveShareLinks
}

// The platform totals are one document (analytics_totals, _id "platform"),
// changed by compare-and-set as summaries are cached and family links are
// made and revoked, so that reading them is one read. Each change has an
// ID, and the document keeps the IDs of its last maxOps changes: a change
// retried after a crash (see Migrate) is counted once.
const (
	totalsID = "platform"
	maxOps   = 512
)

type totalsDoc struct {
	ID     string   `bson:"_id"`
	Rev    int64    `bson:"rev"`
	Totals Totals   `bson:"totals"`
	Ops    []string `bson:"ops"`
}

// addTotals adds d to the platform totals, unless the change op was added
// already.
func (s *Service) addTotals(ctx context.Context, op string, d Totals) error {
	col := s.c(colTotals)
	for {
		t, err := mongostore.Get[totalsDoc](ctx, col, totalsID, "totals")
		if errs.Is(err, errs.NotFound) {
			if _, err := col.InsertOne(ctx, totalsDoc{ID: totalsID, Ops: []string{}}); err != nil && !mongostore.IsDuplicateKey(err) {
				return errs.Wrap(err, "create totals")
			}
			continue
		}
		if err != nil {
			return err
		}
		if slices.Contains(t.Ops, op) {
			return nil
		}
		t.Totals.add(d)
		t.Ops = append(t.Ops, op)
		t.Ops = t.Ops[max(0, len(t.Ops)-maxOps):]
		t.Rev++
		err = mongostore.Swap(ctx, col, totalsID, "rev", t.Rev-1, t)
		if !errors.Is(err, mongostore.ErrStale) {
			return err
		}
	}
}

// PlatformTotals returns the platform-wide totals, for admins only (others
// get errs.Forbidden): one read by _id.
func (s *Service) PlatformTotals(ctx context.Context, caller account.User) (Totals, error) {
	if caller.Role != account.Admin {
		return Totals{}, errs.E(errs.Forbidden, "Only admins see platform totals.")
	}
	t, err := mongostore.Get[totalsDoc](ctx, s.c(colTotals), totalsID, "totals")
	if errs.Is(err, errs.NotFound) {
		return Totals{}, nil
	}
	return t.Totals, err
}

// countDoc is what a released assignment's summary adds to the platform
// totals (summary_counts, _id: the assignment ID). A new count is written
// first, not yet applied, with the count it replaces; its difference is
// then added to the totals (change "<assignment>:<rev>") and the count
// marked applied. A count found not applied is applied before anything
// else is done with it.
type countDoc struct {
	ID      string `bson:"_id"`
	Rev     int64  `bson:"rev"`
	Counted Totals `bson:"counted"`
	Prior   Totals `bson:"prior"`
	Applied bool   `bson:"applied"`
}

// count records what a released assignment's summary adds to the totals:
// the assignment, its students and its second-read pairs.
func (s *Service) count(ctx context.Context, sum Summary) error {
	want := Totals{Assignments: 1, Students: len(sum.Students)}
	for _, a := range sum.Agreement {
		want.SecondReadPairs += a.Agreement.Pairs
	}
	col := s.c(colCounts)
	for {
		c, err := mongostore.Get[countDoc](ctx, col, sum.AssignmentID, "count")
		exists := err == nil
		if err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
		if exists && !c.Applied {
			if err := s.applyCount(ctx, c); err != nil {
				return err
			}
			continue
		}
		if exists && c.Counted == want {
			return nil
		}
		next := countDoc{ID: sum.AssignmentID, Rev: c.Rev + 1, Counted: want, Prior: c.Counted}
		if exists {
			err = mongostore.Swap(ctx, col, c.ID, "rev", c.Rev, next)
		} else if _, err = col.InsertOne(ctx, next); mongostore.IsDuplicateKey(err) {
			err = mongostore.ErrStale
		}
		if errors.Is(err, mongostore.ErrStale) {
			continue
		}
		if err != nil {
			return errs.Wrap(err, "count summary")
		}
		return s.applyCount(ctx, next)
	}
}

func (s *Service) applyCount(ctx context.Context, c countDoc) error {
	d := c.Counted
	d.add(Totals{Assignments: -c.Prior.Assignments, Students: -c.Prior.Students, SecondReadPairs: -c.Prior.SecondReadPairs})
	if err := s.addTotals(ctx, c.ID+":"+strconv.FormatInt(c.Rev, 10), d); err != nil {
		return err
	}
	done := c
	done.Rev++
	done.Applied = true
	err := mongostore.Swap(ctx, s.c(colCounts), c.ID, "rev", c.Rev, done)
	if errors.Is(err, mongostore.ErrStale) { // another process applied it first
		return nil
	}
	return err
}

// countLink adds a family link's making (or, with revoked, its revoking)
// to the totals, and marks the link counted.
func (s *Service) countLink(ctx context.Context, id string, revoked bool) error {
	op, d, field := "link:"+id, Totals{ShareLinks: 1, ActiveShareLinks: 1}, "counted"
	if revoked {
		op, d, field = "unlink:"+id, Totals{ActiveShareLinks: -1}, "revoke_counted"
	}
	if err := s.addTotals(ctx, op, d); err != nil {
		return err
	}
	_, err := s.c(colLinks).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: true}}}})
	return errs.Wrap(err, "count share link")
}
