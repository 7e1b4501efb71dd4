package feedback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
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

// withDefaults fills the fields a Config built by hand leaves zero.
func (c Config) withDefaults() Config {
	if c.MinQuotes == 0 {
		c.MinQuotes = 2
	}
	if c.MinCommentChars == 0 {
		c.MinCommentChars = 20
	}
	if c.DisagreementSteps == 0 {
		c.DisagreementSteps = 2
	}
	return c
}

// Validate reports every setting out of its range, each error naming its
// environment variable; main calls it once at start-up, before New.
func (c Config) Validate() error {
	var bad []error
	if c.MinQuotes < 1 {
		bad = append(bad, fmt.Errorf("MARGIN_FEEDBACK_MIN_QUOTES %d: want 1 or more quotes (an assignment's settings may ask for none)", c.MinQuotes))
	}
	if c.MinCommentChars < 1 {
		bad = append(bad, fmt.Errorf("MARGIN_FEEDBACK_MIN_COMMENT_CHARS %d: want 1 or more characters", c.MinCommentChars))
	}
	if c.DisagreementSteps < 1 {
		bad = append(bad, fmt.Errorf("MARGIN_FEEDBACK_DISAGREEMENT_STEPS %d: want 1 or more levels", c.DisagreementSteps))
	}
	return errors.Join(bad...)
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

// Intake is what feedback reads from intake (an *intake.Service):
// assignments and classes and the teacher's right to them, list rows, submissions,
// students and texts; Advance moves an assignment to graded and released.
type Intake interface {
	Assignment(ctx context.Context, id string) (intake.Assignment, error)
	AuthorizeAssignment(ctx context.Context, caller account.User, assignmentID string) (intake.Assignment, error)
	AuthorizeClass(ctx context.Context, caller account.User, classID string) (intake.Class, error)
	Rows(ctx context.Context, assignmentID string) ([]intake.Row, error)
	Submission(ctx context.Context, id string) (intake.Submission, error)
	Student(ctx context.Context, classID, studentID string) (intake.Student, error)
	Text(ctx context.Context, versionID string) (intake.Text, error)
	Advance(ctx context.Context, assignmentID string, to intake.State) error
	Class(ctx context.Context, id string) (intake.Class, error)
}

// Matching is what feedback needs of matching (a *matching.Service): the
// grading tasks, and reports of what became of them.
type Matching interface {
	Task(ctx context.Context, taskID string) (matching.Task, error)
	TasksForGrader(ctx context.Context, graderID string) ([]matching.Task, error)
	TaskSubmitted(ctx context.Context, taskID string) error
	TaskReturned(ctx context.Context, taskID string) error
	TaskApproved(ctx context.Context, taskID string) error
}

// Accounts is what feedback reads of the accounts (an *account.Service):
// the names of the people in a feedback.
type Accounts interface {
	User(ctx context.Context, id string) (account.User, error)
}

// Service is the feedback service: a stateless handle on its collections. Any
// number of processes may run one against the same store.
type Service struct {
	db       *mongo.Database
	accounts Accounts
	intake   Intake
	matching Matching
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	notes    Notifier // nil: no events raised (SetNotifier)
	// listeners hear of every release (OnRelease).
	listeners []ReleaseListener
}

// New returns the service. It does no I/O; call EnsureIndexes once at start.
// A zero field of cfg takes its default (tests build Configs by hand);
// main checks the configured values with Validate first.
func New(db *mongo.Database, accounts Accounts, in Intake, m Matching, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: db, accounts: accounts, intake: in, matching: m, cfg: cfg.withDefaults(), log: log, now: time.Now}
}

// EnsureIndexes creates the service's indexes. It is idempotent. Every hot
// read is by _id, so there are none beyond _id.
func (s *Service) EnsureIndexes(ctx context.Context) error { return nil }

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
