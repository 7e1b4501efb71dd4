// Package lti is Margin's side of LTI 1.3 and LTI Advantage (1EdTech): it
// lets Canvas, Schoology, Moodle or any platform that follows the
// specifications install Margin, launch people into it, share a course's
// roster and receive grades.
//
// It adapts one protocol and has no HTTP framework in it: each flow is a
// method that takes the values a request carried and returns what to send
// back (a redirect URL, a cookie, a form to post, a validated Launch). The
// HTTP layer maps them to routes (see docs/LTI.md) and errors to statuses
// through pkg/errs. Signing and verification use go-jose v4; nothing here
// parses or signs a JWT by hand.
//
// Collections (owned here, read by no one else; every hot read is by _id):
//   - lti_registrations: one per platform registration; _id from (issuer,
//     client ID); holds its deployment IDs
//   - lti_keys:          one document, _id "keyset": Margin's signing keys
//   - lti_platform_keys: a platform's JWKS as last fetched; _id from its URL
//   - lti_states:        one per OIDC login in flight; _id is the SHA-256 of
//     the state, which is also bound to a browser cookie
//   - lti_nonces:        used nonces, one document per hour of expiry
//   - lti_contexts:      one per LMS course (issuer, deployment, context):
//     its Margin class and the members Margin has seen
//   - lti_gradebooks:    one per line item: every student's score post and
//     its outcome (the idempotency record)
//   - lti_outbox:        line items with scores waiting to be posted
//   - lti_deep_links:    deep linking launches held while a teacher picks
//     an assignment; _id is the hash of the picker's token
package lti

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
)

// Routes Margin serves for LTI, relative to its public URL.
const (
	LoginPath    = "/lti/login"    // OIDC third-party login initiation (GET or POST)
	LaunchPath   = "/lti/launch"   // redirect URI and target link URI (POST id_token, state)
	JWKSPath     = "/lti/jwks"     // Margin's public keys (GET)
	RegisterPath = "/lti/register" // Dynamic Registration initiation (GET openid_configuration, registration_token)
)

// Config is the LTI configuration, parsed once in main.
type Config struct {
	// PublicURL is the origin platforms and browsers reach Margin at, e.g.
	// https://margin.example.edu. Every URL Margin registers derives from it.
	PublicURL string `env:"MARGIN_PUBLIC_URL"`
	// KeyRotation is how long a signing key signs before the next one
	// takes over. The next key is published one period before it signs.
	KeyRotation time.Duration `env:"MARGIN_LTI_KEY_ROTATION" envDefault:"720h"`
	// TokenLifetime is the lifetime of every JWT Margin signs (client
	// assertions, deep-linking responses). A retired key stays published
	// for this long plus a minute.
	TokenLifetime time.Duration `env:"MARGIN_LTI_TOKEN_LIFETIME" envDefault:"5m"`
	// ToolName is the name Margin registers under.
	ToolName string `env:"MARGIN_LTI_TOOL_NAME" envDefault:"Margin"`
}

// Timing the specifications leave to the tool.
const (
	stateTTL       = 10 * time.Minute // a login must come back as a launch within this
	clockLeeway    = time.Minute      // for exp and iat of platform tokens
	keysetCacheTTL = time.Minute      // how stale a process's view of its own keys may be
	jwksMaxAge     = 24 * time.Hour   // a platform's JWKS is refetched after this anyway
	jwksMinRefetch = time.Minute      // and at most this often on an unknown kid
	maxBody        = 4 << 20          // largest platform response Margin reads
)

// Tool is Margin as an LTI tool: a stateless handle on its collections.
// Any number of processes may run one against the same store.
type Tool struct {
	db   *mongo.Database
	cfg  Config
	base *url.URL
	http *http.Client
	log  *slog.Logger
	now  func() time.Time

	// sleep waits between retries; tests shorten it.
	sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	keys   *keyset          // this process's view of lti_keys
	keysAt time.Time        // when keys was read
	tokens map[string]token // service access tokens by registration and scope
}

// Option changes a Tool made by New.
type Option func(*Tool)

// WithHTTPClient makes the Tool call platforms through c (the default has
// a 20 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(t *Tool) { t.http = c } }

// WithClock makes the Tool read the time from now (tests move it).
func WithClock(now func() time.Time) Option { return func(t *Tool) { t.now = now } }

// WithLogger sets where the Tool logs failed score posts and key rotations.
func WithLogger(l *slog.Logger) Option { return func(t *Tool) { t.log = l } }

// New returns a Tool on db. It returns errs.Invalid when PublicURL is not
// an absolute http(s) URL, or a durations is not positive.
func New(db *mongo.Database, cfg Config, opts ...Option) (*Tool, error) {
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errs.F(errs.Invalid, "MARGIN_PUBLIC_URL", "The public URL must be an absolute http(s) URL such as https://margin.example.edu.")
	}
	if cfg.KeyRotation <= 0 || cfg.TokenLifetime <= 0 {
		return nil, errs.E(errs.Invalid, "LTI key rotation and token lifetime must be positive.")
	}
	if cfg.ToolName == "" {
		cfg.ToolName = "Margin"
	}
	t := &Tool{
		db:     db,
		cfg:    cfg,
		base:   u,
		http:   &http.Client{Timeout: 20 * time.Second},
		log:    slog.Default(),
		now:    time.Now,
		sleep:  sleepCtx,
		tokens: map[string]token{},
	}
	for _, o := range opts {
		o(t)
	}
	return t, nil
}

// URL returns the absolute URL of one of Margin's LTI routes.
func (t *Tool) URL(path string) string { return t.cfg.PublicURL + path }

func (t *Tool) col(name string) *mongo.Collection { return t.db.Collection(name) }

// Collections owned by lti.
const (
	colRegistrations = "lti_registrations"
	colKeys          = "lti_keys"
	colPlatformKeys  = "lti_platform_keys"
	colStates        = "lti_states"
	colNonces        = "lti_nonces"
	colContexts      = "lti_contexts"
	colGradebooks    = "lti_gradebooks"
	colOutbox        = "lti_outbox"
)

// hashID is a deterministic, fixed-length _id for a tuple of strings.
func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:32]
}

// randomToken is 32 random bytes, URL-safe.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

func upsert() *options.UpdateOptions { return options.Update().SetUpsert(true) }

func replaceUpsert() *options.ReplaceOptions { return options.Replace().SetUpsert(true) }

func projectID() *options.FindOptions {
	return options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}})
}
