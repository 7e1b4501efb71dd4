package intake

import (
	"context"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// The data migrations, by the name recorded in intake_migrations when
// one has run.
const (
	// enrolmentMigration moved students from one account per school and
	// student ID to one per enrolment.
	enrolmentMigration = "enrolment_accounts"
	// listMigration moved each assignment's list from one document to
	// pages.
	listMigration = "list_pages"
)

// Migrate brings data written by earlier versions up to date. Each
// migration is idempotent (a crash part-way is finished by the next run)
// and runs once: after it, Migrate is one read by _id per migration.
// Every process runs it at start-up, before serving.
//
// Enrolment accounts: every roster entry gets the account of its enrolment
// (account.EnrolmentUserID) in place of the school-wide one it had, and every
// access link that had no expiry gets one, Config.AccessLinkTTL from now.
// An old link then opens its own class only. The old school-wide accounts
// stay in users but no longer sign in (account.Authenticate refuses a
// student account without a class), so their sessions reach nothing.
//
// List pages: every assignment whose list is one document (rows.<student>
// in submission_lists, sketches in one document of submission_sketches)
// gets it on pages: each submission a slot, its row on its page, its
// sketch on its sketch page. Until then the lists read both shapes.
// Upload records of the old shape (every outcome in one document) are read
// as they are.
func (s *Service) Migrate(ctx context.Context) error {
	for _, m := range []struct {
		name string
		run  func(context.Context) error
	}{{enrolmentMigration, s.migrateEnrolmentAccounts}, {listMigration, s.migrateLists}} {
		n, err := s.c(colMigrations).CountDocuments(ctx, bson.D{{Key: "_id", Value: m.name}})
		if err != nil {
			return errs.Wrap(err, "read migrations")
		}
		if n > 0 {
			continue
		}
		if err := m.run(ctx); err != nil {
			return err
		}
		if _, err := s.c(colMigrations).UpdateOne(ctx, bson.D{{Key: "_id", Value: m.name}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: s.stamp()}}}}, updateUpsert()); err != nil {
			return errs.Wrap(err, "record migration")
		}
	}
	return nil
}

func (s *Service) migrateEnrolmentAccounts(ctx context.Context) error {
	moved, err := s.migrateEnrolments(ctx)
	if err != nil {
		return err
	}
	dated, err := s.dateLinks(ctx)
	if err != nil {
		return err
	}
	s.log.Info("migrated students to enrolment accounts", "students", moved, "links", dated)
	return nil
}

// legacySketches is an assignment's sketches in one document, as versions
// before list pages kept them (_id: the assignment ID).
type legacySketches struct {
	ID       string            `bson:"_id"`
	Sketches map[string][]byte `bson:"sketches"`
}

// migrateLists moves every one-document list to pages. It scans
// submission_lists once. A row is removed from the old document only
// after it is on its page, so a crash loses none.
func (s *Service) migrateLists(ctx context.Context) error {
	heads, err := mongostore.FindAll[listHead](ctx, s.c(colBuckets), bson.D{{Key: "rows", Value: bson.D{{Key: "$exists", Value: true}}}})
	if err != nil {
		return err
	}
	moved, lists := 0, 0
	for _, h := range heads {
		if strings.Contains(h.ID, ":") {
			continue // a page, not an old list
		}
		a, err := s.Assignment(ctx, h.ID)
		if errs.Is(err, errs.NotFound) {
			continue
		} else if err != nil {
			return err
		}
		lists++
		old, err := mongostore.Get[legacySketches](ctx, s.c(colSketches), a.ID, "sketches")
		if err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
		l, err := s.openList(ctx, a.ID)
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(h.Rows))
		for k := range h.Rows {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			subID := h.Rows[k].SubmissionID
			if subID == "" {
				subID = legacySubmissionID(a.ID, h.Rows[k].StudentID)
			}
			sub, exists, err := s.storedSubmission(ctx, subID)
			if err != nil {
				return err
			}
			if exists && len(sub.Versions) > 0 {
				var sk []uint32
				if b, ok := old.Sketches[k]; ok {
					sk = unpackSketch(b)
				}
				if err := l.place(ctx, sub, sk, false); err != nil {
					return err
				}
				moved++
			}
			if _, err := s.c(colBuckets).UpdateOne(ctx, bson.D{{Key: "_id", Value: a.ID}},
				bson.D{{Key: "$unset", Value: bson.D{{Key: "rows." + k, Value: ""}}}}); err != nil {
				return errs.Wrap(err, "migrate list")
			}
		}
		if err := l.flush(ctx, false); err != nil {
			return err
		}
		if _, err := s.c(colSketches).DeleteOne(ctx, bson.D{{Key: "_id", Value: a.ID}}); err != nil {
			return errs.Wrap(err, "migrate sketches")
		}
	}
	if moved > 0 {
		s.log.Info("moved submission lists to pages", "assignments", lists, "rows", moved)
	}
	return nil
}

// migrateEnrolments gives every roster entry its enrolment account. It
// reads the whole students collection once.
func (s *Service) migrateEnrolments(ctx context.Context) (int, error) {
	cur, err := s.c(colStudents).Find(ctx, bson.D{})
	if err != nil {
		return 0, errs.Wrap(err, "find students")
	}
	var docs []studentDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, errs.Wrap(err, "read students")
	}
	schools := map[string]string{} // class ID -> school ID
	moved := 0
	for _, d := range docs {
		want := account.EnrolmentUserID(d.ClassID, d.StudentID)
		if d.UserID == want {
			continue
		}
		school, ok := schools[d.ClassID]
		if !ok {
			c, err := s.Class(ctx, d.ClassID)
			if errs.Is(err, errs.NotFound) {
				continue // a roster entry of no class opens nothing
			} else if err != nil {
				return moved, err
			}
			school, schools[d.ClassID] = c.SchoolID, c.SchoolID
		}
		if _, err := s.accounts.EnsureStudent(ctx, school, d.ClassID, d.StudentID, d.Name()); err != nil {
			return moved, err
		}
		if _, err := s.c(colStudents).UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "user_id", Value: want}}}}); err != nil {
			return moved, errs.Wrap(err, "move student to enrolment account")
		}
		moved++
	}
	return moved, nil
}

// dateLinks gives every access link without an expiry one, and points it at
// its enrolment account.
func (s *Service) dateLinks(ctx context.Context) (int, error) {
	cur, err := s.c(colLinks).Find(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$exists", Value: false}}}})
	if err != nil {
		return 0, errs.Wrap(err, "find access links")
	}
	var links []linkDoc
	if err := cur.All(ctx, &links); err != nil {
		return 0, errs.Wrap(err, "read access links")
	}
	now := s.stamp()
	for _, l := range links {
		set := bson.D{{Key: "user_id", Value: account.EnrolmentUserID(l.ClassID, l.StudentID)},
			{Key: "created_at", Value: now}, {Key: "expires_at", Value: now.Add(s.cfg.AccessLinkTTL)}}
		if _, err := s.c(colLinks).UpdateOne(ctx, bson.D{{Key: "_id", Value: l.ID}}, bson.D{{Key: "$set", Value: set}}); err != nil {
			return 0, errs.Wrap(err, "date access link")
		}
	}
	return len(links), nil
}
