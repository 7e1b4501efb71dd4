package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// assignmentForm is the new-assignment form as typed, to show it again with
// its mistakes.
type assignmentForm struct {
	Title, Prompt, Due, Price, Rubric, RubricID string
	NoResubmission                              bool
}

// moneyForm is an amount as a teacher types it: whole units with at most
// two decimals ("8", "8.5", "8.50"), up to 999,999.99.
var moneyForm = regexp.MustCompile(`^([0-9]{1,6})(?:\.([0-9]{1,2}))?$`)

// parseCents reads an amount typed in dollars (or the assignment's
// currency unit) into integer cents; ok is false for anything else.
func parseCents(s string) (int64, bool) {
	m := moneyForm.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false
	}
	units, _ := strconv.ParseInt(m[1], 10, 64)
	frac := m[2] + strings.Repeat("0", 2-len(m[2]))
	cents, _ := strconv.ParseInt(frac, 10, 64)
	return units*100 + cents, true
}

// assignmentInput reads the new-assignment form; its mistakes come back as
// an errs.List.
func assignmentInput(classID string, f assignmentForm, rubricID string, resubmit bool) (intake.AssignmentInput, error) {
	in := intake.AssignmentInput{ClassID: classID, Title: f.Title, Prompt: f.Prompt, RubricID: rubricID, AllowResubmission: resubmit}
	var l errs.List
	var bad *errs.Error
	var err error
	if in.DueAt, err = intake.DueOn(f.Due); errors.As(err, &bad) {
		l = append(l, bad)
	}
	if n, ok := parseCents(f.Price); ok {
		in.PriceCents = &n
	} else {
		l = append(l, errs.F(errs.Invalid, "price", "Give the price per submission in dollars and cents, e.g. 8.00."))
	}
	if rubricID == "" {
		var r intake.Rubric
		dec := json.NewDecoder(strings.NewReader(f.Rubric))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			l = append(l, errs.F(errs.Invalid, "rubric", "The rubric is not valid rubric JSON: %v.", strings.TrimPrefix(err.Error(), "json: ")))
		} else {
			in.Rubric = &r
		}
	}
	return in, l.Err()
}

// weekdayNames are the days the profile form offers, in its order.
var weekdayNames = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

// profileForm is the profile form as shown or as the grader filled it in:
// subjects and grade bands comma-separated ("9-12"), one affiliation a
// line ("works: Lincoln High").
type profileForm struct {
	Subjects, Bands, Affiliations, Capacity, Bio string
	Days                                         map[string]bool
}

// profileFormOf shows a saved profile in the form.
func profileFormOf(pr matching.Profile) profileForm {
	f := profileForm{Subjects: strings.Join(pr.Subjects, ", "), Capacity: strconv.Itoa(pr.Capacity), Bio: pr.Bio, Days: map[string]bool{}}
	var bands, affs []string
	for _, b := range pr.GradeBands {
		bands = append(bands, fmt.Sprintf("%d-%d", b.Min, b.Max))
	}
	for _, a := range pr.Affiliations {
		affs = append(affs, string(a.Kind)+": "+a.School)
	}
	f.Bands, f.Affiliations = strings.Join(bands, ", "), strings.Join(affs, "\n")
	for _, d := range pr.Days {
		f.Days[strings.ToLower(d.String())] = true
	}
	return f
}

// input reads the form into the matching service's input; what cannot be
// read comes back as an errs.List (the service checks the rest).
func (f profileForm) input() (matching.ProfileInput, error) {
	var in matching.ProfileInput
	var l errs.List
	for _, sub := range strings.Split(f.Subjects, ",") {
		if sub = strings.TrimSpace(sub); sub != "" {
			in.Subjects = append(in.Subjects, sub)
		}
	}
	for _, b := range strings.Split(f.Bands, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		lo, hi, ok := strings.Cut(b, "-")
		if !ok {
			hi = lo
		}
		from, err1 := strconv.Atoi(strings.TrimSpace(lo))
		to, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil {
			l = append(l, errs.F(errs.Invalid, "grade_bands", "Write a grade band as min-max, such as 9-12 (0 is kindergarten)."))
			continue
		}
		in.GradeBands = append(in.GradeBands, matching.GradeBand{Min: from, Max: to})
	}
	for _, line := range strings.Split(f.Affiliations, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		kind, school, ok := strings.Cut(line, ":")
		if !ok {
			l = append(l, errs.F(errs.Invalid, "affiliations", "Write an affiliation as kind: school, such as works: Lincoln High."))
			continue
		}
		in.Affiliations = append(in.Affiliations, matching.Affiliation{School: strings.TrimSpace(school), Kind: matching.AffiliationKind(strings.ToLower(strings.TrimSpace(kind)))})
	}
	if n, err := strconv.Atoi(strings.TrimSpace(f.Capacity)); err == nil {
		in.Capacity = n
	} else {
		l = append(l, errs.F(errs.Invalid, "capacity", "Capacity is a whole number of submissions."))
	}
	for _, d := range weekdayNames {
		if f.Days[d] {
			in.Days = append(in.Days, d)
		}
	}
	in.Bio = f.Bio
	return in, l.Err()
}

// bankForm is the add-a-comment form as the grader filled it in.
type bankForm struct{ Criterion, Kind, Text string }

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

// reflectForm is what the student typed in the reflection form, kept when
// it is shown again with its mistakes.
type reflectForm struct {
	Kind, Text string
	Errors     []string
}
