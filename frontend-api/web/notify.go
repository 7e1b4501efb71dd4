package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/frontend-api/api"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/notify"
)

// notifyPages registers the notification pages: the inbox and email
// settings of everyone signed in, the admin's failed emails, a class's
// email switch, and the two public pages an email links to: one-click
// unsubscribe (RFC 8058) and a student's sign-in link.
func (p *pages) notifyPages() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	s.Handle(get, "/notifications", api.Anyone, p.inbox)
	s.Handle(post, "/notifications/read", api.Anyone, p.markAllRead)
	s.Handle(post, "/notifications/:id/read", api.Anyone, p.markRead)
	s.Handle(get, "/notifications/settings", api.Anyone, p.notifySettings)
	s.Handle(post, "/notifications/settings", api.Anyone, p.saveNotifySettings)
	s.Handle(get, "/unsubscribe/:token", api.Public, p.unsubscribePage)
	s.Handle(post, "/unsubscribe/:token", api.Public, p.unsubscribe)
	s.Handle(get, "/n/:token", api.Public, p.openPage)
	s.Handle(post, "/n/:token", api.Public, p.open)
	s.Handle(post, "/teacher/classes/:id/email-students", api.Teachers, p.emailStudents)
	s.Handle(get, "/admin/notifications", api.AdminOnly, p.adminNotifications)
	s.Handle(post, "/admin/notifications/failures/:id/resend", api.AdminOnly, p.adminResend)
	s.Handle(post, "/admin/notifications/failing/:address/clear", api.AdminOnly, p.adminClearFailing)
}

// oneClick reports whether the request is the public unsubscribe POST: a
// mail client's RFC 8058 one-click request carries no cookie and no CSRF
// token, and needs none (the signed token in the path is the credential).
func oneClick(c *fiber.Ctx) bool {
	return c.Method() == fiber.MethodPost && strings.HasPrefix(c.Path(), notify.UnsubscribePath)
}

// unreadCount is the signed-in user's unread count for the header: one
// read by _id. A failure shows no count rather than failing the page.
func (p *pages) unreadCount(c *fiber.Ctx, u account.User) int {
	if p.d.Notify == nil {
		return 0
	}
	n, err := p.d.Notify.Unread(c.UserContext(), u.ID)
	if err != nil {
		p.s.Logger().Warn("unread count", "err", err)
	}
	return n
}

func (p *pages) inbox(c *fiber.Ctx) error {
	page, err := api.InboxPage(c)
	if err != nil {
		return err
	}
	in, err := p.d.Notify.Inbox(c.UserContext(), api.Caller(c).ID, page)
	if err != nil {
		return err
	}
	return p.render(c, "notifications", "Notifications", map[string]any{"Inbox": in, "Email": p.s.Config().Email})
}

func (p *pages) markAllRead(c *fiber.Ctx) error {
	if err := p.d.Notify.MarkAllRead(c.UserContext(), api.Caller(c).ID); err != nil {
		return err
	}
	return see(c, notify.InboxPath, "")
}

func (p *pages) markRead(c *fiber.Ctx) error {
	if err := p.d.Notify.MarkRead(c.UserContext(), api.Caller(c).ID, api.Param(c, "id")); err != nil {
		return err
	}
	return see(c, notify.InboxPath, "")
}

func (p *pages) notifySettings(c *fiber.Ctx) error {
	u := api.Caller(c)
	ps, err := p.d.Notify.Preferences(c.UserContext(), u.ID, u.Role)
	if err != nil {
		return err
	}
	return p.render(c, "notification_settings", "Email settings", map[string]any{"Settings": ps, "Email": p.s.Config().Email})
}

// saveNotifySettings saves one select per kind (named by the kind); kinds
// the form leaves out, and always-sent kinds, are left as they are.
func (p *pages) saveNotifySettings(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), api.Caller(c)
	ps, err := p.d.Notify.Preferences(ctx, u.ID, u.Role)
	if err != nil {
		return err
	}
	for _, pr := range ps {
		d := notify.Delivery(c.FormValue(string(pr.Kind)))
		if pr.Always || d == "" || d == pr.Delivery {
			continue
		}
		if err := p.d.Notify.SetPreference(ctx, u.ID, u.Role, pr.Kind, d); err != nil {
			return p.formError(c, err, "notification_settings", "Email settings", map[string]any{"Settings": ps, "Email": p.s.Config().Email})
		}
	}
	return see(c, notify.SettingsPath, "notify_saved")
}

// unsubscribeView is what the unsubscribe page shows.
type unsubscribeView struct {
	Token  string
	Labels []string
	Done   bool
}

func unsubscribeLabels(u notify.Unsubscription) []string {
	var out []string
	for _, k := range u.Kinds {
		out = append(out, k.Label())
	}
	return out
}

// unsubscribePage shows what the link turns off and a button; a GET (a
// link scanner's too) changes nothing.
func (p *pages) unsubscribePage(c *fiber.Ctx) error {
	tok := api.Param(c, "token")
	u, err := p.d.Notify.CheckUnsubscribe(c.UserContext(), tok)
	if err != nil {
		return err
	}
	return p.render(c, "unsubscribe", "Unsubscribe", unsubscribeView{Token: tok, Labels: unsubscribeLabels(u)})
}

// unsubscribe turns the link's emails off: a mail client's one-click POST
// (body List-Unsubscribe=One-Click) or the page's button. No session and
// no CSRF token (see oneClick).
func (p *pages) unsubscribe(c *fiber.Ctx) error {
	u, err := p.d.Notify.Unsubscribe(c.UserContext(), api.Param(c, "token"))
	if err != nil {
		return err
	}
	return p.render(c, "unsubscribe", "Unsubscribed", unsubscribeView{Labels: unsubscribeLabels(u), Done: true})
}

// openPage asks the student to open what their email links to; a GET
// signs no one in, so a link scanner cannot.
func (p *pages) openPage(c *fiber.Ctx) error {
	if err := p.d.Notify.CheckOpen(api.Param(c, "token")); err != nil {
		return err
	}
	return p.render(c, "notification_open", "Your feedback", map[string]string{"Token": api.Param(c, "token")})
}

// open signs the student in from their email's link, as their access link
// does, and opens the page the message is about. A student removed from
// the class since the email was sent gets link_expired.
func (p *pages) open(c *fiber.Ctx) error {
	ctx := c.UserContext()
	o, err := p.d.Notify.Open(ctx, api.Param(c, "token"))
	if err != nil {
		return err
	}
	enrolled := func() error {
		u, err := p.d.Accounts.User(ctx, o.UserID)
		if err == nil {
			_, err = p.d.Intake.Student(ctx, u.ClassID, u.StudentID)
		}
		if errs.Is(err, errs.NotFound) {
			return errs.E(errs.LinkExpired, "This link no longer works: you are no longer on the class's roster. Ask your teacher.")
		}
		return err
	}
	if err := enrolled(); err != nil {
		return err
	}
	tok, err := p.d.Accounts.StartSession(ctx, o.UserID)
	if err != nil {
		return err
	}
	// Removed between the look and the session: the removal ended every
	// session before it deleted the roster row, so look again.
	if err := enrolled(); err != nil {
		_ = p.d.Accounts.Logout(ctx, tok)
		return err
	}
	p.s.SetSessionCookie(c, tok, account.SessionTTL)
	return see(c, o.Path, "")
}

func (p *pages) emailStudents(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	if _, err := p.d.Intake.SetEmailStudents(c.UserContext(), api.Caller(c), id, c.FormValue("email_students") == "1"); err != nil {
		return err
	}
	return see(c, "/teacher/classes/"+esc(id)+"#email-students", "email_students")
}

func (p *pages) adminNotifications(c *fiber.Ctx) error {
	ctx := c.UserContext()
	fs, err := p.d.Notify.Failures(ctx)
	if err != nil {
		return err
	}
	as, err := p.d.Notify.AllFailingAddresses(ctx)
	if err != nil {
		return err
	}
	return p.render(c, "admin_notifications", "Email", map[string]any{"Failures": fs, "Failing": as, "Email": p.s.Config().Email})
}

func (p *pages) adminResend(c *fiber.Ctx) error {
	if err := p.d.Notify.Resend(c.UserContext(), api.Param(c, "id")); err != nil {
		return err
	}
	return see(c, "/admin/notifications", "resent")
}

func (p *pages) adminClearFailing(c *fiber.Ctx) error {
	if err := p.d.Notify.ClearFailing(c.UserContext(), api.Param(c, "address")); err != nil {
		return err
	}
	return see(c, "/admin/notifications", "cleared")
}
