package payouts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/payouts/stripeclient"
)

// Config is the payouts service's configuration, parsed once in main from
// MARGIN_* environment variables (see the env tags).
type Config struct {
	// StripeSecretKey enables Stripe; without it payout runs record each
	// payment as not sent.
	StripeSecretKey string `env:"MARGIN_STRIPE_SECRET_KEY" secret:"true"`
	// StripeAPIBase points stripe-go elsewhere, e.g. at stripe-mock.
	StripeAPIBase string `env:"MARGIN_STRIPE_API_BASE"`
	// StripeWebhookSecret verifies webhook signatures.
	StripeWebhookSecret string `env:"MARGIN_STRIPE_WEBHOOK_SECRET" secret:"true"`

	// FeeBasisPoints is the platform fee taken from each submission's
	// price, in hundredths of a percent (1500 = 15%).
	FeeBasisPoints int64 `env:"MARGIN_PAYOUTS_FEE_BPS" envDefault:"1500"`
	// MinimumCents is the smallest payable balance a run pays out.
	MinimumCents int64 `env:"MARGIN_PAYOUTS_MINIMUM_CENTS" envDefault:"1000"`
	// Currency is the currency payouts are made in.
	Currency string `env:"MARGIN_PAYOUTS_CURRENCY" envDefault:"usd"`
	// Schedule starts a run automatically: "weekly" (Mondays, UTC),
	// "daily" or "off".
	Schedule string `env:"MARGIN_PAYOUTS_SCHEDULE" envDefault:"weekly"`
	// Tick is how often the background loop ingests earnings and resumes
	// unfinished runs.
	Tick time.Duration `env:"MARGIN_PAYOUTS_TICK" envDefault:"1m"`
	// Lease is how long a process holds a run it works on before another
	// may take it over.
	Lease time.Duration `env:"MARGIN_PAYOUTS_LEASE" envDefault:"2m"`
	// Concurrency is how many payments of a run are sent at once (their
	// Stripe calls overlap with the store's work).
	Concurrency int `env:"MARGIN_PAYOUTS_CONCURRENCY" envDefault:"4"`
	// Exclusive says this process is the only one that can use the store
	// (main sets it for the embedded store, whose data directory is
	// locked): at start, the leases of runs held by other processes are
	// released, since those processes are gone.
	Exclusive bool `env:"-"`
	// ReturnURL and RefreshURL are where Stripe onboarding sends a grader
	// back to (finished, or the link expired).
	ReturnURL  string `env:"MARGIN_PAYOUTS_RETURN_URL" envDefault:"http://127.0.0.1:8080/payouts/onboarding/return"`
	RefreshURL string `env:"MARGIN_PAYOUTS_REFRESH_URL" envDefault:"http://127.0.0.1:8080/payouts/onboarding/refresh"`

	// Fault makes the process exit at a payment step (before_stripe,
	// after_stripe, after_write); honoured only with TestFaults, for the
	// end-to-end crash tests.
	Fault      string `env:"MARGIN_PAYOUTS_FAULT"`
	TestFaults bool   `env:"MARGIN_TEST_FAULTS"`
	// TestFault, for crash tests only, holds every payment of a run at that
	// point until the process is killed (FaultAfterTransfer). Never set in
	// production.
	TestFault string `env:"MARGIN_TEST_FAULT"`

	// Billing is how schools pay (billing.go).
	Billing BillingConfig
}

// FaultAfterTransfer is the MARGIN_TEST_FAULT value that holds a payment
// after Stripe accepted its transfer and before the ledger records it.
const FaultAfterTransfer = "payouts.run.after-transfer"

// withDefaults fills the fields a Config built by hand leaves zero (tests
// build Configs by hand; main gets the env defaults).
func (c Config) withDefaults() Config {
	if c.Currency == "" {
		c.Currency = "usd"
	}
	if c.Schedule == "" {
		c.Schedule = "weekly"
	}
	if c.Tick == 0 {
		c.Tick = time.Minute
	}
	if c.Lease == 0 {
		c.Lease = 2 * time.Minute
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	c.Billing = c.Billing.withDefaults()
	return c
}

// Schedules are the values of Config.Schedule.
var Schedules = []string{"weekly", "daily", "off"}

// Validate reports every setting out of its range, each error naming its
// environment variable; main calls it once at start-up, before New.
func (c Config) Validate() error {
	var bad []error
	if !slices.Contains(Schedules, c.Schedule) {
		bad = append(bad, fmt.Errorf("MARGIN_PAYOUTS_SCHEDULE %q: want weekly, daily or off", c.Schedule))
	}
	if c.FeeBasisPoints < 0 || c.FeeBasisPoints > 10000 {
		bad = append(bad, fmt.Errorf("MARGIN_PAYOUTS_FEE_BPS %d: want 0 to 10000 basis points", c.FeeBasisPoints))
	}
	if c.MinimumCents < 0 {
		bad = append(bad, fmt.Errorf("MARGIN_PAYOUTS_MINIMUM_CENTS %d: want 0 or more cents", c.MinimumCents))
	}
	if len(c.Currency) != 3 || strings.ToLower(c.Currency) != c.Currency || strings.Trim(c.Currency, "abcdefghijklmnopqrstuvwxyz") != "" {
		bad = append(bad, fmt.Errorf("MARGIN_PAYOUTS_CURRENCY %q: want a lowercase ISO 4217 code such as usd", c.Currency))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"MARGIN_PAYOUTS_TICK", c.Tick}, {"MARGIN_PAYOUTS_LEASE", c.Lease}} {
		if d.v <= 0 {
			bad = append(bad, fmt.Errorf("%s %s: want a positive duration", d.name, d.v))
		}
	}
	if c.Concurrency < 1 {
		bad = append(bad, fmt.Errorf("MARGIN_PAYOUTS_CONCURRENCY %d: want 1 or more payments at once", c.Concurrency))
	}
	for _, u := range []struct{ name, v string }{
		{"MARGIN_PAYOUTS_RETURN_URL", c.ReturnURL}, {"MARGIN_PAYOUTS_REFRESH_URL", c.RefreshURL}, {"MARGIN_STRIPE_API_BASE", c.StripeAPIBase},
	} {
		if u.v == "" && u.name == "MARGIN_STRIPE_API_BASE" {
			continue // Stripe's own
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad = append(bad, fmt.Errorf("%s %q: want an absolute http or https URL", u.name, u.v))
		}
	}
	if c.Fault != "" && !slices.Contains([]stripeclient.Point{stripeclient.BeforeStripe, stripeclient.AfterStripe, stripeclient.AfterWrite}, stripeclient.Point(c.Fault)) {
		bad = append(bad, fmt.Errorf("MARGIN_PAYOUTS_FAULT %q: want before_stripe, after_stripe or after_write", c.Fault))
	}
	return errors.Join(bad...)
}

// PayableSource lists approved reads: feedback's payable log, from a
// position on. *feedback.Service implements it.
type PayableSource interface {
	PayableLog(ctx context.Context, after int64, limit int) (feedback.PayablePage, error)
}

// Accounts is what payouts reads of the accounts (an *account.Service):
// that an adjustment names a grader.
type Accounts interface {
	User(ctx context.Context, id string) (account.User, error)
	School(ctx context.Context, id string) (account.School, error)
	Teachers(ctx context.Context, schoolID string) ([]account.User, error)
}

// Service is the payouts service: a stateless handle on its collections. Any
// number of processes may run one against the same store.
type Service struct {
	db       *mongo.Database
	accounts Accounts
	cfg      Config
	log      *slog.Logger

	stripe *stripeclient.Client
	source PayableSource
	now    func() time.Time
	owner  string        // this process's lease owner ID
	kick   chan struct{} // wakes the background loop
	notes  Notifier      // nil: no events raised (SetNotifier)
	// ingesting serialises this process's Ingest passes; written holds
	// entry documents it wrote.
	ingesting sync.Mutex
	written   written
	// billingMu guards lastReconcile, when the loop last reconciled
	// school billing with Stripe.
	billingMu     sync.Mutex
	lastReconcile time.Time

	books, entries, runs, payments, state, stripeAccounts, owners, events *mongo.Collection
	schoolBooks, purchases                                                *mongo.Collection
	pseudonyms                                                            Pseudonyms
	oldLedger, migrations                                                 *mongo.Collection
}

// New returns the service; its earnings come from source (feedback's
// payable log). It does no I/O; call EnsureIndexes once at start. A zero
// field of cfg takes its default (tests build Configs by hand); main checks
// the configured values with Validate first.
func New(db *mongo.Database, accounts Accounts, source PayableSource, cfg Config, log *slog.Logger) *Service {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	s := &Service{
		db: db, accounts: accounts, source: source, cfg: cfg, log: log,
		now:            func() time.Time { return time.Now().UTC() },
		owner:          account.NewID("proc"),
		kick:           make(chan struct{}, 1),
		books:          db.Collection("ledger_books"),
		entries:        db.Collection("ledger_entries"),
		oldLedger:      db.Collection("ledger"),
		migrations:     db.Collection("payouts_migrations"),
		runs:           db.Collection("payout_runs"),
		payments:       db.Collection("payments"),
		state:          db.Collection("payout_state"),
		stripeAccounts: db.Collection("stripe_accounts"),
		owners:         db.Collection("stripe_account_owners"),
		events:         db.Collection("stripe_events"),
		schoolBooks:    db.Collection("school_books"),
		purchases:      db.Collection("school_purchases"),
	}
	s.stripe = stripeclient.New(stripeclient.Config{
		SecretKey: cfg.StripeSecretKey, APIBase: cfg.StripeAPIBase,
		WebhookSecret: cfg.StripeWebhookSecret, Fault: exitFault(cfg, log),
	})
	return s
}

// exitFault is the fault hook of the end-to-end crash tests: with
// MARGIN_TEST_FAULTS=1 and MARGIN_PAYOUTS_FAULT=<point>, the process exits
// at that point, as a crash would. Otherwise there is no hook.
func exitFault(cfg Config, log *slog.Logger) stripeclient.Fault {
	if !cfg.TestFaults || cfg.Fault == "" {
		return nil
	}
	return func(p stripeclient.Point) error {
		if string(p) == cfg.Fault {
			log.Warn("injected fault: exiting", "point", p)
			os.Exit(3)
		}
		return nil
	}
}

// StripeConfigured reports whether a Stripe secret key is set.
func (s *Service) StripeConfigured() bool { return s.stripe.Configured() }

// EnsureIndexes creates the service's indexes. It is idempotent. Every hot
// read is by _id, so there are none beyond _id.
func (s *Service) EnsureIndexes(ctx context.Context) error { return nil }

// pause holds the caller at a crash test's fault point (Config.TestFault)
// until ctx ends, and then fails, as the killed process would have.
func (s *Service) pause(ctx context.Context, point string) error {
	if s.cfg.TestFault != point {
		return nil
	}
	s.log.Warn("payouts paused for a crash test", "at", point)
	<-ctx.Done()
	return fmt.Errorf("paused at %s: %w", point, ctx.Err())
}

// Run runs the service's background loop until ctx ends: every Tick (or
// when woken by a new run) it ingests earnings, starts the scheduled run
// when one is due, and advances every unfinished run whose lease is free.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		s.work(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
	}
}

func (s *Service) work(ctx context.Context) {
	if _, err := s.Ingest(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("ingesting earnings", "err", err)
	}
	if err := s.startScheduled(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("starting the scheduled run", "err", err)
	}
	if err := s.AdvanceAll(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("advancing payout runs", "err", err)
	}
	if err := s.fold(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("folding payouts into the books", "err", err)
	}
	s.reconcileDue(ctx)
}

// wake asks the background loop (if this process runs one) to work now.
func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// get reads one document by _id into v; found is false when there is none.
func get(ctx context.Context, c *mongo.Collection, id string, v any) (found bool, err error) {
	err = c.FindOne(ctx, bson.M{"_id": id}).Decode(v)
	if err == mongo.ErrNoDocuments {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", c.Name(), id, err)
	}
	return true, nil
}
