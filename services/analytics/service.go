package analytics

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// Config is the analytics service's configuration, parsed once in main from
// MARGIN_* environment variables (see the env tags). It has no settings yet.
type Config struct{}

// Validate reports settings out of their range; analytics has none.
func (c Config) Validate() error { return nil }

// Collections owned by analytics.
const (
	colSummaries  = "summaries"            // _id: "<assignment id>:<options>"; a cache of released summaries
	colCounts     = "summary_counts"       // _id: assignment ID; what its summary adds to the totals
	colTotals     = "analytics_totals"     // _id: "platform"; the platform totals
	colLinks      = "share_links"          // _id: link ID; a family's read-only link, token stored hashed
	colMigrations = "analytics_migrations" // _id: migration name
)

// FeedbackReads is what analytics reads from feedback, all of it read
// models read by _id: an assignment's list rows with the digest of each
// approved feedback, a student's record in a class (the levels and state of
// every approved first read), and a class's record (its assignments with
// approved feedback and their rubrics). *feedback.Service provides it.
type FeedbackReads interface {
	Rows(ctx context.Context, assignmentID string) ([]feedback.Row, error)
	Student(ctx context.Context, classID, studentID string) (feedback.StudentRecord, error)
	Students(ctx context.Context, classID string, studentIDs []string) (map[string]feedback.StudentRecord, error)
	Class(ctx context.Context, classID string) (feedback.ClassRecord, error)
}

// Intake is what analytics reads from intake (an *intake.Service): the
// assignments, classes, rosters, students and list rows it summarises, and
// the teacher's right to an assignment.
type Intake interface {
	Assignment(ctx context.Context, id string) (intake.Assignment, error)
	AuthorizeAssignment(ctx context.Context, caller account.User, assignmentID string) (intake.Assignment, error)
	Class(ctx context.Context, id string) (intake.Class, error)
	Roster(ctx context.Context, caller account.User, classID string) ([]intake.Student, error)
	Student(ctx context.Context, classID, studentID string) (intake.Student, error)
	Rows(ctx context.Context, assignmentID string) ([]intake.Row, error)
}

// Matching is what analytics reads from matching (a *matching.Service): an
// assignment's batches, for turnaround.
type Matching interface {
	ForAssignment(ctx context.Context, caller account.User, assignmentID string) (matching.AssignmentMatching, error)
}

// Service is the analytics service: a stateless handle on its collections. Any
// number of processes may run one against the same store.
type Service struct {
	db       *mongo.Database
	intake   Intake
	matching Matching
	feedback FeedbackReads
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
}

// New returns the service. It does no I/O; call EnsureIndexes once at start.
func New(db *mongo.Database, in Intake, m Matching, fr FeedbackReads, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: db, intake: in, matching: m, feedback: fr, cfg: cfg, log: log, now: time.Now}
}

// EnsureIndexes creates the service's indexes. It is idempotent. Every hot
// read is by _id, so there are none beyond _id.
func (s *Service) EnsureIndexes(ctx context.Context) error { return nil }

func (s *Service) c(name string) *mongo.Collection { return s.db.Collection(name) }

// findByID decodes the document with the given _id into out, or returns a
// not_found error naming what.
func (s *Service) findByID(ctx context.Context, col, id, what string, out any) error {
	return mongostore.FindByID(ctx, s.c(col), id, what, out)
}

// Migrate finishes what a crash interrupted and brings data of earlier
// versions up to date; every process runs it at start-up, before serving.
// Once, it computes the platform totals from the summaries cached by
// earlier versions (one per assignment, as earlier versions counted them)
// and the family links. Every time, it adds to the totals the summary
// counts and the family links whose making or revoking a crash left out
// (scans of summary_counts, one small document per released assignment,
// and share_links, a few links per student).
func (s *Service) Migrate(ctx context.Context) error {
	n, err := s.c(colMigrations).CountDocuments(ctx, bson.D{{Key: "_id", Value: "totals"}})
	if err != nil {
		return errs.Wrap(err, "read migrations")
	}
	if n == 0 {
		docs, err := mongostore.FindAll[summaryDoc](ctx, s.c(colSummaries), bson.D{})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, d := range docs {
			var sum Summary
			if json.Unmarshal(d.Body, &sum) != nil || sum.AssignmentID == "" || seen[sum.AssignmentID] {
				continue
			}
			seen[sum.AssignmentID] = true
			if err := s.count(ctx, sum); err != nil {
				return err
			}
		}
	}
	counts, err := mongostore.FindAll[countDoc](ctx, s.c(colCounts), bson.D{{Key: "applied", Value: false}})
	if err != nil {
		return err
	}
	for _, c := range counts {
		if err := s.applyCount(ctx, c); err != nil {
			return err
		}
	}
	links, err := mongostore.FindAll[ShareLink](ctx, s.c(colLinks), bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "counted", Value: bson.D{{Key: "$ne", Value: true}}}},
		bson.D{{Key: "revoke_counted", Value: false}},
		bson.D{{Key: "revoked_at", Value: bson.D{{Key: "$ne", Value: nil}}}, {Key: "revoke_counted", Value: bson.D{{Key: "$exists", Value: false}}}},
	}}})
	if err != nil {
		return err
	}
	for _, l := range links {
		if !l.Counted {
			if err := s.countLink(ctx, l.ID, false); err != nil {
				return err
			}
		}
		if l.RevokedAt != nil && !l.RevokeCounted {
			if err := s.countLink(ctx, l.ID, true); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		_, err = s.c(colMigrations).UpdateOne(ctx, bson.D{{Key: "_id", Value: "totals"}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "at", Value: s.now().UTC()}}}}, options.Update().SetUpsert(true))
	}
	return errs.Wrap(err, "record migration")
}
