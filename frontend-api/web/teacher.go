package web

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/analytics"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// teacherHome lists the teacher's classes, with their school's invite code
// for colleagues.
func (p *pages) teacherHome(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), api.Caller(c)
	cls, err := p.d.Intake.Classes(ctx, u)
	if err != nil {
		return err
	}
	questions := make(map[string]int, len(cls))
	for _, cl := range cls {
		q, err := p.d.Feedback.Questions(ctx, u, cl.ID)
		if err != nil {
			return err
		}
		for _, n := range q {
			questions[cl.ID] += n
		}
	}
	d := map[string]any{"Classes": cls, "Questions": questions}
	if u.SchoolID != "" {
		sch, err := p.d.Accounts.School(ctx, u.SchoolID)
		if err != nil {
			return err
		}
		d["School"] = sch
	}
	return p.render(c, "teacher_home", "Classes", d)
}

func (p *pages) createClass(c *fiber.Ctx) error {
	in := intake.ClassInput{Name: c.FormValue("name"), Subject: c.FormValue("subject")}
	if g, err := strconv.Atoi(c.FormValue("grade_level")); err == nil {
		in.GradeLevel = &g
	}
	cl, err := p.d.Intake.CreateClass(c.UserContext(), api.Caller(c), in)
	if err != nil {
		cls, _ := p.d.Intake.Classes(c.UserContext(), api.Caller(c))
		return p.formError(c, err, "teacher_home", "Classes", map[string]any{"Classes": cls})
	}
	return see(c, "/teacher/classes/"+esc(cl.ID), "class")
}

type accessLinkView struct {
	Name, Path, URL string
	Until           time.Time
}

func (p *pages) classData(c *fiber.Ctx, classID string) (map[string]any, error) {
	ctx, u := c.UserContext(), api.Caller(c)
	cl, err := p.d.Intake.AuthorizeClass(ctx, u, classID)
	if err != nil {
		return nil, err
	}
	sts, err := p.d.Intake.Roster(ctx, u, classID)
	if err != nil {
		return nil, err
	}
	as, err := p.d.Intake.Assignments(ctx, u, classID)
	if err != nil {
		return nil, err
	}
	lib, err := p.d.Intake.Library(ctx, u)
	if err != nil {
		return nil, err
	}
	questions, err := p.d.Feedback.Questions(ctx, u, classID)
	if err != nil {
		return nil, err
	}
	form := assignmentForm{Due: time.Now().AddDate(0, 0, 14).Format(time.DateOnly), Price: "8.00"}
	return map[string]any{"Class": cl, "Students": sts, "Assignments": as, "Library": lib, "Form": form, "Questions": questions}, nil
}

func (p *pages) classPage(c *fiber.Ctx) error {
	d, err := p.classData(c, api.Param(c, "id"))
	if err != nil {
		return err
	}
	return p.render(c, "teacher_class", "Class", d, "rubric.js")
}

func (p *pages) importRoster(c *fiber.Ctx) error {
	classID := api.Param(c, "id")
	if _, err := p.d.Intake.AuthorizeClass(c.UserContext(), api.Caller(c), classID); err != nil {
		return err
	}
	res, err := p.rosterFromForm(c, classID)
	d, derr := p.classData(c, classID)
	if derr != nil {
		return derr
	}
	if err != nil {
		return p.formError(c, err, "teacher_class", "Class", d, "rubric.js")
	}
	d["Import"] = res
	return p.render(c, "teacher_class", "Class", d, "rubric.js")
}

func (p *pages) rosterFromForm(c *fiber.Ctx, classID string) (intake.RosterResult, error) {
	fh, err := c.FormFile("roster")
	if err != nil {
		return intake.RosterResult{}, errs.F(errs.Invalid, "roster", "Choose the roster CSV file.")
	}
	f, err := fh.Open()
	if err != nil {
		return intake.RosterResult{}, errs.Wrap(err, "opening the roster upload")
	}
	defer f.Close()
	return p.d.Intake.ImportRoster(c.UserContext(), api.Caller(c), classID, f)
}

func (p *pages) accessLink(c *fiber.Ctx) error {
	classID, studentID := api.Param(c, "id"), api.Param(c, "sid")
	tok, until, err := p.d.Intake.RotateAccessLink(c.UserContext(), api.Caller(c), classID, studentID)
	if err != nil {
		return err
	}
	d, err := p.classData(c, classID)
	if err != nil {
		return err
	}
	link := accessLinkView{Name: studentID, Path: "/s/" + tok, URL: c.BaseURL() + "/s/" + tok, Until: until}
	for _, st := range d["Students"].([]intake.Student) {
		if st.StudentID == studentID {
			link.Name = st.Name()
		}
	}
	d["Link"] = link
	return p.render(c, "teacher_class", "Class", d, "rubric.js")
}

// removeStudent takes a student off the class (their work stays) and ends
// their sessions.
func (p *pages) removeStudent(c *fiber.Ctx) error {
	classID := api.Param(c, "id")
	if err := p.d.Intake.RemoveStudent(c.UserContext(), api.Caller(c), classID, api.Param(c, "sid")); err != nil {
		return err
	}
	return see(c, "/teacher/classes/"+esc(classID)+"#roster-h", "removed")
}

func (p *pages) createAssignment(c *fiber.Ctx) error {
	classID := api.Param(c, "id")
	form := assignmentForm{Title: c.FormValue("title"), Prompt: c.FormValue("prompt"), Due: c.FormValue("due"),
		Price: c.FormValue("price"), Rubric: c.FormValue("rubric"), RubricID: c.FormValue("rubric_id"),
		NoResubmission: c.FormValue("allow_resubmission") == ""}
	in, err := assignmentInput(classID, form, form.RubricID, !form.NoResubmission)
	var a intake.Assignment
	if err == nil {
		a, err = p.d.Intake.CreateAssignment(c.UserContext(), api.Caller(c), in)
	}
	if err != nil {
		d, derr := p.classData(c, classID)
		if derr != nil {
			return derr
		}
		d["Form"] = form
		return p.formError(c, err, "teacher_class", "Class", d, "rubric.js")
	}
	return see(c, "/teacher/assignments/"+esc(a.ID), "")
}

func (p *pages) assignmentPage(c *fiber.Ctx) error {
	d, err := p.assignmentData(c)
	if err != nil {
		return err
	}
	return p.render(c, "teacher_assignment", d["Assignment"].(intake.Assignment).Title, d, "upload.js")
}

// assignmentData is what the assignment page shows: the submissions, the
// anchor papers, and once published the graders, feedback and turnaround.
func (p *pages) assignmentData(c *fiber.Ctx) (map[string]any, error) {
	ctx, u, aid := c.UserContext(), api.Caller(c), api.Param(c, "id")
	a, err := p.d.Intake.AuthorizeAssignment(ctx, u, aid)
	if err != nil {
		return nil, err
	}
	page, err := p.d.Intake.ListSubmissions(ctx, u, aid, "", 500)
	if err != nil {
		return nil, err
	}
	anchors, err := p.anchorViews(c, a)
	if err != nil {
		return nil, err
	}
	rows, flagged := page.Rows, false
	for _, r := range rows {
		flagged = flagged || r.Flag != nil
	}
	slices.SortFunc(rows, func(x, y intake.Row) int { return strings.Compare(x.StudentID, y.StudentID) })
	d := map[string]any{"Assignment": a, "Rows": rows, "More": page.Next != "", "Total": page.Total, "Anchors": anchors, "AnchorForm": map[string]string{}}
	if a.CutShortUploadID != "" {
		// The last upload cut short, until it is completed: which files are in.
		if up, err := p.d.Intake.UploadBatch(ctx, u, a.CutShortUploadID); err == nil && (up.State == intake.UploadStopped || up.State == intake.UploadInterrupted) {
			d["CutShort"] = up
		}
	}
	if flagged {
		// The students a flagged file can move to.
		if d["Roster"], err = p.d.Intake.Roster(ctx, u, a.ClassID); err != nil {
			return nil, err
		}
	}
	if a.State != intake.Draft {
		rows, err := p.d.Feedback.List(ctx, u, aid)
		if err != nil {
			return nil, err
		}
		d["Feedback"] = rows
		if d["Table"], err = p.feedbackTableFor(ctx, u, a, rows); err != nil {
			return nil, err
		}
		// Turnaround from the batches and the feedback rows already read:
		// no class summary is computed for it.
		byBatch := map[string]analytics.BatchTimes{}
		if m, err := p.d.Matching.ForAssignment(ctx, u, aid); err == nil {
			d["Matching"] = m
			t := analytics.TurnaroundOf(a, m.Batches, rows)
			for _, b := range t.Batches {
				byBatch[b.BatchID] = b
			}
			d["Turnaround"] = t
		}
		d["BatchTimes"] = byBatch
	}
	return d, nil
}

// confirmVersion closes a flagged version's flag from the assignment page.
func (p *pages) confirmVersion(c *fiber.Ctx) error {
	n, err := api.VersionParam(c)
	if err != nil {
		return err
	}
	sub, err := p.d.Intake.ConfirmVersion(c.UserContext(), api.Caller(c), api.Param(c, "id"), n)
	if err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(sub.AssignmentID)+"#submissions", "confirmed")
}

// reassignVersion moves a flagged version to the student chosen on the
// assignment page (form field student_id).
func (p *pages) reassignVersion(c *fiber.Ctx) error {
	n, err := api.VersionParam(c)
	if err != nil {
		return err
	}
	up, err := p.d.Intake.ReassignVersion(c.UserContext(), api.Caller(c), api.Param(c, "id"), n, strings.Clone(c.FormValue("student_id")))
	if err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(up.AssignmentID)+"#submissions", "reassigned")
}

func (p *pages) publish(c *fiber.Ctx) error {
	a, err := p.d.Intake.Publish(c.UserContext(), api.Caller(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(a.ID)+"#graders", "published")
}

func (p *pages) match(c *fiber.Ctx) error {
	aid := api.Param(c, "id")
	if _, err := p.d.Matching.RunRoundFor(c.UserContext(), api.Caller(c), aid); err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(aid)+"#graders", "matched")
}

func (p *pages) release(c *fiber.Ctx) error {
	aid := api.Param(c, "id")
	if _, err := p.d.Feedback.Release(c.UserContext(), api.Caller(c), aid, ""); err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(aid)+"#feedback", "released")
}

// summary is the class summary the page asks for: ?names=true shows the
// students' names instead of their pseudonyms.
func (p *pages) summary(c *fiber.Ctx) (analytics.Summary, error) {
	return p.d.Analytics.ClassSummary(c.UserContext(), api.Caller(c), api.Param(c, "id"), analytics.Options{Names: c.Query("names") == "true"})
}

func (p *pages) summaryPage(c *fiber.Ctx) error {
	sum, err := p.summary(c)
	if err != nil {
		return err
	}
	titles := make(map[string]string, len(sum.Criteria))
	for _, cr := range sum.Criteria {
		titles[cr.Key] = cr.Title
	}
	return p.render(c, "teacher_summary", "Class summary", map[string]any{"Summary": sum, "Titles": titles})
}

func (p *pages) summaryChart(c *fiber.Ctx) error {
	sum, err := p.summary(c)
	if err != nil {
		return err
	}
	svg, err := analytics.LevelsChart(sum)
	if err != nil {
		return err
	}
	return api.SendFile(c, api.SVGType, "", svg)
}

func (p *pages) summaryCSV(c *fiber.Ctx) error {
	sum, err := p.summary(c)
	if err != nil {
		return err
	}
	return api.SendFile(c, api.CSVType, "class-summary.csv", analytics.SummaryCSV(sum))
}

// wallPage shows the class's students by strands, each cell the student's
// latest level; the analytics service refuses anyone but the class's
// teacher (or an admin) with not found.
func (p *pages) wallPage(c *fiber.Ctx) error {
	ctx, u, classID := c.UserContext(), api.Caller(c), api.Param(c, "id")
	w, err := p.d.Analytics.ClassWall(ctx, u, classID)
	if err != nil {
		return err
	}
	cl, err := p.d.Intake.AuthorizeClass(ctx, u, classID)
	if err != nil {
		return err
	}
	return p.render(c, "teacher_wall", "Data wall", map[string]any{"Class": cl, "Wall": w})
}

// reviewRoutes registers the teacher's review pages: one feedback with its
// highlights, history and the student's reflections; approve, return, edit
// and adjudicate. The feedback service refuses every route with not_found
// unless the caller manages the feedback's assignment.
func (p *pages) reviewRoutes() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	s.Handle(get, "/teacher/feedback/:id", api.Teachers, p.reviewPage)
	s.Handle(post, "/teacher/feedback/:id/approve", api.Teachers, p.approve)
	s.Handle(post, "/teacher/feedback/:id/return", api.Teachers, p.returnFeedback)
	s.Handle(get, "/teacher/feedback/:id/edit", api.Teachers, p.editPage)
	s.Handle(post, "/teacher/feedback/:id/edit", api.Teachers, p.saveEdit)
	s.Handle(post, "/teacher/feedback/:id/adjudicate", api.Teachers, p.adjudicate)
}

// reviewData is the review page's data.
type reviewData struct {
	Review   feedback.Review
	Criteria []criterionView
	Titles   map[string]string
	Segments []Segment
	// CanEdit, CanApprove: the feedback service's Actions.
	CanEdit, CanApprove bool
	// Adjudicate is the adjudication form while the reads disagree;
	// Adjudication the decision once made.
	Adjudicate   *adjudicateView
	Adjudication *adjudicationView
	History      []historyView
}

// adjudicateView sets the two reads side by side, one row per criterion,
// with the teacher's choice (the first read's level until they choose).
type adjudicateView struct {
	FirstGrader, SecondGrader string
	Rows                      []readRow
	Note                      string
}

type readRow struct {
	Key, Title, First, Second, Choice string
	Flagged                           bool // the reads are far enough apart to be flagged
	Levels                            []levelOption
}

type adjudicationView struct {
	Levels []criterionView
	Note   string
	By     string
	At     time.Time
}

// historyView is one line of a feedback's history.
type historyView struct {
	At                time.Time
	Who, Action, Note string
}

func (p *pages) reviewPage(c *fiber.Ctx) error {
	r, a, err := p.review(c)
	if err != nil {
		return err
	}
	d := p.reviewData(c, r, a, nil, "")
	return p.render(c, "teacher_review", "Review", d)
}

// review returns the feedback named by the path for its teacher, with its
// assignment.
func (p *pages) review(c *fiber.Ctx) (feedback.Review, intake.Assignment, error) {
	ctx, u := c.UserContext(), api.Caller(c)
	r, err := p.d.Feedback.Review(ctx, u, api.Param(c, "id"))
	if err != nil {
		return r, intake.Assignment{}, err
	}
	a, err := p.d.Intake.AuthorizeAssignment(ctx, u, r.Feedback.AssignmentID)
	return r, a, err
}

// reviewData builds the review page; choice and note are the adjudication
// form as the teacher filled it in (nil: the first read's levels).
func (p *pages) reviewData(c *fiber.Ctx, r feedback.Review, a intake.Assignment, choice map[string]string, note string) reviewData {
	ctx, f := c.UserContext(), r.Feedback
	names := p.names(ctx, api.Caller(c))
	d := reviewData{
		Review: r, Titles: criterionTitles(a.Rubric), Segments: Segments(r.Text, highlightSpans(r.Highlights)),
		CanEdit: r.Actions.Edit, CanApprove: r.Actions.Approve,
	}
	for _, cr := range a.Rubric.Criteria {
		d.Criteria = append(d.Criteria, criterionView{Title: cr.Title, Level: levelLabel(a.Rubric, f.Levels[cr.Key]), Comment: f.Comments[cr.Key]})
	}
	if r.Actions.Adjudicate && r.Other != nil {
		first, second := f, *r.Other
		if f.Reader == feedback.Second {
			first, second = second, first
		}
		v := &adjudicateView{FirstGrader: names(first.GraderID), SecondGrader: names(second.GraderID), Note: note}
		for _, cr := range a.Rubric.Criteria {
			// Where the reads are far apart the teacher starts from no
			// level, not from the first read's.
			flagged := slices.Contains(f.Disagreement.Criteria, cr.Key)
			ch := first.Levels[cr.Key]
			if flagged {
				ch = ""
			}
			if choice != nil {
				ch = choice[cr.Key]
			}
			v.Rows = append(v.Rows, readRow{
				Key: cr.Key, Title: cr.Title, Choice: ch, Levels: levelOptions(a.Rubric, cr),
				First: levelLabel(a.Rubric, first.Levels[cr.Key]), Second: levelLabel(a.Rubric, second.Levels[cr.Key]),
				Flagged: flagged,
			})
		}
		d.Adjudicate = v
	}
	if adj := f.Adjudication; adj != nil {
		v := &adjudicationView{Note: adj.Note, By: names(adj.By), At: adj.At}
		for _, cr := range a.Rubric.Criteria {
			v.Levels = append(v.Levels, criterionView{Title: cr.Title, Level: levelLabel(a.Rubric, adj.Levels[cr.Key])})
		}
		d.Adjudication = v
	}
	for _, e := range f.History {
		who, action := names(e.By), historyActions[e.Action]
		if e.Role != "" && who != "You" {
			who += " (" + e.Role + ")"
		}
		if action == "" {
			action = e.Action
		}
		d.History = append(d.History, historyView{At: e.At, Who: who, Action: action, Note: e.Note})
	}
	return d
}

// historyActions are the history's actions as the page words them.
var historyActions = map[string]string{
	"submit": "submitted", "return": "returned", "approve": "approved", "edit": "edited",
	"adjudicate": "adjudicated", "release": "released",
}

// names returns a lookup of how a user is shown on the review pages: "You"
// for the caller, anyone else by account.User.DisplayName; lookups are
// cached for the request.
func (p *pages) names(ctx context.Context, me account.User) func(userID string) string {
	seen := map[string]string{me.ID: "You"}
	return func(userID string) string {
		if n, ok := seen[userID]; ok {
			return n
		}
		n := "Someone"
		if u, err := p.d.Accounts.User(ctx, userID); err == nil && u.DisplayName() != "" {
			n = u.DisplayName()
		}
		seen[userID] = n
		return n
	}
}

func (p *pages) approve(c *fiber.Ctx) error {
	f, err := p.d.Feedback.Approve(c.UserContext(), api.Caller(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	// "Approve and next" names the next feedback to review.
	if next := api.SafeNext(c.FormValue("next")); strings.HasPrefix(next, "/teacher/feedback/") {
		return see(c, next, "approved")
	}
	return see(c, "/teacher/assignments/"+esc(f.AssignmentID)+"#feedback", "approved")
}

func (p *pages) returnFeedback(c *fiber.Ctx) error {
	f, err := p.d.Feedback.Return(c.UserContext(), api.Caller(c), api.Param(c, "id"), c.FormValue("note"))
	if err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(f.AssignmentID)+"#feedback", "returned")
}

// adjudicate settles the disagreement of the two reads with the levels the
// teacher chose, and with the form's approve button approves both reads in
// the same step; mistakes re-render the review page with the choices kept.
func (p *pages) adjudicate(c *fiber.Ctx) error {
	r, a, err := p.review(c)
	if err != nil {
		return err
	}
	levels := map[string]string{}
	for _, cr := range a.Rubric.Criteria {
		if v := c.FormValue("level." + cr.Key); v != "" {
			levels[cr.Key] = v
		}
	}
	note := strings.TrimSpace(c.FormValue("note"))
	adjudicate, done := p.d.Feedback.Adjudicate, "adjudicated"
	if c.FormValue("approve") != "" {
		adjudicate, done = p.d.Feedback.AdjudicateAndApprove, "adj_approved"
	}
	if _, err := adjudicate(c.UserContext(), api.Caller(c), r.Feedback.ID, levels, note); err != nil {
		return p.formError(c, err, "teacher_review", "Review", p.reviewData(c, r, a, levels, note))
	}
	return see(c, "/teacher/feedback/"+esc(r.Feedback.ID)+"#adjudication", done)
}

// editData is the edit page's data.
type editData struct {
	Review feedback.Review
	Form   editForm
}

func (p *pages) editPage(c *fiber.Ctx) error {
	r, a, err := p.review(c)
	if err != nil {
		return err
	}
	if !r.Actions.Edit {
		return errs.E(errs.Conflict, "The grader is still writing this feedback (it is %s); it can be edited once it is submitted.", r.Feedback.State)
	}
	return p.render(c, "teacher_edit", "Edit feedback", editData{Review: r, Form: editFormOf(r, a)})
}

// saveEdit applies the edit form through the feedback service. Mistakes
// re-render the form as typed; an edit against a stale rev shows the
// current version instead, with the teacher's note kept.
func (p *pages) saveEdit(c *fiber.Ctx) error {
	r, a, err := p.review(c)
	if err != nil {
		return err
	}
	form := editFormOf(r, a)
	posted := func(name string) (string, bool) {
		if c.Request().PostArgs().Has(name) {
			return c.FormValue(name), true
		}
		return "", false
	}
	revOK := form.read(posted)
	content, err := form.content(r.Feedback.Content)
	switch {
	case !revOK:
		err = errs.F(errs.Invalid, "rev", "The form is missing the feedback's version; open the edit page again.")
	case err == nil:
		_, err = p.d.Feedback.Edit(c.UserContext(), api.Caller(c), r.Feedback.ID, form.Rev, content, form.Note)
	}
	switch {
	case err == nil:
		return see(c, "/teacher/feedback/"+esc(r.Feedback.ID), "edited")
	case errs.Is(err, errs.VersionConflict):
		if r, a, err = p.review(c); err != nil {
			return err
		}
		cur := editFormOf(r, a)
		cur.Note = form.Note
		msg := fmt.Sprintf("Someone else changed this feedback while you were editing it (you edited version %d; it is now version %d), so your changes were not saved. "+
			"The form shows the current version: make your changes again.", form.Rev, r.Feedback.Rev)
		return p.renderWith(c.Status(errs.Status(errs.VersionConflict)), "teacher_edit", "Edit feedback", editData{Review: r, Form: cur}, pageData{Errors: []string{msg}})
	}
	return p.formError(c, err, "teacher_edit", "Edit feedback", editData{Review: r, Form: form})
}

// anchorView is one anchor paper as its teacher sees it: the student and
// the reference level on each criterion, by label.
type anchorView struct {
	StudentID, SubmissionID string
	Levels                  []criterionView
}

// anchorViews lists an assignment's anchor papers for its teacher.
func (p *pages) anchorViews(c *fiber.Ctx, a intake.Assignment) ([]anchorView, error) {
	an, err := p.d.Matching.AnchorsFor(c.UserContext(), api.Caller(c), a.ID)
	if err != nil {
		return nil, err
	}
	out := make([]anchorView, 0, len(an.Anchors))
	for _, x := range an.Anchors {
		v := anchorView{StudentID: x.StudentID, SubmissionID: x.SubmissionID}
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
	a, err := p.d.Intake.AuthorizeAssignment(c.UserContext(), api.Caller(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	in := matching.AnchorInput{StudentID: strings.TrimSpace(c.FormValue("student_id")), Levels: map[string]string{}}
	for _, cr := range a.Rubric.Criteria {
		in.Levels[cr.Key] = c.FormValue("level-" + cr.Key)
	}
	if sid := c.FormValue("submission_id"); sid != "" {
		// Scored beside the submission's text: its student, whatever the
		// form says.
		sub, sa, err := p.d.Intake.SubmissionFor(c.UserContext(), api.Caller(c), sid)
		if err != nil || sa.ID != a.ID {
			return errs.E(errs.NotFound, "This assignment has no submission with ID %q.", sid)
		}
		in.StudentID = sub.StudentID
		return p.saveAnchorBesideText(c, a, in, sub.ID)
	}
	if _, err := p.d.Matching.PutAnchor(c.UserContext(), api.Caller(c), a.ID, in); err != nil {
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
	return see(c, "/teacher/assignments/"+esc(a.ID)+"#anchors", "anchor_saved")
}

// removeAnchor takes a student's submission off the anchor papers.
func (p *pages) removeAnchor(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	if _, err := p.d.Matching.RemoveAnchor(c.UserContext(), api.Caller(c), id, api.Param(c, "sid")); err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(id)+"#anchors", "anchor_removed")
}
