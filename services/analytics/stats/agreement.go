package stats

import (
	"fmt"
	"math/big"
	"math/bits"

	"github.com/marginschool/margin/pkg/errs"
)

// MinStablePairs is the fewest pairs (for alpha: units rated by at least two
// coders) at which a kappa or alpha is called stable. Below it the figure is
// still computed when defined, but swings so much with one rating that it
// should not be shown to teachers as a finding.
const MinStablePairs = 10

// Coefficient is a chance-corrected agreement figure that may not exist.
//
// Defined is false, Value nil and Reason says why when the figure does not
// exist: no pairs, or every rating the same level, so that the disagreement
// expected by chance is 0 and the ratio is 0/0. When Defined, Value holds the
// exact ratio rounded once to the nearest float64, and Stable says whether
// there were at least MinStablePairs pairs; when it is not stable, Reason says
// so ("Only 2 pairs: too few for a stable kappa."). Show Value to teachers
// only when Stable.
type Coefficient struct {
	Defined bool     `json:"defined"`
	Value   *float64 `json:"value"`
	Stable  bool     `json:"stable"`
	Reason  string   `json:"reason,omitempty"`
}

// Agreement is how far two raters agree on one criterion.
type Agreement struct {
	// Pairs counts the students both raters scored; Unpaired those where
	// either rating is Missing. Unpaired students enter no figure.
	Pairs    int `json:"pairs"`
	Unpaired int `json:"unpaired"`
	// Exact is the share of pairs with the same level, Adjacent the share
	// within one level (|a-b| ≤ 1). Both are nil when Pairs is 0.
	Exact    *float64 `json:"exact"`
	Adjacent *float64 `json:"adjacent"`
	// Kappa is Cohen's kappa with quadratic weights; Alpha is Krippendorff's
	// alpha with the ordinal metric. See Agree for the formulas.
	Kappa Coefficient `json:"kappa"`
	Alpha Coefficient `json:"alpha"`
}

// Agree compares two raters who scored the same students on one criterion
// with a k-level scale: a[i] and b[i] are the levels the two raters gave
// student i, or [Missing]. A student is used only when both rated them.
//
// Kappa is Cohen's weighted kappa with quadratic weights on level indexes,
// from the k×k table O of pairs with row totals r and column totals c:
//
//	κ = 1 − n·Σ (i−j)²·O[i][j] / Σ (i−j)²·r[i]·c[j]
//
// (the usual 1 − (i−j)²/(k−1)² agreement weights give the same value, since
// the (k−1)² cancels). It equals scikit-learn's cohen_kappa_score(a, b,
// weights="quadratic", labels=range(k)); note the labels: without them
// scikit-learn spaces only the levels that occur, which changes the value
// when a level in between is unused.
//
// Alpha is Krippendorff's alpha with the ordinal metric, as [Alpha] computes
// it for two coders; with two coders and no missing data the units are the
// pairs.
//
// Both are computed exactly in integers and divided once. Neither exists in
// gonum, so both are written here.
//
// It returns an errs.Invalid error if k is not 2..MaxLevels, a and b differ in
// length, or a rating is neither Missing nor 0..k-1 (field "a[i]" or "b[i]").
func Agree(a, b []int, k int) (Agreement, error) {
	if k < 2 || k > MaxLevels {
		return Agreement{}, errs.F(errs.Invalid, "k", "A scale needs between 2 and %d levels; got %d.", MaxLevels, k)
	}
	if len(a) != len(b) {
		return Agreement{}, errs.F(errs.Invalid, "b", "Both raters must rate the same students: %d ratings against %d.", len(a), len(b))
	}
	table := make([]uint64, k*k) // table[i*k+j]: pairs rated i by a and j by b
	var res Agreement
	var exact, adjacent int64
	for i := range a {
		if err := checkLevel(a[i], k, fmt.Sprintf("a[%d]", i)); err != nil {
			return Agreement{}, err
		}
		if err := checkLevel(b[i], k, fmt.Sprintf("b[%d]", i)); err != nil {
			return Agreement{}, err
		}
		if a[i] == Missing || b[i] == Missing {
			res.Unpaired++
			continue
		}
		res.Pairs++
		table[a[i]*k+b[i]]++
		switch d := a[i] - b[i]; {
		case d == 0:
			exact++
			adjacent++
		case d == 1 || d == -1:
			adjacent++
		}
	}
	if res.Pairs > 0 {
		e, adj := ratio(exact, int64(res.Pairs)), ratio(adjacent, int64(res.Pairs))
		res.Exact, res.Adjacent = &e, &adj
	}
	if res.Pairs == 0 {
		none := undefined("No pairs: nobody has been rated by both raters yet.")
		res.Kappa, res.Alpha = none, none
		return res, nil
	}
	res.Kappa = quadraticKappa(table, k, res.Pairs)

	// Two coders: each pair (i, j) is one unit with m = 2 whose ordered
	// value pairs are (i, j) and (j, i), so the coincidences come straight
	// from the table.
	counts := make([]uint64, k)
	coinc := make([]uint64, k*k)
	for i := range k {
		for j := range k {
			o := table[i*k+j]
			counts[i] += o
			counts[j] += o
			coinc[i*k+j] += o
			coinc[j*k+i] += o
		}
	}
	res.Alpha = alphaCoefficient(Ordinal, counts, []coincidences{{m: 2, c: coinc}}, res.Pairs, "pair", "pairs")
	return res, nil
}

// quadraticKappa is κ from a k×k table of n ≥ 1 pairs; see Agree.
func quadraticKappa(table []uint64, k, n int) Coefficient {
	rows, cols := make([]uint64, k), make([]uint64, k)
	for i := range k {
		for j := range k {
			rows[i] += table[i*k+j]
			cols[j] += table[i*k+j]
		}
	}
	var observed, expected u128
	for i := range k {
		for j := range k {
			w := uint64((i - j) * (i - j))
			observed.addMul(w, table[i*k+j])
			expected.addMul(w, rows[i]*cols[j])
		}
	}
	if expected.isZero() {
		return undefined(fmt.Sprintf("Both raters gave all %s the same level, so no disagreement is expected by chance and kappa is undefined.", plural(n, "student", "students")))
	}
	// κ = (expected − n·observed) / expected
	num := new(big.Int).Mul(big.NewInt(int64(n)), observed.big())
	num.Sub(expected.big(), num)
	return defined(new(big.Rat).SetFrac(num, expected.big()), n, "pair", "pairs", "kappa")
}

// undefined is a Coefficient that does not exist, with the reason.
func undefined(reason string) Coefficient {
	return Coefficient{Reason: reason}
}

// defined is a Coefficient with exact value v from n pairs or units.
func defined(v *big.Rat, n int, one, many, name string) Coefficient {
	f, _ := v.Float64() // nearest float64; |v| is small, so it is finite
	c := Coefficient{Defined: true, Value: &f, Stable: n >= MinStablePairs}
	if !c.Stable {
		c.Reason = fmt.Sprintf("Only %s: too few for a stable %s.", plural(n, one, many), name)
	}
	return c
}

// u128 is an unsigned 128-bit accumulator for exact sums of non-negative
// products, which can outgrow int64 (n⁴ terms in alpha) long before they
// outgrow this.
type u128 struct{ hi, lo uint64 }

// addMul adds a·b.
func (u *u128) addMul(a, b uint64) {
	hi, lo := bits.Mul64(a, b)
	var carry uint64
	u.lo, carry = bits.Add64(u.lo, lo, 0)
	u.hi += hi + carry
}

func (u u128) isZero() bool { return u.hi == 0 && u.lo == 0 }

func (u u128) big() *big.Int {
	v := new(big.Int).SetUint64(u.hi)
	v.Lsh(v, 64)
	return v.Or(v, new(big.Int).SetUint64(u.lo))
}
