package web

import (
	"cmp"

	"github.com/gofiber/fiber/v2"
	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/matching"
)

// vettingFilters are the admin's filters of the graders list, in order:
// the query value and what the filter shows.
var vettingFilters = []struct{ Value, Label string }{
	{"pending", "Waiting for vetting"}, {"approved", "Approved"}, {"rejected", "Rejected"}, {"all", "All graders"},
}

// adminData is the graders page: the graders the ?status filter keeps
// (pending first of all, since they wait on the admin), with each one's
// profile and record.
func (p *pages) adminData(c *fiber.Ctx) (map[string]any, error) {
	status := c.Query("status", "pending")
	found := false
	for _, f := range vettingFilters {
		found = found || f.Value == status
	}
	if !found {
		return nil, errs.F(errs.Invalid, "status", "Filter the graders by pending, approved, rejected or all.")
	}
	gs, err := p.d.Matching.Graders(c.UserContext(), api.Caller(c), "")
	if err != nil {
		return nil, err
	}
	counts := map[string]int{"all": len(gs)}
	shown := []matching.GraderView{}
	for _, g := range gs {
		counts[string(g.Status)]++
		if status == "all" || string(g.Status) == status {
			shown = append(shown, g)
		}
	}
	return map[string]any{"Graders": shown, "Status": status, "Filters": vettingFilters, "Counts": counts, "EmailOn": p.s.Config().Email}, nil
}

func (p *pages) adminHome(c *fiber.Ctx) error {
	d, err := p.adminData(c)
	if err != nil {
		return err
	}
	return p.render(c, "admin_home", "Graders", d)
}

func (p *pages) vet(c *fiber.Ctx) error {
	if _, err := p.d.Matching.Vet(c.UserContext(), api.Caller(c), api.Param(c, "id"), matching.VettingStatus(c.FormValue("status"))); err != nil {
		return err
	}
	return see(c, "/admin?status="+esc(cmp.Or(c.FormValue("back"), "pending")), "vetted")
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
	gs, err := p.d.Matching.Graders(c.UserContext(), api.Caller(c), "")
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(gs))
	for _, g := range gs {
		names[g.GraderID] = g.Name
	}
	return map[string]any{"Runs": runs, "Names": names}, nil
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
