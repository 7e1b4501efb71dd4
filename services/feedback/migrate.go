package feedback

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// readModelsMigration names the migration that built the read models
// (list pages, student and class records, released feedback, the payable
// log) from the feedback documents of earlier versions.
const readModelsMigration = "read_models"

// rowFieldsMigration names the migration that wrote the list rows again
// of feedback with reflections or an adjudication, when rows began to
// count the student's questions and keep the first reader's adjudicated
// levels (Row.Questions, Row.ReadLevels).
const rowFieldsMigration = "row_questions_read_levels"

// Migrate finishes what a crash interrupted and brings data written by
// earlier versions up to date. Every process runs it at start-up, before
// serving; it is idempotent, and cheap once done (the journal, which holds
// only interrupted changes, and one read by _id).
//
// First it projects again every feedback the journal names (Recover). Then,
// once: each assignment's settings move from its old list bucket
// (feedback_lists) to its list header, every feedback gets a list slot and
// is projected in full (its row, the student's and class's records, the
// released feedback, its payable event in the payable log), and the old
// feedback_lists and feedback_locks collections are dropped. A crash
// during it only means it runs again.
func (s *Service) Migrate(ctx context.Context) error {
	if err := s.Recover(ctx); err != nil {
		return err
	}
	if n, err := s.c(colMigrations).CountDocuments(ctx, bson.D{{Key: "_id", Value: readModelsMigration}}); err != nil {
		return errs.Wrap(err, "read migrations")
	} else if n > 0 {
		return s.migrateRowFields(ctx)
	}
	type oldList struct {
		ID       string    `bson:"_id"`
		Settings *Settings `bson:"settings"`
	}
	old, err := mongostore.FindAll[oldList](ctx, s.c(colOldLists), bson.D{{Key: "settings", Value: bson.D{{Key: "$exists", Value: true}}}},
		options.Find().SetProjection(bson.D{{Key: "settings", Value: 1}}))
	if err != nil {
		return err
	}
	for _, l := range old {
		if h, err := s.head(ctx, l.ID); err != nil {
			return err
		} else if h.Settings == nil && l.Settings != nil {
			if err := s.saveSettings(ctx, l.ID, *l.Settings); err != nil {
				return err
			}
		}
	}
	type idOnly struct {
		ID string `bson:"_id"`
	}
	ids, err := mongostore.FindAll[idOnly](ctx, s.c(colFeedback), bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return err
	}
	for _, d := range ids {
		if err := s.reproject(ctx, d.ID); err != nil {
			return err
		}
	}
	for _, col := range []string{colOldLists, colOldLocks} {
		if err := s.c(col).Drop(ctx); err != nil {
			return errs.Wrap(err, "drop %s", col)
		}
	}
	if _, err := s.c(colMigrations).UpdateOne(ctx, bson.D{{Key: "_id", Value: readModelsMigration}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: s.stamp()}, {Key: "feedback", Value: len(ids)}}}}, upsert); err != nil {
		return errs.Wrap(err, "record migration")
	}
	s.log.Info("built feedback's read models", "feedback", len(ids), "settings", len(old))
	return s.migrateRowFields(ctx)
}

// migrateRowFields writes, once, the list row of every feedback with a
// reflection or an adjudication again (rowFieldsMigration). A crash during
// it only means it runs again.
func (s *Service) migrateRowFields(ctx context.Context) error {
	if n, err := s.c(colMigrations).CountDocuments(ctx, bson.D{{Key: "_id", Value: rowFieldsMigration}}); err != nil {
		return errs.Wrap(err, "read migrations")
	} else if n > 0 {
		return nil
	}
	type idOnly struct {
		ID string `bson:"_id"`
	}
	exists := bson.D{{Key: "$exists", Value: true}}
	ids, err := mongostore.FindAll[idOnly](ctx, s.c(colFeedback),
		bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: "reflections.0", Value: exists}}, bson.D{{Key: "adjudication", Value: exists}}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return err
	}
	for _, d := range ids {
		if err := s.reproject(ctx, d.ID); err != nil {
			return err
		}
	}
	if _, err := s.c(colMigrations).UpdateOne(ctx, bson.D{{Key: "_id", Value: rowFieldsMigration}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: s.stamp()}, {Key: "feedback", Value: len(ids)}}}}, upsert); err != nil {
		return errs.Wrap(err, "record migration")
	}
	return nil
}

// reproject gives a feedback a list slot if it has none, and projects it
// in full.
func (s *Service) reproject(ctx context.Context, id string) error {
	for {
		f, err := s.get(ctx, id)
		if err != nil {
			return err
		}
		if f.Slot != 0 {
			return s.project(ctx, id, fullProjection)
		}
		if f.Slot, err = s.allocSlot(ctx, f.AssignmentID); err != nil {
			return err
		}
		seq := f.Seq
		f.Seq++
		if err := mongostore.Swap(ctx, s.c(colFeedback), id, "seq", seq, f); err != nil && !errors.Is(err, mongostore.ErrStale) {
			return err
		}
	}
}

// Recover projects again every feedback the journal names: changes whose
// projection a crash (or a store error) may have interrupted. It runs at
// start-up, before serving.
func (s *Service) Recover(ctx context.Context) error {
	pending, err := mongostore.FindAll[journalDoc](ctx, s.c(colJournal), bson.D{})
	if err != nil {
		return err
	}
	for _, j := range pending {
		err := s.reproject(ctx, j.ID)
		if err != nil && !errs.Is(err, errs.NotFound) { // a draft whose insert never happened
			return err
		}
		s.unjournal(ctx, j.ID, j.Token)
	}
	if len(pending) > 0 {
		s.log.Warn("feedback: projected changes an interrupted run left", "feedback", len(pending))
	}
	return nil
}
