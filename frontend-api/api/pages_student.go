package api

import (
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/frontend-api/web"
	"github.com/marginschool/margin/pkg/errs"
)

// studentRoutes registers the student's pages: their submissions, released
// feedback, ratings, reflections, revisions and progress.
func (p *pages) studentRoutes() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	s.handle(get, "/student", students, p.studentHome)
	s.handle(get, "/student/submissions/:id", students, p.studentFeedback)
	s.handle(post, "/student/feedback/:id/rate", students, p.rate)
	s.handle(post, "/student/submissions/:id/revision", students, p.revision)
}

// studentSubmission is a line of the student's list.
type studentSubmission struct {
	ID, Title string
	Version   int
	Released  bool
}

func (p *pages) studentHome(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), caller(c)
	subs, err := p.s.deps.Intake.MySubmissions(ctx, u)
	if err != nil {
		return err
	}
	var out []studentSubmission
	for _, sub := range subs {
		line := studentSubmission{ID: sub.ID, Version: len(sub.Versions)}
		if a, err := p.s.deps.Intake.Assignment(ctx, sub.AssignmentID); err == nil {
			line.Title = a.Title
		}
		_, ferr := p.s.deps.Feedback.ForSubmission(ctx, u, sub.ID)
		line.Released = ferr == nil
		out = append(out, line)
	}
	return p.render(c, "student_home", "My feedback", map[string]any{"Submissions": out})
}

func (p *pages) studentFeedback(c *fiber.Ctx) error {
	fb, err := p.s.deps.Feedback.ForSubmission(c.UserContext(), caller(c), id(c, "id"))
	if err != nil {
		return err
	}
	v := fb.Versions[0]
	titles := map[string]string{}
	for _, cv := range v.Criteria {
		titles[cv.Key] = cv.Title
	}
	d := map[string]any{"Feedback": fb, "Titles": titles, "Segments": web.Segments(v.Text, highlightSpans(v.Highlights)), "Stars": []int{1, 2, 3, 4, 5}}
	return p.render(c, "student_feedback", fb.Title, d)
}

// rate records a helpfulness rating; htmx swaps the form for the thanks.
func (p *pages) rate(c *fiber.Ctx) error {
	stars, _ := strconv.Atoi(c.FormValue("stars"))
	if _, err := p.s.deps.Feedback.Rate(c.UserContext(), caller(c), id(c, "id"), c.FormValue("comment_id"), stars); err != nil {
		return err
	}
	if c.Get("HX-Request") == "true" {
		c.Type("html", "utf-8")
		return c.SendString(fmt.Sprintf(`<p class="rated" role="status">Thank you: you rated this comment %d of 5.</p>`, stars))
	}
	return see(c, "/student/submissions/"+esc(c.FormValue("submission_id")), "")
}

func (p *pages) revision(c *fiber.Ctx) error {
	subID := id(c, "id")
	fh, err := c.FormFile("file")
	if err != nil {
		return errs.F(errs.Invalid, "file", "Choose the file of your revision.")
	}
	b, err := p.s.deps.Intake.StartRevision(c.UserContext(), caller(c), subID)
	if err != nil {
		return err
	}
	f, err := fh.Open()
	if err != nil {
		return errs.Wrap(err, "opening the revision upload")
	}
	defer f.Close()
	if err := b.Add(c.UserContext(), fh.Filename, "", f, fh.Size); err != nil {
		return err
	}
	for _, o := range b.Upload().Outcomes {
		if o.Error != nil {
			return o.Error
		}
	}
	return see(c, "/student", "revision")
}
