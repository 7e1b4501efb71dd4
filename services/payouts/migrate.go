package payouts

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/mongostore"
)

// booksMigration names the migration that split the one-document-per-grader
// ledger of earlier versions into entry documents and bounded books.
const booksMigration = "ledger_books"

// oldBook is a grader's book as earlier versions kept it (collection
// ledger): every entry, and a copy of every payment's state.
type oldBook struct {
	ID       string                 `bson:"_id"`
	Entries  map[string]oldEntry    `bson:"entries"`
	Payments map[string]PaymentView `bson:"payments"`
}

// oldEntry is an entry of an old book: a payout listed the entries it
// settled.
type oldEntry struct {
	Entry   `bson:",inline"`
	Settles []string `bson:"settles"`
}

// Migrate brings data written by earlier versions up to date. Every process
// runs it at start-up, before serving; it is idempotent, and cheap once done
// (one read by _id). With Config.Exclusive it first releases the leases of
// runs held by processes that are gone, so an interrupted run resumes at
// once.
//
// Once: every book of the old ledger collection becomes entry documents
// and a book in ledger_books (its sums computed from its entries, a payout
// settling the entries it listed), unless the grader has a book already.
// The old collection is left as it was. A crash during it only means it
// runs again.
func (s *Service) Migrate(ctx context.Context) error {
	if s.cfg.Exclusive {
		if err := s.releaseLeases(ctx); err != nil {
			return fmt.Errorf("release run leases: %w", err)
		}
	}
	if n, err := s.migrations.CountDocuments(ctx, bson.M{"_id": booksMigration}); err != nil || n > 0 {
		return err
	}
	old, err := mongostore.FindAll[oldBook](ctx, s.oldLedger, bson.M{})
	if err != nil {
		return err
	}
	for _, ob := range old {
		b := newBook(ob.ID)
		var es []Entry
		for _, e := range ob.Entries {
			if e.Kind == KindPayout {
				e.SettlesEntries = len(e.Settles)
			}
			es = append(es, e.Entry)
		}
		sort.Slice(es, func(i, j int) bool {
			return es[i].At.Before(es[j].At) || es[i].At.Equal(es[j].At) && es[i].ID < es[j].ID
		})
		for _, e := range es {
			b.apply(e)
		}
		views := make([]PaymentView, 0, len(ob.Payments))
		for _, p := range ob.Payments {
			views = append(views, p)
		}
		slices.SortFunc(views, func(x, y PaymentView) int { return x.UpdatedAt.Compare(y.UpdatedAt) })
		for _, p := range views {
			b.notePayment(p.ID)
		}
		for i := 0; i < len(es); i += 500 {
			if err := s.writeEntries(ctx, es[i:min(i+500, len(es))]); err != nil {
				return err
			}
		}
		b.Rev = 1
		if _, err := s.books.InsertOne(ctx, b.doc()); err != nil && !mongostore.IsDuplicateKey(err) {
			return fmt.Errorf("migrate book %s: %w", ob.ID, err)
		}
	}
	_, err = s.migrations.UpdateOne(ctx, bson.M{"_id": booksMigration}, bson.M{"$set": bson.M{"at": time.Now().UTC(), "books": len(old)}},
		options.Update().SetUpsert(true))
	if err == nil && len(old) > 0 {
		s.log.Info("moved the ledger to entry documents and bounded books", "books", len(old))
	}
	return err
}
