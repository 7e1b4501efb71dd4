package feedback

import (
	"strings"
	"testing"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
)

func TestCheckComplete(t *testing.T) {
	r := loadRubric(t)
	a := intake.Assignment{Rubric: r, FocusPoints: r.FocusPoints}
	full := func() Content {
		c := emptyContent()
		for _, cr := range r.Criteria {
			c.Levels[cr.Key], c.Comments[cr.Key] = "proficient", long
		}
		c.Quotes = []Quote{{Criterion: "thesis", Kind: Strength, Comment: long}, {Criterion: "evidence", Kind: Growth, Comment: long}}
		c.FocusNotes = []FocusNote{{Index: 0, Note: long}, {Index: 1, Note: long}}
		return c
	}
	def := Config{}.withDefaults().defaultSettings()
	tests := []struct {
		name   string
		change func(*Content)
		st     Settings
		want   []string // one substring per expected error, in order
	}{
		{"complete", func(*Content) {}, def, nil},
		{"missing level", func(c *Content) { delete(c.Levels, "thesis") }, def, []string{"“Thesis and focus” has no level."}},
		{"short comment", func(c *Content) { c.Comments["evidence"] = "ok" }, def, []string{"comment on “Use of evidence and sources” is shorter than 20"}},
		{"no comment", func(c *Content) { delete(c.Comments, "analysis") }, def, []string{"“Analysis and reasoning” has no comment."}},
		{"one quote", func(c *Content) { c.Quotes = c.Quotes[:1] }, def, []string{"1 quoted comment; at least 2", "No quoted comment names an area for growth"}},
		{"no strength", func(c *Content) { c.Quotes[0].Kind = Growth }, def, []string{"No quoted comment names a strength"}},
		{"kinds not required", func(c *Content) { c.Quotes[0].Kind = Growth }, Settings{MinQuotes: 2, MinCommentChars: 20}, nil},
		{"short quote comment", func(c *Content) { c.Quotes[1].Comment = "meh" }, def, []string{"comment on quote 2 is shorter"}},
		{"short grow", func(c *Content) { c.Grows = []Point{{Criterion: "thesis", Text: "x"}} }, def, []string{"Grow 1 is shorter"}},
		{"focus point unaddressed", func(c *Content) { c.FocusNotes = c.FocusNotes[:1] }, def, []string{"focus point “Are the claims"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := full()
			tt.change(&c)
			err := checkComplete(c, a, tt.st)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			l, ok := err.(errs.List)
			if !ok || len(l) != len(tt.want) {
				t.Fatalf("got %v, want %d errors", err, len(tt.want))
			}
			for i, w := range tt.want {
				if l[i].Code != errs.Unprocessable || !strings.Contains(l[i].Message, w) {
					t.Errorf("error %d = %q, want it to contain %q", i, l[i].Message, w)
				}
			}
		})
	}
}

func TestCheckEdited(t *testing.T) {
	r := loadRubric(t)
	a := intake.Assignment{Rubric: r}
	tests := []struct {
		name   string
		change func(*Content)
		fields []string
	}{
		{"short but present is the teacher's call", func(c *Content) { c.Comments["thesis"] = "ok"; c.Quotes = c.Quotes[:1] }, nil},
		{"level removed", func(c *Content) { delete(c.Levels, "evidence") }, []string{"levels.evidence"}},
		{"comment blanked", func(c *Content) { c.Comments["analysis"] = "  " }, []string{"comments.analysis"}},
		{"quote comment blanked", func(c *Content) { c.Quotes[0].Comment = "" }, []string{"quotes[0].comment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := emptyContent()
			for _, cr := range r.Criteria {
				c.Levels[cr.Key], c.Comments[cr.Key] = "proficient", long
			}
			c.Quotes = []Quote{{Criterion: "thesis", Kind: Strength, Comment: long}, {Criterion: "evidence", Kind: Growth, Comment: long}}
			tt.change(&c)
			var got []string
			if l, ok := checkEdited(c, a).(errs.List); ok {
				for _, e := range l {
					if e.Code != errs.Unprocessable {
						t.Errorf("%s: code %s", e.Field, e.Code)
					}
					got = append(got, e.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("fields %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestDisagreementsAndChanges(t *testing.T) {
	r := loadRubric(t)
	lv := func(th, ev string) map[string]string { return map[string]string{"thesis": th, "evidence": ev} }
	tests := []struct {
		name      string
		a, b      map[string]string
		steps     int
		wantFlag  string
		wantSteps string
	}{
		{"same", lv("proficient", "proficient"), lv("proficient", "proficient"), 2, "", "thesis:0 evidence:0"},
		{"one step apart is not flagged", lv("developing", "proficient"), lv("proficient", "proficient"), 2, "", "thesis:1 evidence:0"},
		{"two steps apart is flagged", lv("emerging", "advanced"), lv("proficient", "developing"), 2, "thesis,evidence", "thesis:2 evidence:-2"},
		{"threshold one", lv("developing", "proficient"), lv("proficient", "proficient"), 1, "thesis", "thesis:1 evidence:0"},
		{"missing level is skipped", lv("", "proficient"), lv("advanced", "emerging"), 2, "evidence", "evidence:-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(disagreements(r, tt.a, tt.b, tt.steps), ","); got != tt.wantFlag {
				t.Errorf("disagreements = %q, want %q", got, tt.wantFlag)
			}
			var got []string
			for _, c := range changes(r, tt.a, tt.b) {
				got = append(got, c.Criterion+":"+itoa(c.Steps))
			}
			if s := strings.Join(got, " "); s != tt.wantSteps {
				t.Errorf("changes = %q, want %q", s, tt.wantSteps)
			}
		})
	}
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	return string(rune('0' + n))
}

func TestCheckContentRejects(t *testing.T) {
	r := loadRubric(t)
	a := intake.Assignment{Rubric: r, FocusPoints: r.FocusPoints}
	c := emptyContent()
	c.Levels = map[string]string{"thesis": "superb", "style": "advanced"}
	c.Glows = []Point{{Criterion: "thesis"}, {Criterion: "thesis"}, {Criterion: "thesis"}, {Criterion: "thesis"}}
	c.FocusNotes = []FocusNote{{Index: 5, Note: "x"}}
	c.Quotes = []Quote{{Criterion: "thesis", Kind: "praise", Target: quote(t, essay, "need support", 0)}}
	_, err := checkContent(c, a, newDoc(essay))
	l, _ := err.(errs.List)
	fields := map[string]bool{}
	for _, e := range l {
		fields[e.Field] = true
	}
	for _, f := range []string{"levels.thesis", "levels.style", "glows", "focus_notes[0].index", "quotes[0].kind"} {
		if !fields[f] {
			t.Errorf("no error for %s in %v", f, err)
		}
	}
}
