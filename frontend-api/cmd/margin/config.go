package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/pkg/lti"
	"github.com/marginschool/margin/services/analytics"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
	"github.com/marginschool/margin/services/payouts"
)

// awsS3 is the MARGIN_S3_ENDPOINT value that selects AWS S3 itself.
const awsS3 = "aws"

// Config is everything Margin reads from its environment, parsed once at
// start-up. Unset means the embedded default.
type Config struct {
	DataDir  string `env:"MARGIN_DATA_DIR" envDefault:"./margin-data"`
	Addr     string `env:"MARGIN_ADDR" envDefault:"127.0.0.1:8080"`
	LogLevel string `env:"MARGIN_LOG_LEVEL" envDefault:"info"`

	MongoURI      string `env:"MARGIN_MONGODB_URI"`
	MongoDatabase string `env:"MARGIN_MONGODB_DATABASE" envDefault:"margin"`

	// S3Endpoint is an S3-compatible endpoint URL, or "aws" for AWS S3
	// itself; empty starts the embedded S3.
	S3Endpoint  string `env:"MARGIN_S3_ENDPOINT"`
	S3Bucket    string `env:"MARGIN_S3_BUCKET" envDefault:"margin"`
	S3Region    string `env:"MARGIN_S3_REGION" envDefault:"us-east-1"`
	S3PathStyle bool   `env:"MARGIN_S3_PATH_STYLE" envDefault:"true"`
	// S3 credentials come from the usual AWS variables (AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY, AWS_PROFILE, …) through the SDK's chain.

	// TmpDir holds each process's temporary files (upload spools) in a
	// run-* directory of its own; a start removes those of dead processes.
	// Default: DataDir/tmp, or $TMPDIR/margin with MongoDB and S3 both
	// configured.
	TmpDir string `env:"MARGIN_TMP_DIR"`
	// TestFault, for crash tests only, holds the process at one point until
	// it is killed: the embedded S3 in every put (blob.PauseMidWrite or
	// blob.PausePublished), an upload between storing a version and listing
	// it (intake.PauseBeforeRow), a feedback change (feedback.FaultSaveMid)
	// or a payout run's payment (payouts.FaultAfterTransfer); the services
	// read it too. Never set in production.
	TestFault string `env:"MARGIN_TEST_FAULT"`

	// Each service's own settings (env tags in its Config).
	Intake    intake.Config
	Matching  matching.Config
	Feedback  feedback.Config
	Analytics analytics.Config
	Payouts   payouts.Config
	// Notify is email and the in-app inbox (MARGIN_SMTP_URL and friends;
	// no SMTP URL: the inbox only).
	Notify notify.Config
	// LTI is off unless MARGIN_PUBLIC_URL is set.
	LTI lti.Config

	SecureCookies           bool          `env:"MARGIN_SECURE_COOKIES"`
	LoginPerIP              int           `env:"MARGIN_LOGIN_PER_IP" envDefault:"30"`
	LoginFailuresPerAccount int           `env:"MARGIN_LOGIN_FAILURES_PER_ACCOUNT" envDefault:"5"`
	LoginWindow             time.Duration `env:"MARGIN_LOGIN_WINDOW" envDefault:"15m"`
	SignupPerIP             int           `env:"MARGIN_SIGNUP_PER_IP" envDefault:"30"`
	ShutdownTimeout         time.Duration `env:"MARGIN_SHUTDOWN_TIMEOUT" envDefault:"30s"`
}

func loadConfig() (Config, error) {
	cfg, err := env.ParseAs[Config]()
	if err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	if err := cfg.Payouts.Billing.Validate(); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return Config{}, fmt.Errorf("configuration: MARGIN_DATA_DIR: %w", err)
	}
	if cfg.TmpDir == "" {
		cfg.TmpDir = filepath.Join(cfg.DataDir, "tmp")
		if cfg.MongoURI != "" && cfg.S3Endpoint != "" {
			cfg.TmpDir = filepath.Join(os.TempDir(), "margin")
		}
	}
	if cfg.TmpDir, err = filepath.Abs(cfg.TmpDir); err != nil {
		return Config{}, fmt.Errorf("configuration: MARGIN_TMP_DIR: %w", err)
	}
	if _, err := cfg.level(); err != nil {
		return Config{}, err
	}
	if cfg.LoginPerIP < 1 || cfg.LoginFailuresPerAccount < 1 || cfg.LoginWindow <= 0 || cfg.SignupPerIP < 1 {
		return Config{}, fmt.Errorf("configuration: login and sign-up limits must be positive")
	}
	if err := cfg.Notify.Validate(); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	if cfg.LTI.PublicURL != "" {
		if _, err := lti.New(nil, cfg.LTI); err != nil { // checks the values only
			return Config{}, fmt.Errorf("configuration: %w", err)
		}
	}
	if cfg.Intake.AccessLinkTTL <= 0 {
		return Config{}, fmt.Errorf("configuration: MARGIN_ACCESS_LINK_TTL must be positive")
	}
	return cfg, nil
}

func (c Config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("configuration: MARGIN_LOG_LEVEL %q: want debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// LogValue prints the configuration with secrets masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("data_dir", c.DataDir),
		slog.String("tmp_dir", c.TmpDir),
		slog.String("addr", c.Addr),
		slog.String("mongodb", orEmbedded(mask(c.MongoURI))),
		slog.String("s3", orEmbedded(c.S3Endpoint)),
		slog.String("s3_bucket", c.S3Bucket),
		slog.String("stripe_key", mask(c.Payouts.StripeSecretKey)),
		slog.String("stripe_api_base", c.Payouts.StripeAPIBase),
		slog.Bool("secure_cookies", c.SecureCookies),
		slog.String("smtp", c.smtpText()),
		slog.String("public_url", c.Notify.PublicURL),
	)
}

// smtpText names the mail server with its password masked, or says there
// is none.
func (c Config) smtpText() string {
	srv, err := c.Notify.SMTP()
	if c.Notify.SMTPURL == "" || err != nil {
		return "none (inbox only)"
	}
	return srv.String()
}

func orEmbedded(s string) string {
	if s == "" {
		return "embedded"
	}
	return s
}

// mask hides secrets: a Stripe key keeps its prefix, a URI loses its
// password.
func mask(s string) string {
	switch {
	case s == "":
		return ""
	case strings.HasPrefix(s, "sk_") || strings.HasPrefix(s, "rk_"):
		return s[:min(8, len(s))] + "…"
	case strings.Contains(s, "@") && strings.Contains(s, "://"):
		scheme, rest, _ := strings.Cut(s, "://")
		_, host, _ := strings.Cut(rest, "@")
		return scheme + "://…@" + host
	}
	return "…"
}
