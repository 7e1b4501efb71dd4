package analytics

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// fixtureRubric is shared/fixtures/class-a/rubric.json: Emerging..Advanced
// (1..4 points); thesis, evidence, analysis (weight 2), organization and
// conventions (weight 1); two focus points.
func fixtureRubric(t testing.TB) intake.Rubric {
	t.Helper()
	data, err := os.ReadFile("../../testdata/class-a/rubric.json")
	if err != nil {
		t.Fatal(err)
	}
	var r intake.Rubric
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

var lv = []string{"emerging", "developing", "proficient", "advanced"}

// levels maps thesis, evidence, analysis, organization to level indexes;
// -1 leaves a criterion out. Conventions is never scored here.
func levels(th, ev, an, or int) map[string]string {
	m := map[string]string{}
	for i, v := range []int{th, ev, an, or} {
		if v >= 0 {
			m[[]string{"thesis", "evidence", "analysis", "organization"}[i]] = lv[v]
		}
	}
	return m
}

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// smallClass is four students (an even count) scored on four of the five
// criteria; nobody has been scored on conventions yet. Hand-computed:
//
//	            A  B  C  D   sorted    median             mean index
//	thesis      2  2  1  3   1 2 2 3   Proficient         8/4 = 2
//	evidence    1  0  2  2   0 1 2 2   Developing–Prof.   5/4 = 1.25
//	analysis    0  1  2  3   0 1 2 3   Developing–Prof.   6/4 = 1.5
//	organiz.    3  2  2  3   2 2 3 3   Proficient–Adv.    10/4 = 2.5
//
// Ranked: organization, thesis, analysis, evidence.
func smallClass(t testing.TB) ClassInput {
	r := fixtureRubric(t)
	return ClassInput{
		AssignmentID: "asg_1", Title: "Essay", Rubric: r, FocusPoints: r.FocusPoints,
		PublishedAt: at("2026-01-01T00:00:00Z"), ReleasedAt: at("2026-01-03T12:00:00Z"),
		Students: []StudentWork{
			{StudentID: "1004", Pseudonym: "Student D", Name: "Dee Four", GraderID: "g2", BatchID: "b2",
				Levels: levels(3, 2, 3, 3),
				Quotes: []Quote{
					{Criterion: "organization", Kind: Strength, Text: "D's structure"},
					{Criterion: "evidence", Kind: Growth, Text: "D's thin source"},
				},
				Grows: []Note{{Criterion: "evidence", Text: "cite  your Sources!"}},
				Previous: map[string]PriorLevel{
					"thesis":       {AssignmentID: "asg_0", Index: 3, Levels: 4, Label: "Advanced"},  // same: no drop
					"evidence":     {AssignmentID: "asg_0", Index: 3, Levels: 4, Label: "Advanced"},  // 3 → 2: drop
					"organization": {AssignmentID: "asg_0", Index: 2, Levels: 3, Label: "Excellent"}, // top of 3 = top of 4: no drop
				}},
			{StudentID: "1001", Pseudonym: "Student A", Name: "Zed Alpha", GraderID: "g1", BatchID: "b1",
				ApprovedAt: at("2026-01-02T00:00:00Z"),
				Levels:     levels(2, 1, 0, 3),
				Quotes: []Quote{
					{Criterion: "organization", Kind: Strength, Text: "A's transitions", Comment: "Smooth."},
					{Criterion: "evidence", Kind: Growth, Text: "A's unsupported claim"},
				},
				Glows:      []Note{{Criterion: "organization", Text: "Clear paragraphs"}},
				Grows:      []Note{{Criterion: "evidence", Text: "Cite your sources."}},
				FocusNotes: []FocusNote{{Point: r.FocusPoints[0], Text: "Answers it directly."}}},
			{StudentID: "1002", Pseudonym: "Student B", Name: "Bea Bravo", GraderID: "g1", BatchID: "b1",
				ApprovedAt: at("2026-01-02T06:00:00Z"),
				Levels:     levels(2, 0, 1, 2),
				Quotes:     []Quote{{Criterion: "organization", Kind: Strength, Text: "shared passage"}},
				Glows:      []Note{{Criterion: "organization", Text: "clear paragraphs."}},
				Grows:      []Note{{Criterion: "evidence", Text: "cite your sources"}},
				FocusNotes: []FocusNote{{Point: r.FocusPoints[0], Text: "  "}}},
			{StudentID: "1003", Pseudonym: "Student C", Name: "Cy Charlie", GraderID: "g2", BatchID: "b2",
				ApprovedAt: at("2026-01-02T12:00:00Z"),
				Levels:     levels(1, 2, 2, 2),
				Quotes: []Quote{
					{Criterion: "organization", Kind: Strength, Text: "shared passage"}, // same text as B's: skipped
					{Criterion: "organization", Kind: Strength, Text: "C's topic sentence"},
					{Criterion: "evidence", Kind: Growth, Text: "C's quote dump"},
				},
				Grows:      []Note{{Criterion: "evidence", Text: "Explain the evidence"}},
				FocusNotes: []FocusNote{{Point: r.FocusPoints[1], Text: "Two studies cited."}}},
		},
		SecondReads: []SecondRead{
			// One rater pair: thesis equal, evidence adjacent, analysis two apart.
			{StudentID: "1001", First: levels(2, 1, 0, 3), Second: levels(2, 2, 2, 3)},
		},
		Ratings: []Rating{
			{StudentID: "1001", GraderID: "g1", Score: 5},
			{StudentID: "1001", GraderID: "g1", Criterion: "thesis", Score: 4},
			{StudentID: "1003", GraderID: "g2", Score: 2},
			{StudentID: "1003", GraderID: "g2", Criterion: "thesis", Score: 0}, // out of range: ignored
		},
	}
}

func TestSummarizeDistribution(t *testing.T) {
	s, err := Summarize(smallClass(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key       string
		counts    [4]int
		n         int
		meanIndex *float64
		meanPts   *float64
		median    string
	}{
		{"thesis", [4]int{0, 1, 2, 1}, 4, ptr(2.0), ptr(3.0), "Proficient"},
		{"evidence", [4]int{1, 1, 2, 0}, 4, ptr(1.25), ptr(2.25), "Developing–Proficient"},
		{"analysis", [4]int{1, 1, 1, 1}, 4, ptr(1.5), ptr(2.5), "Developing–Proficient"},
		{"organization", [4]int{0, 0, 2, 2}, 4, ptr(2.5), ptr(3.5), "Proficient–Advanced"},
		{"conventions", [4]int{}, 0, nil, nil, ""},
	}
	for i, tt := range tests {
		c := s.Criteria[i]
		if c.Key != tt.key || c.Dist.N != tt.n {
			t.Fatalf("criteria[%d] = %s with N=%d; want %s with N=%d", i, c.Key, c.Dist.N, tt.key, tt.n)
		}
		for l, want := range tt.counts {
			if got := c.Dist.Levels[l]; got.Count != want || (tt.n > 0 && got.Share != float64(want)/float64(tt.n)) {
				t.Errorf("%s level %d = %d (%v); want %d", tt.key, l, got.Count, got.Share, want)
			}
		}
		if tt.meanIndex == nil {
			if c.Dist.Mean != nil || c.Dist.Median != nil || c.MeanPoints != nil || c.Dist.Unscored != 4 {
				t.Errorf("%s: want no mean or median and 4 unscored; got %+v", tt.key, c)
			}
			continue
		}
		if c.Dist.Mean.Index != *tt.meanIndex || *c.MeanPoints != *tt.meanPts || c.Dist.Median.Label != tt.median {
			t.Errorf("%s: mean %v (%v points), median %q; want %v (%v), %q", tt.key, c.Dist.Mean.Index, *c.MeanPoints, c.Dist.Median.Label, *tt.meanIndex, *tt.meanPts, tt.median)
		}
	}
	// Nobody is scored on conventions, so nobody is complete.
	if s.Overall.Complete != 0 || s.Overall.Incomplete != 4 || s.Overall.Mean != nil {
		t.Errorf("overall = %+v; want 0 complete, 4 incomplete, no mean", s.Overall)
	}
	// A: 2·3 + 2·2 + 2·1 + 1·4 = 16 earned of 2·4·3 + 4 = 28 so far.
	if a := s.Students[0]; a.StudentID != "1001" || a.Earned != 16 || a.Possible != 28 || a.Share != nil || a.Levels[4] != "" {
		t.Errorf("students[0] = %+v; want 1001 with 16 of 28, no share", a)
	}
}

func TestSummarizeOverallComplete(t *testing.T) {
	in := smallClass(t)
	for i := range in.Students {
		in.Students[i].Levels["conventions"] = "proficient"
	}
	s, err := Summarize(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Earned (of 32): A 16+3 = 19, B 2·3+2·1+2·2+3+3 = 18, C 2·2+2·3+2·3+3+3 = 22,
	// D 2·4+2·3+2·4+4+3 = 29. Mean = 88/128 = 0.6875.
	// Bins: 19/32 = 59.4% → 50–60; 18/32 = 56.25% → 50–60; 22/32 = 68.75% → 60–70;
	// 29/32 = 90.6% → 90–100.
	if s.Overall.Complete != 4 || s.Overall.Mean == nil || *s.Overall.Mean != 0.6875 {
		t.Fatalf("overall = %+v; want 4 complete, mean 0.6875", s.Overall)
	}
	var got []int
	for _, b := range s.Overall.Bins {
		got = append(got, b.Count)
	}
	if want := []int{0, 0, 0, 0, 0, 2, 1, 0, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("bins = %v; want %v", got, want)
	}
	if sh := s.Students[0].Share; sh == nil || *sh != 19.0/32 {
		t.Errorf("A's share = %v; want 19/32", sh)
	}
}

func TestSummarizeAreas(t *testing.T) {
	s, err := Summarize(smallClass(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(as []Area) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Criterion)
		}
		return out
	}
	// Thesis ranks second strongest and analysis second weakest, but no
	// student has a quote of that kind on them: they are set apart, and
	// nothing takes their place.
	if got := keys(s.Strengths); !slices.Equal(got, []string{"organization"}) {
		t.Errorf("strengths = %v", got)
	}
	if got := keys(s.Growth); !slices.Equal(got, []string{"evidence"}) {
		t.Errorf("growth = %v", got)
	}
	if got := keys(s.NotEnoughEvidence); !slices.Equal(got, []string{"thesis", "analysis"}) ||
		s.NotEnoughEvidence[0].Kind != Strength || s.NotEnoughEvidence[1].Kind != Growth || s.NotEnoughEvidence[0].Evidence == nil {
		t.Errorf("not enough evidence = %+v", s.NotEnoughEvidence)
	}
	// Organization's median (lower) is Proficient: B and C are there, A and
	// D one level away; C's first quote repeats B's and is skipped.
	org := s.Strengths[0]
	wantEv := []Evidence{
		{Student: "Student B", Level: "Proficient", Quote: "shared passage"},
		{Student: "Student C", Level: "Proficient", Quote: "C's topic sentence"},
		{Student: "Student A", Level: "Advanced", Quote: "A's transitions", Comment: "Smooth."},
	}
	if !slices.Equal(org.Evidence, wantEv) {
		t.Errorf("organization evidence = %+v; want %+v", org.Evidence, wantEv)
	}
	if want := []Theme{{Text: "Clear paragraphs", Count: 2}}; !slices.Equal(org.Glows, want) {
		t.Errorf("organization glows = %+v; want %+v", org.Glows, want)
	}
	// Evidence's median (lower) is Developing: A is there; B, C, D one away.
	ev := s.Growth[0]
	wantEv = []Evidence{
		{Student: "Student A", Level: "Developing", Quote: "A's unsupported claim"},
		{Student: "Student C", Level: "Proficient", Quote: "C's quote dump"},
		{Student: "Student D", Level: "Proficient", Quote: "D's thin source"},
	}
	if !slices.Equal(ev.Evidence, wantEv) {
		t.Errorf("evidence evidence = %+v; want %+v", ev.Evidence, wantEv)
	}
	if want := []Theme{{Text: "Cite your sources.", Count: 3}, {Text: "Explain the evidence", Count: 1}}; !slices.Equal(ev.Grows, want) {
		t.Errorf("evidence grows = %+v; want %+v", ev.Grows, want)
	}

	named, err := Summarize(smallClass(t), Options{Names: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := named.Growth[0].Evidence[0].Student; got != "Zed Alpha" {
		t.Errorf("with names, evidence is from %q; want Zed Alpha", got)
	}
	if got := named.Students[0].Student; got != "Bea Bravo" {
		t.Errorf("with names, students sort by name; first is %q", got)
	}
}

func TestSummarizeTiesAndOneCriterion(t *testing.T) {
	in := smallClass(t)
	in.Rubric.Criteria = in.Rubric.Criteria[:2] // thesis, evidence
	for i := range in.Students {
		in.Students[i].Levels = map[string]string{"thesis": "proficient", "evidence": "proficient"}
	}
	in.Students[0].Quotes = append(in.Students[0].Quotes, Quote{Criterion: "thesis", Kind: Strength, Text: "A clear claim"})
	in.SecondReads = nil
	s, err := Summarize(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Equal means: rubric order decides; one strength, one growth area.
	if len(s.Strengths) != 1 || s.Strengths[0].Criterion != "thesis" || len(s.Growth) != 1 || s.Growth[0].Criterion != "evidence" {
		t.Errorf("strengths %+v, growth %+v; want thesis and evidence", s.Strengths, s.Growth)
	}

	in.Rubric.Criteria = in.Rubric.Criteria[:1]
	s, err = Summarize(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Strengths) != 1 || len(s.Growth) != 0 {
		t.Errorf("one criterion: strengths %d, growth %d; want 1 and 0", len(s.Strengths), len(s.Growth))
	}
}

// Every strength and growth area carries at least one quoted passage; an
// area without one is listed apart; no list is ever null in the JSON.
func TestSummarizeEvidenceForEveryArea(t *testing.T) {
	noQuotes := func(in *ClassInput) {
		for i := range in.Students {
			in.Students[i].Quotes = nil
		}
	}
	growthOnly := func(in *ClassInput) {
		for i := range in.Students {
			var keep []Quote
			for _, q := range in.Students[i].Quotes {
				if q.Kind == Growth {
					keep = append(keep, q)
				}
			}
			in.Students[i].Quotes = keep
		}
	}
	blank := func(in *ClassInput) { // quotes of nothing but spaces
		for i := range in.Students {
			for j := range in.Students[i].Quotes {
				in.Students[i].Quotes[j].Text = "  "
			}
		}
	}
	nobody := func(in *ClassInput) { in.Students = nil }
	for _, c := range []struct {
		name                 string
		change               func(*ClassInput)
		strong, weak, absent int
	}{
		{"as given", func(*ClassInput) {}, 1, 1, 2},
		{"no quotes at all", noQuotes, 0, 0, 4},
		{"growth quotes only", growthOnly, 0, 1, 3},
		{"blank quotes", blank, 0, 0, 4},
		{"nobody scored", nobody, 0, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := smallClass(t)
			c.change(&in)
			s, err := Summarize(in, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Strengths) != c.strong || len(s.Growth) != c.weak || len(s.NotEnoughEvidence) != c.absent {
				t.Fatalf("strengths %d, growth %d, without evidence %d; want %d, %d, %d",
					len(s.Strengths), len(s.Growth), len(s.NotEnoughEvidence), c.strong, c.weak, c.absent)
			}
			for _, a := range append(slices.Clone(s.Strengths), s.Growth...) {
				if len(a.Evidence) == 0 {
					t.Errorf("%s is listed with no evidence", a.Criterion)
				}
				for _, e := range a.Evidence {
					if strings.TrimSpace(e.Quote) == "" {
						t.Errorf("%s has an empty quote as evidence", a.Criterion)
					}
				}
			}
			for _, a := range s.NotEnoughEvidence {
				if a.Evidence == nil || len(a.Evidence) != 0 || a.Kind != Strength && a.Kind != Growth {
					t.Errorf("set apart: %+v", a)
				}
			}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			for _, null := range []string{`"evidence":null`, `"strengths":null`, `"growth":null`, `"not_enough_evidence":null`} {
				if strings.Contains(string(b), null) {
					t.Errorf("the JSON has %s", null)
				}
			}
		})
	}
}

func TestSummarizeSupport(t *testing.T) {
	tests := []struct {
		below string
		want  []SupportStudent
	}{
		{"", []SupportStudent{ // below Proficient
			{StudentID: "1001", Student: "Student A", Below: []string{"evidence", "analysis"}, Dropped: []Dropped{}},
			{StudentID: "1002", Student: "Student B", Below: []string{"evidence", "analysis"}, Dropped: []Dropped{}},
			{StudentID: "1004", Student: "Student D", Below: []string{}, Dropped: []Dropped{{Criterion: "evidence", From: "Advanced", To: "Proficient", AssignmentID: "asg_0"}}},
		}},
		{"developing", []SupportStudent{
			{StudentID: "1004", Student: "Student D", Below: []string{}, Dropped: []Dropped{{Criterion: "evidence", From: "Advanced", To: "Proficient", AssignmentID: "asg_0"}}},
		}},
		{"advanced", []SupportStudent{
			{StudentID: "1001", Student: "Student A", Below: []string{"thesis", "evidence", "analysis"}, Dropped: []Dropped{}},
			{StudentID: "1002", Student: "Student B", Below: []string{"thesis", "evidence", "analysis", "organization"}, Dropped: []Dropped{}},
			{StudentID: "1003", Student: "Student C", Below: []string{"thesis", "evidence", "analysis", "organization"}, Dropped: []Dropped{}},
			{StudentID: "1004", Student: "Student D", Below: []string{"evidence"}[:0], Dropped: []Dropped{{Criterion: "evidence", From: "Advanced", To: "Proficient", AssignmentID: "asg_0"}}},
		}},
	}
	for _, tt := range tests {
		s, err := Summarize(smallClass(t), Options{SupportBelow: tt.below})
		if err != nil {
			t.Fatal(err)
		}
		b1, _ := json.Marshal(s.Support)
		b2, _ := json.Marshal(tt.want)
		if string(b1) != string(b2) {
			t.Errorf("below %q: support = %s\nwant %s", tt.below, b1, b2)
		}
	}
	if _, err := Summarize(smallClass(t), Options{SupportBelow: "excellent"}); err == nil {
		t.Error("an unknown support level was accepted")
	}
}

func TestSummarizeAgreementOnePair(t *testing.T) {
	s, err := Summarize(smallClass(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key             string
		pairs           int
		exact, adjacent *float64
		figure          string
	}{
		{"thesis", 1, ptr(1.0), ptr(1.0), "too few pairs (1)"},
		{"evidence", 1, ptr(0.0), ptr(1.0), "too few pairs (1)"},
		{"analysis", 1, ptr(0.0), ptr(0.0), "too few pairs (1)"},
		{"organization", 1, ptr(1.0), ptr(1.0), "too few pairs (1)"},
		{"conventions", 0, nil, nil, "no pairs yet"},
	}
	for i, tt := range tests {
		a := s.Agreement[i]
		if a.Criterion != tt.key || a.Agreement.Pairs != tt.pairs || a.Figure != tt.figure ||
			!eqPtr(a.Agreement.Exact, tt.exact) || !eqPtr(a.Agreement.Adjacent, tt.adjacent) {
			t.Errorf("agreement[%d] = %+v %q; want %s pairs %d exact %v adjacent %v %q", i, a.Agreement, a.Figure, tt.key, tt.pairs, deref(tt.exact), deref(tt.adjacent), tt.figure)
		}
		// One equal pair: no disagreement is expected by chance, so kappa
		// is undefined. One unequal pair: κ = 1 − n·Σw·O/Σw·r·c = 1 − 1·w/w
		// = 0, defined but unstable, which is why the figure says "too few".
		k := a.Agreement.Kappa
		switch {
		case tt.exact != nil && *tt.exact == 1 && k.Defined:
			t.Errorf("%s: kappa defined from one equal pair", tt.key)
		case tt.exact != nil && *tt.exact == 0 && (!k.Defined || *k.Value != 0 || k.Stable):
			t.Errorf("%s: kappa = %+v; want 0, unstable", tt.key, k)
		}
	}
}

func TestSummarizeAgreementStable(t *testing.T) {
	in := smallClass(t)
	in.SecondReads = nil
	// Ten pairs: both readers agree exactly, levels 0,1,2,3,0,1,2,3,0,1.
	for i := range 10 {
		m := levels(i%4, -1, -1, -1)
		in.SecondReads = append(in.SecondReads, SecondRead{First: m, Second: m})
	}
	s, err := Summarize(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Agreement[0].Figure; got != "κ = 1.00 (10 pairs)" {
		t.Errorf("figure = %q; want κ = 1.00 (10 pairs)", got)
	}
}

func TestSummarizeFocusTurnaroundHelpfulness(t *testing.T) {
	in := smallClass(t)
	s, err := Summarize(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantFocus := []FocusSummary{
		{Point: in.FocusPoints[0], Students: 1, Notes: []string{"Answers it directly."}},
		{Point: in.FocusPoints[1], Students: 1, Notes: []string{"Two studies cited."}},
	}
	b1, _ := json.Marshal(s.FocusPoints)
	b2, _ := json.Marshal(wantFocus)
	if string(b1) != string(b2) {
		t.Errorf("focus = %s; want %s", b1, b2)
	}

	ta := s.Turnaround
	if ta.Hours == nil || *ta.Hours != 60 {
		t.Errorf("turnaround hours = %v; want 60", deref(ta.Hours))
	}
	if len(ta.Batches) != 2 {
		t.Fatalf("batches = %+v", ta.Batches)
	}
	if b := ta.Batches[0]; b.BatchID != "b1" || b.Submissions != 2 || b.Approved != 2 || b.Hours == nil || *b.Hours != 30 {
		t.Errorf("b1 = %+v; want 2 of 2 approved, 30 hours", b)
	}
	if b := ta.Batches[1]; b.BatchID != "b2" || b.Submissions != 2 || b.Approved != 1 || b.Hours != nil {
		t.Errorf("b2 = %+v; want 1 of 2 approved, no hours", b)
	}

	h := s.Helpfulness
	wantG := []RatingStats{{Key: "g1", Count: 2, Mean: ptr(4.5)}, {Key: "g2", Count: 1, Mean: ptr(2.0)}}
	wantC := []RatingStats{{Key: "", Count: 2, Mean: ptr(3.5)}, {Key: "thesis", Count: 1, Mean: ptr(4.0)}}
	b1, _ = json.Marshal(h)
	b2, _ = json.Marshal(Helpfulness{PerGrader: wantG, PerCriterion: wantC})
	if string(b1) != string(b2) {
		t.Errorf("helpfulness = %s; want %s", b1, b2)
	}
}

func ptr[T any](v T) *T { return &v }

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func eqPtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Fractional points and weights still give a summary: shares in the
// rubric's own points.
func TestSummarizeFractionalRubric(t *testing.T) {
	in := smallClass(t)
	for i := range in.Rubric.Scale {
		in.Rubric.Scale[i].Points = float64(i)/3 + 0.5 // 0.5, 0.833…, 1.166…, 1.5
	}
	in.Rubric.Criteria[0].Weight = 1.0 / 3
	s, err := Summarize(in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Thesis: 0, 1, 2, 1 students at the four levels; mean points
	// (0.8333… + 2·1.1666… + 1.5)/4 = 4.6666…/4.
	want := (1.0/3 + 0.5 + 2*(2.0/3+0.5) + 1.5) / 4
	if got := *s.Criteria[0].MeanPoints; math.Abs(got-want) > 1e-12 {
		t.Errorf("thesis mean points = %v; want %v", got, want)
	}
}

func TestTurnaroundOf(t *testing.T) {
	pub := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { x := pub.Add(time.Duration(h) * time.Hour); return &x }
	a := intake.Assignment{PublishedAt: &pub}
	batch := func(id string, reader matching.Reader, versions ...string) matching.BatchView {
		b := matching.BatchView{Batch: matching.Batch{ID: id, Reader: reader}}
		for _, v := range versions {
			b.Items = append(b.Items, matching.Item{VersionID: v})
		}
		return b
	}
	batches := []matching.BatchView{batch("b1", matching.First, "v1", "v2"), batch("b2", matching.First, "v3"), batch("b3", matching.Second, "v1")}
	rows := []feedback.Row{{TaskID: "v1:first", ApprovedAt: at(20)}, {TaskID: "v2:first", ApprovedAt: at(30)},
		{TaskID: "v3:first"}, {TaskID: "elsewhere", ApprovedAt: at(1)}, {TaskID: "v1:second", State: feedback.Draft, UpdatedAt: *at(3)}}
	got := TurnaroundOf(a, batches, rows)
	if got.Hours != nil || len(got.Batches) != 3 {
		t.Fatalf("turnaround %+v", got)
	}
	b1, b2, b3 := got.Batches[0], got.Batches[1], got.Batches[2]
	if b1.BatchID != "b1" || b1.Submissions != 2 || b1.Approved != 2 || b1.Hours == nil || *b1.Hours != 30 || !b1.LastApproved.Equal(*at(30)) {
		t.Errorf("b1 %+v", b1)
	}
	if b2.Submissions != 1 || b2.Approved != 0 || b2.Hours != nil {
		t.Errorf("b2 %+v", b2)
	}
	if b3.Submissions != 1 || b3.Approved != 0 { // a draft is not approved
		t.Errorf("b3 %+v", b3)
	}
	old := []feedback.Row{{TaskID: "v3:first", State: feedback.Released, UpdatedAt: *at(40)}} // written before rows had ApprovedAt
	if b := TurnaroundOf(a, batches[1:2], old).Batches[0]; b.Approved != 1 || b.Hours == nil || *b.Hours != 40 {
		t.Errorf("an old released row: %+v", b)
	}
	rel := *at(50)
	a.ReleasedAt = &rel
	if h := TurnaroundOf(a, batches, rows).Hours; h == nil || *h != 50 {
		t.Errorf("hours to release %v", h)
	}
}
