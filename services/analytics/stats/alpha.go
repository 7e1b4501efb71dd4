package stats

import (
	"fmt"
	"math/big"

	"github.com/marginschool/margin/pkg/errs"
)

// Metric is the level of measurement Krippendorff's alpha assumes, which
// decides how much a disagreement between two levels weighs.
type Metric string

// The metrics Alpha supports. δ²(c,k) is the squared difference between
// levels c and k, with n_g the number of pairable values at level g:
//
//	Nominal:  δ² = 0 if c = k, else 1 (any disagreement is total)
//	Ordinal:  δ² = (Σ_{g=c..k} n_g − (n_c + n_k)/2)² (distance in ranks, from the data)
//	Interval: δ² = (c − k)² (levels equally spaced)
//
// Ordinal is the one for rubric levels; Nominal and Interval are here because
// they are one line each and let the tests check the code against all three
// values Krippendorff publishes for his example.
const (
	Nominal  Metric = "nominal"
	Ordinal  Metric = "ordinal"
	Interval Metric = "interval"
)

// Reliability is Krippendorff's alpha for a coders × units matrix.
type Reliability struct {
	Metric Metric `json:"metric"`
	Coders int    `json:"coders"`
	Units  int    `json:"units"`
	// PairableUnits counts units with at least two values; the others carry
	// no information about agreement and are left out. Values counts the
	// values in pairable units (Krippendorff's n). Alpha is Stable when
	// PairableUnits is at least MinStablePairs.
	PairableUnits int         `json:"pairable_units"`
	Values        int         `json:"values"`
	Alpha         Coefficient `json:"alpha"`
}

// Alpha computes Krippendorff's alpha for reliability data with any number of
// coders and missing values: data[i][u] is the level (0..k-1) coder i gave
// unit u, or [Missing].
//
// Following Krippendorff, "Computing Krippendorff's Alpha-Reliability"
// (2011): with m_u the number of values in unit u, units with m_u < 2 are
// dropped; the coincidence o[c][k] = Σ_u (number of ordered pairs of values
// (c, k) from different coders in u) / (m_u − 1); n_c = Σ_k o[c][k]; n =
// Σ n_c; and
//
//	α = 1 − D_o/D_e = 1 − (n − 1) · Σ o[c][k]·δ²(c,k) / Σ n_c·n_k·δ²(c,k)
//
// with δ² from [Metric]. The sums are kept as exact integers and fractions
// and divided once. gonum has no Krippendorff's alpha, so it is written here.
//
// Alpha is undefined (Defined false, with a reason) when no unit has two
// values, or when every pairable value is the same level, since then D_e is 0.
//
// It returns an errs.Invalid error if there are fewer than two coders, the
// coders' rows differ in length (field "data[i]"), k is not 2..MaxLevels, a
// value is neither Missing nor 0..k-1 (field "data[i][u]"), or metric is not
// one of Nominal, Ordinal, Interval.
func Alpha(data [][]int, k int, metric Metric) (Reliability, error) {
	switch metric {
	case Nominal, Ordinal, Interval:
	default:
		return Reliability{}, errs.F(errs.Invalid, "metric", "Unknown metric %q: use nominal, ordinal or interval.", string(metric))
	}
	if k < 2 || k > MaxLevels {
		return Reliability{}, errs.F(errs.Invalid, "k", "A scale needs between 2 and %d levels; got %d.", MaxLevels, k)
	}
	if len(data) < 2 {
		return Reliability{}, errs.F(errs.Invalid, "data", "Reliability needs at least two coders; got %d.", len(data))
	}
	units := len(data[0])
	for i, row := range data {
		if len(row) != units {
			return Reliability{}, errs.F(errs.Invalid, fmt.Sprintf("data[%d]", i), "Every coder needs one entry per unit (%d, Missing where not rated); got %d.", units, len(row))
		}
		for u, v := range row {
			if err := checkLevel(v, k, fmt.Sprintf("data[%d][%d]", i, u)); err != nil {
				return Reliability{}, err
			}
		}
	}

	r := Reliability{Metric: metric, Coders: len(data), Units: units}
	counts := make([]uint64, k)
	var groups []coincidences // one per unit size m that occurs
	values := make([]int, 0, len(data))
	for u := range units {
		values = values[:0]
		for i := range data {
			if v := data[i][u]; v != Missing {
				values = append(values, v)
			}
		}
		m := len(values)
		if m < 2 {
			continue
		}
		r.PairableUnits++
		r.Values += m
		g := group(&groups, m, k)
		for p, vp := range values {
			counts[vp]++
			for q, vq := range values {
				if p != q && vp != vq { // equal values have δ² = 0
					g.c[vp*k+vq]++
				}
			}
		}
	}
	if r.PairableUnits == 0 {
		r.Alpha = undefined("No unit was rated by two or more coders, so there is no agreement to measure.")
		return r, nil
	}
	r.Alpha = alphaCoefficient(metric, counts, groups, r.PairableUnits, "unit rated by two or more coders", "units rated by two or more coders")
	return r, nil
}

// coincidences holds, for all units with m pairable values, the count of
// ordered value pairs (c, k) from different coders, as c[c*k+k]. Dividing by
// m−1 gives those units' share of Krippendorff's coincidence matrix.
type coincidences struct {
	m int
	c []uint64
}

// group returns the coincidences for unit size m, adding it if new.
func group(groups *[]coincidences, m, k int) *coincidences {
	for i := range *groups {
		if (*groups)[i].m == m {
			return &(*groups)[i]
		}
	}
	*groups = append(*groups, coincidences{m: m, c: make([]uint64, k*k)})
	return &(*groups)[len(*groups)-1]
}

// alphaCoefficient is α from the pairable values per level (counts) and the
// coincidences per unit size, from units (at least 1) pairable units named
// one/many in reasons. See Alpha for the formula.
func alphaCoefficient(metric Metric, counts []uint64, groups []coincidences, units int, one, many string) Coefficient {
	k := len(counts)
	d := delta4(metric, counts)
	var n uint64
	for _, c := range counts {
		n += c
	}
	var expected u128 // Σ n_c·n_k·4δ²
	for c := range k {
		for j := range k {
			expected.addMul(counts[c]*counts[j], d[c*k+j])
		}
	}
	if expected.isZero() {
		return undefined(fmt.Sprintf("All %d ratings are the same level, so no disagreement is expected by chance and alpha is undefined.", n))
	}
	observed := new(big.Rat) // Σ o[c][k]·4δ²
	for _, g := range groups {
		var s u128
		for i, c := range g.c {
			s.addMul(c, d[i])
		}
		observed.Add(observed, new(big.Rat).SetFrac(s.big(), big.NewInt(int64(g.m-1))))
	}
	// α = 1 − (n−1)·observed/expected
	loss := observed.Mul(observed, new(big.Rat).SetFrac(new(big.Int).SetUint64(n-1), expected.big()))
	return defined(loss.Sub(big.NewRat(1, 1), loss), units, one, many, "alpha")
}

// delta4 is the k×k matrix of 4·δ²(c,k) for metric, as integers (the ordinal
// δ has halves); the factor 4 cancels in α.
func delta4(metric Metric, counts []uint64) []uint64 {
	k := len(counts)
	d := make([]uint64, k*k)
	for c := range k {
		var between uint64 // Σ_{g=c..j} n_g
		for j := c; j < k; j++ {
			between += counts[j]
			var v uint64
			switch metric {
			case Nominal:
				v = 4
			case Ordinal:
				x := 2*between - counts[c] - counts[j]
				v = x * x
			case Interval:
				v = uint64(4 * (j - c) * (j - c))
			}
			if j == c {
				v = 0
			}
			d[c*k+j], d[j*k+c] = v, v
		}
	}
	return d
}
