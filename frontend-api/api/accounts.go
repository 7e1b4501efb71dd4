package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// signupAccepted is the one answer to every sign-up that passes the
// checks of its fields, whether or not the email already had an account, so
// that sign-up does not tell who has one. A founder finds their school's
// invite code on GET /api/v1/me after signing in.
var signupAccepted = fiber.Map{
	"status":  "accepted",
	"message": "If this email was new, its account is ready: sign in with it. If it already had an account, nothing changed: sign in with that account's password.",
}

// signup answers 202 with signupAccepted, for a new account and for an
// email that is taken alike (the password is hashed either way, so the two
// take about as long). It starts no session.
func (s *Server) signup(c *fiber.Ctx) error {
	var in account.SignUp
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	if _, err := s.deps.Accounts.SignUp(c.UserContext(), in); err != nil && !errs.Is(err, errs.EmailTaken) {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(signupAccepted)
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
		// The login limits read the status when this returns: write it.
		return s.errorHandler(c, err)
	}
	s.setSessionCookie(c, tok, account.SessionTTL)
	return c.Status(fiber.StatusCreated).JSON(loginResponse{Token: tok, User: u})
}

func (s *Server) logout(c *fiber.Ctx) error {
	tok, _ := c.Locals(tokenKey).(string)
	if err := s.deps.Accounts.Logout(c.UserContext(), tok); err != nil {
		return err
	}
	s.setSessionCookie(c, "", -1)
	return c.SendStatus(fiber.StatusNoContent)
}

// logoutEverywhere ends every session of the caller, on every device, and
// clears this browser's cookie.
func (s *Server) logoutEverywhere(c *fiber.Ctx) error {
	if err := s.deps.Accounts.EndSessions(c.UserContext(), caller(c).ID); err != nil {
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
