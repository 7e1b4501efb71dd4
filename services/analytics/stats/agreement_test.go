package stats

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat"
)

// TestAgreeScikitLearn is the quadratic-weighted case from scikit-learn's own
// test suite (sklearn/metrics/tests/test_classification.py,
// test_cohen_kappa), which asserts 0.9541 to four decimals:
//
//	y1 = [0]*46 + [1]*44 + [2]*10
//	y2 = [0]*50 + [1]*40 + [2]*10
//
// By hand: pairs are (0,0)×46, (1,0)×4, (1,1)×40, (2,2)×10, so n = 100 and
// Σ(i−j)²·O = 4. Rows r = (46, 44, 10), columns c = (50, 40, 10):
// Σ(i−j)²·r·c = 46·40 + 4·46·10 + 44·50 + 44·10 + 4·10·50 + 10·40 = 8720.
// κ = 1 − 100·4/8720 = 1 − 5/109 = 104/109 = 0.954128…
func TestAgreeScikitLearn(t *testing.T) {
	var y1, y2 []int
	y1 = appendN(appendN(appendN(y1, 0, 46), 1, 44), 2, 10)
	y2 = appendN(appendN(appendN(y2, 0, 50), 1, 40), 2, 10)
	ag, err := Agree(y1, y2, 3)
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, "kappa", ag.Kappa, 104.0/109)
	if math.Abs(*ag.Kappa.Value-0.9541) > 0.00005 {
		t.Errorf("kappa %v does not round to scikit-learn's 0.9541", *ag.Kappa.Value)
	}
	if !ag.Kappa.Stable || ag.Kappa.Reason != "" || ag.Pairs != 100 {
		t.Errorf("kappa %+v, pairs %d", ag.Kappa, ag.Pairs)
	}
	if *ag.Exact != 0.96 || *ag.Adjacent != 1 {
		t.Errorf("exact %v, adjacent %v; want 0.96, 1", *ag.Exact, *ag.Adjacent)
	}
	// alpha from Agree's pair table must equal the general matrix code.
	r, _ := Alpha([][]int{y1, y2}, 3, Ordinal)
	wantValue(t, "alpha", ag.Alpha, *r.Alpha.Value)
	if ref := refAlpha([][]int{y1, y2}, 3, Ordinal); math.Abs(*ag.Alpha.Value-ref) > 1e-12 {
		t.Errorf("alpha %v; reference %v", *ag.Alpha.Value, ref)
	}
}

// TestAgreeMapleEssayTools reproduces the two documented examples of Maple's
// EssayTools[QuadraticWeightedKappa] (scores 1..10, so k = 10 and level =
// score − 1): 0.758620689655172 (= 22/29) and 0.438095238095238 (= 46/105).
// Nine pairs are below MinStablePairs, so both are flagged unstable.
func TestAgreeMapleEssayTools(t *testing.T) {
	a := []int{9, 7, 8, 7, 6, 8, 3, 5, 10}
	tests := []struct {
		b         []int
		published float64
		exact     float64
	}{
		{[]int{8, 8, 6, 6, 7, 6, 1, 4, 8}, 0.758620689655172, 22.0 / 29},
		{[]int{3, 5, 6, 6, 7, 6, 1, 4, 8}, 0.438095238095238, 46.0 / 105},
	}
	for _, tt := range tests {
		ag, err := Agree(minus1(a), minus1(tt.b), 10)
		if err != nil {
			t.Fatal(err)
		}
		wantValue(t, "kappa", ag.Kappa, tt.exact)
		if math.Abs(*ag.Kappa.Value-tt.published) > 1e-14 {
			t.Errorf("kappa %v; Maple gives %v", *ag.Kappa.Value, tt.published)
		}
		if ag.Kappa.Stable || ag.Kappa.Reason != "Only 9 pairs: too few for a stable kappa." {
			t.Errorf("kappa %+v; want unstable", ag.Kappa)
		}
		if ag.Alpha.Stable || ag.Alpha.Reason != "Only 9 pairs: too few for a stable alpha." {
			t.Errorf("alpha %+v; want unstable", ag.Alpha)
		}
	}
}

// TestAgreeByHand are small classes worked out on paper.
func TestAgreeByHand(t *testing.T) {
	tests := []struct {
		name             string
		a, b             []int
		k                int
		pairs, unpaired  int
		exact, adjacent  *float64
		kappa, alpha     *float64 // nil: undefined
		stable           bool
		kappaWhy, alpWhy string
	}{
		{
			// Pairs (0,0) (1,2) (2,2) (2,1); n = 4.
			// Kappa: Σ(i−j)²·O = 0+1+0+1 = 2. r = c = (1, 1, 2).
			//   Σ(i−j)²·r·c = 1·1·1 + 4·1·2 + 1·1·1 + 1·1·2 + 4·2·1 + 1·2·1 = 22.
			//   κ = 1 − 4·2/22 = 7/11.
			// Alpha (ordinal): 8 values, n_0 = 2, n_1 = 2, n_2 = 4.
			//   δ²(0,1) = (2+2 − 2)² = 4, δ²(1,2) = (2+4 − 3)² = 9,
			//   δ²(0,2) = (2+2+4 − 3)² = 25.
			//   Σ n_c·n_k·δ² = 2·(2·2·4 + 2·4·9 + 2·4·25) = 576.
			//   Observed: units (1,2) and (2,1) each give o(1,2) = o(2,1) = 1,
			//   so Σ o·δ² = 4·9 = 36. α = 1 − 7·36/576 = 9/16.
			name: "four pairs", a: []int{0, 1, 2, 2}, b: []int{0, 2, 2, 1}, k: 3,
			pairs: 4, exact: ptr(0.5), adjacent: ptr(1.0),
			kappa: ptr(7.0 / 11), alpha: ptr(9.0 / 16),
			kappaWhy: "Only 4 pairs: too few for a stable kappa.",
			alpWhy:   "Only 4 pairs: too few for a stable alpha.",
		},
		{
			// Pairs (0,0) (1,2) (2,0) (3,3) (3,2): differences 0, 1, 2, 0, 1.
			// Kappa: Σ(i−j)²·O = 0+1+4+0+1 = 6; r = (1,1,1,2), c = (2,0,2,1);
			//   Σ(i−j)²·r·c = r0(4·c2 + 9·c3) + r1(1·c0 + 1·c2 + 4·c3)
			//     + r2(4·c0 + 1·c3) + r3(9·c0 + 1·c2) = 17 + 8 + 9 + 2·20 = 74.
			//   κ = 1 − 5·6/74 = 22/37.
			// Alpha (ordinal): 10 values, n = (3, 1, 3, 3).
			//   δ(c,k) = Σ_{g=c..k} n_g − (n_c+n_k)/2: δ(0,1) = 2, δ(0,2) = 4,
			//   δ(0,3) = 7, δ(1,2) = 2, δ(1,3) = 5, δ(2,3) = 3.
			//   Σ n_c·n_k·δ² = 2·(3·1·4 + 3·3·16 + 3·3·49 + 1·3·4 + 1·3·25 + 3·3·9) = 1530.
			//   Σ o·δ² = 2·(δ²(1,2) + δ²(2,0) + δ²(3,2)) = 2·(4 + 16 + 9) = 58.
			//   α = 1 − 9·58/1530 = 56/85.
			name: "shares within one level", a: []int{0, 1, 2, 3, 3}, b: []int{0, 2, 0, 3, 2}, k: 4,
			pairs: 5, exact: ptr(0.4), adjacent: ptr(0.8),
			kappa: ptr(22.0 / 37), alpha: ptr(56.0 / 85),
			kappaWhy: "Only 5 pairs: too few for a stable kappa.",
			alpWhy:   "Only 5 pairs: too few for a stable alpha.",
		},
		{
			// Everyone Proficient from both raters: expected disagreement 0.
			name: "all the same level", a: repeat(2, 12), b: repeat(2, 12), k: 4,
			pairs: 12, exact: ptr(1.0), adjacent: ptr(1.0),
			kappaWhy: "Both raters gave all 12 students the same level, so no disagreement is expected by chance and kappa is undefined.",
			alpWhy:   "All 24 ratings are the same level, so no disagreement is expected by chance and alpha is undefined.",
		},
		{
			// A always one level below B. Kappa: O = 12 at (1,2), r1 = 12,
			// c2 = 12: κ = 1 − 12·12/(12·12) = 0.
			// Alpha: n_1 = n_2 = 12, δ²(1,2) = (24 − 12)² = 144,
			// Σ n·n·δ² = 2·144·144, Σ o·δ² = 24·144, α = 1 − 23·24/288 = −11/12.
			name: "systematic one-level gap", a: repeat(1, 12), b: repeat(2, 12), k: 4,
			pairs: 12, exact: ptr(0.0), adjacent: ptr(1.0),
			kappa: ptr(0.0), alpha: ptr(-11.0 / 12), stable: true,
		},
		{
			// One pair: κ = 1 − 1·1/1 = 0; α: n_1 = n_2 = 1, δ² = 1,
			// α = 1 − 1·2/2 = 0. Defined, but one pair says nothing.
			name: "one pair", a: []int{1}, b: []int{2}, k: 4,
			pairs: 1, exact: ptr(0.0), adjacent: ptr(1.0),
			kappa: ptr(0.0), alpha: ptr(0.0),
			kappaWhy: "Only 1 pair: too few for a stable kappa.",
			alpWhy:   "Only 1 pair: too few for a stable alpha.",
		},
		{
			name: "one pair, same level", a: []int{1}, b: []int{1}, k: 4,
			pairs: 1, exact: ptr(1.0), adjacent: ptr(1.0),
			kappaWhy: "Both raters gave all 1 student the same level, so no disagreement is expected by chance and kappa is undefined.",
			alpWhy:   "All 2 ratings are the same level, so no disagreement is expected by chance and alpha is undefined.",
		},
		{
			name: "no pairs", k: 4,
			kappaWhy: "No pairs: nobody has been rated by both raters yet.",
			alpWhy:   "No pairs: nobody has been rated by both raters yet.",
		},
		{
			name: "only half-rated students", a: []int{1, M, M}, b: []int{M, 2, M}, k: 4,
			unpaired: 3,
			kappaWhy: "No pairs: nobody has been rated by both raters yet.",
			alpWhy:   "No pairs: nobody has been rated by both raters yet.",
		},
		{
			// Missing on either side drops the student; what is left is the
			// "four pairs" case.
			name: "missing ratings skipped", a: []int{0, M, 1, 2, 3, 2}, b: []int{0, 1, 2, 2, M, 1}, k: 4,
			pairs: 4, unpaired: 2, exact: ptr(0.5), adjacent: ptr(1.0),
			kappa: ptr(7.0 / 11), alpha: ptr(9.0 / 16),
			kappaWhy: "Only 4 pairs: too few for a stable kappa.",
			alpWhy:   "Only 4 pairs: too few for a stable alpha.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ag, err := Agree(tt.a, tt.b, tt.k)
			if err != nil {
				t.Fatal(err)
			}
			if ag.Pairs != tt.pairs || ag.Unpaired != tt.unpaired {
				t.Errorf("pairs, unpaired = %d, %d; want %d, %d", ag.Pairs, ag.Unpaired, tt.pairs, tt.unpaired)
			}
			if !eqPtr(ag.Exact, tt.exact) || !eqPtr(ag.Adjacent, tt.adjacent) {
				t.Errorf("exact, adjacent = %v, %v; want %v, %v", deref(ag.Exact), deref(ag.Adjacent), deref(tt.exact), deref(tt.adjacent))
			}
			checkCoef(t, "kappa", ag.Kappa, tt.kappa, tt.stable, tt.kappaWhy)
			checkCoef(t, "alpha", ag.Alpha, tt.alpha, tt.stable, tt.alpWhy)
			// Swapping the raters changes nothing.
			sw, _ := Agree(tt.b, tt.a, tt.k)
			if mustJSON(t, sw) != mustJSON(t, ag) {
				t.Errorf("swapped raters: %s\nvs %s", mustJSON(t, sw), mustJSON(t, ag))
			}
		})
	}
}

// TestKappaAgainstGonum uses the identity that quadratic weighted kappa on
// equally spaced levels equals 2·cov(a,b) / (var(a) + var(b) + (ā − b̄)²) with
// population moments (Lin's concordance correlation), computed with gonum.
func TestKappaAgainstGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		n, k := 2+rng.IntN(200), 2+rng.IntN(6)
		a, b := correlated(rng, n, k)
		ag, err := Agree(a, b, k)
		if err != nil {
			t.Fatal(err)
		}
		x, y := floats(a), floats(b)
		mx, vx := stat.PopMeanVariance(x, nil)
		my, vy := stat.PopMeanVariance(y, nil)
		cov := stat.Covariance(x, y, nil) * float64(n-1) / float64(n)
		den := vx + vy + (mx-my)*(mx-my)
		if den == 0 {
			if ag.Kappa.Defined {
				t.Fatalf("kappa defined (%v) with no variation: %v %v", *ag.Kappa.Value, a, b)
			}
			continue
		}
		if want := 2 * cov / den; math.Abs(*ag.Kappa.Value-want) > 1e-9 {
			t.Fatalf("kappa %v, gonum concordance %v for %v %v", *ag.Kappa.Value, want, a, b)
		}
		if want := refAlpha([][]int{a, b}, k, Ordinal); math.Abs(*ag.Alpha.Value-want) > 1e-9 {
			t.Fatalf("alpha %v, reference %v for %v %v", *ag.Alpha.Value, want, a, b)
		}
	}
}

func TestAgreeJSONHasNoNaN(t *testing.T) {
	ag, _ := Agree(repeat(2, 3), repeat(2, 3), 4)
	s := mustJSON(t, ag)
	if strings.Contains(s, "NaN") || !strings.Contains(s, `"kappa":{"defined":false,"value":null,"stable":false,"reason":`) {
		t.Errorf("JSON %s", s)
	}
}

func TestAgreeErrors(t *testing.T) {
	tests := []struct {
		name  string
		a, b  []int
		k     int
		field string
	}{
		{"one-level scale", nil, nil, 1, "k"},
		{"lengths differ", []int{1}, []int{1, 2}, 4, "b"},
		{"a off scale", []int{0, 4}, []int{0, 1}, 4, "a[1]"},
		{"b off scale", []int{0, 1}, []int{-3, 1}, 4, "b[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Agree(tt.a, tt.b, tt.k)
			assertInvalid(t, err, tt.field)
		})
	}
}

func checkCoef(t *testing.T, name string, c Coefficient, want *float64, stable bool, reason string) {
	t.Helper()
	if want == nil {
		if c.Defined || c.Value != nil || c.Stable {
			t.Errorf("%s = %+v; want undefined", name, c)
		}
	} else {
		wantValue(t, name, c, *want)
	}
	if c.Stable != stable || c.Reason != reason {
		t.Errorf("%s stable %v reason %q; want %v %q", name, c.Stable, c.Reason, stable, reason)
	}
}

func wantValue(t *testing.T, name string, c Coefficient, want float64) {
	t.Helper()
	if !c.Defined || c.Value == nil || *c.Value != want {
		t.Errorf("%s = %+v (%v); want %v", name, c, deref(c.Value), want)
	}
}

// correlated returns n pairs on k levels where b mostly follows a, with some
// students left unrated by one rater.
func correlated(rng *rand.Rand, n, k int) (a, b []int) {
	a, b = make([]int, n), make([]int, n)
	for i := range n {
		a[i] = rng.IntN(k)
		b[i] = min(max(a[i]+rng.IntN(3)-1, 0), k-1)
		if rng.IntN(4) == 0 {
			b[i] = rng.IntN(k)
		}
	}
	return a, b
}

func appendN(s []int, v, n int) []int {
	for range n {
		s = append(s, v)
	}
	return s
}

func repeat(v, n int) []int { return appendN(nil, v, n) }

func minus1(s []int) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[i] = v - 1
	}
	return out
}

func floats(s []int) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
