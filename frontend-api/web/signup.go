package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// signupRoutes registers the sign-up page: a teacher founds a school or
// joins one with its invite code; a grader signs up and finds the steps to
// being offered work on their home page.
func (p *pages) signupRoutes() {
	get, post := fiber.MethodGet, fiber.MethodPost
	p.s.Handle(get, "/signup", api.Public, p.signupPage)
	p.s.Handle(post, "/signup", api.Public, p.s.SignupLimit(), p.signup)
}

// signupForm is the sign-up form as typed, to show again with its
// mistakes (never the password).
type signupForm struct {
	Role, Name, Email, School, InviteCode, Join string
	Done                                        bool
}

func (p *pages) signupPage(c *fiber.Ctx) error {
	f := signupForm{Role: c.Query("role"), InviteCode: strings.TrimSpace(c.Query("invite"))}
	if f.Role != "grader" {
		f.Role = "teacher"
	}
	if f.InviteCode != "" {
		f.Join = "join"
	}
	return p.render(c, "signup", "Sign up", f)
}

// signup signs up from the form, as POST /api/v1/signup does, and then
// signs in with the same email and password: a new account opens its
// home page. An email that already had an account (whose password this is
// not) gets the API's one answer, which does not tell who has an account.
func (p *pages) signup(c *fiber.Ctx) error {
	f := signupForm{Role: c.FormValue("role"), Name: c.FormValue("name"), Email: c.FormValue("email"),
		School: c.FormValue("school"), InviteCode: strings.TrimSpace(c.FormValue("invite_code")), Join: c.FormValue("join")}
	in := account.SignUp{Email: f.Email, Password: c.FormValue("password"), Name: f.Name, Role: account.Role(f.Role)}
	if f.Role == "teacher" {
		if f.Join == "join" {
			in.InviteCode = f.InviteCode
		} else {
			in.School = f.School
		}
	}
	ctx := c.UserContext()
	if _, err := p.d.Accounts.SignUp(ctx, in); err != nil && !errs.Is(err, errs.EmailTaken) {
		return p.formError(c, err, "signup", "Sign up", f)
	}
	tok, u, err := p.d.Accounts.Login(ctx, in.Email, in.Password)
	if err != nil {
		f.Done = true
		return p.render(c, "signup", "Sign up", f)
	}
	p.s.SetSessionCookie(c, tok, account.SessionTTL)
	return see(c, roleHome(u.Role), "welcome")
}
