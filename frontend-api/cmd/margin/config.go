package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/marginschool/margin/pkg/blob"
	"github.com/marginschool/margin/pkg/lti"
	"github.com/marginschool/margin/pkg/notify"

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

	MongoURI      string `env:"MARGIN_MONGODB_URI" secret:"true"`
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

// loadConfig parses the environment into a Config (with the defaults in
// its tags) and validates it: a value that cannot be parsed or is out of
// range is an error naming its variable, so a typo stops the start instead
// of being replaced by a default.
func loadConfig() (Config, error) {
	cfg, err := env.ParseAs[Config]()
	if err != nil {
		return Config{}, fmt.Errorf("configuration: %w", namedParseError(err))
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
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// testFaults are the values MARGIN_TEST_FAULT may take.
var testFaults = []string{blob.PauseMidWrite, blob.PausePublished, intake.PauseBeforeRow, feedback.FaultSaveMid, payouts.FaultAfterTransfer}

// Validate reports every setting out of its range, Margin's own and each
// service's (their Config.Validate), each error naming its variable.
func (c Config) Validate() error {
	var bad []error
	if _, err := c.level(); err != nil {
		bad = append(bad, err)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad = append(bad, fmt.Errorf("MARGIN_ADDR %q: want host:port, such as 127.0.0.1:8080", c.Addr))
	}
	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		bad = append(bad, fmt.Errorf("MARGIN_MONGODB_URI %q: want a mongodb:// or mongodb+srv:// URI, or nothing for the embedded store", mask(c.MongoURI)))
	}
	if c.MongoDatabase == "" {
		bad = append(bad, errors.New("MARGIN_MONGODB_DATABASE is empty: want a database name"))
	}
	if c.S3Endpoint != "" && c.S3Endpoint != awsS3 {
		if u, err := url.Parse(c.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad = append(bad, fmt.Errorf("MARGIN_S3_ENDPOINT %q: want an http or https URL, %q for AWS S3, or nothing for the embedded S3", c.S3Endpoint, awsS3))
		}
	}
	for _, v := range []struct{ name, value string }{{"MARGIN_S3_BUCKET", c.S3Bucket}, {"MARGIN_S3_REGION", c.S3Region}} {
		if v.value == "" {
			bad = append(bad, fmt.Errorf("%s is empty", v.name))
		}
	}
	for _, n := range []struct {
		name  string
		value int
	}{{"MARGIN_LOGIN_PER_IP", c.LoginPerIP}, {"MARGIN_LOGIN_FAILURES_PER_ACCOUNT", c.LoginFailuresPerAccount}, {"MARGIN_SIGNUP_PER_IP", c.SignupPerIP}} {
		if n.value < 1 {
			bad = append(bad, fmt.Errorf("%s %d: want 1 or more attempts", n.name, n.value))
		}
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"MARGIN_LOGIN_WINDOW", c.LoginWindow}, {"MARGIN_SHUTDOWN_TIMEOUT", c.ShutdownTimeout}} {
		if d.value <= 0 {
			bad = append(bad, fmt.Errorf("%s %s: want a positive duration", d.name, d.value))
		}
	}
	if c.TestFault != "" && !slices.Contains(testFaults, c.TestFault) {
		bad = append(bad, fmt.Errorf("MARGIN_TEST_FAULT %q: want one of %s (crash tests only)", c.TestFault, strings.Join(testFaults, ", ")))
	}
	if c.LTI.PublicURL != "" {
		if _, err := lti.New(nil, c.LTI); err != nil { // checks the values only
			bad = append(bad, err)
		}
	}
	for _, v := range []interface{ Validate() error }{c.Intake, c.Matching, c.Feedback, c.Analytics, c.Payouts, c.Notify} {
		if err := v.Validate(); err != nil {
			bad = append(bad, err)
		}
	}
	return errors.Join(bad...)
}

func (c Config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("MARGIN_LOG_LEVEL %q: want debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// LogValue is every setting, by its variable's name, with secrets (the
// fields tagged secret:"true") masked: what serve prints at start-up.
func (c Config) LogValue() slog.Value {
	var attrs []slog.Attr
	seen := map[string]bool{} // MARGIN_TEST_FAULT is read by main and by services
	eachSetting(reflect.ValueOf(c), func(name string, f reflect.StructField, v reflect.Value) {
		if seen[name] {
			return
		}
		seen[name] = true
		value := fmt.Sprint(v.Interface())
		if f.Tag.Get("secret") == "true" {
			value = mask(value)
		}
		attrs = append(attrs, slog.String(name, value))
	})
	return slog.GroupValue(attrs...)
}

// eachSetting calls fn with every field of the config struct v (and of the
// structs it holds) that is read from a variable, in order.
func eachSetting(v reflect.Value, fn func(name string, f reflect.StructField, v reflect.Value)) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		switch {
		case f.Type.Kind() == reflect.Struct && name == "" && f.Type != reflect.TypeFor[time.Time]():
			eachSetting(v.Field(i), fn)
		case name != "" && name != "-":
			fn(name, f, v.Field(i))
		}
	}
}

// namedParseError rewrites the parser's errors, which name Go fields, to
// name the variables instead.
func namedParseError(err error) error {
	vars := map[string]string{}
	eachSetting(reflect.ValueOf(Config{}), func(name string, f reflect.StructField, _ reflect.Value) { vars[f.Name] = name })
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	var out []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && vars[pe.Name] != "" {
			e = fmt.Errorf("%s: %w", vars[pe.Name], pe.Err)
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// mask hides secrets: a Stripe key keeps its prefix, a URI loses its
// password, anything else shows only that it is set.
func mask(s string) string {
	switch {
	case s == "":
		return ""
	case strings.HasPrefix(s, "sk_") || strings.HasPrefix(s, "rk_"):
		return s[:min(8, len(s))] + "…"
	case strings.Contains(s, "://"):
		scheme, rest, _ := strings.Cut(s, "://")
		if _, host, ok := strings.Cut(rest, "@"); ok {
			return scheme + "://…@" + host
		}
		return s
	}
	return "…"
}
