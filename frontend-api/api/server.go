// Package api is Margin's HTTP edge: the JSON API under /api/v1, built on
// Fiber, which the web pages (package frontend-api/web) join through
// webhost.go; no file here renders a page. It authenticates every
// request, checks the caller's role against what each route declares,
// decodes and validates input, calls the services, and maps their errors to
// HTTP in one place (errorHandler). It holds no business rules of its own.
package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/services/analytics"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
	"github.com/marginschool/margin/services/payouts"
)

// Config is the HTTP edge's part of the process configuration.
type Config struct {
	// SecureCookies marks the session cookie Secure (serve behind HTTPS).
	SecureCookies bool
	// LoginPerIP is how many login attempts one address may make per
	// minute, through the API and the sign-in page together.
	LoginPerIP int
	// LoginFailuresPerAccount is how many failed logins one account may
	// take per LoginWindow before further attempts are refused.
	LoginFailuresPerAccount int
	LoginWindow             time.Duration
	// SignupPerIP is how many sign-ups one address may attempt per hour.
	SignupPerIP int
	// MaxJSONBody caps JSON and form request bodies, in bytes (sign-in,
	// roster and webhook bodies have their own caps; see bodyPolicyFor).
	MaxJSONBody int64
	// MaxUploadBody caps the body of a teacher's upload request, in bytes.
	MaxUploadBody int64
	// RequestTimeout is how long a request may run; UploadTimeout the same
	// for an upload, which reads every file it is sent.
	RequestTimeout time.Duration
	UploadTimeout  time.Duration
	// UploadsPerUser is how many uploads one user may have being read at
	// once; more are refused with 429.
	UploadsPerUser int
	// Email says notifications also go by email (MARGIN_SMTP_URL is set);
	// the pages say so. Without it they reach the inbox only.
	Email bool
	// DrainTimeout is how long Shutdown waits, after it has stopped the
	// requests still running, for them to answer.
	DrainTimeout time.Duration
}

// withDefaults fills unset fields.
func (c Config) withDefaults() Config {
	if c.LoginPerIP == 0 {
		c.LoginPerIP = 30
	}
	if c.LoginFailuresPerAccount == 0 {
		c.LoginFailuresPerAccount = 5
	}
	if c.LoginWindow == 0 {
		c.LoginWindow = 15 * time.Minute
	}
	if c.SignupPerIP == 0 {
		c.SignupPerIP = 30
	}
	if c.MaxJSONBody == 0 {
		c.MaxJSONBody = 1 << 20
	}
	if c.MaxUploadBody == 0 {
		c.MaxUploadBody = 512 << 20
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Minute
	}
	if c.UploadTimeout == 0 {
		c.UploadTimeout = time.Hour
	}
	if c.UploadsPerUser == 0 {
		c.UploadsPerUser = 2
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	return c
}

// Pinger is a dependency whose reachability /readyz reports.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the services the API calls.
type Deps struct {
	Accounts  *account.Service
	Intake    *intake.Service
	Matching  *matching.Service
	Feedback  *feedback.Service
	Analytics *analytics.Service
	Payouts   *payouts.Service
	// Notify holds every user's inbox and email settings.
	Notify *notify.Service
	// LTI is nil unless LTI is on (MARGIN_PUBLIC_URL).
	LTI *LTI
	// Ready lists the dependencies /readyz checks, by name.
	Ready  map[string]Pinger
	Logger *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	app  *fiber.App

	roles      map[string]Roles // declared per route by handle
	routeTable []routeEntry     // every route's body policy, in registration order
	uploads    *userSlots

	// base is the parent of every request's context; stop cancels it.
	base context.Context
	stop context.CancelCauseFunc

	// csrf checks the double-submit CSRF token of page forms and of
	// cookie-authenticated API writes.
	csrf fiber.Handler
	// loginLimits guard both sign-in routes (API and page) with one set of
	// counters.
	loginLimits []fiber.Handler
	// pageError renders an error as an HTML page (see errorHandler); nil
	// until the pages are registered.
	pageError func(c *fiber.Ctx, status int, e ErrorJSON) error
}

// New builds the Fiber app with every route registered.
func New(cfg Config, deps Deps) *Server {
	cfg = cfg.withDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger, roles: map[string]Roles{}, uploads: newUserSlots(cfg.UploadsPerUser)}
	s.base, s.stop = context.WithCancelCause(context.Background())
	s.app = fiber.New(fiber.Config{
		AppName:               "margin",
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		// Every body streams and nothing pre-parses multipart forms, so
		// nothing reads a body before prepare has applied its route's limit
		// (Fiber's BodyLimit is not enforced on streamed bodies).
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    int(cfg.MaxUploadBody),
		ReadTimeout:                  5 * time.Minute,
		WriteTimeout:                 5 * time.Minute,
		IdleTimeout:                  2 * time.Minute,
	})
	s.csrf = s.newCSRF()
	s.loginLimits = s.newLoginLimits()
	s.app.Use(requestid.New(), s.securityHeaders, s.logRequests, s.recoverPanics, s.prepare, s.authenticate, s.apiCSRF)
	s.routes()
	return s
}

// App is the Fiber app, for Listen, Shutdown and app.Test.
func (s *Server) App() *fiber.App { return s.app }

// Roles lists who may call a route. A nil Roles means anyone, signed in or
// not.
type Roles []account.Role

var (
	public    Roles
	anyone    = Roles{account.Teacher, account.Grader, account.Student, account.Admin}
	teachers  = Roles{account.Teacher, account.Admin}
	graders   = Roles{account.Grader}
	students  = Roles{account.Student}
	adminOnly = Roles{account.Admin}
)

// handle registers a route and the roles that may call it. Every route goes
// through here, so none can be registered without declaring who may call
// it; routeRoles lets tests and the OpenAPI check read the declarations.
func (s *Server) handle(method, path string, roles Roles, h ...fiber.Handler) {
	if roles != nil {
		h = append([]fiber.Handler{require(roles)}, h...)
	}
	s.app.Add(method, path, h...)
	s.roles[method+" "+path] = roles
	s.addRoute(method, path)
}

// RouteRoles reports each route's declared roles, keyed "GET /api/v1/me".
func (s *Server) RouteRoles() map[string]Roles { return s.roles }

func (s *Server) routes() {
	s.handle(fiber.MethodGet, "/healthz", public, s.healthz)
	s.handle(fiber.MethodGet, "/readyz", public, s.readyz)

	s.handle(fiber.MethodPost, "/api/v1/signup", public, s.signupLimit(), s.signup)
	s.handle(fiber.MethodPost, "/api/v1/sessions", public, append(s.loginLimits, s.login)...)
	s.handle(fiber.MethodDelete, "/api/v1/sessions/current", anyone, s.logout)
	s.handle(fiber.MethodDelete, "/api/v1/sessions", anyone, s.logoutEverywhere)
	s.handle(fiber.MethodGet, "/api/v1/me", anyone, s.me)
	s.handle(fiber.MethodGet, "/api/v1/admin/schools", adminOnly, s.adminSchools)

	// Each service's routes live in its own file.
	s.intakeRoutes()
	s.matchingRoutes()
	s.feedbackRoutes()
	s.analyticsRoutes()
	s.payoutsRoutes()
	s.ltiRoutes() // before pageRoutes: see ltiRoutes
	s.billingRoutes()
	s.notifyRoutes()
}
