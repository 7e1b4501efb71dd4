package api

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/frontend-api/web"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// reviewRoutes registers the teacher's review pages: one feedback with its
// highlights, history and the student's reflections; approve, return, edit
// and adjudicate. The feedback service refuses every route with not_found
// unless the caller manages the feedback's assignment.
func (p *pages) reviewRoutes() {
	s, get, post := p.s, fiber.MethodGet, fiber.MethodPost
	s.handle(get, "/teacher/feedback/:id", teachers, p.reviewPage)
	s.handle(post, "/teacher/feedback/:id/approve", teachers, p.approve)
	s.handle(post, "/teacher/feedback/:id/return", teachers, p.returnFeedback)
	s.handle(get, "/teacher/feedback/:id/edit", teachers, p.editPage)
	s.handle(post, "/teacher/feedback/:id/edit", teachers, p.saveEdit)
	s.handle(post, "/teacher/feedback/:id/adjudicate", teachers, p.adjudicate)
}

// criterionView is one criterion of a feedback as the review page lists it:
// the level's label, not its key.
type criterionView struct{ Title, Level, Comment string }

// levelOption is one level of the scale as a select offers it.
type levelOption struct{ Key, Label, Descriptor string }

// reviewData is the review page's data.
type reviewData struct {
	Review   feedback.Review
	Criteria []criterionView
	Titles   map[string]string
	Segments []web.Segment
	// CanEdit: the teacher may edit (the grader does not hold it).
	// CanApprove: submitted and not awaiting adjudication.
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
	ctx, u := c.UserContext(), caller(c)
	r, err := p.s.deps.Feedback.Review(ctx, u, param(c, "id"))
	if err != nil {
		return r, intake.Assignment{}, err
	}
	a, err := p.s.deps.Intake.AuthorizeAssignment(ctx, u, r.Feedback.AssignmentID)
	return r, a, err
}

// reviewData builds the review page; choice and note are the adjudication
// form as the teacher filled it in (nil: the first read's levels).
func (p *pages) reviewData(c *fiber.Ctx, r feedback.Review, a intake.Assignment, choice map[string]string, note string) reviewData {
	ctx, f := c.UserContext(), r.Feedback
	names := p.names(ctx, caller(c))
	d := reviewData{
		Review: r, Titles: criterionTitles(a.Rubric), Segments: web.Segments(r.Text, highlightSpans(r.Highlights)),
		CanEdit: mayEdit(f.State),
	}
	for _, cr := range a.Rubric.Criteria {
		d.Criteria = append(d.Criteria, criterionView{Title: cr.Title, Level: levelLabel(a.Rubric, f.Levels[cr.Key]), Comment: f.Comments[cr.Key]})
	}
	pending := f.Disagreement != nil && !f.Disagreement.Resolved
	d.CanApprove = f.State == feedback.Submitted && !pending
	if pending && r.Other != nil {
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
// for the caller, a grader by their first name (as the feedback service
// shows graders), anyone else by their name; lookups are cached for the
// request.
func (p *pages) names(ctx context.Context, me account.User) func(userID string) string {
	seen := map[string]string{me.ID: "You"}
	return func(userID string) string {
		if n, ok := seen[userID]; ok {
			return n
		}
		n := "Someone"
		if u, err := p.s.deps.Accounts.User(ctx, userID); err == nil && strings.TrimSpace(u.Name) != "" {
			n = strings.TrimSpace(u.Name)
			if u.Role == account.Grader {
				n = strings.Fields(n)[0]
			}
		}
		seen[userID] = n
		return n
	}
}

// mayEdit reports whether the teacher may edit feedback in state s (the
// feedback service refuses drafts and returned feedback: the grader holds
// them).
func mayEdit(s feedback.State) bool {
	return s == feedback.Submitted || s.Final()
}

// levelLabel is a level key's label on the rubric's scale, or the key
// itself when the scale has no such level ("—" for none).
func levelLabel(r intake.Rubric, key string) string {
	if key == "" {
		return "—"
	}
	if l, ok := r.Level(key); ok {
		return l.Label
	}
	return key
}

// levelOptions are the scale's levels with a criterion's descriptors.
func levelOptions(r intake.Rubric, cr intake.Criterion) []levelOption {
	out := make([]levelOption, 0, len(r.Scale))
	for _, l := range r.Scale {
		out = append(out, levelOption{Key: l.Key, Label: l.Label, Descriptor: cr.Descriptors[l.Key]})
	}
	return out
}

func (p *pages) approve(c *fiber.Ctx) error {
	f, err := p.s.deps.Feedback.Approve(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	// "Approve and next" names the next feedback to review.
	if next := safeNext(c.FormValue("next")); strings.HasPrefix(next, "/teacher/feedback/") {
		return see(c, next, "approved")
	}
	return see(c, "/teacher/assignments/"+esc(f.AssignmentID), "approved")
}

func (p *pages) returnFeedback(c *fiber.Ctx) error {
	f, err := p.s.deps.Feedback.Return(c.UserContext(), caller(c), param(c, "id"), c.FormValue("note"))
	if err != nil {
		return err
	}
	return see(c, "/teacher/assignments/"+esc(f.AssignmentID), "returned")
}

// adjudicate settles the disagreement of the two reads with the levels the
// teacher chose; mistakes re-render the review page with the choices kept.
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
	if _, err := p.s.deps.Feedback.Adjudicate(c.UserContext(), caller(c), r.Feedback.ID, levels, note); err != nil {
		return p.formError(c, err, "teacher_review", "Review", p.reviewData(c, r, a, levels, note))
	}
	return see(c, "/teacher/feedback/"+esc(r.Feedback.ID), "adjudicated")
}

// --- editing ---

// editForm is the edit form as shown (the stored feedback) or as the
// teacher filled it in. Criteria, quotes, glows, grows and focus notes are
// listed in the stored feedback's order; the teacher changes levels and
// text and may remove quoted comments, but adds nothing.
type editForm struct {
	Rev          int
	Note         string
	Criteria     []editCriterion
	Quotes       []editQuote
	Glows, Grows []editPoint
	Focus        []editFocus
}

type editCriterion struct {
	Key, Title, Level, Comment string
	Levels                     []levelOption
}

type editQuote struct {
	ID, Exact, Kind, Criterion, Comment string
	Remove                              bool
}

type editPoint struct{ Criterion, Text string }

type editFocus struct {
	Index       int
	Point, Note string
}

// editData is the edit page's data.
type editData struct {
	Review feedback.Review
	Form   editForm
}

// editFormOf shows a stored feedback in the edit form; quotes show their
// passage as found in the student's original text.
func editFormOf(r feedback.Review, a intake.Assignment) editForm {
	f := r.Feedback
	form := editForm{Rev: f.Rev}
	titles := criterionTitles(a.Rubric)
	for _, cr := range a.Rubric.Criteria {
		form.Criteria = append(form.Criteria, editCriterion{Key: cr.Key, Title: cr.Title, Level: f.Levels[cr.Key], Comment: f.Comments[cr.Key], Levels: levelOptions(a.Rubric, cr)})
	}
	exact := map[string]string{}
	for _, h := range r.Highlights {
		exact[h.CommentID] = h.Exact
	}
	for _, q := range f.Quotes {
		e, ok := exact[q.ID]
		if !ok {
			e = q.Target.Quote.Exact
		}
		form.Quotes = append(form.Quotes, editQuote{ID: q.ID, Exact: e, Kind: string(q.Kind), Criterion: titles[q.Criterion], Comment: q.Comment})
	}
	for _, g := range f.Glows {
		form.Glows = append(form.Glows, editPoint{Criterion: titles[g.Criterion], Text: g.Text})
	}
	for _, g := range f.Grows {
		form.Grows = append(form.Grows, editPoint{Criterion: titles[g.Criterion], Text: g.Text})
	}
	for _, n := range f.FocusNotes {
		point := ""
		if n.Index >= 0 && n.Index < len(a.FocusPoints) {
			point = a.FocusPoints[n.Index]
		}
		form.Focus = append(form.Focus, editFocus{Index: n.Index, Point: point, Note: n.Note})
	}
	return form
}

// formValue is how the edit form reads a posted field: the value and
// whether the form had it.
type formValue func(name string) (string, bool)

// read overwrites the form with what was posted; a field the form did not
// post keeps its stored value. It reports whether the posted rev is a
// number.
func (f *editForm) read(v formValue) (revOK bool) {
	rev, err := strconv.Atoi(valueOf(v, "rev"))
	f.Rev, revOK = rev, err == nil
	f.Note = strings.TrimSpace(valueOf(v, "note"))
	for i := range f.Criteria {
		cr := &f.Criteria[i]
		if s, ok := v("level." + cr.Key); ok {
			cr.Level = s
		}
		if s, ok := v("comment." + cr.Key); ok {
			cr.Comment = s
		}
	}
	for i := range f.Quotes {
		q := &f.Quotes[i]
		if s, ok := v("quote." + q.ID); ok {
			q.Comment = s
		}
		_, q.Remove = v("remove." + q.ID)
	}
	for i := range f.Glows {
		if s, ok := v("glow." + strconv.Itoa(i)); ok {
			f.Glows[i].Text = s
		}
	}
	for i := range f.Grows {
		if s, ok := v("grow." + strconv.Itoa(i)); ok {
			f.Grows[i].Text = s
		}
	}
	for i := range f.Focus {
		if s, ok := v("focus." + strconv.Itoa(f.Focus[i].Index)); ok {
			f.Focus[i].Note = s
		}
	}
	return revOK
}

func valueOf(v formValue, name string) string {
	s, _ := v(name)
	return s
}

// content applies the form to the stored content and returns the new
// content. It refuses, in an errs.List, a level not on the scale, and what
// an edit may not leave behind: a criterion without a level or comment and
// an empty quoted comment (remove it instead), which the feedback service
// refuses too, and an empty glow, grow or focus note, which only this form
// does.
func (f editForm) content(stored feedback.Content) (feedback.Content, error) {
	var l errs.List
	add := func(field, format string, args ...any) { l = append(l, errs.F(errs.Invalid, field, format, args...)) }
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	out := feedback.Content{
		Levels: maps.Clone(stored.Levels), Comments: maps.Clone(stored.Comments), Quotes: []feedback.Quote{},
		Glows: slices.Clone(stored.Glows), Grows: slices.Clone(stored.Grows), FocusNotes: slices.Clone(stored.FocusNotes),
	}
	if out.Levels == nil {
		out.Levels = map[string]string{}
	}
	if out.Comments == nil {
		out.Comments = map[string]string{}
	}
	for _, cr := range f.Criteria {
		switch {
		case cr.Level == "":
			add("levels."+cr.Key, "Choose a level for “%s”.", cr.Title)
		case !slices.ContainsFunc(cr.Levels, func(o levelOption) bool { return o.Key == cr.Level }):
			add("levels."+cr.Key, "“%s” is not a level of this rubric's scale; choose one for “%s”.", cr.Level, cr.Title)
		}
		if blank(cr.Comment) {
			add("comments."+cr.Key, "The comment on “%s” is empty; every criterion needs one.", cr.Title)
		}
		out.Levels[cr.Key], out.Comments[cr.Key] = cr.Level, cr.Comment
	}
	byID := map[string]editQuote{}
	for _, q := range f.Quotes {
		byID[q.ID] = q
	}
	n := 0
	for _, q := range stored.Quotes {
		n++
		e, ok := byID[q.ID]
		switch {
		case ok && e.Remove:
			continue
		case ok && blank(e.Comment):
			add("quotes."+q.ID, "Quoted comment %d is empty; write a comment or tick Remove.", n)
		case ok:
			q.Comment = e.Comment
		}
		out.Quotes = append(out.Quotes, q)
	}
	points := func(field, what string, form []editPoint, ps []feedback.Point) {
		for i := range ps {
			if i >= len(form) {
				break
			}
			if blank(form[i].Text) {
				add(fmt.Sprintf("%s[%d]", field, i), "%s %d is empty.", what, i+1)
			}
			ps[i].Text = form[i].Text
		}
	}
	points("glows", "Glow", f.Glows, out.Glows)
	points("grows", "Grow", f.Grows, out.Grows)
	notes := map[int]string{}
	for _, fn := range f.Focus {
		notes[fn.Index] = fn.Note
	}
	for i, fn := range out.FocusNotes {
		if s, ok := notes[fn.Index]; ok {
			if blank(s) {
				add(fmt.Sprintf("focus_notes[%d]", i), "The note on focus point %d is empty.", fn.Index+1)
			}
			out.FocusNotes[i].Note = s
		}
	}
	return out, l.Err()
}

func (p *pages) editPage(c *fiber.Ctx) error {
	r, a, err := p.review(c)
	if err != nil {
		return err
	}
	if !mayEdit(r.Feedback.State) {
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
		_, err = p.s.deps.Feedback.Edit(c.UserContext(), caller(c), r.Feedback.ID, form.Rev, content, form.Note)
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
