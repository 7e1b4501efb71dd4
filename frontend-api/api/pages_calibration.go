package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/services/matching"
)

// calibrationRoutes registers the grader's calibration pages: the list of
// assignments waiting for calibration, the blind scoring of an anchor
// paper, and its outcome.
func (p *pages) calibrationRoutes() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	s.handle(get, "/grader/calibration", graders, p.calibrationList)
	s.handle(get, "/grader/calibration/:id", graders, p.calibrationPage)
	s.handle(post, "/grader/calibration/:id", graders, p.calibrate)
}

func (p *pages) calibrationList(c *fiber.Ctx) error {
	cs, err := p.s.deps.Matching.Calibrations(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return p.render(c, "grader_calibrations", "Calibration", map[string]any{"Openings": cs})
}

// calibrationView is the scoring page: the anchor paper and the rubric,
// with the levels the grader chose so far (kept when the form comes back
// with a mistake), or the outcome of an attempt.
type calibrationView struct {
	Task   matching.CalibrationTask
	Chosen map[string]string
	Result *matching.AttemptResult
	Labels map[string]string // level key → label
	Titles map[string]string // criterion key → title
}

func (p *pages) calibrationPage(c *fiber.Ctx) error {
	t, err := p.s.deps.Matching.Calibration(c.UserContext(), caller(c), id(c, "id"))
	if err != nil {
		return err
	}
	return p.render(c, "grader_calibrate", "Calibration", calibrationView{Task: t, Chosen: map[string]string{}})
}

// calibrate scores the anchor from the form's level-<criterion> fields and
// shows the outcome: passed, or the reference levels beside the grader's
// with a retry when one is left.
func (p *pages) calibrate(c *fiber.Ctx) error {
	ctx, u, aid := c.UserContext(), caller(c), id(c, "id")
	t, err := p.s.deps.Matching.Calibration(ctx, u, aid)
	if err != nil {
		return err
	}
	v := calibrationView{Task: t, Chosen: map[string]string{}, Labels: map[string]string{}, Titles: criterionTitles(t.Rubric)}
	for _, cr := range t.Rubric.Criteria {
		if l := c.FormValue("level-" + cr.Key); l != "" {
			v.Chosen[cr.Key] = l
		}
	}
	for _, l := range t.Rubric.Scale {
		v.Labels[l.Key] = l.Label
	}
	res, err := p.s.deps.Matching.Calibrate(ctx, u, aid, v.Chosen)
	if err != nil {
		return p.formError(c, err, "grader_calibrate", "Calibration", v)
	}
	v.Result = &res
	return p.render(c, "grader_calibrate", "Calibration result", v)
}
