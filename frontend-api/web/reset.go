package web

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/notify"
)

// resetsPerIP bounds the "forgot password" requests from one address per
// hour; account.ResetEvery bounds the emails to one account.
const resetsPerIP = 10

// resetRoutes registers password reset: "Forgot password?" (a link by
// email, when email is on), the page a link opens, and an admin's link for
// a user (the way back in when email is off).
func (p *pages) resetRoutes() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	s.Handle(get, "/signin/forgot", api.Public, p.forgotPage)
	s.Handle(post, "/signin/forgot", api.Public, limiter.New(limiter.Config{
		Max: resetsPerIP, Expiration: time.Hour,
		KeyGenerator: func(c *fiber.Ctx) string { return "reset:" + c.IP() },
		LimitReached: func(*fiber.Ctx) error {
			return errs.E(errs.RateLimited, "Too many password reset requests from this address; wait an hour and try again.")
		},
	}), p.forgot)
	// The token is in the path, which the request log redacts (as /s/).
	s.Handle(get, "/reset/:token", api.Public, p.resetPage)
	s.Handle(post, "/reset/:token", api.Public, p.reset)
	s.Handle(post, "/admin/resets", api.AdminOnly, p.adminReset)
}

type forgotData struct {
	Email bool // email is configured on this Margin
	Sent  bool
}

// emailOn says whether a reset link can be emailed: SMTP is configured
// and the outbox is there.
func (p *pages) emailOn() bool { return p.s.Config().Email && p.d.Notify != nil }

func (p *pages) forgotPage(c *fiber.Ctx) error {
	return p.render(c, "forgot", "Forgot password", forgotData{Email: p.emailOn()})
}

// forgot answers the same sentence whatever the address: the link is made
// and raised after the answer, so that neither the words nor the time
// tell who has an account.
func (p *pages) forgot(c *fiber.Ctx) error {
	d := forgotData{Email: p.emailOn(), Sent: true}
	if !d.Email {
		return p.render(c, "forgot", "Forgot password", d)
	}
	email := strings.Clone(c.FormValue("email"))
	ctx := context.WithoutCancel(c.UserContext())
	go func() {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := p.sendReset(ctx, email); err != nil {
			p.s.Logger().Error("password reset", "err", err)
		}
	}()
	return p.render(c, "forgot", "Forgot password", d)
}

// sendReset makes a reset link for the account with this email, if there
// is one, and emails it through the outbox (never the inbox).
func (p *pages) sendReset(ctx context.Context, email string) error {
	r, ok, err := p.d.Accounts.RequestReset(ctx, email)
	if err != nil || !ok {
		return err
	}
	return p.d.Notify.Notify(ctx, notify.Event{
		Kind:  notify.PasswordReset,
		Key:   account.HashToken(r.Token), // never the token: the key is kept
		Title: "Choose a new Margin password",
		Text: "Someone, we hope you, asked to reset the password of your Margin account. The link below works once, for one hour.\n\n" +
			"If it was not you, ignore this email: your password stays as it is.",
		Link:       "/reset/" + r.Token,
		Recipients: []notify.Recipient{{UserID: r.User.ID, Role: r.User.Role, Email: r.User.Email, EmailAllowed: true}},
	})
}

type resetData struct {
	Token, Email string
	Gone         bool // the link no longer works
}

func (p *pages) resetPage(c *fiber.Ctx) error {
	tok := api.Param(c, "token")
	u, err := p.d.Accounts.CheckReset(c.UserContext(), tok)
	if errs.Is(err, errs.LinkExpired) {
		return p.render(c.Status(errs.Status(errs.LinkExpired)), "reset", "Choose a new password", resetData{Gone: true})
	} else if err != nil {
		return err
	}
	return p.render(c, "reset", "Choose a new password", resetData{Token: tok, Email: u.Email})
}

// reset sets the new password and sends the person to sign in with it;
// every session they had has ended.
func (p *pages) reset(c *fiber.Ctx) error {
	tok := api.Param(c, "token")
	pw := c.FormValue("password")
	if pw != c.FormValue("confirm") {
		return p.formError(c, errs.F(errs.Invalid, "confirm", "The two passwords are not the same; type the new one twice."), "reset", "Choose a new password", resetData{Token: tok})
	}
	_, err := p.d.Accounts.ResetPassword(c.UserContext(), tok, pw)
	if errs.Is(err, errs.LinkExpired) {
		return p.render(c.Status(errs.Status(errs.LinkExpired)), "reset", "Choose a new password", resetData{Gone: true})
	} else if err != nil {
		return p.formError(c, err, "reset", "Choose a new password", resetData{Token: tok})
	}
	p.s.SetSessionCookie(c, "", -1)
	return see(c, "/signin", "password")
}

// adminReset makes a reset link for the account with the email typed, and
// shows it on the graders page for the admin to pass on.
func (p *pages) adminReset(c *fiber.Ctx) error {
	email := c.FormValue("email")
	r, err := p.d.Accounts.IssueResetByEmail(c.UserContext(), api.Caller(c), email)
	d, derr := p.adminData(c)
	if derr != nil {
		return derr
	}
	if err != nil {
		d["ResetEmail"] = email
		return p.formError(c, err, "admin_home", "Graders", d)
	}
	d["Reset"] = map[string]any{"Path": "/reset/" + r.Token, "Name": r.User.Name, "Email": r.User.Email, "ExpiresAt": r.ExpiresAt}
	return p.render(c, "admin_home", "Graders", d)
}
