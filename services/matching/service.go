package matching

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/intake"
)

// Config is the matching service's configuration, parsed once in main from
// MARGIN_* environment variables (see the env tags). Zero values take the
// defaults New documents.
type Config struct {
	// Interval is how often the background loop runs a round and its
	// housekeeping (batching, expiries, leases, revisions).
	Interval time.Duration `env:"MARGIN_MATCHING_INTERVAL" envDefault:"30s"`
	// OfferTTL is how long a grader has to accept an offer.
	OfferTTL time.Duration `env:"MARGIN_OFFER_TTL" envDefault:"12h"`
	// LeaseMargin is how long before the due date unfinished work is taken
	// back from its grader and matched again.
	LeaseMargin time.Duration `env:"MARGIN_LEASE_MARGIN" envDefault:"24h"`
	// CalibrationWithin is the largest difference, in levels, allowed on
	// any criterion of a calibration attempt.
	CalibrationWithin int `env:"MARGIN_CALIBRATION_WITHIN" envDefault:"1"`
	// CalibrationExact is the least share of criteria that must match the
	// reference exactly.
	CalibrationExact float64 `env:"MARGIN_CALIBRATION_EXACT" envDefault:"0.5"`
}

// withDefaults fills the fields a Config built by hand leaves zero.
func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = 30 * time.Second
	}
	if c.OfferTTL == 0 {
		c.OfferTTL = 12 * time.Hour
	}
	if c.LeaseMargin == 0 {
		c.LeaseMargin = 24 * time.Hour
	}
	if c.CalibrationWithin == 0 {
		c.CalibrationWithin = 1
	}
	if c.CalibrationExact == 0 {
		c.CalibrationExact = 0.5
	}
	return c
}

// Validate reports every setting out of its range, each error naming its
// environment variable; main calls it once at start-up, before New.
func (c Config) Validate() error {
	var bad []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"MARGIN_MATCHING_INTERVAL", c.Interval}, {"MARGIN_OFFER_TTL", c.OfferTTL}, {"MARGIN_LEASE_MARGIN", c.LeaseMargin}} {
		if d.v <= 0 {
			bad = append(bad, fmt.Errorf("%s %s: want a positive duration", d.name, d.v))
		}
	}
	if c.CalibrationWithin < 1 {
		bad = append(bad, fmt.Errorf("MARGIN_CALIBRATION_WITHIN %d: want 1 or more levels", c.CalibrationWithin))
	}
	if c.CalibrationExact <= 0 || c.CalibrationExact > 1 {
		bad = append(bad, fmt.Errorf("MARGIN_CALIBRATION_EXACT %g: want a share above 0 and at most 1", c.CalibrationExact))
	}
	return errors.Join(bad...)
}

// Collections owned by matching.
const (
	colProfiles = "grader_profiles"  // _id: grader user ID; capacity holds and stats
	colPrefs    = "teacher_prefs"    // _id: teacher user ID; blocked and preferred graders
	colAnchors  = "anchors"          // _id: assignment ID; anchor papers with reference levels
	colAttempts = "calibrations"     // _id: "<assignment id>:<grader id>:<n>"
	colBatches  = "batches"          // _id: "<assignment id>-<reader>-<keyed hash>" (see batchID)
	colOffers   = "offers"           // _id: "<batch id>:o<n>"
	colTasks    = "grading_tasks"    // _id: TaskID
	colStatus   = "matching_status"  // _id: assignment ID
	colActive   = "matching_active"  // _id: "batches": the batches not yet done
	colRounds   = "matching_rounds"  // _id: round ID
	colLeases   = "matching_leases"  // _id: loop name
	colHistory  = "matching_history" // _id: "<teacher id>:<grader id>": continuity
	colKeys     = "matching_keys"    // _id: "batch_ids": the secret batch IDs are made with
)

// Intake is what matching reads from intake (an *intake.Service): open
// assignments and their list rows, the submissions and grader texts it
// batches, and the teacher's right to an assignment; Advance moves an
// assignment to grading.
type Intake interface {
	OpenAssignments(ctx context.Context) ([]intake.Assignment, error)
	Assignment(ctx context.Context, id string) (intake.Assignment, error)
	AuthorizeAssignment(ctx context.Context, caller account.User, assignmentID string) (intake.Assignment, error)
	Rows(ctx context.Context, assignmentID string) ([]intake.Row, error)
	Submission(ctx context.Context, id string) (intake.Submission, error)
	SubmissionOf(ctx context.Context, assignmentID, studentID string) (intake.Submission, error)
	Text(ctx context.Context, versionID string) (intake.Text, error)
	Advance(ctx context.Context, assignmentID string, to intake.State) error
}

// Accounts is what matching reads of the accounts (an *account.Service):
// the school and teacher an offer names.
type Accounts interface {
	User(ctx context.Context, id string) (account.User, error)
	School(ctx context.Context, id string) (account.School, error)
}

// Service is the matching service: a stateless handle on its collections. Any
// number of processes may run one against the same store.
type Service struct {
	db       *mongo.Database
	accounts Accounts
	intake   Intake
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	owner    string   // identifies this process in leases
	notes    Notifier // nil: no events raised (SetNotifier)

	keyMu sync.Mutex
	key   []byte // see idKey
}

// New returns the service. It does no I/O; call EnsureIndexes once at start.
// A zero field of cfg takes its default (tests build Configs by hand);
// main checks the configured values with Validate first.
func New(db *mongo.Database, accounts Accounts, in Intake, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		db: db, accounts: accounts, intake: in,
		cfg: cfg.withDefaults(), log: log, now: time.Now,
		owner: account.NewID("proc"),
	}
}

// EnsureIndexes creates the service's indexes. It is idempotent. Hot reads
// are by _id; the grader_id index serves a grader's task and offer lists on
// real MongoDB.
func (s *Service) EnsureIndexes(ctx context.Context) error {
	for _, col := range []string{colTasks, colOffers} {
		_, err := s.c(col).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "grader_id", Value: 1}}})
		if err != nil {
			return errs.Wrap(err, "index %s", col)
		}
	}
	return nil
}

func (s *Service) c(name string) *mongo.Collection { return s.db.Collection(name) }

// stamp is the current time as the store keeps it.
func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// findByID decodes the document with the given _id into out, or returns a
// not_found error naming what.
func (s *Service) findByID(ctx context.Context, col, id, what string, out any) error {
	return mongostore.FindByID(ctx, s.c(col), id, what, out)
}

// findAll decodes every document matching filter into out.
func (s *Service) findAll(ctx context.Context, col string, filter any, out any) error {
	cur, err := s.c(col).Find(ctx, filter)
	if err != nil {
		return errs.Wrap(err, "find %s", col)
	}
	if err := cur.All(ctx, out); err != nil {
		return errs.Wrap(err, "read %s", col)
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
