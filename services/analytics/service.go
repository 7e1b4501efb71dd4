package analytics

import (
	"context"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/blob"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// Config is the analytics service's configuration, parsed once in main from
// MARGIN_* environment variables (see the env tags).
type Config struct{}

// Collections owned by analytics.
const (
	colSummaries = "summaries"   // _id: "<assignment id>:<options>"; a cache of released summaries
	colLinks     = "share_links" // _id: link ID; a family's read-only link, token stored hashed
)

// FeedbackReads is what analytics reads from feedback: the approved and
// released feedback (first and second reads, all versions) of an
// assignment and of one student across assignments, and an assignment's
// list rows (one read, for the cache's fingerprint). *feedback.Service
// provides it.
type FeedbackReads interface {
	List(ctx context.Context, caller account.User, assignmentID string) ([]feedback.Row, error)
	ForAssignment(ctx context.Context, assignmentID string) ([]feedback.Feedback, error)
	ForStudent(ctx context.Context, schoolID, studentID string) ([]feedback.Feedback, error)
}

// Service is the analytics service: a stateless handle on its collections. Any
// number of processes may run one against the same store.
type Service struct {
	db       *mongo.Database
	blobs    *blob.Store
	accounts *account.Service
	intake   *intake.Service
	matching *matching.Service
	feedback FeedbackReads
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
}

// New returns the service. It does no I/O; call EnsureIndexes once at start.
// It reads intake, matching and feedback through their own (stateless)
// services on the same database.
func New(db *mongo.Database, blobs *blob.Store, accounts *account.Service, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{
		db: db, blobs: blobs, accounts: accounts, cfg: cfg, log: log, now: time.Now,
		intake:   intake.New(db, blobs, accounts, intake.Config{}, log),
		matching: matching.New(db, blobs, accounts, matching.Config{}, log),
		feedback: feedback.New(db, blobs, accounts, feedback.Config{}, log),
	}
	return s
}

// UseFeedback replaces the feedback reads (tests use it to read feedback
// written some other way).
func (s *Service) UseFeedback(fr FeedbackReads) { s.feedback = fr }

// EnsureIndexes creates the service's indexes. It is idempotent. Every hot
// read is by _id, so there are none beyond _id.
func (s *Service) EnsureIndexes(ctx context.Context) error { return nil }

// Run runs the service's background loop until ctx ends. Analytics computes
// on request, so there is nothing to do in the background.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (s *Service) c(name string) *mongo.Collection { return s.db.Collection(name) }

func (s *Service) reads() (FeedbackReads, error) {
	if s.feedback == nil {
		return nil, errs.E(errs.Unavailable, "Feedback cannot be read yet; try again later.")
	}
	return s.feedback, nil
}

// findByID decodes the document with the given _id into out, or returns a
// not_found error naming what.
func (s *Service) findByID(ctx context.Context, col, id, what string, out any) error {
	return mongostore.FindByID(ctx, s.c(col), id, what, out)
}
