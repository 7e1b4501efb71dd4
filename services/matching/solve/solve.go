// Package solve assigns all open grading batches of a matching round to
// graders at once, optimally rather than first come, first served.
//
// The caller decides who may grade what (vetting, subject and grade band,
// conflicts of interest, teacher blocks, calibration, free capacity before the
// due date) and how good each pairing is; this package only optimises. The
// objective is lexicographic: first assign as many batches as possible, then
// maximise the total score of the chosen pairings minus a spread penalty that
// makes a grader's k-th batch of the round worth less than the one before, so
// that work is spread and new graders get a start.
//
// # Method and what it guarantees
//
// Solve runs an exact min-cost max-flow (primal-dual successive shortest
// paths with Dijkstra on reduced costs) on the network
//
//	source → batch (1 unit) → grader (eligible pairs, cost −Score) → sink
//
// where a grader's arc to the sink is convex: the k-th unit costs
// SpreadPenalty(k), exactly as if it were k parallel unit arcs of
// non-decreasing cost. Min-cost max-flow is exactly "most batches, then best
// net score", with no big-M weights.
//
// A flow counts batches, but capacity is in submissions and a batch must go
// whole to one grader, which in general is a generalised assignment problem
// (NP-hard). Solve therefore gives each grader a batch-count limit: the most
// of its eligible batches that fit its capacity (the smallest first). That is
// a relaxation, so its optimum bounds every feasible answer. If the relaxed
// optimum fits every grader's capacity in submissions it is the exact optimum
// and Solution.Optimal is true. This always happens when all batches a grader
// is eligible for have the same size, in particular when the round uses one
// batch size. Otherwise Solve repairs the relaxed optimum: in a small round
// it switches off the largest batches of the graders that overflow and solves
// again until everything fits (within a work budget, resolveWork); in a large
// one, or when the budget runs out, it leaves those batches open. It then
// places open batches greedily and by ejection chains, improves the net score
// by local search (moving a batch, swapping two), and keeps the greedy answer
// improved the same way if that is better. The answer is always feasible and
// never worse than Greedy; Optimal is true only if it reaches Solution.Bound
// (the relaxed optimum), which says how far from the true optimum it can at
// most be otherwise.
package solve

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/marginschool/margin/pkg/errs"
)

// resolveWork bounds the work Solve spends solving the flow again after
// switching off the edges of graders that overflow, in units of edges ×
// batches (what one solve from scratch costs at most, up to a log factor).
// Small rounds re-solve until everything fits; a round of a few hundred
// batches or more solves once, drops the overflow and repairs with fill and
// extend: each re-solve starts from scratch, and on the synthetic rounds of
// docs/bench/matching.md re-solving until everything fit took 42.8 s at 1,000
// batches (52 re-solves) for a net score below what this repair reaches in
// under a second.
const resolveWork = 1 << 22

// Unassigned is the Grader of an Assignment whose batch got no grader.
const Unassigned = -1

// MaxMagnitude bounds the absolute value of every Edge.Score and every
// SpreadPenalty entry, so that no sum the solver forms can overflow int64.
const MaxMagnitude = 1 << 32

// MaxItems bounds len(Problem.Batches) and len(Problem.Graders).
const MaxItems = 1 << 22

// Batch is one open grading batch: Size submissions of one class that must go
// whole to a single grader.
type Batch struct {
	ID   string // the caller's ID; echoed, never interpreted
	Size int    // submissions in the batch; at least 1
}

// Grader is one grader who may take batches this round.
type Grader struct {
	ID string // the caller's ID; echoed, never interpreted
	// Capacity is how many more submissions the grader can hold now: their
	// maximum minus what they already hold. Zero or less means no room.
	Capacity int
}

// Edge says that a batch may go to a grader, and how good that would be.
type Edge struct {
	Batch  int // index into Problem.Batches
	Grader int // index into Problem.Graders
	// Score is the value of the pairing, higher is better, in whatever integer
	// unit the caller scaled its weights to (for example millipoints). It may
	// be negative; a batch is still assigned rather than left open.
	Score int64
}

// Problem is one matching round.
type Problem struct {
	Batches []Batch
	Graders []Grader
	// Edges lists the eligible pairs; a pair not listed is not eligible. At
	// most one edge per pair. Their order does not affect the result. A pair
	// whose batch is larger than the grader's Capacity is never chosen.
	Edges []Edge
	// SpreadPenalty[k-1] is subtracted for the k-th batch a grader receives
	// in this round; the last entry repeats for larger k and an empty slice
	// means no penalty. It must be non-decreasing (a convex load cost, i.e. a
	// diminishing value per extra batch), which is what keeps Solve exact.
	SpreadPenalty []int64
}

// Objective is what Solve maximises, lexicographically: Assigned first, then
// Net.
type Objective struct {
	Assigned int   // batches given a grader
	Net      int64 // sum of the chosen Edge.Scores minus the spread penalties
}

// Better reports whether o is strictly better than p: more batches assigned,
// or as many with a higher Net.
func (o Objective) Better(p Objective) bool {
	if o.Assigned != p.Assigned {
		return o.Assigned > p.Assigned
	}
	return o.Net > p.Net
}

// Assignment is the outcome for one batch, with the parts of its value so
// that the caller can explain the choice.
type Assignment struct {
	Grader int   // index into Problem.Graders, or Unassigned
	Score  int64 // Edge.Score of the chosen pair; 0 when unassigned
	// Load is n when this is the grader's n-th batch of the round, counting
	// the grader's batches in batch order; 0 when unassigned.
	Load int
	// Penalty is the spread penalty for the Load-th batch. A grader's
	// penalties sum to the same total whichever batch is called first.
	Penalty int64
}

// Solution is an assignment of a round's batches.
type Solution struct {
	Objective
	Score       int64        // sum of Assignment.Score; Net = Score − Penalty
	Penalty     int64        // sum of Assignment.Penalty
	Assignments []Assignment // Assignments[i] is the outcome for Problem.Batches[i]
	// Optimal reports that no feasible assignment has a better Objective.
	Optimal bool
	// Bound is an Objective that no feasible assignment beats; it equals
	// Objective when Optimal. Only Solve sets it; Greedy leaves it zero.
	Bound Objective
}

// Solve returns an assignment that never breaks eligibility or capacity and
// gives each batch at most one grader. It is the best possible (Optimal is
// true) whenever the relaxation described in the package comment fits, which
// is always the case when each grader's eligible batches share one size; see
// the package comment for the guarantee otherwise. The same Problem, with
// edges in any order, always gives the same Solution. Solve returns an
// errs.Invalid error naming the field when the Problem breaks a documented
// rule.
func Solve(p Problem) (Solution, error) {
	in, err := newInstance(p)
	if err != nil {
		return Solution{}, err
	}
	limit := in.relaxedLimits()
	off := make([]bool, len(in.grader))
	assign := in.minCostFlow(limit, off)
	bound := in.objective(assign)
	work, cost := 0, (len(in.grader)+len(in.p.Batches))*len(in.p.Batches)
	for in.exclude(assign, off) {
		if work += cost; work > resolveWork {
			in.dropOff(assign, off)
			break
		}
		assign = in.minCostFlow(limit, off)
	}
	s := in.solution(assign)
	if s.Objective != bound {
		// Not proven optimal: recover batches the repair lost, improve the
		// net score locally, and keep the greedy answer, improved the same
		// way, if it is better.
		in.fill(assign)
		in.extend(assign)
		in.improve(assign)
		s = in.solution(assign)
		g := in.greedyAssign()
		in.extend(g)
		in.improve(g)
		if gs := in.solution(g); gs.Objective.Better(s.Objective) {
			s = gs
		}
	}
	s.Bound = bound
	s.Optimal = s.Objective == bound
	return s, nil
}

// Greedy is the first-come baseline: batches in order, each to the eligible
// grader with room whose Score minus the next spread penalty is highest
// (lowest index on ties). It never breaks eligibility or capacity; it is not
// optimal and reports Optimal false and a zero Bound. Errors are as for
// Solve.
func Greedy(p Problem) (Solution, error) {
	in, err := newInstance(p)
	if err != nil {
		return Solution{}, err
	}
	return in.solution(in.greedyAssign()), nil
}

// greedyAssign is Greedy's choice of edge (or -1) per batch.
func (in *instance) greedyAssign() []int32 {
	assign := make([]int32, len(in.p.Batches))
	for i := range assign {
		assign[i] = -1
	}
	in.fill(assign)
	return assign
}

// instance is a validated Problem with its usable edges in a compact,
// canonical form: sorted by (batch, grader), so the result cannot depend on
// the caller's edge order.
type instance struct {
	p      Problem
	start  []int32 // edges of batch b are [start[b], start[b+1])
	grader []int32 // grader of each edge
	score  []int64 // score of each edge
}

func newInstance(p Problem) (*instance, error) {
	if len(p.Batches) > MaxItems {
		return nil, errs.F(errs.Invalid, "batches", "A round has at most %d batches.", MaxItems)
	}
	if len(p.Graders) > MaxItems {
		return nil, errs.F(errs.Invalid, "graders", "A round has at most %d graders.", MaxItems)
	}
	for i, b := range p.Batches {
		if b.Size < 1 {
			return nil, errs.F(errs.Invalid, fieldf("batches", i, "size"), "A batch holds at least one submission.")
		}
	}
	for k, v := range p.SpreadPenalty {
		if v < -MaxMagnitude || v > MaxMagnitude {
			return nil, errs.F(errs.Invalid, fieldf("spreadPenalty", k, ""), "A penalty is at most %d in absolute value.", int64(MaxMagnitude))
		}
		if k > 0 && v < p.SpreadPenalty[k-1] {
			return nil, errs.F(errs.Invalid, fieldf("spreadPenalty", k, ""), "The spread penalty must not decrease.")
		}
	}
	usable := make([]Edge, 0, len(p.Edges))
	for i, e := range p.Edges {
		switch {
		case e.Batch < 0 || e.Batch >= len(p.Batches):
			return nil, errs.F(errs.Invalid, fieldf("edges", i, "batch"), "No batch has index %d.", e.Batch)
		case e.Grader < 0 || e.Grader >= len(p.Graders):
			return nil, errs.F(errs.Invalid, fieldf("edges", i, "grader"), "No grader has index %d.", e.Grader)
		case e.Score < -MaxMagnitude || e.Score > MaxMagnitude:
			return nil, errs.F(errs.Invalid, fieldf("edges", i, "score"), "A score is at most %d in absolute value.", int64(MaxMagnitude))
		}
		if p.Batches[e.Batch].Size <= p.Graders[e.Grader].Capacity {
			usable = append(usable, e)
		}
	}
	slices.SortFunc(usable, func(a, b Edge) int {
		return cmp.Or(cmp.Compare(a.Batch, b.Batch), cmp.Compare(a.Grader, b.Grader))
	})
	in := &instance{
		p:      p,
		start:  make([]int32, len(p.Batches)+1),
		grader: make([]int32, len(usable)),
		score:  make([]int64, len(usable)),
	}
	for i, e := range usable {
		if i > 0 && e.Batch == usable[i-1].Batch && e.Grader == usable[i-1].Grader {
			return nil, errs.F(errs.Invalid, "edges", "Batch %d and grader %d are paired twice.", e.Batch, e.Grader)
		}
		in.start[e.Batch+1]++
		in.grader[i] = int32(e.Grader)
		in.score[i] = e.Score
	}
	for b := range p.Batches {
		in.start[b+1] += in.start[b]
	}
	return in, nil
}

// fieldf names an element of a list field, or a field of that element.
func fieldf(list string, i int, name string) string {
	f := list + "[" + strconv.Itoa(i) + "]"
	if name != "" {
		f += "." + name
	}
	return f
}

// penalty is the spread penalty of a grader's k-th batch, k ≥ 1.
func (in *instance) penalty(k int32) int64 {
	sp := in.p.SpreadPenalty
	switch {
	case len(sp) == 0:
		return 0
	case int(k) <= len(sp):
		return sp[k-1]
	default:
		return sp[len(sp)-1]
	}
}

// relaxedLimits gives each grader the largest number of its eligible batches
// that could fit its capacity together: the smallest ones first. No feasible
// assignment gives a grader more batches than that.
func (in *instance) relaxedLimits() []int32 {
	sizes := make([][]int, len(in.p.Graders))
	for b := range in.p.Batches {
		for e := in.start[b]; e < in.start[b+1]; e++ {
			g := in.grader[e]
			sizes[g] = append(sizes[g], in.p.Batches[b].Size)
		}
	}
	limit := make([]int32, len(in.p.Graders))
	for g, s := range sizes {
		limit[g] = fitCount(s, in.p.Graders[g].Capacity)
	}
	return limit
}

// fitCount is how many of sizes fit in capacity, smallest first. It sorts
// sizes in place.
func fitCount(sizes []int, capacity int) int32 {
	slices.Sort(sizes)
	n, load := int32(0), 0
	for _, s := range sizes {
		if load+s > capacity {
			break
		}
		load += s
		n++
	}
	return n
}

// exclude finds the graders whose batches in assign overflow their capacity
// and, for each, switches off the edges of its largest batches (the lowest
// score, then the highest index, first among equals) until the rest fit. It
// reports whether it switched any off. Every call switches off at least one
// edge, so repeated calls end.
func (in *instance) exclude(assign []int32, off []bool) bool {
	held := make([][]int32, len(in.p.Graders)) // batches per grader
	load := make([]int, len(in.p.Graders))
	for b, e := range assign {
		if e >= 0 {
			g := in.grader[e]
			held[g] = append(held[g], int32(b))
			load[g] += in.p.Batches[b].Size
		}
	}
	changed := false
	for g, bs := range held {
		if load[g] <= in.p.Graders[g].Capacity {
			continue
		}
		slices.SortFunc(bs, func(a, b int32) int {
			return cmp.Or(
				cmp.Compare(in.p.Batches[b].Size, in.p.Batches[a].Size),
				cmp.Compare(in.score[assign[a]], in.score[assign[b]]),
				cmp.Compare(b, a))
		})
		for _, b := range bs {
			if load[g] <= in.p.Graders[g].Capacity {
				break
			}
			off[assign[b]] = true
			load[g] -= in.p.Batches[b].Size
			changed = true
		}
	}
	return changed
}

// dropOff leaves open every batch whose chosen edge is switched off.
func (in *instance) dropOff(assign []int32, off []bool) {
	for b, e := range assign {
		if e >= 0 && off[e] {
			assign[b] = -1
		}
	}
}

// fill gives each unassigned batch, in batch order, to the eligible grader
// with room whose Score minus its next spread penalty is highest, the lowest
// index on ties. Adding a batch always improves the Objective.
func (in *instance) fill(assign []int32) {
	count := make([]int32, len(in.p.Graders))
	load := make([]int, len(in.p.Graders))
	for b, e := range assign {
		if e >= 0 {
			g := in.grader[e]
			count[g]++
			load[g] += in.p.Batches[b].Size
		}
	}
	for b, e := range assign {
		if e >= 0 {
			continue
		}
		size := in.p.Batches[b].Size
		best, bestVal := int32(-1), int64(0)
		for e := in.start[b]; e < in.start[b+1]; e++ {
			g := in.grader[e]
			if load[g]+size > in.p.Graders[g].Capacity {
				continue
			}
			if v := in.score[e] - in.penalty(count[g]+1); best < 0 || v > bestVal {
				best, bestVal = e, v
			}
		}
		if best >= 0 {
			g := in.grader[best]
			assign[b] = best
			count[g]++
			load[g] += size
		}
	}
}

// objective evaluates assign, a chosen edge (or -1) per batch.
func (in *instance) objective(assign []int32) Objective {
	return in.solution(assign).Objective
}

// solution spells out assign, a chosen edge (or -1) per batch.
func (in *instance) solution(assign []int32) Solution {
	s := Solution{Assignments: make([]Assignment, len(assign))}
	count := make([]int32, len(in.p.Graders))
	for b, e := range assign {
		if e < 0 {
			s.Assignments[b] = Assignment{Grader: Unassigned}
			continue
		}
		g := in.grader[e]
		count[g]++
		a := Assignment{Grader: int(g), Score: in.score[e], Load: int(count[g]), Penalty: in.penalty(count[g])}
		s.Assignments[b] = a
		s.Assigned++
		s.Score += a.Score
		s.Penalty += a.Penalty
	}
	s.Net = s.Score - s.Penalty
	return s
}
