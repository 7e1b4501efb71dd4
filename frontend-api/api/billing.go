package api

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/services/payouts"
)

// schoolTeachers are the callers of a school's billing routes: a school's
// billing is its teachers' (admins have no school; they use the admin
// routes).
var schoolTeachers = Roles{account.Teacher}

// billingRoutes registers school billing's routes. A teacher sees their
// own school's balance and what their assignments cost; only the school's
// billing managers buy credit and read purchases and the statement
// (Forbidden otherwise); admins grant credit, refund, reconcile and read
// any school's statement and the ledger's invariant. Stripe's events
// arrive at the one webhook route (payouts.go).
func (s *Server) billingRoutes() {
	s.handle(fiber.MethodGet, "/api/v1/billing", schoolTeachers, s.schoolBilling)
	s.handle(fiber.MethodPost, "/api/v1/billing/checkout", schoolTeachers, s.buyCredit)
	s.handle(fiber.MethodPost, "/api/v1/billing/invoices", schoolTeachers, s.requestInvoice)
	s.handle(fiber.MethodGet, "/api/v1/billing/statement", schoolTeachers, s.schoolStatement)
	s.handle(fiber.MethodPost, "/api/v1/billing/managers", schoolTeachers, s.addBillingManager)
	s.handle(fiber.MethodGet, "/api/v1/billing/assignments/:id", teachers, s.assignmentCost)
	s.handle(fiber.MethodPost, "/api/v1/assignments/:id/close", teachers, s.closeAssignment)

	s.handle(fiber.MethodGet, "/api/v1/admin/billing", adminOnly, s.finance)
	s.handle(fiber.MethodPost, "/api/v1/admin/billing/credits", adminOnly, s.grantCredit)
	s.handle(fiber.MethodPost, "/api/v1/admin/billing/refunds", adminOnly, s.refundPurchase)
	s.handle(fiber.MethodPost, "/api/v1/admin/billing/reconciliation", adminOnly, s.reconcileBilling)
	s.handle(fiber.MethodGet, "/api/v1/admin/billing/schools/:id/statement", adminOnly, s.adminStatement)
}

func (s *Server) schoolBilling(c *fiber.Ctx) error {
	u := caller(c)
	v, err := s.deps.Payouts.School(c.UserContext(), u, u.SchoolID)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) buyCredit(c *fiber.Ctx) error {
	var in payouts.BuyRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	p, err := s.deps.Payouts.BuyCredit(c.UserContext(), caller(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(p)
}

func (s *Server) requestInvoice(c *fiber.Ctx) error {
	var in payouts.BuyRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	p, err := s.deps.Payouts.RequestInvoice(c.UserContext(), caller(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(p)
}

func (s *Server) addBillingManager(c *fiber.Ctx) error {
	var in struct {
		TeacherID string `json:"teacher_id"`
	}
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	ms, err := s.deps.Payouts.AddManager(c.UserContext(), caller(c), in.TeacherID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"managers": ms})
}

func (s *Server) schoolStatement(c *fiber.Ctx) error {
	u := caller(c)
	return s.statement(c, u, u.SchoolID)
}

func (s *Server) adminStatement(c *fiber.Ctx) error {
	return s.statement(c, caller(c), param(c, "id"))
}

// statement answers JSON, or CSV with ?format=csv.
func (s *Server) statement(c *fiber.Ctx, u account.User, schoolID string) error {
	st, err := s.deps.Payouts.Statement(c.UserContext(), u, schoolID)
	if err != nil {
		return err
	}
	if c.Query("format") != "csv" {
		return c.JSON(st)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"at", "kind", "description", "assignment_id", "submission_id", "pseudonym", "purchase_id",
		"cents", "available_cents", "held_cents", "currency", "link"})
	for _, l := range st.Lines {
		_ = w.Write([]string{l.At.UTC().Format(time.RFC3339), string(l.Kind), l.Description, l.AssignmentID, l.SubmissionID, l.Pseudonym,
			l.PurchaseID, strconv.FormatInt(l.Cents, 10), strconv.FormatInt(l.AvailableCents, 10), strconv.FormatInt(l.HeldCents, 10), st.Currency, l.Link})
	}
	w.Flush()
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="statement-`+schoolID+`.csv"`)
	return c.Send(buf.Bytes())
}

// assignmentCost is what an assignment costs its school: the price of
// each submission, how many there are, what is held for it now, and
// whether the school's available credit covers publishing it.
func (s *Server) assignmentCost(c *fiber.Ctx) error {
	ctx := c.UserContext()
	a, err := s.deps.Intake.AuthorizeAssignment(ctx, caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	n, err := s.deps.Intake.SubmissionCount(ctx, a.ID)
	if err != nil {
		return err
	}
	held, available, err := s.deps.Payouts.AssignmentHold(ctx, a.SchoolID, a.ID)
	if err != nil {
		return err
	}
	cost := a.PriceCents * int64(n)
	return c.JSON(fiber.Map{"assignment_id": a.ID, "state": a.State, "price_cents": a.PriceCents, "currency": a.Currency,
		"submissions": n, "cost_cents": cost, "held_cents": held, "available_cents": available,
		"covered": available >= cost-held, "buy_credit_path": payouts.BuyCreditPath})
}

func (s *Server) closeAssignment(c *fiber.Ctx) error {
	a, err := s.deps.Intake.Close(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(a)
}

func (s *Server) finance(c *fiber.Ctx) error {
	f, err := s.deps.Payouts.Finance(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(f)
}

func (s *Server) grantCredit(c *fiber.Ctx) error {
	var in payouts.Grant
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	in.By = caller(c).ID
	p, err := s.deps.Payouts.GrantCredit(c.UserContext(), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(p)
}

func (s *Server) refundPurchase(c *fiber.Ctx) error {
	var in payouts.RefundRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	in.By = caller(c).ID
	r, err := s.deps.Payouts.Refund(c.UserContext(), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (s *Server) reconcileBilling(c *fiber.Ctx) error {
	r, err := s.deps.Payouts.ReconcileBilling(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(r)
}
