package feedback

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/feedback/anchor"
	"github.com/marginschool/margin/services/intake"
)

// Limits on what one feedback may hold, checked on every save.
const (
	MaxCommentChars = 5000 // one comment, in characters
	MaxQuotes       = 50
	MaxPoints       = 3 // glows, and grows
)

// Settings are an assignment's requirements for submitting feedback. The
// teacher may change them; unset fields take the service's defaults.
type Settings struct {
	// MinQuotes is how many quoted comments are needed.
	MinQuotes int `json:"min_quotes" bson:"min_quotes"`
	// RequireStrength and RequireGrowth ask for at least one quoted comment
	// of each kind.
	RequireStrength bool `json:"require_strength" bson:"require_strength"`
	RequireGrowth   bool `json:"require_growth" bson:"require_growth"`
	// MinCommentChars is the shortest comment accepted.
	MinCommentChars int `json:"min_comment_chars" bson:"min_comment_chars"`
}

// defaultSettings are the settings of an assignment whose teacher set none.
func (c Config) defaultSettings() Settings {
	return Settings{MinQuotes: c.MinQuotes, RequireStrength: true, RequireGrowth: true, MinCommentChars: c.MinCommentChars}
}

// Validate checks settings a teacher sends: returns an errs.List.
func (st Settings) Validate() error {
	var l errs.List
	if st.MinQuotes < 0 || st.MinQuotes > MaxQuotes {
		l = append(l, errs.F(errs.Invalid, "min_quotes", "The number of quoted comments needed must be from 0 to %d.", MaxQuotes))
	}
	if st.MinCommentChars < 0 || st.MinCommentChars > 1000 {
		l = append(l, errs.F(errs.Invalid, "min_comment_chars", "The shortest comment must be from 0 to 1000 characters."))
	}
	return l.Err()
}

// checkContent validates content written against an assignment and
// anchors every quote in doc (the grader text). It returns the content as
// stored: empty levels dropped, quotes anchored from the stored text (their
// offsets repaired where needed) and every quote given an ID. Errors are an
// errs.List with a field path per problem.
func checkContent(in Content, a intake.Assignment, doc *anchor.Doc) (Content, error) {
	var l errs.List
	add := func(field, format string, args ...any) { l = append(l, errs.F(errs.Invalid, field, format, args...)) }
	r := a.Rubric
	out := Content{Levels: map[string]string{}, Comments: map[string]string{}, Quotes: []Quote{}, Glows: []Point{}, Grows: []Point{}, FocusNotes: []FocusNote{}}

	for k, lv := range in.Levels {
		switch _, ok := r.Criterion(k); {
		case !ok:
			add("levels."+k, "%q is not a criterion of this rubric.", k)
		case lv == "":
		case !hasLevel(r, lv):
			add("levels."+k, "%q is not a level of this rubric's scale.", lv)
		default:
			out.Levels[k] = lv
		}
	}
	for k, c := range in.Comments {
		if _, ok := r.Criterion(k); !ok {
			add("comments."+k, "%q is not a criterion of this rubric.", k)
			continue
		}
		tooLong(&l, "comments."+k, c)
		if strings.TrimSpace(c) != "" {
			out.Comments[k] = c
		}
	}

	if len(in.Quotes) > MaxQuotes {
		add("quotes", "The feedback has %d quoted comments; at most %d are allowed.", len(in.Quotes), MaxQuotes)
	}
	ids := map[string]bool{}
	for i, q := range in.Quotes {
		f := fmt.Sprintf("quotes[%d]", i)
		if _, ok := r.Criterion(q.Criterion); !ok {
			add(f+".criterion", "Quoted comment %d needs a criterion of this rubric.", i+1)
		}
		if q.Kind != Strength && q.Kind != Growth {
			add(f+".kind", "Quoted comment %d's kind must be \"strength\" or \"growth\".", i+1)
		}
		tooLong(&l, f+".comment", q.Comment)
		t, _, err := doc.Resolve(q.Target)
		if err != nil {
			e := *asErr(err)
			e.Field = f + ".target"
			e.Message = fmt.Sprintf("Quoted comment %d: %s", i+1, e.Message)
			l = append(l, &e)
		}
		q.Target = t
		if q.ID == "" || ids[q.ID] || len(q.ID) > 40 {
			q.ID = account.NewID("q")
		}
		ids[q.ID] = true
		out.Quotes = append(out.Quotes, q)
	}

	out.Glows = checkPoints(&l, "glows", "glow", in.Glows, r)
	out.Grows = checkPoints(&l, "grows", "grow", in.Grows, r)

	seen := map[int]bool{}
	for i, n := range in.FocusNotes {
		f := fmt.Sprintf("focus_notes[%d]", i)
		switch {
		case n.Index < 0 || n.Index >= len(a.FocusPoints):
			add(f+".index", "Focus note %d is for focus point %d, which this assignment does not have.", i+1, n.Index+1)
		case seen[n.Index]:
			add(f+".index", "Focus point %d has two notes.", n.Index+1)
		default:
			seen[n.Index] = true
			tooLong(&l, f+".note", n.Note)
			out.FocusNotes = append(out.FocusNotes, n)
		}
	}
	return out, l.Err()
}

func checkPoints(l *errs.List, field, what string, in []Point, r intake.Rubric) []Point {
	if len(in) > MaxPoints {
		*l = append(*l, errs.F(errs.Invalid, field, "The summary has %d %ss; at most %d are allowed.", len(in), what, MaxPoints))
	}
	out := []Point{}
	for i, p := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		if _, ok := r.Criterion(p.Criterion); !ok {
			*l = append(*l, errs.F(errs.Invalid, f+".criterion", "The %s %d needs a criterion of this rubric.", what, i+1))
		}
		tooLong(l, f+".text", p.Text)
		out = append(out, p)
	}
	return out
}

func tooLong(l *errs.List, field, s string) {
	if utf8.RuneCountInString(s) > MaxCommentChars {
		*l = append(*l, errs.F(errs.Invalid, field, "The comment is longer than %d characters.", MaxCommentChars))
	}
}

func hasLevel(r intake.Rubric, key string) bool {
	_, ok := r.LevelIndex(key)
	return ok
}

func asErr(err error) *errs.Error {
	var e *errs.Error
	if l, ok := err.(errs.List); ok && len(l) > 0 {
		return l[0]
	}
	if errors.As(err, &e) {
		return e
	}
	return errs.E(errs.Invalid, "%s", err.Error())
}

// checkEdited lists what a teacher's edit may not take away from submitted
// feedback: a level and a comment on every criterion, and the comment of
// every quoted comment kept. The grader's minimums (lengths, counts, kinds)
// are not the teacher's rules. It returns an errs.List with code
// errs.Unprocessable, or nil.
func checkEdited(c Content, a intake.Assignment) error {
	var l errs.List
	add := func(field, format string, args ...any) {
		l = append(l, errs.F(errs.Unprocessable, field, format, args...))
	}
	for _, cr := range a.Rubric.Criteria {
		if c.Levels[cr.Key] == "" {
			add("levels."+cr.Key, "The criterion “%s” needs a level.", cr.Title)
		}
		if strings.TrimSpace(c.Comments[cr.Key]) == "" {
			add("comments."+cr.Key, "The criterion “%s” needs a comment.", cr.Title)
		}
	}
	for i, q := range c.Quotes {
		if strings.TrimSpace(q.Comment) == "" {
			add(fmt.Sprintf("quotes[%d].comment", i), "Quoted comment %d is empty: write it or remove the quote.", i+1)
		}
	}
	return l.Err()
}

// checkComplete lists every reason content cannot be submitted yet, each in
// its own sentence: a criterion without a level or comment, too few quoted
// comments or none of a required kind, a comment shorter than the minimum,
// and a focus point without a note. It returns an errs.List with code
// errs.Unprocessable, or nil.
func checkComplete(c Content, a intake.Assignment, st Settings) error {
	var l errs.List
	add := func(field, format string, args ...any) {
		l = append(l, errs.F(errs.Unprocessable, field, format, args...))
	}
	short := func(s string) bool { return utf8.RuneCountInString(strings.TrimSpace(s)) < st.MinCommentChars }
	for _, cr := range a.Rubric.Criteria {
		if c.Levels[cr.Key] == "" {
			add("levels."+cr.Key, "The criterion “%s” has no level.", cr.Title)
		}
		switch cm := c.Comments[cr.Key]; {
		case strings.TrimSpace(cm) == "":
			add("comments."+cr.Key, "The criterion “%s” has no comment.", cr.Title)
		case short(cm):
			add("comments."+cr.Key, "The comment on “%s” is shorter than %d characters.", cr.Title, st.MinCommentChars)
		}
	}
	var strengths, growths int
	for i, q := range c.Quotes {
		if q.Kind == Strength {
			strengths++
		} else {
			growths++
		}
		if short(q.Comment) {
			add(fmt.Sprintf("quotes[%d].comment", i), "The comment on quote %d is shorter than %d characters.", i+1, st.MinCommentChars)
		}
	}
	if n := len(c.Quotes); n < st.MinQuotes {
		add("quotes", "The feedback has %d quoted %s; at least %d are needed.", n, plural(n, "comment", "comments"), st.MinQuotes)
	}
	if st.RequireStrength && strengths == 0 {
		add("quotes", "No quoted comment names a strength; add at least one.")
	}
	if st.RequireGrowth && growths == 0 {
		add("quotes", "No quoted comment names an area for growth; add at least one.")
	}
	for i, p := range c.Glows {
		if short(p.Text) {
			add(fmt.Sprintf("glows[%d].text", i), "Glow %d is shorter than %d characters.", i+1, st.MinCommentChars)
		}
	}
	for i, p := range c.Grows {
		if short(p.Text) {
			add(fmt.Sprintf("grows[%d].text", i), "Grow %d is shorter than %d characters.", i+1, st.MinCommentChars)
		}
	}
	notes := map[int]string{}
	for _, n := range c.FocusNotes {
		notes[n.Index] = n.Note
	}
	for i, p := range a.FocusPoints {
		switch n := notes[i]; {
		case strings.TrimSpace(n) == "":
			add(fmt.Sprintf("focus_notes[%d]", i), "The focus point “%s” is not addressed.", snippet(p))
		case short(n):
			add(fmt.Sprintf("focus_notes[%d]", i), "The note on the focus point “%s” is shorter than %d characters.", snippet(p), st.MinCommentChars)
		}
	}
	return l.Err()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func snippet(s string) string {
	if utf8.RuneCountInString(s) <= 60 {
		return s
	}
	return string([]rune(s)[:59]) + "…"
}
