package intake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/blob"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Config is the intake service's configuration, parsed once in main.
type Config struct {
	// MaxFileSize is the largest single submission file, in bytes.
	MaxFileSize int64 `env:"MARGIN_MAX_FILE_SIZE" envDefault:"26214400"` // 25 MiB
	// MaxZipSize caps what one ZIP may hold once uncompressed.
	MaxZipSize int64 `env:"MARGIN_MAX_ZIP_UNCOMPRESSED" envDefault:"2147483648"` // 2 GiB
	// MaxZipEntries caps the files in one ZIP.
	MaxZipEntries int `env:"MARGIN_MAX_ZIP_ENTRIES" envDefault:"5000"`
	// DuplicateThreshold is the estimated similarity at or above which two
	// students' texts are flagged as possible duplicates.
	DuplicateThreshold float64 `env:"MARGIN_DUPLICATE_THRESHOLD" envDefault:"0.8"`
	// AccessLinkTTL is how long a student's access link works after the
	// teacher makes it: about a school term by default.
	AccessLinkTTL time.Duration `env:"MARGIN_ACCESS_LINK_TTL" envDefault:"2880h"` // 120 days

	// SoleProcess says this process is the store's only user (the embedded
	// store): Recover may then finish any work in flight not running here
	// at once, not only work untouched for FlightLease. Set by main.
	SoleProcess bool
	// TestPause, for crash tests only, holds every upload at that point
	// (PauseBeforeRow) until the process is killed. Set by main from
	// MARGIN_TEST_FAULT; never in production.
	TestPause string
}

// DefaultAccessLinkTTL is the access links' lifetime when Config leaves it
// unset.
const DefaultAccessLinkTTL = 120 * 24 * time.Hour

// withDefaults fills the fields a Config built by hand leaves zero.
func (c Config) withDefaults() Config {
	if c.MaxFileSize == 0 {
		c.MaxFileSize = 25 << 20
	}
	if c.MaxZipSize == 0 {
		c.MaxZipSize = 2 << 30
	}
	if c.MaxZipEntries == 0 {
		c.MaxZipEntries = 5000
	}
	if c.DuplicateThreshold == 0 {
		c.DuplicateThreshold = 0.8
	}
	if c.AccessLinkTTL == 0 {
		c.AccessLinkTTL = DefaultAccessLinkTTL
	}
	return c
}

// Validate reports every setting out of its range, each error naming its
// environment variable; main calls it once at start-up, before New.
func (c Config) Validate() error {
	var bad []error
	if c.MaxFileSize <= 0 {
		bad = append(bad, fmt.Errorf("MARGIN_MAX_FILE_SIZE %d: want a positive number of bytes", c.MaxFileSize))
	}
	if c.MaxZipSize <= 0 {
		bad = append(bad, fmt.Errorf("MARGIN_MAX_ZIP_UNCOMPRESSED %d: want a positive number of bytes", c.MaxZipSize))
	}
	if c.MaxZipEntries <= 0 {
		bad = append(bad, fmt.Errorf("MARGIN_MAX_ZIP_ENTRIES %d: want a positive number of files", c.MaxZipEntries))
	}
	if c.DuplicateThreshold <= 0 || c.DuplicateThreshold > 1 {
		bad = append(bad, fmt.Errorf("MARGIN_DUPLICATE_THRESHOLD %g: want a similarity above 0 and at most 1", c.DuplicateThreshold))
	}
	if c.AccessLinkTTL <= 0 {
		bad = append(bad, fmt.Errorf("MARGIN_ACCESS_LINK_TTL %s: want a positive duration", c.AccessLinkTTL))
	}
	if c.TestPause != "" && c.TestPause != PauseBeforeRow {
		bad = append(bad, fmt.Errorf("intake test pause %q: want %q", c.TestPause, PauseBeforeRow))
	}
	return errors.Join(bad...)
}

// Collections owned by intake.
const (
	colClasses           = "classes"           // _id: class ID; roster in students
	colStudents          = "students"          // _id: "<class id>:<student id>"
	colLinks             = "access_links"      // _id: SHA-256 of a student's access token
	colMigrations        = "intake_migrations" // _id: the name of a data migration that has run
	colAssignments       = "assignments"       // _id: assignment ID
	colRubrics           = "rubrics"           // a school's rubric library
	colSubmissions       = "submissions"       // _id: submission ID (see Submission)
	colTexts             = "submission_texts"
	colBuckets           = "submission_lists"    // _id: assignment ID (the head) or "<assignment id>:<page>"
	colSketches          = "submission_sketches" // _id: "<assignment id>:<page>"; sketches.<student id>
	colPseudonyms        = "pseudonyms"          // _id: "<assignment id>:<pseudonym>"
	colIdentities        = "submission_ids"      // _id: assignment ID; students.<student id>: submission ID and pseudonym (read whole by redaction)
	colStudentIdentities = "submission_keys"     // _id: "<assignment id>:<student id>": one student's submission ID and pseudonym, inserted once
	colRosterNames       = "roster_names"        // _id: class ID; people.<student id>: every name on the roster
	colUploads           = "uploads"             // _id: upload batch ID
	colOutcomes          = "upload_outcomes"     // _id: "<upload id>:<part>:<chunk>"
	colInflight          = "intake_inflight"     // work in flight: "upl:<upload id>:<part>" or "asg:<assignment id>"
	colWork              = "student_work"        // _id: class ID, or "<class id>:<student id>"
)

// originals is what intake needs of S3 (a *blob.Store).
type originals interface {
	// PutVerified stores size bytes of r under key unless they are already
	// there, and reads them back to prove it (see blob.Store.PutVerified).
	PutVerified(ctx context.Context, key string, r io.ReaderAt, size int64, sha256Hex, contentType string) error
	// Get opens a stored object; blob.ErrNotFound if there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error)
}

// Accounts is what intake needs of the accounts (an *account.Service):
// every student's enrolment account, and the sessions an access link
// starts and a removal ends.
type Accounts interface {
	EnsureStudent(ctx context.Context, schoolID, classID, studentID, name string) (account.User, error)
	User(ctx context.Context, id string) (account.User, error)
	StartSession(ctx context.Context, userID string) (string, error)
	Logout(ctx context.Context, token string) error
	EndSessions(ctx context.Context, userID string) error
}

// Service is the intake service: a stateless handle on its collections and
// S3 prefix. Any number of processes may run one against the same store.
type Service struct {
	db       *mongo.Database
	blobs    originals
	accounts Accounts
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	funds    Funds // nil: nothing is held (see SetFunds)
	// live holds the IDs of the in-flight records of work running in this
	// process, which Recover leaves alone.
	live sync.Map
	// notes is where events are raised (SetNotifier); nil raises none.
	notes Notifier
}

// New returns the service. It does no I/O; call EnsureIndexes once at start.
// A zero field of cfg takes its default (tests build Configs by hand);
// main checks the configured values with Validate first.
func New(db *mongo.Database, blobs originals, accounts Accounts, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: db, blobs: blobs, accounts: accounts, cfg: cfg.withDefaults(), log: log, now: time.Now}
}

// EnsureIndexes creates the service's indexes. It is idempotent. Every hot
// read is by _id, so there are none beyond _id today.
func (s *Service) EnsureIndexes(ctx context.Context) error { return nil }

// Run runs intake's background loop until ctx ends: intake does its work
// in the request (uploads are processed as they stream in), and every
// RecoverEvery the loop finishes work that a failure left in flight (see
// Recover).
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(RecoverEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := s.Recover(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("recover work in flight", "err", err)
			}
		}
	}
}

// RecoverEvery is how often Run looks for work left in flight.
const RecoverEvery = time.Minute

// FlightLease is how long work in flight must have been untouched before
// a process that is not the store's only user takes it for dead: longer
// than any request runs.
const FlightLease = 2 * time.Hour

func (s *Service) staleAfter() time.Duration {
	if s.cfg.SoleProcess {
		return 0
	}
	return FlightLease
}

func (s *Service) c(name string) *mongo.Collection { return s.db.Collection(name) }

// findByID decodes the document with the given _id into out, or returns a
// not_found error naming what.
func (s *Service) findByID(ctx context.Context, col, id, what string, out any) error {
	return mongostore.FindByID(ctx, s.c(col), id, what, out)
}

func itoa(n int) string { return strconv.Itoa(n) }

func upsert() *options.ReplaceOptions { return options.Replace().SetUpsert(true) }

func updateUpsert() *options.UpdateOptions { return options.Update().SetUpsert(true) }

// MaxFileSize is the largest single submission file accepted, in bytes.
func (s *Service) MaxFileSize() int64 { return s.cfg.MaxFileSize }
