package stats

import (
	"fmt"

	"github.com/marginschool/margin/pkg/errs"
)

// Criterion is one rubric criterion as the class statistics need it: its
// level scale and its weight in the overall score. Weight is a whole number,
// 1..MaxWeight (percentages such as 20/30/50 work as they are).
type Criterion struct {
	Weight int   `json:"weight"`
	Scale  Scale `json:"scale"`
}

// ClassReport is the per-criterion and overall picture of one class.
type ClassReport struct {
	// Criteria has one Dist per criterion, in the order given.
	Criteria []Dist `json:"criteria"`
	// Students has one entry per student, in the order given.
	Students []StudentScore `json:"students"`
	// Complete counts the students scored on every criterion; only they enter
	// Mean and Bins. Incomplete counts the rest.
	Complete   int `json:"complete"`
	Incomplete int `json:"incomplete"`
	// Mean is the mean weighted share of the complete students,
	// Σ Earned / (Complete · Possible); nil when Complete is 0.
	Mean *float64 `json:"mean"`
	// Bins is the histogram of the complete students' shares.
	Bins []Bin `json:"bins"`
}

// StudentScore is one student's weighted score.
//
// Earned = Σ weight_c · points(level_c) and Possible = Σ weight_c ·
// maxPoints_c, both over the criteria the student was scored on. When
// Complete (scored on every criterion) Share = Earned/Possible and Bin is the
// histogram bin. Otherwise Share is nil and Bin is -1: a partly graded paper
// is not put on the class histogram, because a share of the criteria graded
// so far is not comparable with a full score. Earned/Possible still let a
// caller show "12 of 20 points so far".
type StudentScore struct {
	Complete bool     `json:"complete"`
	Missing  int      `json:"missing"` // criteria not scored
	Earned   int64    `json:"earned"`
	Possible int64    `json:"possible"`
	Share    *float64 `json:"share"`
	Bin      int      `json:"bin"`
}

// Bin is one fixed-width histogram bin of weighted shares. Bin i of B covers
// [i/B, (i+1)/B); the last bin also holds a share of exactly 1.
type Bin struct {
	From  float64 `json:"from"` // share, 0..1
	To    float64 `json:"to"`   // share, 0..1
	Label string  `json:"label"`
	Count int     `json:"count"`
	Share float64 `json:"share"` // Count/Complete, or 0 when Complete is 0
}

// MaxBins is the most histogram bins Class accepts.
const MaxBins = 100

// Class computes, for one class, the [Distribution] of every criterion and
// each student's weighted overall score, with a histogram of those scores in
// bins equal-width bins (10 gives 0–10%, 10–20%, …, 90–100%).
//
// levels[s][c] is student s's level on criterion c, or [Missing]. A student
// missing any criterion is skipped from Mean and Bins and counted in
// Incomplete (see [StudentScore]); their scored criteria still count in the
// per-criterion distributions.
//
// The share is Σ w·points / Σ w·maxPoints, so with points 1..4 the lowest
// possible share is 25%, not 0%. The bin is ⌊bins·Earned/Possible⌋ (capped at
// bins-1) computed in integers, so a student at exactly 70% is always in
// 70–80%, never pushed to 60–70% by rounding.
//
// It returns an errs.Invalid error naming the field ("criteria[c].weight",
// "criteria[c].scale.points[i]", "levels[s]", "levels[s][c]", "bins") if
// there are no criteria, a criterion or level breaks its rules, a student's
// row does not have one entry per criterion, or bins is not 1..MaxBins.
func Class(levels [][]int, criteria []Criterion, bins int) (ClassReport, error) {
	if len(criteria) == 0 {
		return ClassReport{}, errs.F(errs.Invalid, "criteria", "A class report needs at least one criterion.")
	}
	if bins < 1 || bins > MaxBins {
		return ClassReport{}, errs.F(errs.Invalid, "bins", "The histogram needs between 1 and %d bins; got %d.", MaxBins, bins)
	}
	var possible int64
	for c, cr := range criteria {
		if err := cr.Scale.validate(fmt.Sprintf("criteria[%d].scale.", c)); err != nil {
			return ClassReport{}, err
		}
		if cr.Weight < 1 || cr.Weight > MaxWeight {
			return ClassReport{}, errs.F(errs.Invalid, fmt.Sprintf("criteria[%d].weight", c), "A weight must be between 1 and %d; got %d.", MaxWeight, cr.Weight)
		}
		possible += int64(cr.Weight) * int64(cr.Scale.Points[cr.Scale.K()-1])
	}

	counts := make([][]int, len(criteria))
	unscored := make([]int, len(criteria))
	for c, cr := range criteria {
		counts[c] = make([]int, cr.Scale.K())
	}
	r := ClassReport{
		Students: make([]StudentScore, len(levels)),
		Bins:     makeBins(bins),
	}
	var sumEarned int64
	for s, row := range levels {
		if len(row) != len(criteria) {
			return ClassReport{}, errs.F(errs.Invalid, fmt.Sprintf("levels[%d]", s), "Each student needs one level per criterion (%d); got %d.", len(criteria), len(row))
		}
		st := StudentScore{Bin: -1}
		for c, v := range row {
			cr := criteria[c]
			if err := checkLevel(v, cr.Scale.K(), fmt.Sprintf("levels[%d][%d]", s, c)); err != nil {
				return ClassReport{}, err
			}
			if v == Missing {
				st.Missing++
				unscored[c]++
				continue
			}
			counts[c][v]++
			st.Earned += int64(cr.Weight) * int64(cr.Scale.Points[v])
			st.Possible += int64(cr.Weight) * int64(cr.Scale.Points[cr.Scale.K()-1])
		}
		if st.Missing == 0 {
			st.Complete = true
			share := ratio(st.Earned, st.Possible)
			st.Share = &share
			st.Bin = int(int64(bins) * st.Earned / possible)
			st.Bin = min(st.Bin, bins-1)
			r.Bins[st.Bin].Count++
			r.Complete++
			sumEarned += st.Earned
		} else {
			r.Incomplete++
		}
		r.Students[s] = st
	}

	r.Criteria = make([]Dist, len(criteria))
	for c, cr := range criteria {
		r.Criteria[c] = fromCounts(counts[c], unscored[c], cr.Scale)
	}
	if r.Complete > 0 {
		mean := ratio(sumEarned, int64(r.Complete)*possible)
		r.Mean = &mean
		for i := range r.Bins {
			r.Bins[i].Share = ratio(int64(r.Bins[i].Count), int64(r.Complete))
		}
	}
	return r, nil
}

// makeBins returns b empty equal-width bins over [0, 1] with percent labels
// such as "70–80%" (one decimal where 100/b is not whole, e.g. "33.3–66.7%").
func makeBins(b int) []Bin {
	pct := func(i int) string {
		if 100*i%b == 0 {
			return fmt.Sprintf("%d", 100*i/b)
		}
		return fmt.Sprintf("%.1f", 100*float64(i)/float64(b))
	}
	out := make([]Bin, b)
	for i := range out {
		out[i] = Bin{
			From:  float64(i) / float64(b),
			To:    float64(i+1) / float64(b),
			Label: pct(i) + "–" + pct(i+1) + "%",
		}
	}
	return out
}
