package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// assignmentRoutes registers the teacher's pages on one assignment's
// brief and one submission: editing the title, prompt, due date and
// rubric until grading starts, and a submission's text with its original
// file and the form that scores it as an anchor paper. The intake service
// refuses another teacher's assignment or submission with not_found.
func (p *pages) assignmentRoutes() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	s.Handle(get, "/teacher/assignments/:id/edit", api.Teachers, p.editAssignmentPage)
	s.Handle(post, "/teacher/assignments/:id/edit", api.Teachers, p.saveAssignment)
	s.Handle(get, "/teacher/submissions/:id", api.Teachers, p.submissionPage)
}

// editAssignmentData is the assignment edit page's data: the form, or
// (Frozen) why the assignment can no longer be edited.
type editAssignmentData struct {
	Assignment intake.Assignment
	Form       assignmentForm
	Frozen     bool
}

// frozenReason is what the pages say once grading has started.
const frozenReason = "Grading has started (a grader has accepted this work), so the title, prompt, due date and rubric can no longer change: graders score against them as they are."

// assignmentFormOf shows a stored assignment in the edit form: the rubric
// as indented rubric.json, with the assignment's focus points.
func assignmentFormOf(a intake.Assignment) assignmentForm {
	r := a.Rubric
	r.FocusPoints = a.FocusPoints
	b, _ := json.MarshalIndent(r, "", "  ") // a stored rubric always encodes
	return assignmentForm{Title: a.Title, Prompt: a.Prompt, Due: a.DueAt.Format(time.DateOnly),
		Price: fmt.Sprintf("%d.%02d", a.PriceCents/100, a.PriceCents%100), Rubric: string(b), NoResubmission: !a.AllowResubmission}
}

func (p *pages) editAssignmentPage(c *fiber.Ctx) error {
	a, err := p.d.Intake.AuthorizeAssignment(c.UserContext(), api.Caller(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	d := editAssignmentData{Assignment: a, Form: assignmentFormOf(a), Frozen: a.RubricFrozen()}
	return p.render(c, "teacher_assignment_edit", "Edit "+a.Title, d, "rubric.js")
}

// saveAssignment saves the edit form through intake.UpdateAssignment,
// which checks it as it checks a new assignment and refuses (conflict) once
// grading has started. What the form does not show (price, resubmission,
// second reads) stays as it is; a due date left on the same day keeps its
// time. Mistakes show the form again as typed.
func (p *pages) saveAssignment(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), api.Caller(c)
	a, err := p.d.Intake.AuthorizeAssignment(ctx, u, api.Param(c, "id"))
	if err != nil {
		return err
	}
	stored := assignmentFormOf(a)
	form := assignmentForm{Title: c.FormValue("title"), Prompt: c.FormValue("prompt"), Due: c.FormValue("due"),
		Rubric: c.FormValue("rubric"), Price: stored.Price, NoResubmission: stored.NoResubmission}
	in, err := assignmentInput(a.ClassID, form, "", a.AllowResubmission)
	if err == nil {
		if strings.TrimSpace(form.Due) == stored.Due {
			in.DueAt = a.DueAt
		}
		in.Subject, in.GradeLevel, in.Currency, in.SecondReadShare = a.Subject, &a.GradeLevel, a.Currency, &a.SecondReadShare
		_, err = p.d.Intake.UpdateAssignment(ctx, u, a.ID, in)
	}
	if err != nil {
		d := editAssignmentData{Assignment: a, Form: form, Frozen: errs.CodeOf(err) == errs.Conflict}
		return p.formError(c, err, "teacher_assignment_edit", "Edit "+a.Title, d, "rubric.js")
	}
	return see(c, "/teacher/assignments/"+esc(a.ID)+"#brief", "brief_saved")
}

// submissionData is the submission page's data: one version's extracted
// text and original file, and the form that scores it as an anchor paper.
type submissionData struct {
	Assignment intake.Assignment
	Submission intake.Submission
	Version    intake.Version
	Name, Text string
	// Anchor is the anchor form: the levels saved for this student's paper
	// (IsAnchor) or as the teacher filled it in.
	Anchor   map[string]string
	IsAnchor bool
	Criteria []editCriterion
}

func (p *pages) submissionPage(c *fiber.Ctx) error {
	d, err := p.submissionData(c, api.Param(c, "id"), nil)
	if err != nil {
		return err
	}
	return p.render(c, "teacher_submission", d.Name+": "+d.Assignment.Title, d)
}

// submissionData reads submission id for its teacher: the version of
// ?version= (the latest by default), its text, and the anchor form (form
// nil: the saved anchor's levels, if any).
func (p *pages) submissionData(c *fiber.Ctx, id string, form map[string]string) (submissionData, error) {
	ctx, u := c.UserContext(), api.Caller(c)
	sub, a, err := p.d.Intake.SubmissionFor(ctx, u, id)
	if err != nil {
		return submissionData{}, err
	}
	if len(sub.Versions) == 0 {
		return submissionData{}, errs.E(errs.NotFound, "No submission with ID %q.", id)
	}
	d := submissionData{Assignment: a, Submission: sub, Version: sub.Current(), Name: "Former student", Anchor: form}
	if n := c.QueryInt("version", 0); n != 0 {
		i := -1
		for j, v := range sub.Versions {
			if v.N == n {
				i = j
			}
		}
		if i < 0 {
			return submissionData{}, errs.F(errs.NotFound, "version", "This submission has no version %d.", n)
		}
		d.Version = sub.Versions[i]
	}
	if d.Text, err = p.d.Intake.TextFor(ctx, u, sub.ID, d.Version.N); err != nil {
		return submissionData{}, err
	}
	if st, err := p.d.Intake.Student(ctx, a.ClassID, sub.StudentID); err == nil {
		d.Name = st.Name()
	}
	an, err := p.d.Matching.AnchorsFor(ctx, u, a.ID)
	if err != nil {
		return submissionData{}, err
	}
	for _, x := range an.Anchors {
		if x.StudentID == sub.StudentID {
			d.IsAnchor = true
			if d.Anchor == nil {
				d.Anchor = x.Levels
			}
		}
	}
	for _, cr := range a.Rubric.Criteria {
		d.Criteria = append(d.Criteria, editCriterion{Key: cr.Key, Title: cr.Title, Level: d.Anchor[cr.Key], Levels: levelOptions(a.Rubric, cr)})
	}
	return d, nil
}

// saveAnchorBesideText is saveAnchor posted from a submission's page
// (form field submission_id): back to that page, or that page again with
// the form as filled in.
func (p *pages) saveAnchorBesideText(c *fiber.Ctx, a intake.Assignment, in matching.AnchorInput, submissionID string) error {
	if _, err := p.d.Matching.PutAnchor(c.UserContext(), api.Caller(c), a.ID, in); err != nil {
		d, derr := p.submissionData(c, submissionID, in.Levels)
		if derr != nil {
			return derr
		}
		return p.formError(c, err, "teacher_submission", d.Name+": "+a.Title, d)
	}
	return see(c, "/teacher/submissions/"+esc(submissionID)+"#anchor", "anchor_saved")
}
