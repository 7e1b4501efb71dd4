package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/frontend-api/web"
)

// reviewRoutes registers the teacher's review pages: one feedback with its
// highlights, approve, return, edit and adjudicate.
func (p *pages) reviewRoutes() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	s.handle(get, "/teacher/feedback/:id", teachers, p.reviewPage)
	s.handle(post, "/teacher/feedback/:id/approve", teachers, p.approve)
	s.handle(post, "/teacher/feedback/:id/return", teachers, p.returnFeedback)
}

// criterionView is one criterion of a feedback as the review page lists it.
type criterionView struct{ Title, Level, Comment string }

func (p *pages) reviewPage(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), caller(c)
	r, err := p.s.deps.Feedback.Review(ctx, u, id(c, "id"))
	if err != nil {
		return err
	}
	a, err := p.s.deps.Intake.AuthorizeAssignment(ctx, u, r.Feedback.AssignmentID)
	if err != nil {
		return err
	}
	var crit []criterionView
	for _, cr := range a.Rubric.Criteria {
		level := r.Feedback.Levels[cr.Key]
		for _, l := range a.Rubric.Scale {
			if l.Key == level {
				level = l.Label
			}
		}
		crit = append(crit, criterionView{Title: cr.Title, Level: level, Comment: r.Feedback.Comments[cr.Key]})
	}
	d := map[string]any{"Review": r, "Criteria": crit, "Titles": criterionTitles(a.Rubric), "Segments": web.Segments(r.Text, highlightSpans(r.Highlights))}
	return p.render(c, "teacher_review", "Review", d)
}

func (p *pages) approve(c *fiber.Ctx) error {
	f, err := p.s.deps.Feedback.Approve(c.UserContext(), caller(c), id(c, "id"))
	if err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(f.AssignmentID), "approved")
}

func (p *pages) returnFeedback(c *fiber.Ctx) error {
	f, err := p.s.deps.Feedback.Return(c.UserContext(), caller(c), id(c, "id"), c.FormValue("note"))
	if err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(f.AssignmentID), "returned")
}
