package api

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"github.com/marginschool/margin/pkg/errs"
)

// csrfCookie holds the double-submit CSRF token of the pages; every page
// that changes something posts it back as the form field _csrf or the
// X-CSRF-Token header, and so does page script calling the API.
const csrfCookie = "margin_csrf"

// viaCookieKey marks a request signed in by the session cookie rather than
// an Authorization header.
const viaCookieKey = "margin.via_cookie"

// Content-Security-Policies of what is not a page: SVG charts, and the
// printable report (self-contained HTML with its own style sheet). Neither
// may run script or be framed.
const (
	svgCSP      = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
	documentCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

// PageCSP is the Content-Security-Policy of every page: scripts and styles only
// from Margin itself (no inline script or style), no plugins, no framing.
const PageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// securityHeaders puts the same headers on every response: no MIME
// sniffing, no framing, no referrer to other sites, and a
// Content-Security-Policy (the pages' own, or a stricter one for SVG and
// the report, which run no script).
func (s *Server) securityHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set(fiber.HeaderContentSecurityPolicy, PageCSP)
	err := c.Next()
	ct := string(c.Response().Header.ContentType())
	switch {
	case strings.HasPrefix(ct, "image/svg+xml"):
		c.Set(fiber.HeaderContentSecurityPolicy, svgCSP)
	case strings.HasPrefix(ct, fiber.MIMETextHTML) && !IsPagePath(c.Path()):
		c.Set(fiber.HeaderContentSecurityPolicy, documentCSP)
	}
	return err
}

// newCSRF is the double-submit CSRF check shared by the pages and the
// cookie-authenticated API.
func (s *Server) newCSRF() fiber.Handler {
	return csrf.New(csrf.Config{
		CookieName:        csrfCookie,
		CookieSameSite:    "Lax",
		CookieHTTPOnly:    true,
		CookieSecure:      s.cfg.SecureCookies,
		CookieSessionOnly: true,
		Expiration:        12 * time.Hour,
		ContextKey:        "csrf",
		Extractor: func(c *fiber.Ctx) (string, error) {
			if h := c.Get(csrf.HeaderName); h != "" {
				return h, nil
			}
			if IsPagePath(c.Path()) {
				if v := boundedFormValue(c, "_csrf"); v != "" { // never reads past the route's body limit, or into an upload's files
					return v, nil
				}
			}
			return "", csrf.ErrTokenNotFound
		},
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			if !IsPagePath(c.Path()) {
				return errs.E(errs.Forbidden, "A change made with the session cookie needs the page's CSRF token in the X-CSRF-Token header; API clients sign in with Authorization: Bearer instead.")
			}
			return errs.E(errs.Forbidden, "This form has expired or did not come from Margin. Reload the page and try again.")
		},
	})
}

// apiCSRF requires the CSRF token on API writes signed in by the session
// cookie, which a browser sends with a request from any site. Requests
// with an Authorization bearer token, which no other site can make a
// browser send, need none.
func (s *Server) apiCSRF(c *fiber.Ctx) error {
	if IsPagePath(c.Path()) || c.Locals(viaCookieKey) != true {
		return c.Next()
	}
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	return s.csrf(c)
}

// logPath is the request's path as logs show it: an access link's token is
// a password, so /s/<token> is logged as /s/[redacted]. Query strings are
// never logged (the family link's token travels there).
func logPath(c *fiber.Ctx) string { return redactPath(c.Path()) }

func redactPath(p string) string {
	// An email's sign-in, unsubscribe and password reset links carry
	// tokens too.
	for _, prefix := range []string{"/s/", "/n/", "/unsubscribe/", "/reset/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok && rest != "" {
			return prefix + "[redacted]"
		}
	}
	return p
}

// safeNext returns next if it is a path on this site to go to after
// signing in, and "" otherwise. Browsers drop tabs and line breaks from a
// URL and read a backslash as a slash, so "/\t/evil.example" would go to
// //evil.example: any control character or backslash is refused outright.
func safeNext(next string) string {
	if strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return ""
	}
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	return next
}

// newLoginLimits are the sign-in limits that the API's login and the
// sign-in page share (one set of counters, so two routes give no extra
// guesses): attempts per client address per minute, and failed attempts
// per account per LoginWindow (so that guessing one teacher's password
// from many addresses is slow too). A limit reached is errs.RateLimited.
//
// The limiter reads the response status as soon as the handler after it
// returns, so the handler must have written its response (failed logins
// then count as failures).
func (s *Server) newLoginLimits() []fiber.Handler {
	reached := func(c *fiber.Ctx) error {
		return errs.E(errs.RateLimited, "Too many sign-in attempts; wait a few minutes and try again.")
	}
	perIP := limiter.New(limiter.Config{
		Max:          s.cfg.LoginPerIP,
		Expiration:   time.Minute,
		KeyGenerator: func(c *fiber.Ctx) string { return "ip:" + c.IP() },
		LimitReached: reached,
	})
	perAccount := limiter.New(limiter.Config{
		Max:                    s.cfg.LoginFailuresPerAccount,
		Expiration:             s.cfg.LoginWindow,
		SkipSuccessfulRequests: true,
		KeyGenerator:           func(c *fiber.Ctx) string { return "account:" + s.loginEmail(c) },
		LimitReached:           reached,
	})
	return []fiber.Handler{perIP, perAccount}
}

// loginEmail is the email a sign-in attempt names, lowercased: the form
// field on the page, the JSON field on the API. An unreadable body gives
// "", whose attempts share one counter (they fail anyway).
func (s *Server) loginEmail(c *fiber.Ctx) string {
	if IsPagePath(c.Path()) {
		return strings.ToLower(strings.TrimSpace(boundedFormValue(c, "email")))
	}
	var in struct {
		Email string `json:"email"`
	}
	if json.Unmarshal(readBody(c), &in) != nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(in.Email))
}

// signupLimit limits sign-up attempts per client address per hour.
func (s *Server) signupLimit() fiber.Handler {
	return limiter.New(limiter.Config{
		Max:          s.cfg.SignupPerIP,
		Expiration:   time.Hour,
		KeyGenerator: func(c *fiber.Ctx) string { return "signup:" + c.IP() },
		LimitReached: func(c *fiber.Ctx) error {
			return errs.E(errs.RateLimited, "Too many sign-ups from this address; wait an hour and try again.")
		},
	})
}
