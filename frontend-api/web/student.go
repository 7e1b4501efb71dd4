package web

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/analytics"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// studentRoutes registers the student's pages: their submissions, released
// feedback, ratings, reflections, revisions and progress with its family
// links; and the family's read-only progress page, opened with a link's
// token and no session.
func (p *pages) studentRoutes() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	s.Handle(get, "/student", api.Students, p.studentHome)
	s.Handle(get, "/student/submissions/:id", api.Students, p.studentFeedback)
	s.Handle(post, "/student/feedback/:id/rate", api.Students, p.rate)
	s.Handle(post, "/student/feedback/:id/reflect", api.Students, p.reflect)
	s.Handle(post, "/student/submissions/:id/revision", api.Students, p.revision)
	s.Handle(get, "/student/progress", api.Students, p.studentProgress)
	s.Handle(get, "/student/progress.svg", api.Students, p.studentProgressChart)
	s.Handle(post, "/student/progress/links", api.Students, p.createFamilyLink)
	s.Handle(post, "/student/progress/links/:id/revoke", api.Students, p.revokeFamilyLink)
	// The family's token travels in the query string, which the request log
	// leaves out (as on the JSON API's family route).
	s.Handle(get, "/family", api.Public, p.familyPage)
	s.Handle(get, "/family/progress.svg", api.Public, p.familyChart)
}

// reflectionNotes are the ?done= messages of the reflection form, shown
// inside the page's reflections section (where the redirect lands) rather
// than at the top, as flashes are.
var reflectionNotes = map[string]string{
	"reflected": "Your reflection is saved with your feedback.",
	"asked":     "Your question is saved with your feedback for your teacher.",
}

// studentWork is a line of the student's list: an assignment, with their
// latest version if they have handed one in.
type studentWork struct {
	ID, Title string // ID is the submission's, "" if nothing is handed in
	Version   int
	Released  bool // the feedback on Version is released
	// ReleasedVersion is the version whose feedback is released (0: none):
	// below Version while a revision is being read.
	ReleasedVersion int
}

// studentHome lists the class's assignments with the student's work: the
// students' read model (intake.StudentWork, two reads), and the released
// feedback of each submission.
func (p *pages) studentHome(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), api.Caller(c)
	items, err := p.d.Intake.StudentWork(ctx, u.ClassID, u.StudentID)
	if err != nil {
		return err
	}
	// What is released: one read of the student's record in their class.
	work, err := p.d.Feedback.StudentReleased(ctx, u.ClassID, u.StudentID)
	if err != nil {
		return err
	}
	released := map[string]int{}
	for _, w := range work {
		if w.Released {
			released[w.SubmissionID] = w.Version
		}
	}
	out := []studentWork{}
	for _, it := range items {
		line := studentWork{ID: it.SubmissionID, Title: it.Title, Version: it.Version}
		if it.SubmissionID != "" {
			// A revision reads "being read" until its own feedback is out.
			line.ReleasedVersion = released[it.SubmissionID]
			line.Released = line.ReleasedVersion > 0 && line.ReleasedVersion >= it.Version
		}
		out = append(out, line)
	}
	return p.render(c, "student_home", "My feedback", map[string]any{"Work": out})
}

// reflectionView is one of the student's reflections or questions, with the
// version of their work it is about.
type reflectionView struct {
	feedback.Reflection
	Version int
}

// feedbackData is the data of the student's feedback page on a submission;
// the reflection form writes on the newest version's feedback. Returns
// not_found as Feedback.ForSubmission does.
func (p *pages) feedbackData(c *fiber.Ctx, subID string) (feedback.StudentFeedback, map[string]any, error) {
	fb, err := p.d.Feedback.ForSubmission(c.UserContext(), api.Caller(c), subID)
	if err != nil {
		return fb, nil, err
	}
	v := fb.Versions[0]
	titles := map[string]string{}
	for _, cv := range v.Criteria {
		titles[cv.Key] = cv.Title
	}
	// Oldest first, as a conversation reads.
	var refl []reflectionView
	for i := len(fb.Versions) - 1; i >= 0; i-- {
		for _, r := range fb.Versions[i].Reflections {
			refl = append(refl, reflectionView{Reflection: r, Version: fb.Versions[i].Version})
		}
	}
	d := map[string]any{
		"Feedback": fb, "Titles": titles, "Segments": Segments(v.Text, highlightSpans(v.Highlights)),
		"Stars": []int{1, 2, 3, 4, 5}, "Reflections": refl, "ManyVersions": len(fb.Versions) > 1,
		"Reflect": reflectForm{Kind: "reflection"}, "Done": reflectionNotes[c.Query("done")],
	}
	return fb, d, nil
}

func (p *pages) studentFeedback(c *fiber.Ctx) error {
	fb, d, err := p.feedbackData(c, api.Param(c, "id"))
	if err != nil {
		return err
	}
	// A revision handed in since reads "being read" until its own
	// feedback is released; the feedback shown is the older version's.
	u := api.Caller(c)
	items, err := p.d.Intake.StudentWork(c.UserContext(), u.ClassID, u.StudentID)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.SubmissionID == fb.SubmissionID && it.Version > fb.Versions[0].Version {
			d["BeingRead"] = it.Version
		}
	}
	// The saved-reflection message shows inside the reflections section
	// (where the redirect lands), not again at the top.
	return p.render(c, "student_feedback", fb.Title, d)
}

// rate records a helpfulness rating; htmx swaps the form for the thanks.
func (p *pages) rate(c *fiber.Ctx) error {
	stars, _ := strconv.Atoi(c.FormValue("stars"))
	if _, err := p.d.Feedback.Rate(c.UserContext(), api.Caller(c), api.Param(c, "id"), c.FormValue("comment_id"), stars); err != nil {
		return err
	}
	if c.Get("HX-Request") == "true" {
		c.Type("html", "utf-8")
		return c.SendString(fmt.Sprintf(`<p class="rated" role="status">Thank you: you rated this comment %d of 5.</p>`, stars))
	}
	return see(c, "/student/submissions/"+esc(c.FormValue("submission_id")), "")
}

// reflect saves the student's reflection or question (form fields kind and
// text) on their released feedback :id, then redirects (303) to the
// feedback page's reflections with ?done=reflected or asked. A mistake
// (empty, too long, too many) shows the page again with the text kept: with
// its 4xx status for a plain form post, and with 200 for htmx, which swaps
// the page's reflections section in place and swaps nothing on a 4xx.
// Feedback that is not the caller's is not_found.
func (p *pages) reflect(c *fiber.Ctx) error {
	fid := api.Param(c, "id")
	f := reflectForm{Kind: strings.Clone(c.FormValue("kind")), Text: strings.Clone(c.FormValue("text"))}
	fb, err := p.d.Feedback.Reflect(c.UserContext(), api.Caller(c), fid, f.Kind, f.Text)
	if err == nil {
		done := "reflected"
		if f.Kind == "question" {
			done = "asked"
		}
		return c.Redirect("/student/submissions/"+esc(fb.SubmissionID)+"?done="+done+"#reflections", fiber.StatusSeeOther)
	}
	if code := errs.CodeOf(err); code != errs.Invalid && code != errs.Conflict {
		return err
	}
	// The caller is the feedback's student (Reflect checked); the form
	// names the submission whose page to show again.
	sf, d, derr := p.feedbackData(c, c.FormValue("submission_id"))
	if derr != nil || !slices.ContainsFunc(sf.Versions, func(v feedback.StudentVersion) bool { return v.FeedbackID == fid }) {
		return err
	}
	f.Errors = messages(err)
	d["Reflect"] = f
	if c.Get("HX-Request") == "true" {
		return p.render(c, "student_feedback", sf.Title, d)
	}
	return p.formError(c, err, "student_feedback", sf.Title, d)
}

// revision streams the student's revision file through the same path as
// the API's uploads (the form's _csrf field comes before the file).
func (p *pages) revision(c *fiber.Ctx) error {
	b, err := p.d.Intake.StartRevision(c.UserContext(), api.Caller(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	readErr := p.s.StreamFiles(c, b, 1)
	up, err := p.s.FinishBatch(c, b, readErr)
	if err != nil {
		return err
	}
	if readErr != nil {
		if up.Counts.Files == 0 && errs.Is(readErr, errs.Invalid) {
			return errs.F(errs.Invalid, "file", "Choose the file of your revision.")
		}
		if errors.Is(readErr, intake.ErrStopped) {
			return errs.E(errs.Unavailable, "Your revision was not stored: the upload stopped before it arrived. Try again.")
		}
		return readErr
	}
	for _, o := range up.Outcomes {
		if o.Error != nil {
			return o.Error
		}
	}
	return see(c, "/student", "revision")
}

// progressTable is a student's progress as a table: one row per strand
// (a criterion, or a standard shared by criteria), one column per graded
// piece of work (an assignment, or a revision of one), oldest first.
type progressTable struct {
	Columns []progressColumn
	Rows    []progressRow
	// Alt describes the chart in words, for the <img alt>.
	Alt string
}

type progressColumn struct {
	AssignmentID string
	Title        string
	Version      int
	Revision     bool
	At           time.Time
}

// progressRow is one strand; Cells follow Columns, nil where the strand
// was not assessed.
type progressRow struct {
	Title, Standard string
	Cells           []*progressCell
}

// progressCell is one level, with how it moved since the strand's previous
// mark: Dir is "up", "down", "same", or "" for the first mark.
type progressCell struct {
	Label         string
	Number, Of    int // level Number (1 is the lowest) of Of
	Dir, Change   string
	PreviousLabel string
}

// progressTableOf lays a Progress out as a table.
func progressTableOf(pr analytics.Progress) progressTable {
	type key struct {
		asg string
		v   int
	}
	var cols []progressColumn
	seen := map[key]bool{}
	for _, st := range pr.Strands {
		for _, m := range st.Marks {
			if k := (key{m.AssignmentID, m.Version}); !seen[k] {
				seen[k] = true
				cols = append(cols, progressColumn{AssignmentID: m.AssignmentID, Title: m.Title, Version: m.Version, Revision: m.Revision, At: m.At})
			}
		}
	}
	slices.SortFunc(cols, func(a, b progressColumn) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.AssignmentID, b.AssignmentID), cmp.Compare(a.Version, b.Version))
	})
	pos := make(map[key]int, len(cols))
	for i, c := range cols {
		pos[key{c.AssignmentID, c.Version}] = i
	}
	t := progressTable{Columns: cols, Rows: make([]progressRow, 0, len(pr.Strands))}
	var alt []string
	for _, st := range pr.Strands {
		row := progressRow{Title: st.Title, Standard: st.Standard, Cells: make([]*progressCell, len(cols))}
		labels := make([]string, 0, len(st.Marks))
		var prev *analytics.Mark // the mark in the previous column
		for _, m := range st.Marks {
			labels = append(labels, m.Label)
			col := pos[key{m.AssignmentID, m.Version}]
			if c := row.Cells[col]; c != nil {
				// Two criteria of one rubric on the same standard: one
				// cell, both levels, compared with nothing.
				c.Label += " / " + m.Label
				c.Dir, c.Change = "", ""
				continue
			}
			cell := &progressCell{Label: m.Label, Number: m.Index + 1, Of: m.Levels}
			if prev != nil {
				cell.Dir, cell.Change = markChange(*prev, m)
				cell.PreviousLabel = prev.Label
			}
			row.Cells[col] = cell
			prev = &m
		}
		t.Rows = append(t.Rows, row)
		alt = append(alt, st.Title+": "+strings.Join(labels, " then "))
	}
	if len(alt) > 0 {
		t.Alt = "Line chart of the levels on each criterion, oldest first. " + strings.Join(alt, "; ") + "."
	}
	return t
}

// markChange says how mark m moved from the strand's previous mark: by levels
// on the same scale, or higher or lower on scales of different sizes.
func markChange(prev, m analytics.Mark) (dir, text string) {
	if prev.Levels == m.Levels {
		switch d := m.Index - prev.Index; {
		case d > 0:
			return "up", "up " + levelCount(d)
		case d < 0:
			return "down", "down " + levelCount(-d)
		}
		return "same", "same level as before"
	}
	switch {
	case m.Fraction > prev.Fraction:
		return "up", "higher than before"
	case m.Fraction < prev.Fraction:
		return "down", "lower than before"
	}
	return "same", "same level as before"
}

func levelCount(n int) string {
	if n == 1 {
		return "1 level"
	}
	return strconv.Itoa(n) + " levels"
}

// familyLinkView is an active family link in the student's list.
type familyLinkView struct {
	ID, Class string
	CreatedAt time.Time
}

// newFamilyLink is a family link just made; its URL holds the token, shown
// this once.
type newFamilyLink struct {
	URL, Path, Class string
}

// progressData is the data of the student's progress page: the table, the
// classes a family link can be made for, and the active links.
func (p *pages) progressData(c *fiber.Ctx) (map[string]any, error) {
	ctx, u := c.UserContext(), api.Caller(c)
	pr, err := p.d.Analytics.MyProgress(ctx, u)
	if err != nil {
		return nil, err
	}
	classes, err := p.d.Intake.StudentClasses(ctx, u)
	if err != nil {
		return nil, err
	}
	links := []familyLinkView{}
	for _, cl := range classes {
		ls, err := p.d.Analytics.ShareLinks(ctx, u, cl.ID, u.StudentID)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			if l.RevokedAt == nil {
				links = append(links, familyLinkView{ID: l.ID, Class: cl.Name, CreatedAt: l.CreatedAt})
			}
		}
	}
	slices.SortFunc(links, func(a, b familyLinkView) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return map[string]any{"Progress": pr, "Table": progressTableOf(pr), "Chart": "/student/progress.svg",
		"Classes": classes, "Links": links}, nil
}

// newLinkCookie carries a family link just made from the POST that made it
// to the page that shows it (post/redirect/get), this once: reloading the
// page neither makes another link nor shows this one again.
const newLinkCookie = "margin_new_family_link"

func (p *pages) setNewLinkCookie(c *fiber.Ctx, token string, maxAge int) {
	ck := &fiber.Cookie{Name: newLinkCookie, Value: token, Path: "/student/progress", MaxAge: maxAge,
		HTTPOnly: true, Secure: p.s.Config().SecureCookies, SameSite: fiber.CookieSameSiteStrictMode}
	if maxAge < 0 {
		ck.Expires = time.Unix(0, 0)
	}
	c.Cookie(ck)
}

// studentProgress shows the student's levels across their assignments,
// as a chart and a table, and their family links, with the one just made
// (once, from newLinkCookie) when it is still one of theirs and on.
func (p *pages) studentProgress(c *fiber.Ctx) error {
	d, err := p.progressData(c)
	if err != nil {
		return err
	}
	if tok := strings.Clone(c.Cookies(newLinkCookie)); tok != "" {
		p.setNewLinkCookie(c, "", -1)
		id, _, _ := strings.Cut(tok, ".")
		for _, l := range d["Links"].([]familyLinkView) {
			if l.ID == id {
				path := "/family?token=" + tok
				d["NewLink"] = newFamilyLink{URL: c.BaseURL() + path, Path: path, Class: l.Class}
			}
		}
	}
	return p.render(c, "student_progress", "My progress", d)
}

// sendProgressChart sends a progress chart; progress with no marks yet has none
// (not_found).
func sendProgressChart(c *fiber.Ctx, pr analytics.Progress, err error) error {
	if err != nil {
		return err
	}
	if len(pr.Strands) == 0 {
		return errs.E(errs.NotFound, "There are no levels to chart yet.")
	}
	svg, err := analytics.ProgressChart(pr)
	if err != nil {
		return err
	}
	return api.SendFile(c, api.SVGType, "", svg)
}

func (p *pages) studentProgressChart(c *fiber.Ctx) error {
	pr, err := p.d.Analytics.MyProgress(c.UserContext(), api.Caller(c))
	return sendProgressChart(c, pr, err)
}

// createFamilyLink makes a family link for the class in the form field
// class_id and sends the student to their progress page, which shows the
// link's token only this once (see newLinkCookie). A class the student is
// not in is not_found.
func (p *pages) createFamilyLink(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), api.Caller(c)
	classID := strings.Clone(c.FormValue("class_id"))
	if classID == "" {
		return errs.F(errs.Invalid, "class_id", "Choose the class to share.")
	}
	l, err := p.d.Analytics.CreateShareLink(ctx, u, classID, u.StudentID)
	if err != nil {
		return err
	}
	p.setNewLinkCookie(c, l.Token, 300)
	return see(c, "/student/progress#family", "")
}

// revokeFamilyLink turns a family link off at once; another student's link
// is not_found.
func (p *pages) revokeFamilyLink(c *fiber.Ctx) error {
	if _, err := p.d.Analytics.RevokeShareLink(c.UserContext(), api.Caller(c), api.Param(c, "id")); err != nil {
		return err
	}
	return see(c, "/student/progress", "unshared")
}

// familyPage is the family's read-only copy of the progress page: the one
// student's name, levels and assignment titles in the link's class, and
// nothing else. A bad or revoked token is not_found.
func (p *pages) familyPage(c *fiber.Ctx) error {
	token := strings.Clone(c.Query("token"))
	pr, err := p.d.Analytics.FamilyProgress(c.UserContext(), token)
	if err != nil {
		return err
	}
	d := map[string]any{"Family": true, "Progress": pr, "Table": progressTableOf(pr), "Chart": "/family/progress.svg?token=" + token}
	return p.render(c, "student_progress", "Progress: "+pr.Student, d)
}

func (p *pages) familyChart(c *fiber.Ctx) error {
	pr, err := p.d.Analytics.FamilyProgress(c.UserContext(), c.Query("token"))
	return sendProgressChart(c, pr, err)
}
