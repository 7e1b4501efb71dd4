package api

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

const (
	requestIDKey = "requestid" // set by Fiber's requestid middleware
	userKey      = "margin.user"
	tokenKey     = "margin.token"
	// SessionCookie carries the bearer token for browsers.
	SessionCookie = "margin_session"
)

// recoverPanics turns a panic in a handler into a logged 500 with the
// request ID; the process keeps serving.
func (s *Server) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			rid, _ := c.Locals(requestIDKey).(string)
			s.log.Error("panic in handler", "request_id", rid, "method", c.Method(), "path", logPath(c),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = errs.Wrap(fmt.Errorf("panic: %v", r), "handler")
		}
	}()
	return c.Next()
}

// logRequests writes one structured line per request, with the status
// sent: a handler's error is rendered here (errorHandler), so the line
// shows its real status. It never logs bodies, query strings or headers,
// which can hold passwords and tokens, and it redacts the token of an
// access link's path (logPath).
func (s *Server) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		err = s.errorHandler(c, err)
	}
	status := c.Response().StatusCode()
	rid, _ := c.Locals(requestIDKey).(string)
	level := logLevel(status)
	if stopped, _ := c.Locals(stoppedKey).(bool); stopped {
		level = slog.LevelInfo // the client left or the server is stopping; not a fault
	}
	s.log.Log(c.UserContext(), level, "request",
		"request_id", rid, "method", c.Method(), "path", logPath(c), "status", status,
		"duration_ms", time.Since(start).Milliseconds())
	return err
}

// authenticate identifies the caller from an Authorization bearer token or
// the session cookie. An absent token leaves the request anonymous; an
// invalid one too (require rejects it where a role is needed).
func (s *Server) authenticate(c *fiber.Ctx) error {
	tok, viaCookie := bearer(c)
	if tok == "" {
		return c.Next()
	}
	u, err := s.deps.Accounts.Authenticate(c.UserContext(), tok)
	switch {
	case err == nil:
		c.Locals(userKey, u)
		c.Locals(tokenKey, tok)
		c.Locals(viaCookieKey, viaCookie)
	case errs.Is(err, errs.Unauthenticated):
	default:
		return err
	}
	return c.Next()
}

// bearer is the request's session token, and whether it came from the
// cookie rather than the Authorization header.
func bearer(c *fiber.Ctx) (string, bool) {
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t), false
		}
	}
	tok := c.Cookies(SessionCookie)
	return tok, tok != ""
}

// require admits callers signed in with one of roles: 401 without a
// session, 403 with the wrong role.
func require(roles Roles) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u, ok := c.Locals(userKey).(account.User)
		if !ok {
			return errs.E(errs.Unauthenticated, "Sign in first.")
		}
		for _, r := range roles {
			if u.Role == r {
				return c.Next()
			}
		}
		return errs.E(errs.Forbidden, "Your role (%s) may not do this.", u.Role)
	}
}

// caller is the signed-in user; only for routes behind require.
func caller(c *fiber.Ctx) account.User {
	u, _ := c.Locals(userKey).(account.User)
	return u
}
