package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/services/matching"
)

func (p *pages) adminHome(c *fiber.Ctx) error {
	gs, err := p.d.Matching.Graders(c.UserContext(), api.Caller(c), "")
	if err != nil {
		return err
	}
	return p.render(c, "admin_home", "Graders", map[string]any{"Graders": gs})
}

func (p *pages) vet(c *fiber.Ctx) error {
	if _, err := p.d.Matching.Vet(c.UserContext(), api.Caller(c), api.Param(c, "id"), matching.VettingStatus(c.FormValue("status"))); err != nil {
		return err
	}
	return see(c, "/admin", "vetted")
}

func (p *pages) adminRound(c *fiber.Ctx) error {
	if _, err := p.d.Matching.RunRound(c.UserContext()); err != nil {
		return err
	}
	return see(c, "/admin", "round")
}

func (p *pages) payoutsData(c *fiber.Ctx) (map[string]any, error) {
	runs, err := p.d.Payouts.Runs(c.UserContext())
	if err != nil {
		return nil, err
	}
	return map[string]any{"Runs": runs}, nil
}

func (p *pages) adminPayouts(c *fiber.Ctx) error {
	d, err := p.payoutsData(c)
	if err != nil {
		return err
	}
	return p.render(c, "admin_payouts", "Payouts", d)
}

func (p *pages) startPayoutRun(c *fiber.Ctx) error {
	if _, err := p.d.Payouts.StartRun(c.UserContext(), api.Caller(c).ID); err != nil {
		return err
	}
	return see(c, "/admin/payouts", "run")
}

func (p *pages) reconcile(c *fiber.Ctx) error {
	rec, err := p.d.Payouts.Reconcile(c.UserContext(), api.Param(c, "id"))
	if err != nil {
		return err
	}
	d, err := p.payoutsData(c)
	if err != nil {
		return err
	}
	d["Reconciliation"] = rec
	return p.render(c, "admin_payouts", "Payouts", d)
}
