package feedback

import (
	"context"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/blob"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// Config is the feedback service's configuration, parsed once in main from
// MARGIN_* environment variables (see the env tags). Zero values take the
// defaults.
type Config struct {
	// MinQuotes is how many quoted comments a submitted feedback needs by
	// default (an assignment's settings may change it).
	MinQuotes int `env:"MARGIN_FEEDBACK_MIN_QUOTES" envDefault:"2"`
	// MinCommentChars is the shortest comment accepted on submit, in
	// characters.
	MinCommentChars int `env:"MARGIN_FEEDBACK_MIN_COMMENT_CHARS" envDefault:"20"`
	// DisagreementSteps is how many rubric levels apart a second read must be
	// on a criterion to be flagged for the teacher.
	DisagreementSteps int `env:"MARGIN_FEEDBACK_DISAGREEMENT_STEPS" envDefault:"2"`
	// TestFault, for crash tests only, holds every change of a feedback at
	// that point until the process is killed or the request ends
	// (FaultSaveMid). Never set in production.
	TestFault string `env:"MARGIN_TEST_FAULT"`
}

func (c Config) withDefaults() Config {
	if c.MinQuotes <= 0 {
		c.MinQuotes = 2
	}
	if c.MinCommentChars <= 0 {
		c.MinCommentChars = 20
	}
	if c.DisagreementSteps <= 0 {
		c.DisagreementSteps = 2
	}
	return c
}

// Collections owned by feedback.
const (
	colFeedback   = "feedback"            // _id: task ID "<version id>:<reader>"
	colRows       = "feedback_rows"       // _id: assignment ID (header: slots, settings) or "<assignment id>:<page>" (50 rows)
	colStudents   = "feedback_students"   // _id: account.EnrolmentUserID(class, student); a StudentRecord
	colClasses    = "feedback_classes"    // _id: class ID; a ClassRecord
	colReleased   = "feedback_released"   // _id: submission ID; the student's released feedback as rendered
	colJournal    = "feedback_journal"    // _id: task ID; a change whose projection may not be written yet
	colBank       = "comment_bank"        // _id: grader user ID; entries
	colPayable    = "payable_events"      // _id: "<version id>:<grader id>"
	colLog        = "payable_log"         // _id: 16-digit position, or "counter"
	colMigrations = "feedback_migrations" // _id: migration name

	// Collections of earlier versions, read once by Migrate.
	colOldLists = "feedback_lists"
	colOldLocks = "feedback_locks"
)

// FaultSaveMid is the MARGIN_TEST_FAULT value that holds a feedback change
// after its document is written and before its projections are (see
// Config.TestFault).
const FaultSaveMid = "feedback.save.mid"

// Service is the feedback service: a stateless handle on its collections. Any
// number of processes may run one against the same store.
type Service struct {
	db       *mongo.Database
	blobs    *blob.Store
	accounts *account.Service
	intake   *intake.Service
	matching *matching.Service
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	notes    Notifier // nil: no events raised (SetNotifier)
	// listeners hear of every release (OnRelease).
	listeners []ReleaseListener
}

// New returns the service. It does no I/O; call EnsureIndexes once at start.
// It reads intake and matching through their own (stateless) services on the
// same database.
func New(db *mongo.Database, blobs *blob.Store, accounts *account.Service, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		db: db, blobs: blobs, accounts: accounts,
		intake:   intake.New(db, blobs, accounts, intake.Config{}, log),
		matching: matching.New(db, blobs, accounts, matching.Config{}, log),
		cfg:      cfg.withDefaults(), log: log, now: time.Now,
	}
}

// EnsureIndexes creates the service's indexes. It is idempotent. Every hot
// read is by _id, so there are none beyond _id.
func (s *Service) EnsureIndexes(ctx context.Context) error { return nil }

// Run runs the service's background loop until ctx ends. Feedback does its
// work in the request, so there is nothing to do in the background.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (s *Service) c(name string) *mongo.Collection { return s.db.Collection(name) }

func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// pause holds the caller at a crash test's fault point (Config.TestFault)
// until ctx ends, and then fails, as the killed process would have.
func (s *Service) pause(ctx context.Context, point string) error {
	if s.cfg.TestFault != point {
		return nil
	}
	s.log.Warn("feedback paused for a crash test", "at", point)
	<-ctx.Done()
	return errs.Wrap(ctx.Err(), "paused at %s", point)
}
