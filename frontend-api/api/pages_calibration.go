package api

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
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
	s.handle(get, "/grader/calibration/:id/attempts/:n", graders, p.calibrationOutcome)

	s.handle(post, "/teacher/assignments/:id/anchors", teachers, p.saveAnchor)
	s.handle(post, "/teacher/assignments/:id/anchors/:sid/remove", teachers, p.removeAnchor)
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
	t, err := p.s.deps.Matching.Calibration(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return p.render(c, "grader_calibrate", "Calibration", calibrationView{Task: t, Chosen: map[string]string{}})
}

// calibrate scores the anchor from the form's level-<criterion> fields and
// sends the grader to the outcome's page (post/redirect/get, so reloading
// it never spends the retry); a form missing a level comes back with the
// levels chosen.
func (p *pages) calibrate(c *fiber.Ctx) error {
	ctx, u, aid := c.UserContext(), caller(c), param(c, "id")
	a, err := p.s.deps.Intake.Assignment(ctx, aid) // for the rubric's keys; Calibrate decides who may
	if err != nil {
		return err
	}
	chosen := map[string]string{}
	for _, cr := range a.Rubric.Criteria {
		if l := c.FormValue("level-" + cr.Key); l != "" {
			chosen[cr.Key] = l
		}
	}
	res, err := p.s.deps.Matching.Calibrate(ctx, u, aid, chosen)
	if err != nil {
		t, terr := p.s.deps.Matching.Calibration(ctx, u, aid)
		if terr != nil { // nothing left to score: say why Calibrate refused
			return err
		}
		return p.formError(c, err, "grader_calibrate", "Calibration", calibrationView{Task: t, Chosen: chosen})
	}
	return see(c, fmt.Sprintf("/grader/calibration/%s/attempts/%d", esc(aid), res.Attempt.N), "")
}

// calibrationOutcome shows one of the grader's attempts: passed, or the
// reference levels beside the grader's with a retry when one is left.
func (p *pages) calibrationOutcome(c *fiber.Ctx) error {
	n, err := strconv.Atoi(param(c, "n"))
	if err != nil {
		return errs.E(errs.NotFound, "No such calibration attempt.")
	}
	ctx, u, aid := c.UserContext(), caller(c), param(c, "id")
	res, err := p.s.deps.Matching.Outcome(ctx, u, aid, n)
	if err != nil {
		return err
	}
	a, err := p.s.deps.Intake.Assignment(ctx, aid)
	if err != nil {
		return err
	}
	v := calibrationView{Task: matching.CalibrationTask{AssignmentID: aid, Rubric: a.Rubric}, Result: &res,
		Labels: map[string]string{}, Titles: criterionTitles(a.Rubric)}
	for _, l := range a.Rubric.Scale {
		v.Labels[l.Key] = l.Label
	}
	return p.render(c, "grader_calibrate", "Calibration result", v)
}

// anchorView is one anchor paper as its teacher sees it: the student and
// the reference level on each criterion, by label.
type anchorView struct {
	StudentID string
	Levels    []criterionView
}

// anchorViews lists an assignment's anchor papers for its teacher.
func (p *pages) anchorViews(c *fiber.Ctx, a intake.Assignment) ([]anchorView, error) {
	an, err := p.s.deps.Matching.AnchorsFor(c.UserContext(), caller(c), a.ID)
	if err != nil {
		return nil, err
	}
	out := make([]anchorView, 0, len(an.Anchors))
	for _, x := range an.Anchors {
		v := anchorView{StudentID: x.StudentID}
		for _, cr := range a.Rubric.Criteria {
			v.Levels = append(v.Levels, criterionView{Title: cr.Title, Level: levelLabel(a.Rubric, x.Levels[cr.Key])})
		}
		out = append(out, v)
	}
	return out, nil
}

// saveAnchor adds a student's submission as an anchor paper with the
// teacher's levels from the form (level-<criterion>), or gives that
// student's paper the new levels in its place (matching.PutAnchor). A
// mistake shows the assignment page again with the form as filled in.
func (p *pages) saveAnchor(c *fiber.Ctx) error {
	a, err := p.s.deps.Intake.AuthorizeAssignment(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	in := matching.AnchorInput{StudentID: strings.TrimSpace(c.FormValue("student_id")), Levels: map[string]string{}}
	for _, cr := range a.Rubric.Criteria {
		in.Levels[cr.Key] = c.FormValue("level-" + cr.Key)
	}
	if _, err := p.s.deps.Matching.PutAnchor(c.UserContext(), caller(c), a.ID, in); err != nil {
		d, derr := p.assignmentData(c)
		if derr != nil {
			return derr
		}
		form := map[string]string{"student_id": in.StudentID}
		for k, v := range in.Levels {
			form["level-"+k] = v
		}
		d["AnchorForm"] = form
		return p.formError(c, err, "teacher_assignment", a.Title, d, "upload.js")
	}
	return see(c, "/teacher/assignments/"+esc(a.ID)+"#anchors", "")
}

// removeAnchor takes a student's submission off the anchor papers.
func (p *pages) removeAnchor(c *fiber.Ctx) error {
	id := param(c, "id")
	if _, err := p.s.deps.Matching.RemoveAnchor(c.UserContext(), caller(c), id, param(c, "sid")); err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(id)+"#anchors", "")
}
