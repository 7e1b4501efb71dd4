package api

import (
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/lti"
	"github.com/marginschool/margin/services/intake"
)

// What the web pages (package frontend-api/web) use of the server: they
// register their routes through Handle, with the same roles, body limits,
// sign-in, CSRF and error rendering as the API, and call the same services.

// The roles page routes declare (see Roles).
var (
	Public    = public
	Anyone    = anyone
	Teachers  = teachers
	Graders   = graders
	Students  = students
	AdminOnly = adminOnly
)

// Handle registers a route with the roles that may call it (handle).
func (s *Server) Handle(method, path string, roles Roles, h ...fiber.Handler) {
	s.handle(method, path, roles, h...)
}

// Services are the services the server was built with.
func (s *Server) Services() Deps { return s.deps }

// CSRF is the double-submit CSRF check of page forms.
func (s *Server) CSRF() fiber.Handler { return s.csrf }

// LoginLimits are the sign-in limits, shared by the API's and the page's
// sign-in routes.
func (s *Server) LoginLimits() []fiber.Handler { return s.loginLimits }

// SetSessionCookie starts a browser session with token tok.
func (s *Server) SetSessionCookie(c *fiber.Ctx, tok string, ttl time.Duration) {
	s.setSessionCookie(c, tok, ttl)
}

// StreamFiles reads at most maxFiles files of the request's multipart body
// into batch b, as the upload routes do; FinishBatch then ends the batch.
func (s *Server) StreamFiles(c *fiber.Ctx, b *intake.Batch, maxFiles int) error {
	return s.streamFiles(c, b, maxFiles)
}

// FinishBatch ends the request's part of batch b, given how reading its
// files ended (StreamFiles's error).
func (s *Server) FinishBatch(c *fiber.Ctx, b *intake.Batch, readErr error) (intake.Upload, error) {
	return s.finishBatch(c, b, readErr)
}

// UsePages puts gate before every page route registered after it, and
// makes errorPage the way a browser on a page is shown an error (see
// errorHandler).
func (s *Server) UsePages(gate fiber.Handler, errorPage func(c *fiber.Ctx, status int, e ErrorJSON) error) {
	s.app.Use(gate)
	s.pageError = errorPage
}

// Caller is the signed-in user; only for routes with roles.
func Caller(c *fiber.Ctx) account.User { return caller(c) }

// SignedIn is the signed-in user, if any.
func SignedIn(c *fiber.Ctx) (account.User, bool) {
	u, ok := c.Locals(userKey).(account.User)
	return u, ok
}

// Token is the request's session token, if it is signed in.
func Token(c *fiber.Ctx) string {
	tok, _ := c.Locals(tokenKey).(string)
	return tok
}

// Param is the path parameter name, as every route reads it (param).
func Param(c *fiber.Ctx, name string) string { return param(c, name) }

// VersionParam is the path's version number (:n).
func VersionParam(c *fiber.Ctx) (int, error) { return versionParam(c) }

// SafeNext is where a sign-in may send the browser next: a path on this
// site, or "" (safeNext).
func SafeNext(next string) string { return safeNext(next) }

// IsPagePath reports whether path belongs to the pages rather than the
// JSON API, the probes or the LTI key set (JSON an LMS fetches).
func IsPagePath(path string) bool {
	return !strings.HasPrefix(path, "/api/") && path != "/healthz" && path != "/readyz" && path != lti.JWKSPath
}

// Config is the server's configuration, as New got it.
func (s *Server) Config() Config { return s.cfg }

// Logger is the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// RequestID is the request's ID, as the request log and error pages show it.
func RequestID(c *fiber.Ctx) string {
	rid, _ := c.Locals(requestIDKey).(string)
	return rid
}

// LogPath is the request's path with secrets (access-link tokens) redacted,
// for logs.
func LogPath(c *fiber.Ctx) string { return logPath(c) }

// FormValues are the request's query and, for a form POST, its body's
// fields.
func FormValues(c *fiber.Ctx) url.Values { return formValues(c) }

// InboxPage is the ?page of an inbox request (see the inbox route).
func InboxPage(c *fiber.Ctx) (int64, error) { return inboxPage(c) }

// LTIOn answers 404 while LTI is off, else passes the request on.
func (s *Server) LTIOn(c *fiber.Ctx) error { return s.ltiOn(c) }

// LTIEnter signs in the person an LTI launch entered (see ltiEnter).
func (s *Server) LTIEnter(c *fiber.Ctx, e lti.Entry) (account.User, error) { return s.ltiEnter(c, e) }

// LTISyncLater syncs the class's roster from its LMS in the background.
func (s *Server) LTISyncLater(classID string) { s.ltiSyncLater(classID) }

// SignupLimit limits sign-ups per address (MARGIN_SIGNUP_PER_IP), as the
// JSON sign-up route does.
func (s *Server) SignupLimit() fiber.Handler { return s.signupLimit() }

// SendFile answers with body as a file of content type ctype, an
// attachment named name unless name is "" (sendFile).
func SendFile(c *fiber.Ctx, ctype, name string, body []byte) error {
	return sendFile(c, ctype, name, body)
}

// The content types of the files pages send.
const (
	CSVType = csvType
	SVGType = svgType
)
