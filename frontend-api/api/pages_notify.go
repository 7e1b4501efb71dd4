package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

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
	s.handle(get, "/notifications", anyone, p.inbox)
	s.handle(post, "/notifications/read", anyone, p.markAllRead)
	s.handle(post, "/notifications/:id/read", anyone, p.markRead)
	s.handle(get, "/notifications/settings", anyone, p.notifySettings)
	s.handle(post, "/notifications/settings", anyone, p.saveNotifySettings)
	s.handle(get, "/unsubscribe/:token", public, p.unsubscribePage)
	s.handle(post, "/unsubscribe/:token", public, p.unsubscribe)
	s.handle(get, "/n/:token", public, p.openPage)
	s.handle(post, "/n/:token", public, p.open)
	s.handle(post, "/teacher/classes/:id/email-students", teachers, p.emailStudents)
	s.handle(get, "/admin/notifications", adminOnly, p.adminNotifications)
	s.handle(post, "/admin/notifications/failures/:id/resend", adminOnly, p.adminResend)
	s.handle(post, "/admin/notifications/failing/:address/clear", adminOnly, p.adminClearFailing)
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
	if p.s.deps.Notify == nil {
		return 0
	}
	n, err := p.s.deps.Notify.Unread(c.UserContext(), u.ID)
	if err != nil {
		p.s.log.Warn("unread count", "err", err)
	}
	return n
}

func (p *pages) inbox(c *fiber.Ctx) error {
	page, err := inboxPage(c)
	if err != nil {
		return err
	}
	in, err := p.s.deps.Notify.Inbox(c.UserContext(), caller(c).ID, page)
	if err != nil {
		return err
	}
	return p.render(c, "notifications", "Notifications", map[string]any{"Inbox": in, "Email": p.s.cfg.Email})
}

func (p *pages) markAllRead(c *fiber.Ctx) error {
	if err := p.s.deps.Notify.MarkAllRead(c.UserContext(), caller(c).ID); err != nil {
		return err
	}
	return see(c, notify.InboxPath, "")
}

func (p *pages) markRead(c *fiber.Ctx) error {
	if err := p.s.deps.Notify.MarkRead(c.UserContext(), caller(c).ID, param(c, "id")); err != nil {
		return err
	}
	return see(c, notify.InboxPath, "")
}

func (p *pages) notifySettings(c *fiber.Ctx) error {
	u := caller(c)
	ps, err := p.s.deps.Notify.Preferences(c.UserContext(), u.ID, u.Role)
	if err != nil {
		return err
	}
	return p.render(c, "notification_settings", "Email settings", map[string]any{"Settings": ps, "Email": p.s.cfg.Email})
}

// saveNotifySettings saves one select per kind (named by the kind); kinds
// the form leaves out, and always-sent kinds, are left as they are.
func (p *pages) saveNotifySettings(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), caller(c)
	ps, err := p.s.deps.Notify.Preferences(ctx, u.ID, u.Role)
	if err != nil {
		return err
	}
	for _, pr := range ps {
		d := notify.Delivery(c.FormValue(string(pr.Kind)))
		if pr.Always || d == "" || d == pr.Delivery {
			continue
		}
		if err := p.s.deps.Notify.SetPreference(ctx, u.ID, u.Role, pr.Kind, d); err != nil {
			return p.formError(c, err, "notification_settings", "Email settings", map[string]any{"Settings": ps, "Email": p.s.cfg.Email})
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
	tok := param(c, "token")
	u, err := p.s.deps.Notify.CheckUnsubscribe(c.UserContext(), tok)
	if err != nil {
		return err
	}
	return p.render(c, "unsubscribe", "Unsubscribe", unsubscribeView{Token: tok, Labels: unsubscribeLabels(u)})
}

// unsubscribe turns the link's emails off: a mail client's one-click POST
// (body List-Unsubscribe=One-Click) or the page's button. No session and
// no CSRF token (see oneClick).
func (p *pages) unsubscribe(c *fiber.Ctx) error {
	u, err := p.s.deps.Notify.Unsubscribe(c.UserContext(), param(c, "token"))
	if err != nil {
		return err
	}
	return p.render(c, "unsubscribe", "Unsubscribed", unsubscribeView{Labels: unsubscribeLabels(u), Done: true})
}

// openPage asks the student to open what their email links to; a GET
// signs no one in, so a link scanner cannot.
func (p *pages) openPage(c *fiber.Ctx) error {
	if err := p.s.deps.Notify.CheckOpen(param(c, "token")); err != nil {
		return err
	}
	return p.render(c, "notification_open", "Your feedback", map[string]string{"Token": param(c, "token")})
}

// open signs the student in from their email's link, as their access link
// does, and opens the page the message is about. A student removed from
// the class since the email was sent gets link_expired.
func (p *pages) open(c *fiber.Ctx) error {
	ctx := c.UserContext()
	o, err := p.s.deps.Notify.Open(ctx, param(c, "token"))
	if err != nil {
		return err
	}
	enrolled := func() error {
		u, err := p.s.deps.Accounts.User(ctx, o.UserID)
		if err == nil {
			_, err = p.s.deps.Intake.Student(ctx, u.ClassID, u.StudentID)
		}
		if errs.Is(err, errs.NotFound) {
			return errs.E(errs.LinkExpired, "This link no longer works: you are no longer on the class's roster. Ask your teacher.")
		}
		return err
	}
	if err := enrolled(); err != nil {
		return err
	}
	tok, err := p.s.deps.Accounts.StartSession(ctx, o.UserID)
	if err != nil {
		return err
	}
	// Removed between the look and the session: the removal ended every
	// session before it deleted the roster row, so look again.
	if err := enrolled(); err != nil {
		_ = p.s.deps.Accounts.Logout(ctx, tok)
		return err
	}
	p.s.setSessionCookie(c, tok, account.SessionTTL)
	return see(c, o.Path, "")
}

func (p *pages) emailStudents(c *fiber.Ctx) error {
	id := param(c, "id")
	if _, err := p.s.deps.Intake.SetEmailStudents(c.UserContext(), caller(c), id, c.FormValue("email_students") == "1"); err != nil {
		return err
	}
	return see(c, "/teacher/classes/"+esc(id), "email_students")
}

func (p *pages) adminNotifications(c *fiber.Ctx) error {
	ctx := c.UserContext()
	fs, err := p.s.deps.Notify.Failures(ctx)
	if err != nil {
		return err
	}
	as, err := p.s.deps.Notify.AllFailingAddresses(ctx)
	if err != nil {
		return err
	}
	return p.render(c, "admin_notifications", "Email", map[string]any{"Failures": fs, "Failing": as, "Email": p.s.cfg.Email})
}

func (p *pages) adminResend(c *fiber.Ctx) error {
	if err := p.s.deps.Notify.Resend(c.UserContext(), param(c, "id")); err != nil {
		return err
	}
	return see(c, "/admin/notifications", "resent")
}

func (p *pages) adminClearFailing(c *fiber.Ctx) error {
	if err := p.s.deps.Notify.ClearFailing(c.UserContext(), param(c, "address")); err != nil {
		return err
	}
	return see(c, "/admin/notifications", "cleared")
}
