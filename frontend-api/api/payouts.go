package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/services/payouts"
)

// maxWebhookBody caps a Stripe webhook delivery; Stripe's events are far
// smaller.
const maxWebhookBody = 512 << 10

// payoutsRoutes registers the payouts service's routes. A grader sees and
// manages only their own money (every grader route acts on the caller);
// only admins run payouts and see runs; Stripe's webhook is public and
// authenticated by its signature.
func (s *Server) payoutsRoutes() {
	s.handle(fiber.MethodPost, "/api/v1/webhooks/stripe", public, s.stripeWebhook)

	s.handle(fiber.MethodGet, "/api/v1/payouts/me", graders, s.myPayouts)
	s.handle(fiber.MethodPost, "/api/v1/payouts/onboarding", graders, s.startOnboarding)
	s.handle(fiber.MethodPost, "/api/v1/payouts/onboarding/sync", graders, s.syncOnboarding)
	s.handle(fiber.MethodPost, "/api/v1/payouts/login-link", graders, s.payoutsLoginLink)

	s.handle(fiber.MethodGet, "/api/v1/admin/payouts/runs", adminOnly, s.payoutRuns)
	s.handle(fiber.MethodPost, "/api/v1/admin/payouts/runs", adminOnly, s.startPayoutRun)
	s.handle(fiber.MethodGet, "/api/v1/admin/payouts/runs/:id", adminOnly, s.payoutRun)
	s.handle(fiber.MethodPost, "/api/v1/admin/payouts/runs/:id/resume", adminOnly, s.resumePayoutRun)
	s.handle(fiber.MethodPost, "/api/v1/admin/payouts/runs/:id/reconciliation", adminOnly, s.reconcilePayoutRun)
	s.handle(fiber.MethodGet, "/api/v1/admin/payouts/failures", adminOnly, s.payoutFailures)
	s.handle(fiber.MethodPost, "/api/v1/admin/payouts/adjustments", adminOnly, s.payoutAdjustment)
	s.handle(fiber.MethodGet, "/api/v1/admin/payouts/ledger", adminOnly, s.payoutLedger)
}

func (s *Server) stripeWebhook(c *fiber.Ctx) error {
	res, err := s.deps.Payouts.HandleWebhook(c.UserContext(), readBody(c), c.Get("Stripe-Signature"))
	if err != nil {
		return err
	}
	return c.JSON(res)
}

func (s *Server) myPayouts(c *fiber.Ctx) error {
	v, err := s.deps.Payouts.Grader(c.UserContext(), caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

type onboardingResponse struct {
	URL        string             `json:"url"`
	Onboarding payouts.Onboarding `json:"onboarding"`
}

func (s *Server) startOnboarding(c *fiber.Ctx) error {
	url, ob, err := s.deps.Payouts.StartOnboarding(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(onboardingResponse{URL: url, Onboarding: ob})
}

func (s *Server) syncOnboarding(c *fiber.Ctx) error {
	ob, err := s.deps.Payouts.SyncOnboarding(c.UserContext(), caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"onboarding": ob})
}

func (s *Server) payoutsLoginLink(c *fiber.Ctx) error {
	url, err := s.deps.Payouts.LoginLink(c.UserContext(), caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"url": url})
}

func (s *Server) payoutRuns(c *fiber.Ctx) error {
	runs, err := s.deps.Payouts.Runs(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"runs": runs})
}

// startPayoutRun answers 202: the run is worked on in the background (by
// whichever process runs the payouts service); poll GET .../runs/:id.
func (s *Server) startPayoutRun(c *fiber.Ctx) error {
	run, err := s.deps.Payouts.StartRun(c.UserContext(), caller(c).ID)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(run)
}

func (s *Server) payoutRun(c *fiber.Ctx) error {
	run, ps, err := s.deps.Payouts.RunDetail(c.UserContext(), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"run": run, "payments": ps})
}

func (s *Server) resumePayoutRun(c *fiber.Ctx) error {
	run, err := s.deps.Payouts.Resume(c.UserContext(), param(c, "id"))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(run)
}

func (s *Server) reconcilePayoutRun(c *fiber.Ctx) error {
	r, err := s.deps.Payouts.Reconcile(c.UserContext(), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *Server) payoutFailures(c *fiber.Ctx) error {
	fs, err := s.deps.Payouts.Failures(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"failures": fs})
}

func (s *Server) payoutAdjustment(c *fiber.Ctx) error {
	var in payouts.Adjustment
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	in.By = caller(c).ID
	e, err := s.deps.Payouts.Adjust(c.UserContext(), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(e)
}

func (s *Server) payoutLedger(c *fiber.Ctx) error {
	tb, err := s.deps.Payouts.Trial(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(tb)
}
