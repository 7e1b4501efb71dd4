package analytics

import (
	"strings"
	"testing"
)

func TestWrapLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Thesis and focus", "Thesis and focus"},
		{"Use of evidence and sources", "Use of evidence\nand sources"},
		{"Conventions and citation format", "Conventions and\ncitation format"},
		{"Antidisestablishmentarianism", "Antidisestablishm…"},
		{"one two three four five six seven eight nine ten eleven twelve", "one two three four\nfive six seven\neight nine ten…"},
		{"", ""},
	} {
		if got := wrapLabel(tc.in); got != tc.want {
			t.Errorf("wrapLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, l := range strings.Split(wrapLabel(tc.in), "\n") {
			if n := len([]rune(l)); n > labelChars {
				t.Errorf("wrapLabel(%q): line %q has %d characters", tc.in, l, n)
			}
		}
	}
}

// TestChartsInPageFont: the charts' text is in the pages' fonts, a little
// smaller than laid out, and the progress chart's axis reads in level
// names when the marks share one scale.
func TestChartsInPageFont(t *testing.T) {
	svg, err := LevelsChart(completeClass(t))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(svg), "font-family:Liberation Sans;") || !strings.Contains(string(svg), pageFonts) || strings.Contains(string(svg), "font-size:10px") {
		t.Errorf("levels chart's text is not in the page's fonts, scaled:\n%.900s", svg)
	}
	pr := Progress{Student: "Ann", Strands: []StrandProgress{{Strand: Strand{Key: "t", Title: "Thesis"}, Marks: []Mark{
		{AssignmentID: "a1", Title: "Essay one", Version: 1, Label: "Emerging", Index: 0, Levels: 3},
		{AssignmentID: "a2", Title: "Essay two", Version: 1, Label: "Proficient", Index: 2, Levels: 3, Fraction: 1},
	}}}}
	ticks := levelTicks(pr)
	if len(ticks) != 3 || ticks[0].Label != "Emerging" || ticks[1].Label != "" || ticks[2].Label != "Proficient" || ticks[2].Value != 1 {
		t.Errorf("one scale's ticks: %+v", ticks)
	}
	pr.Strands[0].Marks[1].Levels = 4
	if ticks := levelTicks(pr); ticks[0].Label != "lowest level" || ticks[len(ticks)-1].Label != "highest level" {
		t.Errorf("two scales' ticks: %+v", ticks)
	}
	p, err := ProgressChart(pr)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(p), "share of the scale") {
		t.Error("the progress chart still says share of the scale")
	}
}
