// Package stats computes class statistics and inter-rater reliability on
// ordinal rubric levels. Every function is pure: no I/O, no clock, no state.
//
// A level is an index 0..K-1 into a [Scale], lowest first; [Missing] marks a
// criterion that has not been scored. Counts, sums and the coefficients'
// numerators and denominators are kept as integers, so every figure is an
// exact fraction until the one final division, which rounds it to the nearest
// float64. Results are JSON-friendly: no NaN or Inf is ever produced, and a
// figure that does not exist (the mean of nobody, kappa when nobody varies) is
// a nil pointer or a Defined=false flag with a human reason, never a zero.
//
// gonum (gonum.org/v1/gonum/stat, v0.17.0) has no Cohen's kappa, weighted or
// not, and no Krippendorff's alpha, so both are written here. Its Mean,
// Quantile and Histogram do exist but work in float64 with half-open bins
// (Histogram rejects a value equal to the top divider, i.e. a 100% score) and
// give only one median; the integer versions here are exact and are
// cross-checked against gonum in the tests.
package stats

import (
	"fmt"

	"github.com/marginschool/margin/pkg/errs"
)

// Missing marks a level that was not given: a criterion nobody has scored yet,
// or a unit a coder did not rate. Functions skip it explicitly and say how many
// they skipped.
const Missing = -1

// Limits on scales and weights. They keep every intermediate sum well inside
// int64 for any class size a school can have.
const (
	MaxLevels = 100  // most levels a scale may have
	MaxPoints = 1000 // largest points value a level may carry
	MaxWeight = 1000 // largest weight a criterion may carry
)

// Scale is an ordered rubric level scale, lowest level first, for example
// Emerging < Developing < Proficient < Advanced with points 1, 2, 3, 4.
//
// Points must be whole numbers, 0..MaxPoints, strictly ascending, with
// 2..MaxLevels levels; whole points are what lets every share and histogram
// bin be decided exactly. Labels are optional; when given there must be one
// per level.
type Scale struct {
	Labels []string `json:"labels,omitempty"`
	Points []int    `json:"points"`
}

// K is the number of levels on the scale.
func (s Scale) K() int { return len(s.Points) }

// Label is the name of level i: Labels[i] when labels are given, otherwise
// "Level i+1" (levels count from 1 for people).
func (s Scale) Label(i int) string {
	if i >= 0 && i < len(s.Labels) {
		return s.Labels[i]
	}
	return fmt.Sprintf("Level %d", i+1)
}

// Validate returns an errs.Invalid error, with field set relative to the
// scale (e.g. "points[2]"), if the scale breaks the rules on [Scale].
func (s Scale) Validate() error { return s.validate("") }

// validate is Validate with field names prefixed by prefix.
func (s Scale) validate(prefix string) error {
	k := len(s.Points)
	if k < 2 || k > MaxLevels {
		return errs.F(errs.Invalid, prefix+"points", "A scale needs between 2 and %d levels; this one has %d.", MaxLevels, k)
	}
	for i, p := range s.Points {
		if p < 0 || p > MaxPoints {
			return errs.F(errs.Invalid, fmt.Sprintf("%spoints[%d]", prefix, i), "Points must be between 0 and %d; got %d.", MaxPoints, p)
		}
		if i > 0 && p <= s.Points[i-1] {
			return errs.F(errs.Invalid, fmt.Sprintf("%spoints[%d]", prefix, i), "Points must rise from each level to the next; %d follows %d.", p, s.Points[i-1])
		}
	}
	if len(s.Labels) != 0 && len(s.Labels) != k {
		return errs.F(errs.Invalid, prefix+"labels", "A scale with %d levels needs %d labels or none; got %d.", k, k, len(s.Labels))
	}
	return nil
}

// checkLevel reports whether v is Missing or a level index below k, as an
// errs.Invalid error naming field.
func checkLevel(v, k int, field string) error {
	if v == Missing || (v >= 0 && v < k) {
		return nil
	}
	return errs.F(errs.Invalid, field, "Level %d is not on the %d-level scale (use 0..%d, or %d for not scored).", v, k, k-1, Missing)
}

// ratio is num/den rounded once to the nearest float64. den must not be 0.
func ratio(num, den int64) float64 {
	// Both fit a float64 exactly below 2^53, and then one IEEE division is
	// correctly rounded; every caller stays far below that.
	return float64(num) / float64(den)
}

// plural is "1 pair" or "3 pairs".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
