package web

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/account"

	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
	"github.com/marginschool/margin/services/payouts"
)

// graderNames is what the grader's pages show instead of IDs: assignment
// titles, the pseudonyms of the submissions in their tasks, and each
// offer's pay.
type graderNames struct {
	Titles     map[string]string // assignment ID → title
	Pseudonyms map[string]string // submission ID → pseudonym
	Pay        map[string]offerPay
	// Payouts is the grader's Stripe onboarding state ("not_started",
	// "in_progress", "complete"), for the checklist to being paid.
	Payouts string
}

// offerPay is an offer's pay: per submission and for the whole batch.
type offerPay struct {
	payouts.Pay
	Currency        string
	TotalEarnCents  int64
	TotalPriceCents int64
}

// graderNamesFor looks up the titles, pseudonyms and pay the grader home
// shows, and the grader's payout setup. A lookup that fails leaves its name out (the page says
// "Untitled"), never the page.
func (p *pages) graderNamesFor(ctx context.Context, u account.User, offers []matching.OfferView, tasks []feedback.GraderTask) graderNames {
	n := graderNames{Titles: map[string]string{}, Pseudonyms: map[string]string{}, Pay: map[string]offerPay{}}
	if p.d.Payouts != nil {
		if v, err := p.d.Payouts.Grader(ctx, u.ID); err == nil {
			n.Payouts = v.Onboarding.State
		}
	}
	asg := map[string]*intake.Assignment{}
	get := func(id string) *intake.Assignment {
		if a, ok := asg[id]; ok {
			return a
		}
		var ap *intake.Assignment
		if a, err := p.d.Intake.Assignment(ctx, id); err == nil {
			ap = &a
			n.Titles[id] = a.Title
		}
		asg[id] = ap
		return ap
	}
	for _, o := range offers {
		if a := get(o.AssignmentID); a != nil && p.d.Payouts != nil {
			pay := p.d.Payouts.PayFor(a.PriceCents)
			n.Pay[o.ID] = offerPay{Pay: pay, Currency: a.Currency, TotalEarnCents: pay.EarnCents * int64(o.Size), TotalPriceCents: pay.PriceCents * int64(o.Size)}
		}
	}
	rowsRead := map[string]bool{}
	for _, t := range tasks {
		get(t.AssignmentID)
		if rowsRead[t.AssignmentID] {
			continue
		}
		rowsRead[t.AssignmentID] = true
		if rows, err := p.d.Intake.Rows(ctx, t.AssignmentID); err == nil {
			for _, r := range rows {
				n.Pseudonyms[r.SubmissionID] = r.Pseudonym
			}
		}
	}
	return n
}

// assignmentTitles are the titles of the assignments with the given IDs,
// for pages that list money or work by assignment.
func (p *pages) assignmentTitles(ctx context.Context, ids []string) map[string]string {
	out := map[string]string{}
	for _, id := range ids {
		if _, ok := out[id]; ok || id == "" {
			continue
		}
		if a, err := p.d.Intake.Assignment(ctx, id); err == nil && strings.TrimSpace(a.Title) != "" {
			out[id] = a.Title
		}
	}
	return out
}

// earningTitles are the titles of the assignments of a grader's earnings.
func (p *pages) earningTitles(c *fiber.Ctx, v payouts.GraderView) map[string]string {
	ids := make([]string, 0, len(v.Earnings))
	for _, e := range v.Earnings {
		ids = append(ids, e.AssignmentID)
	}
	return p.assignmentTitles(c.UserContext(), ids)
}
