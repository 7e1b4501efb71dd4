package web

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/matching"
)

func (p *pages) graderHome(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), api.Caller(c)
	d := map[string]any{}
	if prof, err := p.d.Matching.MyProfile(ctx, u); err == nil {
		d["Profile"] = prof
	}
	offers, err := p.d.Matching.GraderOffers(ctx, u, true)
	if err != nil {
		return err
	}
	tasks, err := p.d.Feedback.Tasks(ctx, u)
	if err != nil {
		return err
	}
	d["Offers"], d["Tasks"] = offers, tasks
	d["Names"] = p.graderNamesFor(ctx, u, offers, tasks)
	if cs, err := p.d.Matching.Calibrations(ctx, u); err == nil {
		waiting := 0
		for _, o := range cs {
			if o.MayAttempt {
				waiting++
			}
		}
		d["Calibrations"] = waiting
	}
	return p.render(c, "grader_home", "Offers and tasks", d)
}

func (p *pages) acceptOffer(c *fiber.Ctx) error {
	if _, err := p.d.Matching.Accept(c.UserContext(), api.Caller(c), api.Param(c, "id")); err != nil {
		return err
	}
	return see(c, "/grader", "accepted")
}

func (p *pages) declineOffer(c *fiber.Ctx) error {
	if _, err := p.d.Matching.Decline(c.UserContext(), api.Caller(c), api.Param(c, "id")); err != nil {
		return err
	}
	return see(c, "/grader", "declined")
}

// workspaceJSON is what grade.js needs: the draft, the grader text its
// offsets count in, and the rules for submitting.
type workspaceJSON struct {
	Rev         int               `json:"rev"`
	Content     feedback.Content  `json:"content"`
	Text        string            `json:"text"`
	Settings    feedback.Settings `json:"settings"`
	Criteria    []criterionKey    `json:"criteria"`
	FocusPoints []string          `json:"focus_points"`
}

type criterionKey struct {
	Key   string `json:"key"`
	Title string `json:"title"`
}

func (p *pages) workspace(c *fiber.Ctx) error {
	w, err := p.d.Feedback.Open(c.UserContext(), api.Caller(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	f := w.Feedback
	data := workspaceJSON{Rev: f.Rev, Content: f.Content, Text: w.Text, Settings: w.Settings, FocusPoints: w.Assignment.FocusPoints}
	if data.FocusPoints == nil {
		data.FocusPoints = []string{}
	}
	if data.Content.Quotes == nil {
		data.Content.Quotes = []feedback.Quote{}
	}
	for _, cr := range w.Assignment.Rubric.Criteria {
		data.Criteria = append(data.Criteria, criterionKey{cr.Key, cr.Title})
	}
	var spans []Span
	for _, q := range f.Quotes {
		spans = append(spans, Span{Start: q.Target.Position.Start, End: q.Target.Position.End, ID: q.ID, Kind: string(q.Kind), Label: q.Criterion})
	}
	focus := make([]string, len(w.Assignment.FocusPoints))
	for _, n := range f.FocusNotes {
		if n.Index >= 0 && n.Index < len(focus) {
			focus[n.Index] = n.Note
		}
	}
	bank, err := p.d.Feedback.Bank(c.UserContext(), api.Caller(c))
	if err != nil {
		return err
	}
	d := map[string]any{"Workspace": w, "JSON": data, "Segments": Segments(w.Text, spans), "Focus": focus,
		"Titles": criterionTitles(w.Assignment.Rubric), "Bank": bank}
	return p.render(c, "grader_task", "Grading", d, "grade.js")
}

func (p *pages) earnings(c *fiber.Ctx) error {
	v, err := p.d.Payouts.Grader(c.UserContext(), api.Caller(c).ID)
	if err != nil {
		return err
	}
	return p.render(c, "grader_earnings", "Earnings", map[string]any{"View": v, "Titles": p.earningTitles(c, v)})
}

// onboarding starts (or continues) Stripe onboarding and links to it; a
// link rather than a redirect, since the page's CSP keeps forms on Margin.
func (p *pages) onboarding(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), api.Caller(c)
	link, _, err := p.d.Payouts.StartOnboarding(ctx, u)
	if err != nil {
		return err
	}
	v, err := p.d.Payouts.Grader(ctx, u.ID)
	if err != nil {
		return err
	}
	return p.render(c, "grader_earnings", "Earnings", map[string]any{"View": v, "OnboardingURL": link, "Titles": p.earningTitles(c, v)})
}

func (p *pages) renderProfile(c *fiber.Ctx, f profileForm, status matching.VettingStatus, err error) error {
	d := map[string]any{"Form": f, "Status": status, "Weekdays": weekdayNames}
	if err != nil {
		return p.formError(c, err, "grader_profile", "Profile and availability", d)
	}
	return p.render(c, "grader_profile", "Profile and availability", d)
}

// profilePage shows the grader's profile as a form; a grader with none
// yet gets an empty one.
func (p *pages) profilePage(c *fiber.Ctx) error {
	v, err := p.d.Matching.MyProfile(c.UserContext(), api.Caller(c))
	switch {
	case err == nil:
		return p.renderProfile(c, profileFormOf(v.Profile), v.Status, nil)
	case errs.CodeOf(err) == errs.NotFound:
		return p.renderProfile(c, profileForm{Capacity: "10", Days: map[string]bool{}}, "", nil)
	}
	return err
}

func (p *pages) saveProfile(c *fiber.Ctx) error {
	f := profileForm{Subjects: c.FormValue("subjects"), Bands: c.FormValue("grade_bands"), Affiliations: c.FormValue("affiliations"),
		Capacity: c.FormValue("capacity"), Bio: c.FormValue("bio"), Days: map[string]bool{}}
	for _, d := range weekdayNames {
		f.Days[d] = c.FormValue("day_"+d) != ""
	}
	in, err := f.input()
	if err == nil {
		_, err = p.d.Matching.SaveProfile(c.UserContext(), api.Caller(c), in)
	}
	if err != nil {
		var status matching.VettingStatus
		if v, verr := p.d.Matching.MyProfile(c.UserContext(), api.Caller(c)); verr == nil {
			status = v.Status
		}
		return p.renderProfile(c, f, status, err)
	}
	return see(c, "/grader/profile", "profile")
}

func (p *pages) renderBank(c *fiber.Ctx, f bankForm, err error) error {
	es, berr := p.d.Feedback.Bank(c.UserContext(), api.Caller(c))
	if berr != nil {
		return berr
	}
	d := map[string]any{"Entries": es, "Form": f}
	if err != nil {
		return p.formError(c, err, "grader_comments", "Comment bank", d)
	}
	return p.render(c, "grader_comments", "Comment bank", d)
}

func (p *pages) bankPage(c *fiber.Ctx) error { return p.renderBank(c, bankForm{}, nil) }

func (p *pages) addToBank(c *fiber.Ctx) error {
	f := bankForm{Criterion: strings.TrimSpace(c.FormValue("criterion")), Kind: c.FormValue("kind"), Text: c.FormValue("text")}
	e := feedback.BankEntry{Criterion: f.Criterion, Kind: feedback.Kind(f.Kind), Text: f.Text}
	if _, err := p.d.Feedback.SaveToBank(c.UserContext(), api.Caller(c), e); err != nil {
		return p.renderBank(c, f, err)
	}
	return see(c, "/grader/comments", "banked")
}

func (p *pages) deleteFromBank(c *fiber.Ctx) error {
	if err := p.d.Feedback.DeleteFromBank(c.UserContext(), api.Caller(c), api.Param(c, "id")); err != nil {
		return err
	}
	return see(c, "/grader/comments", "unbanked")
}

// calibrationRoutes registers the grader's calibration pages: the list of
// assignments waiting for calibration, the blind scoring of an anchor
// paper, and its outcome.
func (p *pages) calibrationRoutes() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	s.Handle(get, "/grader/calibration", api.Graders, p.calibrationList)
	s.Handle(get, "/grader/calibration/:id", api.Graders, p.calibrationPage)
	s.Handle(post, "/grader/calibration/:id", api.Graders, p.calibrate)
	s.Handle(get, "/grader/calibration/:id/attempts/:n", api.Graders, p.calibrationOutcome)

	s.Handle(post, "/teacher/assignments/:id/anchors", api.Teachers, p.saveAnchor)
	s.Handle(post, "/teacher/assignments/:id/anchors/:sid/remove", api.Teachers, p.removeAnchor)
}

func (p *pages) calibrationList(c *fiber.Ctx) error {
	cs, err := p.d.Matching.Calibrations(c.UserContext(), api.Caller(c))
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
	t, err := p.d.Matching.Calibration(c.UserContext(), api.Caller(c), api.Param(c, "id"))
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
	ctx, u, aid := c.UserContext(), api.Caller(c), api.Param(c, "id")
	a, err := p.d.Intake.Assignment(ctx, aid) // for the rubric's keys; Calibrate decides who may
	if err != nil {
		return err
	}
	chosen := map[string]string{}
	for _, cr := range a.Rubric.Criteria {
		if l := c.FormValue("level-" + cr.Key); l != "" {
			chosen[cr.Key] = l
		}
	}
	res, err := p.d.Matching.Calibrate(ctx, u, aid, chosen)
	if err != nil {
		t, terr := p.d.Matching.Calibration(ctx, u, aid)
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
	n, err := strconv.Atoi(api.Param(c, "n"))
	if err != nil {
		return errs.E(errs.NotFound, "No such calibration attempt.")
	}
	ctx, u, aid := c.UserContext(), api.Caller(c), api.Param(c, "id")
	res, err := p.d.Matching.Outcome(ctx, u, aid, n)
	if err != nil {
		return err
	}
	a, err := p.d.Intake.Assignment(ctx, aid)
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
