package web

import (
	"cmp"

	"github.com/gofiber/fiber/v2"
	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// signinLimited shows the sign-in form again when a sign-in limit
// (Server.loginLimits, shared with the API) is reached.
func (p *pages) signinLimited(c *fiber.Ctx) error {
	err := c.Next()
	if errs.Is(err, errs.RateLimited) {
		return p.formError(c, err, "signin", "Sign in", signinData{Next: api.SafeNext(c.FormValue("next")), Email: c.FormValue("email")})
	}
	return err
}

type signinData struct{ Next, Email string }

func (p *pages) signinPage(c *fiber.Ctx) error {
	return p.render(c, "signin", "Sign in", signinData{Next: api.SafeNext(c.Query("next"))})
}

// signin signs in from the form and goes to next when it is a path on this
// site (safeNext), else to the role's home.
func (p *pages) signin(c *fiber.Ctx) error {
	d := signinData{Next: api.SafeNext(c.FormValue("next")), Email: c.FormValue("email")}
	tok, u, err := p.d.Accounts.Login(c.UserContext(), c.FormValue("email"), c.FormValue("password"))
	if err != nil {
		return p.formError(c, err, "signin", "Sign in", d)
	}
	p.s.SetSessionCookie(c, tok, account.SessionTTL)
	return see(c, cmp.Or(d.Next, roleHome(u.Role)), "")
}

func (p *pages) signout(c *fiber.Ctx) error {
	tok := api.Token(c)
	if err := p.d.Accounts.Logout(c.UserContext(), tok); err != nil {
		return err
	}
	p.s.SetSessionCookie(c, "", -1)
	return see(c, "/signin", "")
}

// signoutEverywhere ends every session of the caller, on every device.
func (p *pages) signoutEverywhere(c *fiber.Ctx) error {
	if err := p.d.Accounts.EndSessions(c.UserContext(), api.Caller(c).ID); err != nil {
		return err
	}
	p.s.SetSessionCookie(c, "", -1)
	return see(c, "/signin", "")
}

// accessPage asks the student to open their feedback; a link that no
// longer works says so at once.
func (p *pages) accessPage(c *fiber.Ctx) error {
	tok := api.Param(c, "token")
	if err := p.d.Intake.CheckAccessLink(c.UserContext(), tok); err != nil {
		return err
	}
	return p.render(c, "access", "Your feedback", map[string]string{"Token": tok})
}

// redeem signs the student in with their access link, as the API's
// student-sessions route does, and opens their feedback.
func (p *pages) redeem(c *fiber.Ctx) error {
	tok, _, err := p.d.Intake.RedeemAccessLink(c.UserContext(), api.Param(c, "token"))
	if err != nil {
		return err
	}
	p.s.SetSessionCookie(c, tok, account.SessionTTL)
	return see(c, "/student", "")
}
