package api

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/notify"
)

// notifyRoutes registers the notifications' JSON routes: every signed-in
// person's inbox and email settings, admins' failed emails and failing
// addresses, and a class's email switch and failing roster addresses for
// its teacher. Each reads or changes the caller's own notifications only.
// (The public unsubscribe and email-link pages are in pages_notify.go.)
func (s *Server) notifyRoutes() {
	get, post, put, del := fiber.MethodGet, fiber.MethodPost, fiber.MethodPut, fiber.MethodDelete
	s.handle(get, "/api/v1/notifications", anyone, s.inbox)
	s.handle(get, "/api/v1/notifications/unread", anyone, s.unread)
	s.handle(post, "/api/v1/notifications/read", anyone, s.markAllRead)
	s.handle(post, "/api/v1/notifications/:id/read", anyone, s.markRead)
	s.handle(get, "/api/v1/notifications/settings", anyone, s.notifySettings)
	s.handle(put, "/api/v1/notifications/settings/:kind", anyone, s.setNotifySetting)

	s.handle(get, "/api/v1/admin/notifications/failures", adminOnly, s.mailFailures)
	s.handle(post, "/api/v1/admin/notifications/failures/:id/resend", adminOnly, s.resendMail)
	s.handle(get, "/api/v1/admin/notifications/failing-addresses", adminOnly, s.failingAddresses)
	s.handle(del, "/api/v1/admin/notifications/failing-addresses/:address", adminOnly, s.clearFailing)

	s.handle(put, "/api/v1/classes/:id/email-students", teachers, s.setEmailStudents)
	s.handle(get, "/api/v1/classes/:id/failing-addresses", teachers, s.classFailing)
}

// inboxPage reads ?page=N: a page number of 0 or more, or the newest page
// when absent.
func inboxPage(c *fiber.Ctx) (int64, error) {
	v := c.Query("page")
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errs.F(errs.Invalid, "page", "page must be a whole number from 0 (the oldest page) up; leave it out for the newest.")
	}
	return n, nil
}

func (s *Server) inbox(c *fiber.Ctx) error {
	page, err := inboxPage(c)
	if err != nil {
		return err
	}
	p, err := s.deps.Notify.Inbox(c.UserContext(), caller(c).ID, page)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) unread(c *fiber.Ctx) error {
	n, err := s.deps.Notify.Unread(c.UserContext(), caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"unread": n})
}

func (s *Server) markRead(c *fiber.Ctx) error {
	if err := s.deps.Notify.MarkRead(c.UserContext(), caller(c).ID, param(c, "id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) markAllRead(c *fiber.Ctx) error {
	if err := s.deps.Notify.MarkAllRead(c.UserContext(), caller(c).ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) notifySettings(c *fiber.Ctx) error {
	u := caller(c)
	ps, err := s.deps.Notify.Preferences(c.UserContext(), u.ID, u.Role)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"settings": ps})
}

type notifySettingRequest struct {
	Delivery notify.Delivery `json:"delivery"`
}

func (s *Server) setNotifySetting(c *fiber.Ctx) error {
	var in notifySettingRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	u := caller(c)
	if err := s.deps.Notify.SetPreference(c.UserContext(), u.ID, u.Role, notify.Kind(param(c, "kind")), in.Delivery); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) mailFailures(c *fiber.Ctx) error {
	fs, err := s.deps.Notify.Failures(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"failures": nonNilSlice(fs)})
}

func (s *Server) resendMail(c *fiber.Ctx) error {
	if err := s.deps.Notify.Resend(c.UserContext(), param(c, "id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusAccepted)
}

func (s *Server) failingAddresses(c *fiber.Ctx) error {
	as, err := s.deps.Notify.AllFailingAddresses(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"addresses": nonNilSlice(as)})
}

func (s *Server) clearFailing(c *fiber.Ctx) error {
	if err := s.deps.Notify.ClearFailing(c.UserContext(), param(c, "address")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type emailStudentsRequest struct {
	EmailStudents *bool `json:"email_students"`
}

func (s *Server) setEmailStudents(c *fiber.Ctx) error {
	var in emailStudentsRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	if in.EmailStudents == nil {
		return errs.F(errs.Invalid, "email_students", "Say true to email the class's students when their feedback is released, or false.")
	}
	cl, err := s.deps.Intake.SetEmailStudents(c.UserContext(), caller(c), param(c, "id"), *in.EmailStudents)
	if err != nil {
		return err
	}
	return c.JSON(cl)
}

// classFailing lists the class's roster addresses that mail fails to, for
// its teacher.
func (s *Server) classFailing(c *fiber.Ctx) error {
	failing, err := s.rosterFailing(c, param(c, "id"))
	if err != nil {
		return err
	}
	out := make([]notify.FailingAddress, 0, len(failing))
	for _, f := range failing {
		out = append(out, f)
	}
	return c.JSON(fiber.Map{"addresses": out})
}

// rosterFailing returns the failing addresses of the class's roster, by
// address; not_found unless the caller manages the class.
func (s *Server) rosterFailing(c *fiber.Ctx, classID string) (map[string]notify.FailingAddress, error) {
	ctx := c.UserContext()
	sts, err := s.deps.Intake.Roster(ctx, caller(c), classID)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, st := range sts {
		if st.Email != "" {
			addrs = append(addrs, st.Email)
		}
	}
	return s.deps.Notify.FailingAddresses(ctx, addrs)
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
