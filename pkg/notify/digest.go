package notify

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// digestDoc is one user's daily digest: the messages they asked to get
// once a day, sent at Config.DigestHour. Items go in (through Swap) until
// the Sender seals it; after that only its mail state changes.
type digestDoc struct {
	ID     string       `bson:"_id"` // "<user>:<day>"
	Rev    int64        `bson:"rev"`
	UserID string       `bson:"user_id"`
	Role   account.Role `bson:"role"`
	Email  string       `bson:"email"`
	Day    string       `bson:"day"`
	Items  []digestItem `bson:"items"`
	More   int          `bson:"more"` // items beyond maxDigestItems, counted only
	Sealed bool         `bson:"sealed"`
	Mail   mailState    `bson:"mail"`
}

type digestItem struct {
	ID    string    `bson:"id"` // the message's ID
	Kind  Kind      `bson:"kind"`
	Title string    `bson:"title"`
	Text  string    `bson:"text,omitempty"`
	Link  string    `bson:"link,omitempty"`
	At    time.Time `bson:"at"`
}

// maxDigestItems bounds a digest; the rest are counted ("and 12 more in
// your inbox").
const maxDigestItems = 50

// nextDigest is when the next digest after now goes out, and its day.
func (c Config) nextDigest(now time.Time) time.Time {
	t := time.Date(now.Year(), now.Month(), now.Day(), c.DigestHour, 0, 0, 0, time.UTC)
	if !t.After(now) {
		t = t.Add(24 * time.Hour)
	}
	return t
}

// toDigest adds message m to its user's next digest that is not sealed,
// queueing that digest for its hour, and returns the digest's ID.
func (s *Service) toDigest(ctx context.Context, m messageDoc) (string, error) {
	at := s.cfg.nextDigest(s.now())
	for {
		day := at.Format(time.DateOnly)
		id := m.UserID + ":" + day
		// The queue entry goes in first, so a digest never holds items
		// without one.
		q := queueDoc{ID: digestQueueID(id), UserID: m.UserID, Digest: true, Due: at, LeaseUntil: never}
		if _, err := s.c(colQueue).InsertOne(ctx, q); err != nil && !mongostore.IsDuplicateKey(err) {
			return "", errs.Wrap(err, "queue digest")
		}
		sealed := false
		item := digestItem{ID: m.ID, Kind: m.Kind, Title: m.Title, Text: truncate(m.Text, 300), Link: m.Link, At: m.CreatedAt}
		_, err := update(ctx, s.c(colDigests), id,
			func() digestDoc {
				return digestDoc{ID: id, UserID: m.UserID, Role: m.Role, Day: day, Items: []digestItem{}}
			},
			func(d *digestDoc) *int64 { return &d.Rev },
			func(d *digestDoc) bool {
				if sealed = d.Sealed; sealed {
					return false
				}
				for _, it := range d.Items {
					if it.ID == m.ID {
						return false
					}
				}
				// A crash after this write and before the message is
				// marked can count an overflowing item twice in More; the
				// listed items are exact.
				if len(d.Items) < maxDigestItems {
					d.Items = append(d.Items, item)
				} else {
					d.More++
				}
				d.Email = m.Email
				return true
			})
		if err != nil {
			return "", err
		}
		if !sealed {
			return id, nil
		}
		at = at.Add(24 * time.Hour)
	}
}

// sealDigest closes a digest to new items before it is sent.
func (s *Service) sealDigest(ctx context.Context, id string) (digestDoc, error) {
	return update(ctx, s.c(colDigests), id, func() digestDoc { return digestDoc{ID: id, Items: []digestItem{}} },
		func(d *digestDoc) *int64 { return &d.Rev },
		func(d *digestDoc) bool {
			changed := !d.Sealed
			d.Sealed = true
			return changed
		})
}

// update reads document id of col (or fresh() when there is none), applies
// change, and stores the result when change reports one: an insert for a
// new document, else a mongostore.Swap on the revision rev points to. It
// retries when another writer got there first.
func update[T any](ctx context.Context, col *mongo.Collection, id string, fresh func() T, rev func(*T) *int64, change func(*T) bool) (T, error) {
	for {
		d, err := mongostore.Get[T](ctx, col, id, col.Name())
		if errs.Is(err, errs.NotFound) {
			d = fresh()
			if !change(&d) {
				return d, nil
			}
			if _, err := col.InsertOne(ctx, d); mongostore.IsDuplicateKey(err) {
				continue
			} else if err != nil {
				return d, errs.Wrap(err, "create %s", col.Name())
			}
			return d, nil
		}
		if err != nil {
			return d, err
		}
		if !change(&d) {
			return d, nil
		}
		r := rev(&d)
		*r++
		err = mongostore.Swap(ctx, col, id, "rev", *r-1, d)
		if errors.Is(err, mongostore.ErrStale) {
			continue
		}
		return d, err
	}
}
