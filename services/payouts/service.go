package payouts

import (
	"context"
	"log/slog"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/blob"
)

// Config is the payouts service's configuration, parsed once in main from
// MARGIN_* environment variables (see the env tags).
type Config struct {
	// StripeSecretKey enables Stripe; without it payout runs record each
	// payment as not sent.
	StripeSecretKey string `env:"MARGIN_STRIPE_SECRET_KEY"`
	// StripeAPIBase points stripe-go elsewhere, e.g. at stripe-mock.
	StripeAPIBase string `env:"MARGIN_STRIPE_API_BASE"`
	// StripeWebhookSecret verifies webhook signatures.
	StripeWebhookSecret string `env:"MARGIN_STRIPE_WEBHOOK_SECRET"`
}

// Service is the payouts service: a stateless handle on its collections. Any
// number of processes may run one against the same store.
type Service struct {
	db       *mongo.Database
	blobs    *blob.Store
	accounts *account.Service
	cfg      Config
	log      *slog.Logger
}

// New returns the service. It does no I/O; call EnsureIndexes once at start.
func New(db *mongo.Database, blobs *blob.Store, accounts *account.Service, cfg Config, log *slog.Logger) *Service {
	return &Service{db: db, blobs: blobs, accounts: accounts, cfg: cfg, log: log}
}

// EnsureIndexes creates the service's indexes. It is idempotent.
func (s *Service) EnsureIndexes(ctx context.Context) error { return nil }

// Run runs the service's background loop until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
