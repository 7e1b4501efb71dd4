package stats

import "fmt"

// Dist is how a class spread over the levels of one criterion.
type Dist struct {
	// N is the number of students with a level; Missing entries are not
	// counted here but in Unscored.
	N        int `json:"n"`
	Unscored int `json:"unscored"`
	// Levels has one entry per scale level, lowest first, including levels
	// nobody reached.
	Levels []LevelCount `json:"levels"`
	// Mean and Median are nil when N is 0: a criterion nobody has scored has
	// no average, and reporting 0 would read as "everyone failed".
	Mean   *Mean   `json:"mean"`
	Median *Median `json:"median"`
}

// LevelCount is the number and share of students at one level.
type LevelCount struct {
	Level  int     `json:"level"` // index on the scale
	Label  string  `json:"label"`
	Points int     `json:"points"`
	Count  int     `json:"count"`
	Share  float64 `json:"share"` // Count/N, or 0 when N is 0
}

// Mean is the average level, both in points and as a level index:
// Points = Σ count_i·points_i / N and Index = Σ count_i·i / N.
type Mean struct {
	Points float64 `json:"points"`
	Index  float64 `json:"index"`
}

// Median is the middle of the ordinal distribution. It is always a level
// that exists on the scale, never an average of two levels.
//
// With the N levels sorted as x(1) ≤ … ≤ x(N), Lower = x(⌈N/2⌉) and
// Upper = x(⌊N/2⌋+1). For odd N both are the middle value. For even N they
// are the two middle values; when they differ Between is true and Label reads
// "Developing–Proficient" (lower, en dash, upper). In cumulative terms Lower
// is the first level whose cumulative count reaches N/2 and Upper the first
// whose cumulative count exceeds N/2.
type Median struct {
	Lower   int    `json:"lower"`
	Upper   int    `json:"upper"`
	Between bool   `json:"between"`
	Label   string `json:"label"`
}

// Distribution counts the students at each level of scale and gives the share
// at each level, the mean and the median (see [Median] for the convention).
// levels holds one level index per student, or [Missing] for a student not
// yet scored on this criterion; Missing entries are counted in Unscored and
// otherwise ignored. With no scored student N is 0, every share is 0 and
// Mean and Median are nil.
//
// It returns an errs.Invalid error if the scale is invalid (see
// [Scale.Validate]) or a level is neither Missing nor 0..K-1; the error's
// field is "levels[i]".
func Distribution(levels []int, scale Scale) (Dist, error) {
	if err := scale.Validate(); err != nil {
		return Dist{}, err
	}
	k := scale.K()
	counts := make([]int, k)
	unscored := 0
	for i, v := range levels {
		if err := checkLevel(v, k, fmt.Sprintf("levels[%d]", i)); err != nil {
			return Dist{}, err
		}
		if v == Missing {
			unscored++
			continue
		}
		counts[v]++
	}
	return fromCounts(counts, unscored, scale), nil
}

// fromCounts builds a Dist from per-level counts of a valid scale.
func fromCounts(counts []int, unscored int, scale Scale) Dist {
	k := scale.K()
	d := Dist{Unscored: unscored, Levels: make([]LevelCount, k)}
	for _, c := range counts {
		d.N += c
	}
	var sumPoints, sumIndex int64
	for i, c := range counts {
		lc := LevelCount{Level: i, Label: scale.Label(i), Points: scale.Points[i], Count: c}
		if d.N > 0 {
			lc.Share = ratio(int64(c), int64(d.N))
		}
		d.Levels[i] = lc
		sumPoints += int64(c) * int64(scale.Points[i])
		sumIndex += int64(c) * int64(i)
	}
	if d.N == 0 {
		return d
	}
	n := int64(d.N)
	d.Mean = &Mean{Points: ratio(sumPoints, n), Index: ratio(sumIndex, n)}

	lowRank, highRank := (d.N+1)/2, d.N/2+1 // ⌈N/2⌉ and ⌊N/2⌋+1, 1-based
	m := &Median{Lower: -1, Upper: -1}
	cum := 0
	for i, c := range counts {
		cum += c
		if m.Lower < 0 && cum >= lowRank {
			m.Lower = i
		}
		if cum >= highRank {
			m.Upper = i
			break
		}
	}
	m.Between = m.Lower != m.Upper
	m.Label = scale.Label(m.Lower)
	if m.Between {
		m.Label += "–" + scale.Label(m.Upper)
	}
	d.Median = m
	return d
}
