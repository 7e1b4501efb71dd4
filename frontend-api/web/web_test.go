package web

import "testing"

func TestDuration(t *testing.T) {
	f := func(h float64) *float64 { return &h }
	for _, tt := range []struct {
		in   *float64
		want string
	}{
		{nil, "—"}, {f(0), "under an hour"}, {f(0.99), "under an hour"}, {f(1.2), "1 hour"}, {f(5.4), "5 hours"},
		{f(47.4), "47 hours"}, {f(48), "2 days"}, {f(60), "2.5 days"}, {f(24 * 10), "10 days"},
	} {
		if got := Duration(tt.in); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStandard(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"CCSS.ELA-LITERACY.L.9-10.2", `<span class="standard">Use correct capitalization, punctuation and spelling <span class="hint">(<abbr title="CCSS.ELA-LITERACY.L.9-10.2">L.9-10.2</abbr>)</span></span>`},
		{"NGSS <HS-PS1-1>", `<span class="standard"><abbr title="NGSS &lt;HS-PS1-1&gt;">NGSS &lt;HS-PS1-1&gt;</abbr></span>`},
	} {
		if got := string(Standard(tt.in)); got != tt.want {
			t.Errorf("Standard(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int
		one  string
		many []string
		want string
	}{
		{0, "student", nil, "0 students"},
		{1, "student", nil, "1 student"},
		{2, "anchor paper", nil, "2 anchor papers"},
		{1, "feedback", []string{"feedback"}, "1 feedback"},
		{5, "feedback", []string{"feedback"}, "5 feedback"},
		{1, "assignment is", []string{"assignments are"}, "1 assignment is"},
		{3, "assignment is", []string{"assignments are"}, "3 assignments are"},
	} {
		if got := Count(c.n, c.one, c.many...); got != c.want {
			t.Errorf("Count(%d, %q, %q) = %q, want %q", c.n, c.one, c.many, got, c.want)
		}
	}
}
