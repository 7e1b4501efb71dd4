package stats

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat"

	"github.com/marginschool/margin/pkg/errs"
)

// fourLevels is the scale of the class-a fixture rubric.
var fourLevels = Scale{
	Labels: []string{"Emerging", "Developing", "Proficient", "Advanced"},
	Points: []int{1, 2, 3, 4},
}

const M = Missing

// Expected means are written as constant fractions: Go evaluates them exactly
// and rounds once, as Distribution does, so they must compare equal.
func TestDistribution(t *testing.T) {
	tests := []struct {
		name     string
		scale    Scale
		levels   []int
		n        int
		unscored int
		counts   []int
		mean     *Mean
		median   *Median
	}{
		{
			// sorted 1 1 2 2 3; middle (3rd) is 2. Σindex = 9, Σpoints = 14.
			name:   "odd N with ties",
			levels: []int{1, 2, 2, 3, 1},
			n:      5, counts: []int{0, 2, 2, 1},
			mean:   &Mean{Points: 14.0 / 5, Index: 9.0 / 5},
			median: &Median{Lower: 2, Upper: 2, Label: "Proficient"},
		},
		{
			// sorted 0 1 2 3; 2nd is 1, 3rd is 2: between, not "1.5".
			name:   "even N, middle values differ",
			levels: []int{3, 0, 2, 1},
			n:      4, counts: []int{1, 1, 1, 1},
			mean:   &Mean{Points: 10.0 / 4, Index: 6.0 / 4},
			median: &Median{Lower: 1, Upper: 2, Between: true, Label: "Developing–Proficient"},
		},
		{
			// sorted 1 1 2 2 2 3; 3rd and 4th are both 2. Σindex = 11, Σpoints = 17.
			name:   "even N, middle values equal",
			levels: []int{2, 1, 3, 2, 1, 2},
			n:      6, counts: []int{0, 2, 3, 1},
			mean:   &Mean{Points: 17.0 / 6, Index: 11.0 / 6},
			median: &Median{Lower: 2, Upper: 2, Label: "Proficient"},
		},
		{
			// cumulative count hits exactly N/2 at Emerging: lower is
			// Emerging, upper the next level anyone reached.
			name:   "even N, cumulative exactly half",
			levels: []int{0, 1, 0, 1},
			n:      4, counts: []int{2, 2, 0, 0},
			mean:   &Mean{Points: 6.0 / 4, Index: 2.0 / 4},
			median: &Median{Lower: 0, Upper: 1, Between: true, Label: "Emerging–Developing"},
		},
		{
			// a split class: the median spans two empty levels.
			name:   "even N, split with a gap",
			levels: []int{0, 3, 3, 0},
			n:      4, counts: []int{2, 0, 0, 2},
			mean:   &Mean{Points: 10.0 / 4, Index: 6.0 / 4},
			median: &Median{Lower: 0, Upper: 3, Between: true, Label: "Emerging–Advanced"},
		},
		{
			name:   "one student",
			levels: []int{3},
			n:      1, counts: []int{0, 0, 0, 1},
			mean:   &Mean{Points: 4, Index: 3},
			median: &Median{Lower: 3, Upper: 3, Label: "Advanced"},
		},
		{
			name:   "two students, same level",
			levels: []int{2, 2},
			n:      2, counts: []int{0, 0, 2, 0},
			mean:   &Mean{Points: 3, Index: 2},
			median: &Median{Lower: 2, Upper: 2, Label: "Proficient"},
		},
		{
			name:   "nobody scored yet: empty",
			levels: nil,
			n:      0, counts: []int{0, 0, 0, 0},
		},
		{
			name:   "nobody scored yet: all missing",
			levels: []int{M, M, M},
			n:      0, unscored: 3, counts: []int{0, 0, 0, 0},
		},
		{
			// sorted 0 2 3; Σindex = 5, Σpoints = 8.
			name:   "missing students are skipped, not zero",
			levels: []int{M, 2, M, 0, 3},
			n:      3, unscored: 2, counts: []int{1, 0, 1, 1},
			mean:   &Mean{Points: 8.0 / 3, Index: 5.0 / 3},
			median: &Median{Lower: 2, Upper: 2, Label: "Proficient"},
		},
		{
			// unevenly spaced points, no labels: mean in points ≠ mean index.
			// Σpoints = 0+2+5+5 = 12, Σindex = 0+1+2+2 = 5.
			name:   "uneven points, default labels",
			scale:  Scale{Points: []int{0, 2, 5}},
			levels: []int{0, 1, 2, 2},
			n:      4, counts: []int{1, 1, 2},
			mean:   &Mean{Points: 12.0 / 4, Index: 5.0 / 4},
			median: &Median{Lower: 1, Upper: 2, Between: true, Label: "Level 2–Level 3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scale := tt.scale
			if scale.Points == nil {
				scale = fourLevels
			}
			d, err := Distribution(tt.levels, scale)
			if err != nil {
				t.Fatal(err)
			}
			if d.N != tt.n || d.Unscored != tt.unscored {
				t.Errorf("N, Unscored = %d, %d; want %d, %d", d.N, d.Unscored, tt.n, tt.unscored)
			}
			var counts []int
			for i, l := range d.Levels {
				counts = append(counts, l.Count)
				if l.Level != i || l.Label != scale.Label(i) || l.Points != scale.Points[i] {
					t.Errorf("Levels[%d] = %+v", i, l)
				}
				want := 0.0
				if tt.n > 0 {
					want = float64(l.Count) / float64(tt.n)
				}
				if l.Share != want {
					t.Errorf("Levels[%d].Share = %v; want %v", i, l.Share, want)
				}
			}
			if !slices.Equal(counts, tt.counts) {
				t.Errorf("counts = %v; want %v", counts, tt.counts)
			}
			if !eqPtr(d.Mean, tt.mean) {
				t.Errorf("Mean = %+v; want %+v", deref(d.Mean), deref(tt.mean))
			}
			if !eqPtr(d.Median, tt.median) {
				t.Errorf("Median = %+v; want %+v", deref(d.Median), deref(tt.median))
			}
		})
	}
}

func TestDistributionJSONForNobodyScored(t *testing.T) {
	d, err := Distribution([]int{M, M}, fourLevels)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"n":0`, `"unscored":2`, `"mean":null`, `"median":null`, `"share":0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
}

func TestDistributionErrors(t *testing.T) {
	tests := []struct {
		name   string
		levels []int
		scale  Scale
		field  string
	}{
		{"level above scale", []int{0, 4}, fourLevels, "levels[1]"},
		{"negative level other than Missing", []int{-2}, fourLevels, "levels[0]"},
		{"one-level scale", nil, Scale{Points: []int{1}}, "points"},
		{"points not rising", nil, Scale{Points: []int{1, 3, 3}}, "points[2]"},
		{"negative points", nil, Scale{Points: []int{-1, 0}}, "points[0]"},
		{"points too large", nil, Scale{Points: []int{0, MaxPoints + 1}}, "points[1]"},
		{"labels do not match", nil, Scale{Labels: []string{"Low"}, Points: []int{0, 1}}, "labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Distribution(tt.levels, tt.scale)
			assertInvalid(t, err, tt.field)
		})
	}
}

// TestDistributionAgainstGonum checks the integer mean and lower median
// against gonum's float64 Mean and empirical Quantile on random classes.
func TestDistributionAgainstGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		n := 1 + rng.IntN(60)
		levels := make([]int, n)
		xs := make([]float64, n)
		for i := range levels {
			levels[i] = rng.IntN(4)
		}
		d, err := Distribution(levels, fourLevels)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(levels)
		for i, v := range levels {
			xs[i] = float64(v)
		}
		if got, want := d.Mean.Index, stat.Mean(xs, nil); !near(got, want) {
			t.Fatalf("mean %v, gonum %v for %v", got, want, levels)
		}
		if got, want := float64(d.Median.Lower), stat.Quantile(0.5, stat.Empirical, xs, nil); got != want {
			t.Fatalf("lower median %v, gonum %v for %v", got, want, levels)
		}
		// The upper median is the order statistic just past the middle.
		if got, want := d.Median.Upper, levels[n/2]; got != want {
			t.Fatalf("upper median %v, want %v for %v", got, want, levels)
		}
	}
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-12 && d > -1e-12
}

func assertInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if !errs.Is(err, errs.Invalid) {
		t.Fatalf("err = %v; want invalid", err)
	}
	var e *errs.Error
	if !errors.As(err, &e) || e.Field != field {
		t.Fatalf("err = %v; want field %q", err, field)
	}
}
