package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// krippendorff2011 is the reliability data of section C of Krippendorff,
// "Computing Krippendorff's Alpha-Reliability" (2011, repository.upenn.edu/
// asc_papers/43): four observers, twelve units, values 1..5, with missing
// values. Unit 12 has a single value and is not pairable. The paper gives
// n = 40 pairable values and α = 0.743 (nominal), 0.815 (ordinal), 0.849
// (interval). Values are stored as levels 0..4 (value − 1).
var krippendorff2011 = [][]int{
	{0, 1, 2, 2, 1, 0, 3, 0, 1, M, M, M}, // A
	{0, 1, 2, 2, 1, 1, 3, 0, 1, 4, M, 2}, // B
	{M, 2, 2, 2, 1, 2, 3, 1, 1, 4, 0, M}, // C
	{0, 1, 2, 2, 1, 3, 3, 0, 1, 4, 0, M}, // D
}

func TestAlphaKrippendorff2011(t *testing.T) {
	for _, tt := range []struct {
		metric Metric
		want   float64
	}{
		{Nominal, 0.743},
		{Ordinal, 0.815},
		{Interval, 0.849},
	} {
		t.Run(string(tt.metric), func(t *testing.T) {
			r, err := Alpha(krippendorff2011, 5, tt.metric)
			if err != nil {
				t.Fatal(err)
			}
			if r.Coders != 4 || r.Units != 12 || r.PairableUnits != 11 || r.Values != 40 {
				t.Errorf("coders %d units %d pairable %d values %d; want 4 12 11 40", r.Coders, r.Units, r.PairableUnits, r.Values)
			}
			if !r.Alpha.Defined || !r.Alpha.Stable || r.Alpha.Reason != "" {
				t.Errorf("alpha %+v", r.Alpha)
			}
			if got := math.Round(*r.Alpha.Value*1000) / 1000; got != tt.want {
				t.Errorf("alpha = %v (%.3f); paper gives %.3f", *r.Alpha.Value, got, tt.want)
			}
			if ref := refAlpha(krippendorff2011, 5, tt.metric); math.Abs(*r.Alpha.Value-ref) > 1e-12 {
				t.Errorf("alpha %v; reference %v", *r.Alpha.Value, ref)
			}
		})
	}
}

// TestAlphaAgainstReference compares the integer implementation with
// refAlpha, a literal float64 transcription of the paper's formulas, on
// random matrices with missing values and varying coder counts.
func TestAlphaAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 400 {
		coders, units, k := 2+rng.IntN(5), 1+rng.IntN(40), 2+rng.IntN(6)
		data := make([][]int, coders)
		truth := make([]int, units)
		for u := range truth {
			truth[u] = rng.IntN(k)
		}
		for i := range data {
			data[i] = make([]int, units)
			for u := range data[i] {
				switch rng.IntN(5) {
				case 0:
					data[i][u] = M
				case 1:
					data[i][u] = rng.IntN(k)
				default:
					data[i][u] = min(max(truth[u]+rng.IntN(3)-1, 0), k-1)
				}
			}
		}
		for _, metric := range []Metric{Nominal, Ordinal, Interval} {
			r, err := Alpha(data, k, metric)
			if err != nil {
				t.Fatal(err)
			}
			ref := refAlpha(data, k, metric)
			if math.IsNaN(ref) {
				if r.Alpha.Defined {
					t.Fatalf("%s alpha %v where reference is undefined: %v", metric, *r.Alpha.Value, data)
				}
				continue
			}
			if !r.Alpha.Defined || math.Abs(*r.Alpha.Value-ref) > 1e-9 {
				t.Fatalf("%s alpha %+v; reference %v for %v", metric, r.Alpha, ref, data)
			}
		}
	}
}

func TestAlphaUndefined(t *testing.T) {
	tests := []struct {
		name   string
		data   [][]int
		reason string
	}{
		{
			name:   "every value the same",
			data:   [][]int{{2, 2, M}, {2, 2, 2}, {M, 2, 2}},
			reason: "All 7 ratings are the same level, so no disagreement is expected by chance and alpha is undefined.",
		},
		{
			name:   "no unit with two values",
			data:   [][]int{{1, M, M}, {M, 2, M}},
			reason: "No unit was rated by two or more coders, so there is no agreement to measure.",
		},
		{
			name:   "no units",
			data:   [][]int{{}, {}},
			reason: "No unit was rated by two or more coders, so there is no agreement to measure.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Alpha(tt.data, 4, Ordinal)
			if err != nil {
				t.Fatal(err)
			}
			if r.Alpha.Defined || r.Alpha.Value != nil || r.Alpha.Stable || r.Alpha.Reason != tt.reason {
				t.Errorf("alpha %+v; want undefined with %q", r.Alpha, tt.reason)
			}
		})
	}
}

func TestAlphaUnstable(t *testing.T) {
	// Three pairable units (the fourth has one value).
	r, err := Alpha([][]int{{0, 1, 2, 3}, {0, 2, 2, M}}, 4, Ordinal)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Alpha.Defined || r.Alpha.Stable || r.Alpha.Reason != "Only 3 units rated by two or more coders: too few for a stable alpha." {
		t.Errorf("alpha %+v", r.Alpha)
	}
}

func TestAlphaErrors(t *testing.T) {
	tests := []struct {
		name   string
		data   [][]int
		k      int
		metric Metric
		field  string
	}{
		{"unknown metric", [][]int{{0}, {0}}, 4, "ratio", "metric"},
		{"one coder", [][]int{{0, 1}}, 4, Ordinal, "data"},
		{"ragged", [][]int{{0, 1}, {0}}, 4, Ordinal, "data[1]"},
		{"off scale", [][]int{{0, 1}, {0, 9}}, 4, Ordinal, "data[1][1]"},
		{"k too small", [][]int{{0}, {0}}, 1, Ordinal, "k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Alpha(tt.data, tt.k, tt.metric)
			assertInvalid(t, err, tt.field)
		})
	}
}

// refAlpha is Krippendorff's alpha transcribed literally from the 2011 paper
// in float64: the coincidence matrix with 1/(m_u − 1) per pair, marginals
// n_c, the metric's δ², and α = 1 − (n−1)·Σ o·δ² / Σ n_c·n_k·δ². It returns
// NaN when alpha is undefined.
func refAlpha(data [][]int, k int, metric Metric) float64 {
	o := make([][]float64, k)
	for c := range o {
		o[c] = make([]float64, k)
	}
	for u := range data[0] {
		m := 0
		for i := range data {
			if data[i][u] != M {
				m++
			}
		}
		if m < 2 {
			continue
		}
		for i := range data {
			for j := range data {
				if i != j && data[i][u] != M && data[j][u] != M {
					o[data[i][u]][data[j][u]] += 1 / float64(m-1)
				}
			}
		}
	}
	nc := make([]float64, k)
	var n float64
	for c := range k {
		for j := range k {
			nc[c] += o[c][j]
		}
		n += nc[c]
	}
	delta2 := func(c, j int) float64 {
		if c == j {
			return 0
		}
		switch metric {
		case Nominal:
			return 1
		case Interval:
			return float64((c - j) * (c - j))
		}
		lo, hi := min(c, j), max(c, j)
		var s float64
		for g := lo; g <= hi; g++ {
			s += nc[g]
		}
		d := s - (nc[c]+nc[j])/2
		return d * d
	}
	var obs, exp float64
	for c := range k {
		for j := range k {
			obs += o[c][j] * delta2(c, j)
			exp += nc[c] * nc[j] * delta2(c, j)
		}
	}
	if exp == 0 {
		return math.NaN()
	}
	return 1 - (n-1)*obs/exp
}
