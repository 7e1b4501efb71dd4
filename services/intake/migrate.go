package intake

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// enrolmentMigration names the migration that moved students from one
// account per school and student ID to one per enrolment.
const enrolmentMigration = "enrolment_accounts"

// Migrate brings data written by earlier versions up to date. It is
// idempotent, and cheap once done (one read by _id); every process runs it
// at start-up, before serving.
//
// Enrolment accounts: every roster entry gets the account of its enrolment
// (account.EnrolmentUserID) in place of the school-wide one it had, and every
// access link that had no expiry gets one, Config.AccessLinkTTL from now.
// An old link then opens its own class only. The old school-wide accounts
// stay in users but no longer sign in (account.Authenticate refuses a
// student account without a class), so their sessions reach nothing.
func (s *Service) Migrate(ctx context.Context) error {
	n, err := s.c(colMigrations).CountDocuments(ctx, bson.D{{Key: "_id", Value: enrolmentMigration}})
	if err != nil {
		return errs.Wrap(err, "read migrations")
	}
	if n > 0 {
		return nil
	}
	moved, err := s.migrateEnrolments(ctx)
	if err != nil {
		return err
	}
	dated, err := s.dateLinks(ctx)
	if err != nil {
		return err
	}
	if _, err := s.c(colMigrations).UpdateOne(ctx, bson.D{{Key: "_id", Value: enrolmentMigration}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: s.stamp()}}}}, updateUpsert()); err != nil {
		return errs.Wrap(err, "record migration")
	}
	s.log.Info("migrated students to enrolment accounts", "students", moved, "links", dated)
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
