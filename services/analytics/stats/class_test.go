package stats

import (
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"testing"
)

// fixtureCriteria are the five criteria of shared/fixtures/class-a/rubric.json:
// weights 2, 2, 2, 1, 1 on the Emerging..Advanced (1..4) scale, so
// Possible = 4·(2+2+2+1+1) = 32.
var fixtureCriteria = []Criterion{
	{Weight: 2, Scale: fourLevels}, // thesis
	{Weight: 2, Scale: fourLevels}, // evidence
	{Weight: 2, Scale: fourLevels}, // analysis
	{Weight: 1, Scale: fourLevels}, // organization
	{Weight: 1, Scale: fourLevels}, // conventions
}

func TestClass(t *testing.T) {
	levels := [][]int{
		{3, 3, 3, 3, 3}, // 32/32 = 100%: the top bin, which is closed
		{0, 0, 0, 0, 0}, // 8/32 = 25%: points start at 1, so 25% is the floor
		{2, 2, 1, 1, 2}, // 2·3+2·3+2·2+1·2+1·3 = 21/32 = 65.625%
		{2, 2, 2, 2, 2}, // 24/32 = 75%
		{1, 1, 1, 1, 1}, // 16/32 = 50% exactly: bin 50–60%, not 40–50%
		{3, M, 3, 3, 3}, // incomplete: 8+8+4+4 = 24 of 24 so far, not on the histogram
		{M, M, M, M, M}, // not graded at all
	}
	r, err := Class(levels, fixtureCriteria, 10)
	if err != nil {
		t.Fatal(err)
	}

	wantStudents := []struct {
		complete         bool
		missing          int
		earned, possible int64
		bin              int
	}{
		{true, 0, 32, 32, 9},
		{true, 0, 8, 32, 2},
		{true, 0, 21, 32, 6},
		{true, 0, 24, 32, 7},
		{true, 0, 16, 32, 5},
		{false, 1, 24, 24, -1},
		{false, 5, 0, 0, -1},
	}
	for s, w := range wantStudents {
		got := r.Students[s]
		if got.Complete != w.complete || got.Missing != w.missing || got.Earned != w.earned || got.Possible != w.possible || got.Bin != w.bin {
			t.Errorf("Students[%d] = %+v; want %+v", s, got, w)
		}
		switch {
		case w.complete && (got.Share == nil || *got.Share != float64(w.earned)/float64(w.possible)):
			t.Errorf("Students[%d].Share = %v; want %d/%d", s, deref(got.Share), w.earned, w.possible)
		case !w.complete && got.Share != nil:
			t.Errorf("Students[%d].Share = %v; want nil", s, *got.Share)
		}
	}
	if r.Complete != 5 || r.Incomplete != 2 {
		t.Errorf("Complete, Incomplete = %d, %d; want 5, 2", r.Complete, r.Incomplete)
	}
	// (32+8+21+24+16) / (5·32) = 101/160
	if r.Mean == nil || *r.Mean != 101.0/160 {
		t.Errorf("Mean = %v; want 101/160", deref(r.Mean))
	}
	var counts []int
	for _, b := range r.Bins {
		counts = append(counts, b.Count)
		if b.Share != float64(b.Count)/5 {
			t.Errorf("bin %s share %v; want %d/5", b.Label, b.Share, b.Count)
		}
	}
	if want := []int{0, 0, 1, 0, 0, 1, 1, 1, 0, 1}; !slices.Equal(counts, want) {
		t.Errorf("bin counts = %v; want %v", counts, want)
	}

	// Per-criterion distributions count every scored level, including those
	// of the incomplete student.
	// thesis: 3 0 2 2 1 3 → sorted 0 1 2 2 3 3, 3rd and 4th are 2.
	// organization: 3 0 1 2 1 3 → sorted 0 1 1 2 3 3, 3rd is 1, 4th is 2.
	if c := r.Criteria[0]; c.N != 6 || c.Unscored != 1 || c.Median.Label != "Proficient" {
		t.Errorf("thesis = N %d, unscored %d, median %+v", c.N, c.Unscored, *c.Median)
	}
	if c := r.Criteria[1]; c.N != 5 || c.Unscored != 2 || c.Median.Label != "Proficient" {
		t.Errorf("evidence = N %d, unscored %d, median %+v", c.N, c.Unscored, *c.Median)
	}
	if c := r.Criteria[3]; c.N != 6 || !c.Median.Between || c.Median.Label != "Developing–Proficient" {
		t.Errorf("organization = N %d, median %+v", c.N, *c.Median)
	}
	// Same as computing the column on its own.
	col := make([]int, len(levels))
	for s := range levels {
		col[s] = levels[s][3]
	}
	alone, _ := Distribution(col, fourLevels)
	if a, b := mustJSON(t, alone), mustJSON(t, r.Criteria[3]); a != b {
		t.Errorf("Class criterion %s\nDistribution %s", b, a)
	}
}

// TestClassBinsAreExact pins shares that land a hair below their bin edge in
// float64: 29/100 computes as 28.999999999999996 percent, 57/100 as
// 56.99999999999999. Deciding the bin in integers keeps them in their bins.
func TestClassBinsAreExact(t *testing.T) {
	crit := []Criterion{{Weight: 1, Scale: Scale{Points: []int{0, 29, 57, 58, 100}}}}
	r, err := Class([][]int{{1}, {2}, {3}, {4}, {0}}, crit, 100)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range []int{29, 57, 58, 99, 0} {
		if got := r.Students[s].Bin; got != want {
			t.Errorf("student %d in bin %d; want %d", s, got, want)
		}
	}
	if got := r.Bins[29].Label; got != "29–30%" {
		t.Errorf("bin 29 label %q", got)
	}
}

// TestClassBinsExhaustive checks every level combination of a small rubric
// against ⌊bins·Earned/Possible⌋ computed with math/big.
func TestClassBinsExhaustive(t *testing.T) {
	crit := []Criterion{
		{Weight: 3, Scale: Scale{Points: []int{0, 1, 2, 3, 5}}},
		{Weight: 7, Scale: Scale{Points: []int{1, 2, 4}}},
		{Weight: 1, Scale: Scale{Points: []int{0, 10}}},
	}
	var levels [][]int
	for a := range 5 {
		for b := range 3 {
			for c := range 2 {
				levels = append(levels, []int{a, b, c})
			}
		}
	}
	possible := int64(3*5 + 7*4 + 1*10)
	for _, bins := range []int{1, 3, 4, 7, 10, 20, 100} {
		r, err := Class(levels, crit, bins)
		if err != nil {
			t.Fatal(err)
		}
		for s, st := range r.Students {
			row := levels[s]
			earned := int64(3*crit[0].Scale.Points[row[0]] + 7*crit[1].Scale.Points[row[1]] + crit[2].Scale.Points[row[2]])
			q := new(big.Int).Div(big.NewInt(int64(bins)*earned), big.NewInt(possible))
			want := min(int(q.Int64()), bins-1)
			if st.Earned != earned || st.Possible != possible || st.Bin != want {
				t.Fatalf("bins %d, %v: got %+v; want earned %d, bin %d", bins, row, st, earned, want)
			}
			if f, _ := big.NewRat(earned, possible).Float64(); *st.Share != f {
				t.Fatalf("share %v; want %v", *st.Share, f)
			}
		}
	}
}

func TestClassNobodyComplete(t *testing.T) {
	r, err := Class([][]int{{1, M}, {M, 2}}, fixtureCriteria[:2], 10)
	if err != nil {
		t.Fatal(err)
	}
	if r.Complete != 0 || r.Incomplete != 2 || r.Mean != nil {
		t.Errorf("Complete %d, Incomplete %d, Mean %v", r.Complete, r.Incomplete, deref(r.Mean))
	}
	s := mustJSON(t, r)
	if !strings.Contains(s, `"mean":null`) || strings.Contains(s, "NaN") {
		t.Errorf("JSON %s", s)
	}
}

func TestBinLabels(t *testing.T) {
	var got []string
	for _, b := range makeBins(3) {
		got = append(got, b.Label)
	}
	if want := []string{"0–33.3%", "33.3–66.7%", "66.7–100%"}; !slices.Equal(got, want) {
		t.Errorf("labels = %q; want %q", got, want)
	}
	ten := makeBins(10)
	if ten[0].Label != "0–10%" || ten[9].Label != "90–100%" || ten[7].From != 0.7 || ten[7].To != 0.8 {
		t.Errorf("bins = %+v", ten)
	}
}

func TestClassErrors(t *testing.T) {
	ok := fixtureCriteria[:2]
	tests := []struct {
		name     string
		levels   [][]int
		criteria []Criterion
		bins     int
		field    string
	}{
		{"no criteria", nil, nil, 10, "criteria"},
		{"zero bins", nil, ok, 0, "bins"},
		{"too many bins", nil, ok, MaxBins + 1, "bins"},
		{"zero weight", nil, []Criterion{{Weight: 0, Scale: fourLevels}}, 10, "criteria[0].weight"},
		{"bad scale", nil, []Criterion{ok[0], {Weight: 1, Scale: Scale{Points: []int{2, 1}}}}, 10, "criteria[1].scale.points[1]"},
		{"short row", [][]int{{1, 1}, {1}}, ok, 10, "levels[1]"},
		{"level off scale", [][]int{{1, 4}}, ok, 10, "levels[0][1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Class(tt.levels, tt.criteria, tt.bins)
			assertInvalid(t, err, tt.field)
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
