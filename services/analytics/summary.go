package analytics

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/analytics/stats"
	"github.com/marginschool/margin/services/intake"
)

// Summary is the class summary of one assignment: what a teacher acts on.
type Summary struct {
	AssignmentID string           `json:"assignment_id"`
	Title        string           `json:"title"`
	Scale        []intake.Level   `json:"scale"`
	Criteria     []CriterionStats `json:"criteria"`
	Overall      Overall          `json:"overall"`
	// Strengths are the criteria where the class is strongest, strongest
	// first; Growth those where it is weakest, weakest first. Each carries
	// at least one quoted passage from the students' work.
	Strengths []Area `json:"strengths"`
	Growth    []Area `json:"growth"`
	// NotEnoughEvidence are the criteria that would be a strength or a
	// growth area but have no quoted passage of that kind yet: shown
	// apart, as "not enough quoted evidence yet", never as one.
	NotEnoughEvidence []Area           `json:"not_enough_evidence"`
	Support           []SupportStudent `json:"support"`
	SupportRule       string           `json:"support_rule"`
	FocusPoints       []FocusSummary   `json:"focus_points"`
	Turnaround        Turnaround       `json:"turnaround"`
	Agreement         []CriterionAgree `json:"agreement"`
	Helpfulness       Helpfulness      `json:"helpfulness"`
	Students          []StudentResult  `json:"students"`
	Names             bool             `json:"names"`
}

// CriterionStats is one criterion's level distribution.
type CriterionStats struct {
	Key      string     `json:"key"`
	Title    string     `json:"title"`
	Standard string     `json:"standard,omitempty"`
	Weight   float64    `json:"weight"`
	Dist     stats.Dist `json:"distribution"`
	// MeanPoints is the mean level in the rubric's own points (Dist.Mean
	// may be on a whole-number rescaling); nil when nobody was scored.
	MeanPoints *float64 `json:"mean_points"`
}

// Overall is the weighted overall score distribution of the students scored
// on every criterion (see stats.Class).
type Overall struct {
	Complete   int         `json:"complete"`
	Incomplete int         `json:"incomplete"`
	Mean       *float64    `json:"mean"` // mean weighted share, 0..1
	Bins       []stats.Bin `json:"bins"`
}

// Area is a criterion named as a class strength or area for growth, with the
// evidence: the most common glow and grow themes and up to three quoted
// passages from students' work (a list, empty only for an area in
// NotEnoughEvidence). Kind says which of the two it is.
type Area struct {
	Kind      Kind       `json:"kind"`
	Criterion string     `json:"criterion"`
	Title     string     `json:"title"`
	MeanIndex float64    `json:"mean_index"`
	Median    string     `json:"median"`
	Glows     []Theme    `json:"glows"`
	Grows     []Theme    `json:"grows"`
	Evidence  []Evidence `json:"evidence"`
}

// Theme is a glow or grow and how many times graders gave it.
type Theme struct {
	Text  string `json:"text"`
	Count int    `json:"count"`
}

// Evidence is a quoted passage from one student's work.
type Evidence struct {
	Student string `json:"student"` // pseudonym, or name when asked for
	Level   string `json:"level"`   // the student's level on the criterion
	Quote   string `json:"quote"`
	Comment string `json:"comment,omitempty"`
}

// SupportStudent is a student who needs support, and why.
type SupportStudent struct {
	StudentID string    `json:"student_id"`
	Student   string    `json:"student"`
	Below     []string  `json:"below"`   // criterion keys below the chosen level
	Dropped   []Dropped `json:"dropped"` // criteria that fell since the previous assignment
}

// Dropped is a criterion on which a student fell since their previous
// assignment.
type Dropped struct {
	Criterion    string `json:"criterion"`
	From         string `json:"from"`
	To           string `json:"to"`
	AssignmentID string `json:"previous_assignment_id"`
}

// FocusSummary is what graders wrote about one focus point.
type FocusSummary struct {
	Point    string   `json:"point"`
	Students int      `json:"students"` // students with a note on it
	Notes    []string `json:"notes"`    // up to three, in student order
}

// Turnaround is how long feedback took: from publication to release, and per
// batch from publication to the last approval in it. Hours are nil when an
// end is not reached yet.
type Turnaround struct {
	PublishedAt *time.Time   `json:"published_at,omitempty"`
	ReleasedAt  *time.Time   `json:"released_at,omitempty"`
	Hours       *float64     `json:"hours"`
	Batches     []BatchTimes `json:"batches"`
}

// BatchTimes is one grading batch's turnaround.
type BatchTimes struct {
	BatchID      string     `json:"batch_id"`
	Submissions  int        `json:"submissions"`
	Approved     int        `json:"approved"`
	LastApproved *time.Time `json:"last_approved_at,omitempty"`
	Hours        *float64   `json:"hours"`
}

// CriterionAgree is the agreement between first and second readers on one
// criterion. Figure is what to show a teacher: the kappa to two decimals
// when it is stable, otherwise why not ("too few pairs (2)").
type CriterionAgree struct {
	Criterion string          `json:"criterion"`
	Title     string          `json:"title"`
	Agreement stats.Agreement `json:"agreement"`
	Figure    string          `json:"figure"`
}

// Helpfulness is the students' helpfulness ratings, per grader and per
// criterion (the empty criterion is the feedback as a whole).
type Helpfulness struct {
	PerGrader    []RatingStats `json:"per_grader"`
	PerCriterion []RatingStats `json:"per_criterion"`
}

// RatingStats is the count and mean of some ratings.
type RatingStats struct {
	Key   string   `json:"key"`
	Count int      `json:"count"`
	Mean  *float64 `json:"mean"`
}

// StudentResult is one student's line: level and points per criterion (in
// rubric order) and the weighted score.
type StudentResult struct {
	StudentID string   `json:"student_id"`
	Student   string   `json:"student"`
	Pseudonym string   `json:"pseudonym"`
	Levels    []string `json:"levels"` // level keys; "" where not scored
	// Earned and Possible are Σ weight·points over the scored criteria,
	// in the rubric's points; Share is Earned/Possible when every
	// criterion is scored.
	Earned   float64  `json:"earned"`
	Possible float64  `json:"possible"`
	Share    *float64 `json:"share"`
}

// Summarize computes the class summary of one assignment from in. It is pure
// and deterministic: students are ordered by pseudonym (or name with
// opts.Names), and every tie is broken by rubric order and then text.
//
// Strengths and growth areas: criteria scored by at least one student are
// ranked by mean level index (ties in rubric order); with n of them, the top
// min(2, ⌈n/2⌉) are strengths and the bottom min(2, ⌊n/2⌋) growth areas, so
// no criterion is both. Evidence is up to three quoted passages of the
// matching kind on that criterion from different students, preferring
// students at the criterion's median level, then the nearest levels. A
// picked criterion with no such passage is not listed as a strength or
// growth area but in NotEnoughEvidence (nothing is picked in its place).
//
// Needs support: scored below opts.SupportBelow on two or more criteria, or
// a lower level on some criterion than on the previous assignment sharing it
// (levels compared as a fraction of the scale when the scales differ).
//
// It returns an errs.Invalid error if the rubric is invalid or
// opts.SupportBelow is not a level of its scale.
func Summarize(in ClassInput, opts Options) (Summary, error) {
	if err := in.Rubric.Validate(); err != nil {
		return Summary{}, err
	}
	r := in.Rubric
	support := len(r.Scale) / 2
	if opts.SupportBelow != "" {
		i, ok := r.LevelIndex(opts.SupportBelow)
		if !ok {
			return Summary{}, errs.F(errs.Invalid, "support_below", "%q is not a level of this rubric's scale.", opts.SupportBelow)
		}
		support = i
	}
	students := slices.Clone(in.Students)
	display := func(w StudentWork) string {
		if opts.Names && w.Name != "" {
			return w.Name
		}
		return w.Pseudonym
	}
	slices.SortFunc(students, func(a, b StudentWork) int {
		return cmp.Or(cmp.Compare(display(a), display(b)), cmp.Compare(a.StudentID, b.StudentID))
	})

	scale := statsScale(r)
	criteria := make([]stats.Criterion, len(r.Criteria))
	weights := wholeWeights(r)
	for c := range r.Criteria {
		criteria[c] = stats.Criterion{Weight: weights[c], Scale: scale}
	}
	levels := make([][]int, len(students))
	for s, w := range students {
		levels[s] = levelRow(r, w.Levels)
	}
	rep, err := stats.Class(levels, criteria, 10)
	if err != nil {
		return Summary{}, err
	}

	sum := Summary{
		AssignmentID: in.AssignmentID,
		Title:        in.Title,
		Scale:        r.Scale,
		Names:        opts.Names,
		Overall:      Overall{Complete: rep.Complete, Incomplete: rep.Incomplete, Mean: rep.Mean, Bins: rep.Bins},
		SupportRule:  fmt.Sprintf("Below %s on two or more criteria, or a level lower than on the previous assignment.", r.Scale[support].Label),
	}
	for c, cr := range r.Criteria {
		cs := CriterionStats{Key: cr.Key, Title: cr.Title, Standard: cr.Standard, Weight: cr.Weight, Dist: rep.Criteria[c]}
		cs.MeanPoints = meanPoints(r, rep.Criteria[c])
		sum.Criteria = append(sum.Criteria, cs)
	}
	for s, w := range students {
		sum.Students = append(sum.Students, studentResult(r, w, levels[s], display(w)))
	}
	sum.Strengths, sum.Growth, sum.NotEnoughEvidence = areas(r, sum.Criteria, students, levels, display)
	sum.Support = needsSupport(r, students, levels, support, display)
	sum.FocusPoints = focusPoints(in.FocusPoints, students)
	sum.Turnaround = turnaround(in, students)
	sum.Agreement, err = agreement(r, in.SecondReads)
	if err != nil {
		return Summary{}, err
	}
	sum.Helpfulness = helpfulness(in.Ratings)
	return sum, nil
}

// levelRow is a student's level index per criterion, in rubric order, with
// stats.Missing for a criterion not scored (or scored with a level that is
// not on the scale, which a frozen rubric rules out).
func levelRow(r intake.Rubric, got map[string]string) []int {
	row := make([]int, len(r.Criteria))
	for c, cr := range r.Criteria {
		row[c] = stats.Missing
		if key, ok := got[cr.Key]; ok {
			if i, ok := r.LevelIndex(key); ok {
				row[c] = i
			}
		}
	}
	return row
}

// meanPoints is the mean level in the rubric's own points, Σ count·points /
// N, or nil when nobody was scored.
func meanPoints(r intake.Rubric, d stats.Dist) *float64 {
	if d.N == 0 {
		return nil
	}
	var sum float64
	for i, l := range d.Levels {
		sum += float64(l.Count) * r.Scale[i].Points
	}
	m := sum / float64(d.N)
	return &m
}

// statsScale converts the rubric's scale to a stats.Scale with whole points
// for the weighted score histogram: the rubric's points times the smallest
// factor that makes them whole (shares are unchanged by the factor), or the
// level indexes when no factor up to 100 does.
func statsScale(r intake.Rubric) stats.Scale {
	pts := make([]float64, len(r.Scale))
	for i, lv := range r.Scale {
		pts[i] = lv.Points
	}
	f := wholeFactor(pts, stats.MaxPoints)
	s := stats.Scale{Labels: make([]string, len(r.Scale)), Points: make([]int, len(r.Scale))}
	for i, lv := range r.Scale {
		s.Labels[i] = lv.Label
		s.Points[i] = int(math.Round(lv.Points * f))
	}
	if f == 0 { // no whole rescaling fits: fall back to the level indexes
		for i := range s.Points {
			s.Points[i] = i
		}
	}
	return s
}

// wholeFactor is the smallest of 1, 2, 4, 5, 10, 20, 25, 50, 100 that makes
// every value whole and keeps it at most limit, or 0 if none does.
func wholeFactor(vals []float64, limit int) float64 {
	for _, f := range []float64{1, 2, 4, 5, 10, 20, 25, 50, 100} {
		ok := true
		for _, v := range vals {
			x := v * f
			if math.Abs(x-math.Round(x)) > 1e-9 || x > float64(limit) {
				ok = false
				break
			}
		}
		if ok {
			return f
		}
	}
	return 0
}

// wholeWeights are the criteria's weights as whole numbers for the
// histogram: times the smallest factor that makes them whole, or, when none
// up to 100 does, scaled so the largest is stats.MaxWeight and rounded
// (at least 1), which keeps the shares to within 0.1%.
func wholeWeights(r intake.Rubric) []int {
	w := make([]float64, len(r.Criteria))
	top := 0.0
	for i, c := range r.Criteria {
		w[i], top = c.Weight, max(top, c.Weight)
	}
	f := wholeFactor(w, stats.MaxWeight)
	if f == 0 {
		f = stats.MaxWeight / top
	}
	out := make([]int, len(w))
	for i, v := range w {
		out[i] = max(1, int(math.Round(v*f)))
	}
	return out
}

func studentResult(r intake.Rubric, w StudentWork, row []int, name string) StudentResult {
	res := StudentResult{StudentID: w.StudentID, Student: name, Pseudonym: w.Pseudonym, Levels: make([]string, len(row))}
	top := r.MaxPoints()
	complete := true
	for c, v := range row {
		if v == stats.Missing {
			complete = false
			continue
		}
		res.Levels[c] = r.Scale[v].Key
		res.Earned += r.Criteria[c].Weight * r.Scale[v].Points
		res.Possible += r.Criteria[c].Weight * top
	}
	if complete && res.Possible > 0 {
		sh := res.Earned / res.Possible
		res.Share = &sh
	}
	return res
}

// areas ranks the scored criteria and picks the strengths and growth areas
// with their evidence, setting apart those without any; see Summarize.
// Every list is non-nil.
func areas(r intake.Rubric, cs []CriterionStats, students []StudentWork, levels [][]int, display func(StudentWork) string) (strong, weak, unproven []Area) {
	strong, weak, unproven = []Area{}, []Area{}, []Area{}
	keep := func(list *[]Area, a Area) {
		if len(a.Evidence) == 0 {
			unproven = append(unproven, a)
			return
		}
		*list = append(*list, a)
	}
	var ranked []int
	for c := range cs {
		if cs[c].Dist.Mean != nil {
			ranked = append(ranked, c)
		}
	}
	sort.SliceStable(ranked, func(i, j int) bool {
		return cs[ranked[i]].Dist.Mean.Index > cs[ranked[j]].Dist.Mean.Index
	})
	n := len(ranked)
	nStrong, nWeak := min(2, (n+1)/2), min(2, n/2)
	for _, c := range ranked[:nStrong] {
		keep(&strong, area(r, c, cs[c], Strength, students, levels, display))
	}
	for i := n - 1; i >= n-nWeak; i-- {
		keep(&weak, area(r, ranked[i], cs[ranked[i]], Growth, students, levels, display))
	}
	return strong, weak, unproven
}

func area(r intake.Rubric, c int, cs CriterionStats, kind Kind, students []StudentWork, levels [][]int, display func(StudentWork) string) Area {
	a := Area{Kind: kind, Criterion: cs.Key, Title: cs.Title, MeanIndex: cs.Dist.Mean.Index, Median: cs.Dist.Median.Label}
	var glows, grows []string
	for _, w := range students {
		for _, g := range w.Glows {
			if g.Criterion == cs.Key {
				glows = append(glows, g.Text)
			}
		}
		for _, g := range w.Grows {
			if g.Criterion == cs.Key {
				grows = append(grows, g.Text)
			}
		}
	}
	a.Glows, a.Grows = themes(glows, 3), themes(grows, 3)
	a.Evidence = evidence(r, c, cs, kind, students, levels, display)
	return a
}

// evidence picks up to three quotes of kind on criterion c from different
// students, those nearest the median level first (then in student order).
func evidence(r intake.Rubric, c int, cs CriterionStats, kind Kind, students []StudentWork, levels [][]int, display func(StudentWork) string) []Evidence {
	med := cs.Dist.Median.Lower
	order := make([]int, 0, len(students))
	for s := range students {
		if levels[s][c] != stats.Missing {
			order = append(order, s)
		}
	}
	dist := func(s int) int { return abs(levels[s][c] - med) }
	sort.SliceStable(order, func(i, j int) bool { return dist(order[i]) < dist(order[j]) })
	out := []Evidence{}
	seen := map[string]bool{}
	for _, s := range order {
		for _, q := range students[s].Quotes {
			text := strings.TrimSpace(q.Text)
			if q.Criterion != cs.Key || q.Kind != kind || text == "" || seen[text] {
				continue
			}
			seen[text] = true
			out = append(out, Evidence{Student: display(students[s]), Level: r.Scale[levels[s][c]].Label, Quote: text, Comment: q.Comment})
			break
		}
		if len(out) == 3 {
			break
		}
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// themes counts notes that say the same thing (ignoring case, spacing and
// final punctuation) and returns the n most common, most common first, ties
// alphabetically; each keeps the wording of its first occurrence.
func themes(notes []string, n int) []Theme {
	counts := map[string]*Theme{}
	var keys []string
	for _, t := range notes {
		k := normTheme(t)
		if k == "" {
			continue
		}
		if th, ok := counts[k]; ok {
			th.Count++
			continue
		}
		counts[k] = &Theme{Text: strings.TrimSpace(t), Count: 1}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b].Count, counts[a].Count), cmp.Compare(a, b))
	})
	out := []Theme{}
	for _, k := range keys[:min(n, len(keys))] {
		out = append(out, *counts[k])
	}
	return out
}

func normTheme(s string) string {
	s = strings.Join(strings.Fields(strings.ToLower(s)), " ")
	return strings.TrimRight(s, ".!;:,")
}

// needsSupport lists the students below level support on two or more
// criteria or lower than on their previous assignment; see Summarize.
func needsSupport(r intake.Rubric, students []StudentWork, levels [][]int, support int, display func(StudentWork) string) []SupportStudent {
	out := []SupportStudent{}
	k := len(r.Scale)
	for s, w := range students {
		st := SupportStudent{StudentID: w.StudentID, Student: display(w), Below: []string{}, Dropped: []Dropped{}}
		for c, cr := range r.Criteria {
			v := levels[s][c]
			if v == stats.Missing {
				continue
			}
			if v < support {
				st.Below = append(st.Below, cr.Key)
			}
			if p, ok := w.Previous[cr.Key]; ok && p.Levels >= 2 && fell(p, v, k) {
				st.Dropped = append(st.Dropped, Dropped{Criterion: cr.Key, From: p.Label, To: r.Scale[v].Label, AssignmentID: p.AssignmentID})
			}
		}
		if len(st.Below) < 2 {
			st.Below = []string{}
		}
		if len(st.Below) > 0 || len(st.Dropped) > 0 {
			out = append(out, st)
		}
	}
	return out
}

// fell reports whether level v of k is lower than the prior level: by index
// on the same scale size, otherwise as a fraction of the scale (exactly, by
// cross-multiplying).
func fell(p PriorLevel, v, k int) bool {
	if p.Levels == k {
		return v < p.Index
	}
	return v*(p.Levels-1) < p.Index*(k-1)
}

func focusPoints(points []string, students []StudentWork) []FocusSummary {
	out := make([]FocusSummary, 0, len(points))
	for _, p := range points {
		fs := FocusSummary{Point: p, Notes: []string{}}
		for _, w := range students {
			noted := false
			for _, n := range w.FocusNotes {
				if n.Point != p || strings.TrimSpace(n.Text) == "" {
					continue
				}
				noted = true
				if len(fs.Notes) < 3 {
					fs.Notes = append(fs.Notes, strings.TrimSpace(n.Text))
				}
			}
			if noted {
				fs.Students++
			}
		}
		out = append(out, fs)
	}
	return out
}

func turnaround(in ClassInput, students []StudentWork) Turnaround {
	t := Turnaround{PublishedAt: in.PublishedAt, ReleasedAt: in.ReleasedAt, Batches: []BatchTimes{}}
	hours := func(from, to *time.Time) *float64 {
		if from == nil || to == nil {
			return nil
		}
		h := to.Sub(*from).Hours()
		return &h
	}
	t.Hours = hours(in.PublishedAt, in.ReleasedAt)
	byID := map[string]*BatchTimes{}
	var ids []string
	for _, w := range students {
		b, ok := byID[w.BatchID]
		if !ok {
			b = &BatchTimes{BatchID: w.BatchID}
			byID[w.BatchID] = b
			ids = append(ids, w.BatchID)
		}
		b.Submissions++
		if w.ApprovedAt != nil {
			b.Approved++
			if b.LastApproved == nil || w.ApprovedAt.After(*b.LastApproved) {
				at := *w.ApprovedAt
				b.LastApproved = &at
			}
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		b := byID[id]
		if b.Approved == b.Submissions {
			b.Hours = hours(in.PublishedAt, b.LastApproved)
		}
		t.Batches = append(t.Batches, *b)
	}
	return t
}

func agreement(r intake.Rubric, reads []SecondRead) ([]CriterionAgree, error) {
	out := make([]CriterionAgree, 0, len(r.Criteria))
	for _, cr := range r.Criteria {
		a, b := make([]int, len(reads)), make([]int, len(reads))
		for i, sr := range reads {
			a[i], b[i] = levelOf(r, sr.First, cr.Key), levelOf(r, sr.Second, cr.Key)
		}
		ag, err := stats.Agree(a, b, len(r.Scale))
		if err != nil {
			return nil, err
		}
		out = append(out, CriterionAgree{Criterion: cr.Key, Title: cr.Title, Agreement: ag, Figure: figure(ag)})
	}
	return out, nil
}

func levelOf(r intake.Rubric, levels map[string]string, crit string) int {
	if key, ok := levels[crit]; ok {
		if i, ok := r.LevelIndex(key); ok {
			return i
		}
	}
	return stats.Missing
}

// figure is the agreement figure a teacher sees: "κ = 0.82 (12 pairs)" when
// the kappa is stable, "too few pairs (n)" below stats.MinStablePairs, and
// the reason when kappa does not exist.
func figure(a stats.Agreement) string {
	switch {
	case a.Pairs == 0:
		return "no pairs yet"
	case a.Pairs < stats.MinStablePairs:
		return fmt.Sprintf("too few pairs (%d)", a.Pairs)
	case !a.Kappa.Defined:
		return a.Kappa.Reason
	}
	return fmt.Sprintf("κ = %.2f (%d pairs)", *a.Kappa.Value, a.Pairs)
}

// helpfulness averages the ratings per grader and per criterion, ignoring
// scores outside 1..5.
func helpfulness(ratings []Rating) Helpfulness {
	group := func(key func(Rating) string) []RatingStats {
		sums, counts := map[string]int{}, map[string]int{}
		for _, r := range ratings {
			if r.Score < 1 || r.Score > 5 {
				continue
			}
			sums[key(r)] += r.Score
			counts[key(r)]++
		}
		out := []RatingStats{}
		for k, n := range counts {
			m := float64(sums[k]) / float64(n)
			out = append(out, RatingStats{Key: k, Count: n, Mean: &m})
		}
		slices.SortFunc(out, func(a, b RatingStats) int { return cmp.Compare(a.Key, b.Key) })
		return out
	}
	return Helpfulness{
		PerGrader:    group(func(r Rating) string { return r.GraderID }),
		PerCriterion: group(func(r Rating) string { return r.Criterion }),
	}
}
