package api

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// signupResponse is the new user, and for a teacher who founded a school,
// the school with its invite code to hand to colleagues.
type signupResponse struct {
	User   account.User    `json:"user"`
	School *account.School `json:"school,omitempty"`
}

func (s *Server) signup(c *fiber.Ctx) error {
	var in account.SignUp
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	u, err := s.deps.Accounts.SignUp(c.UserContext(), in)
	if err != nil {
		return err
	}
	resp := signupResponse{User: u}
	if u.SchoolID != "" {
		sch, err := s.deps.Accounts.School(c.UserContext(), u.SchoolID)
		if err != nil {
			return err
		}
		resp.School = &sch
	}
	return c.Status(fiber.StatusCreated).JSON(resp)
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token string       `json:"token"`
	User  account.User `json:"user"`
}

func (s *Server) login(c *fiber.Ctx) error {
	var in loginRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	tok, u, err := s.deps.Accounts.Login(c.UserContext(), in.Email, in.Password)
	if err != nil {
		return err
	}
	s.setSessionCookie(c, tok, account.SessionTTL)
	return c.Status(fiber.StatusCreated).JSON(loginResponse{Token: tok, User: u})
}

// loginLimiters wraps the login handler in two limits: attempts per client
// address, and failed attempts per account (so that guessing one teacher's
// password from many addresses is slow too).
func (s *Server) loginLimiters(h fiber.Handler) []fiber.Handler {
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
		KeyGenerator: func(c *fiber.Ctx) string {
			var in struct {
				Email string `json:"email"`
			}
			if json.Unmarshal(readBody(c), &in) != nil {
				return "account:" // unreadable bodies share one bucket; they fail anyway
			}
			return "account:" + strings.ToLower(strings.TrimSpace(in.Email))
		},
		LimitReached: reached,
	})
	// The limiter reads the response status as soon as the handler returns,
	// before the error handler has run; render errors here so that failed
	// logins count as failures.
	renderErrors := func(c *fiber.Ctx) error {
		if err := c.Next(); err != nil {
			return s.errorHandler(c, err)
		}
		return nil
	}
	return []fiber.Handler{perIP, perAccount, renderErrors, h}
}

func (s *Server) logout(c *fiber.Ctx) error {
	tok, _ := c.Locals(tokenKey).(string)
	if err := s.deps.Accounts.Logout(c.UserContext(), tok); err != nil {
		return err
	}
	s.setSessionCookie(c, "", -1)
	return c.SendStatus(fiber.StatusNoContent)
}

type meResponse struct {
	User   account.User    `json:"user"`
	School *account.School `json:"school,omitempty"`
}

func (s *Server) me(c *fiber.Ctx) error {
	u := caller(c)
	resp := meResponse{User: u}
	if u.SchoolID != "" {
		sch, err := s.deps.Accounts.School(c.UserContext(), u.SchoolID)
		if err != nil {
			return err
		}
		if u.Role != account.Teacher && u.Role != account.Admin {
			sch.InviteCode = ""
		}
		resp.School = &sch
	}
	return c.JSON(resp)
}

// setSessionCookie sets (or, with ttl < 0, clears) the browser's session
// cookie: HttpOnly, SameSite=Lax, Secure behind HTTPS.
func (s *Server) setSessionCookie(c *fiber.Ctx, tok string, ttl time.Duration) {
	ck := &fiber.Cookie{
		Name:     SessionCookie,
		Value:    tok,
		Path:     "/",
		HTTPOnly: true,
		Secure:   s.cfg.SecureCookies,
		SameSite: fiber.CookieSameSiteLaxMode,
	}
	if ttl < 0 {
		ck.Expires = time.Unix(0, 0)
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(ttl.Seconds())
	}
	c.Cookie(ck)
}

func (s *Server) adminSchools(c *fiber.Ctx) error {
	schools, err := s.deps.Accounts.Schools(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"schools": schools})
}
