package solve

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/marginschool/margin/pkg/errs"
)

// bruteForce tries every assignment of a tiny Problem and returns one with
// the best Objective. It is the reference the solver is checked against.
func bruteForce(p Problem) Solution {
	in, err := newInstance(p)
	if err != nil {
		panic(err)
	}
	nB := len(p.Batches)
	assign := make([]int32, nB)
	best := make([]int32, nB)
	load := make([]int, len(p.Graders))
	var bestObj Objective
	found := false
	var walk func(b int)
	walk = func(b int) {
		if b == nB {
			if o := in.objective(assign); !found || o.Better(bestObj) {
				bestObj, found = o, true
				copy(best, assign)
			}
			return
		}
		assign[b] = -1
		walk(b + 1)
		size := p.Batches[b].Size
		for e := in.start[b]; e < in.start[b+1]; e++ {
			g := in.grader[e]
			if load[g]+size > p.Graders[g].Capacity {
				continue
			}
			load[g] += size
			assign[b] = e
			walk(b + 1)
			load[g] -= size
		}
		assign[b] = -1
	}
	walk(0)
	s := in.solution(best)
	s.Optimal, s.Bound = true, s.Objective
	return s
}

// checkValid fails t unless s is a well-formed, feasible solution of p.
func checkValid(t *testing.T, p Problem, s Solution) {
	t.Helper()
	if len(s.Assignments) != len(p.Batches) {
		t.Fatalf("%d assignments for %d batches", len(s.Assignments), len(p.Batches))
	}
	score := map[[2]int]int64{}
	for _, e := range p.Edges {
		score[[2]int{e.Batch, e.Grader}] = e.Score
	}
	load := make([]int, len(p.Graders))
	count := make([]int, len(p.Graders))
	var sum Solution
	for b, a := range s.Assignments {
		if a.Grader == Unassigned {
			if a != (Assignment{Grader: Unassigned}) {
				t.Fatalf("batch %d: unassigned but %+v", b, a)
			}
			continue
		}
		sc, ok := score[[2]int{b, a.Grader}]
		if !ok {
			t.Fatalf("batch %d: grader %d is not eligible", b, a.Grader)
		}
		if a.Score != sc {
			t.Fatalf("batch %d: score %d, edge says %d", b, a.Score, sc)
		}
		load[a.Grader] += p.Batches[b].Size
		count[a.Grader]++
		if a.Load != count[a.Grader] {
			t.Fatalf("batch %d: load %d, want %d", b, a.Load, count[a.Grader])
		}
		if want := penaltyAt(p.SpreadPenalty, a.Load); a.Penalty != want {
			t.Fatalf("batch %d: penalty %d, want %d", b, a.Penalty, want)
		}
		sum.Assigned++
		sum.Score += a.Score
		sum.Penalty += a.Penalty
	}
	for g, l := range load {
		if l > p.Graders[g].Capacity {
			t.Fatalf("grader %d holds %d submissions, capacity %d", g, l, p.Graders[g].Capacity)
		}
	}
	if sum.Assigned != s.Assigned || sum.Score != s.Score || sum.Penalty != s.Penalty || s.Net != s.Score-s.Penalty {
		t.Fatalf("totals %+v do not add up: %d %d %d", s.Objective, sum.Assigned, sum.Score, sum.Penalty)
	}
}

func penaltyAt(sp []int64, k int) int64 {
	if len(sp) == 0 {
		return 0
	}
	return sp[min(k, len(sp))-1]
}

// graders returns the chosen grader of each batch.
func graders(s Solution) []int {
	g := make([]int, len(s.Assignments))
	for i, a := range s.Assignments {
		g[i] = a.Grader
	}
	return g
}

func TestSolve(t *testing.T) {
	const u = Unassigned
	tests := []struct {
		name       string
		p          Problem
		want       []int // grader per batch
		wantObj    Objective
		greedy     []int // nil: do not check
		notOptimal bool
		bound      Objective // checked when notOptimal
	}{
		{
			name: "greedy leaves a batch open that a swap would place",
			p: Problem{
				Batches: []Batch{{"a", 10}, {"b", 10}},
				Graders: []Grader{{"x", 10}, {"y", 10}},
				Edges:   []Edge{{0, 0, 10}, {0, 1, 9}, {1, 0, 8}},
			},
			want:    []int{1, 0},
			wantObj: Objective{2, 17},
			greedy:  []int{0, u},
		},
		{
			name: "greedy takes the locally best pair and loses score",
			p: Problem{
				Batches: []Batch{{"a", 10}, {"b", 10}},
				Graders: []Grader{{"x", 10}, {"y", 10}},
				Edges:   []Edge{{0, 0, 10}, {0, 1, 9}, {1, 0, 10}, {1, 1, 1}},
			},
			want:    []int{1, 0},
			wantObj: Objective{2, 19},
			greedy:  []int{0, 1},
		},
		{
			name: "no eligible grader, and one only too small",
			p: Problem{
				Batches: []Batch{{"a", 10}, {"b", 12}, {"c", 10}},
				Graders: []Grader{{"x", 10}},
				Edges:   []Edge{{1, 0, 100}, {2, 0, 5}},
			},
			want:    []int{u, u, 0},
			wantObj: Objective{1, 5},
		},
		{
			name: "capacity runs out: the best two of three fit",
			p: Problem{
				Batches: []Batch{{"a", 5}, {"b", 5}, {"c", 5}},
				Graders: []Grader{{"x", 10}, {"full", 0}},
				Edges:   []Edge{{0, 0, 1}, {1, 0, 3}, {2, 0, 2}, {0, 1, 50}},
			},
			want:    []int{u, 0, 0},
			wantObj: Objective{2, 5},
		},
		{
			name: "no spread penalty: the best grader takes all",
			p: Problem{
				Batches: []Batch{{"a", 1}, {"b", 1}, {"c", 1}},
				Graders: []Grader{{"x", 3}, {"y", 3}},
				Edges:   []Edge{{0, 0, 100}, {1, 0, 100}, {2, 0, 100}, {0, 1, 90}, {1, 1, 90}, {2, 1, 90}},
			},
			want:    []int{0, 0, 0},
			wantObj: Objective{3, 300},
		},
		{
			name: "spread penalty moves the third batch to the second grader",
			p: Problem{
				Batches:       []Batch{{"a", 1}, {"b", 1}, {"c", 1}},
				Graders:       []Grader{{"x", 3}, {"y", 3}},
				Edges:         []Edge{{0, 0, 100}, {1, 0, 100}, {2, 0, 100}, {0, 1, 90}, {1, 1, 90}, {2, 1, 90}},
				SpreadPenalty: []int64{0, 20, 40},
			},
			// x: 100 + (100-20), y: 90 beats x taking all three (300-60).
			wantObj: Objective{3, 270},
			greedy:  []int{0, 1, 0},
		},
		{
			name: "more batches beat more score",
			p: Problem{
				Batches: []Batch{{"a", 1}, {"b", 1}},
				Graders: []Grader{{"x", 1}, {"y", 1}},
				Edges:   []Edge{{0, 0, 100}, {0, 1, 0}, {1, 0, -1000}},
			},
			want:    []int{1, 0},
			wantObj: Objective{2, -1000},
			greedy:  []int{0, u},
		},
		{
			name: "mixed sizes: the relaxation overflows, Solve repairs it",
			p: Problem{
				Batches: []Batch{{"a", 6}, {"b", 6}, {"c", 4}},
				Graders: []Grader{{"x", 10}},
				Edges:   []Edge{{0, 0, 50}, {1, 0, 50}, {2, 0, 10}},
			},
			// Two batches fit (6+4), but the count-only relaxation prefers
			// the two sixes, so it only bounds the answer.
			want:       []int{0, u, 0},
			wantObj:    Objective{2, 60},
			notOptimal: true,
			bound:      Objective{2, 100},
		},
		{
			name: "mixed sizes that fit the relaxation are exact",
			p: Problem{
				Batches: []Batch{{"a", 6}, {"b", 6}, {"c", 4}},
				Graders: []Grader{{"x", 10}, {"y", 6}},
				Edges:   []Edge{{0, 0, 50}, {1, 0, 50}, {2, 0, 10}, {1, 1, 20}},
			},
			want:    []int{0, 1, 0},
			wantObj: Objective{3, 80},
		},
		{
			name:    "empty round",
			p:       Problem{},
			want:    []int{},
			wantObj: Objective{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Solve(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			checkValid(t, tt.p, s)
			if tt.want != nil && !reflect.DeepEqual(graders(s), tt.want) {
				t.Errorf("graders %v, want %v", graders(s), tt.want)
			}
			if s.Objective != tt.wantObj {
				t.Errorf("objective %+v, want %+v", s.Objective, tt.wantObj)
			}
			if s.Optimal == tt.notOptimal {
				t.Errorf("Optimal %v", s.Optimal)
			}
			wantBound := tt.wantObj
			if tt.notOptimal {
				wantBound = tt.bound
			}
			if s.Bound != wantBound {
				t.Errorf("bound %+v, want %+v", s.Bound, wantBound)
			}
			if bf := bruteForce(tt.p); bf.Objective != s.Objective {
				t.Errorf("brute force finds %+v", bf.Objective)
			}
			g, err := Greedy(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			checkValid(t, tt.p, g)
			if tt.greedy != nil && !reflect.DeepEqual(graders(g), tt.greedy) {
				t.Errorf("greedy graders %v, want %v", graders(g), tt.greedy)
			}
			if g.Objective.Better(s.Objective) {
				t.Errorf("greedy %+v beats Solve %+v", g.Objective, s.Objective)
			}
		})
	}
}

func TestSolveInvalid(t *testing.T) {
	ok := Problem{
		Batches: []Batch{{"a", 1}},
		Graders: []Grader{{"x", 1}},
		Edges:   []Edge{{0, 0, 1}},
	}
	tests := []struct {
		name  string
		edit  func(p *Problem)
		field string
	}{
		{"empty batch", func(p *Problem) { p.Batches[0].Size = 0 }, "batches[0].size"},
		{"unknown batch", func(p *Problem) { p.Edges[0].Batch = 1 }, "edges[0].batch"},
		{"unknown grader", func(p *Problem) { p.Edges[0].Grader = -1 }, "edges[0].grader"},
		{"huge score", func(p *Problem) { p.Edges[0].Score = MaxMagnitude + 1 }, "edges[0].score"},
		{"duplicate pair", func(p *Problem) { p.Edges = append(p.Edges, Edge{0, 0, 2}) }, "edges"},
		{"decreasing penalty", func(p *Problem) { p.SpreadPenalty = []int64{0, 5, 4} }, "spreadPenalty[2]"},
		{"huge penalty", func(p *Problem) { p.SpreadPenalty = []int64{-MaxMagnitude - 1} }, "spreadPenalty[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			p.Batches = append([]Batch(nil), ok.Batches...)
			p.Edges = append([]Edge(nil), ok.Edges...)
			tt.edit(&p)
			for name, f := range map[string]func(Problem) (Solution, error){"Solve": Solve, "Greedy": Greedy} {
				_, err := f(p)
				var e *errs.Error
				if !errs.Is(err, errs.Invalid) || !errors.As(err, &e) || e.Field != tt.field {
					t.Errorf("%s: error %v, want invalid %s", name, err, tt.field)
				}
			}
		})
	}
	if _, err := Solve(ok); err != nil {
		t.Fatalf("valid problem: %v", err)
	}
}

// randomProblem draws a round. With uniform, all batches have one size, the
// case in which Solve is exact by construction.
func randomProblem(r *rand.Rand, nB, nG, maxEligible int, uniform bool) Problem {
	p := Problem{Batches: make([]Batch, nB), Graders: make([]Grader, nG)}
	size := 1 + r.IntN(3)
	for b := range p.Batches {
		s := size
		if !uniform {
			s = 1 + r.IntN(4)
		}
		p.Batches[b] = Batch{ID: fmt.Sprint("b", b), Size: s}
	}
	for g := range p.Graders {
		p.Graders[g] = Grader{ID: fmt.Sprint("g", g), Capacity: r.IntN(9)}
	}
	for b := range p.Batches {
		for _, g := range r.Perm(nG)[:r.IntN(min(maxEligible, nG)+1)] {
			p.Edges = append(p.Edges, Edge{b, g, int64(r.IntN(21) - 5)})
		}
	}
	if r.IntN(2) == 0 {
		k := r.IntN(4)
		p.SpreadPenalty = make([]int64, k)
		var v int64
		for i := range p.SpreadPenalty {
			v += int64(r.IntN(6))
			p.SpreadPenalty[i] = v
		}
	}
	return p
}

// TestSolveProperties checks, on random small rounds, that Solve is feasible,
// deterministic and independent of edge order, matches brute force whenever
// it claims optimality (always when batch sizes are uniform), and otherwise
// lies between brute force and its bound.
func TestSolveProperties(t *testing.T) {
	check := func(t *testing.T, seed uint64, uniform bool) bool {
		r := rand.New(rand.NewPCG(seed, 0))
		p := randomProblem(r, 1+r.IntN(6), 1+r.IntN(4), 4, uniform)
		s, err := Solve(p)
		if err != nil {
			t.Logf("seed %d: %v", seed, err)
			return false
		}
		checkValid(t, p, s)
		again, _ := Solve(p)
		shuffled := p
		shuffled.Edges = append([]Edge(nil), p.Edges...)
		r.Shuffle(len(shuffled.Edges), func(i, j int) {
			shuffled.Edges[i], shuffled.Edges[j] = shuffled.Edges[j], shuffled.Edges[i]
		})
		perm, _ := Solve(shuffled)
		if !reflect.DeepEqual(s, again) || !reflect.DeepEqual(s, perm) {
			t.Logf("seed %d: not deterministic", seed)
			return false
		}
		bf := bruteForce(p)
		switch {
		case uniform && !s.Optimal:
			t.Logf("seed %d: uniform sizes but not optimal", seed)
			return false
		case s.Optimal && s.Objective != bf.Objective:
			t.Logf("seed %d: claims optimal %+v, brute force %+v", seed, s.Objective, bf.Objective)
			return false
		case bf.Objective.Better(s.Bound) || s.Objective.Better(bf.Objective):
			t.Logf("seed %d: %+v, brute force %+v, bound %+v", seed, s.Objective, bf.Objective, s.Bound)
			return false
		}
		g, _ := Greedy(p)
		checkValid(t, p, g)
		if g.Objective.Better(s.Objective) {
			t.Logf("seed %d: greedy %+v beats %+v (bound %+v)\n%+v\n%v %v", seed, g.Objective, s.Objective, s.Bound, p, graders(s), graders(g))
			return false
		}
		return true
	}
	cfg := &quick.Config{MaxCount: 3000}
	t.Run("uniform sizes", func(t *testing.T) {
		if err := quick.Check(func(seed uint64) bool { return check(t, seed, true) }, cfg); err != nil {
			t.Error(err)
		}
	})
	t.Run("mixed sizes", func(t *testing.T) {
		if err := quick.Check(func(seed uint64) bool { return check(t, seed, false) }, cfg); err != nil {
			t.Error(err)
		}
	})
}

// TestCompareSmall measures, on many random small rounds, how often Solve and
// Greedy reach the brute-force optimum. The figures go to
// docs/bench/matching.md; run with -v to see them.
// TestCompareSmall compares Solve and Greedy with brute force on 5,000
// small random problems of each kind: Solve is never beaten by brute force
// when it claims a proof, never places fewer batches than Greedy, and
// reaches the optimum in (nearly) every round; the shares are logged for
// docs/BENCHMARKS.md.
func TestCompareSmall(t *testing.T) {
	for _, tc := range []struct {
		uniform bool
		minOpt  int // rounds of n where Solve must reach the optimum (measured: 5000 and 4712)
	}{{true, 5000}, {false, 4500}} {
		r := rand.New(rand.NewPCG(1, 2))
		const n = 5000
		var solveOpt, solveProven, greedyOpt, greedyFewer int
		for i := range n {
			p := randomProblem(r, 6, 4, 4, tc.uniform)
			s, _ := Solve(p)
			g, _ := Greedy(p)
			bf := bruteForce(p)
			switch {
			case bf.Objective.Better(s.Objective) && s.Optimal:
				t.Fatalf("uniform=%v round %d: Solve claims optimal at %+v; brute force finds %+v", tc.uniform, i, s.Objective, bf.Objective)
			case s.Assigned < g.Assigned:
				t.Fatalf("uniform=%v round %d: Solve places %d batches, Greedy %d, brute force %d", tc.uniform, i, s.Assigned, g.Assigned, bf.Assigned)
			case s.Objective.Better(bf.Objective):
				t.Fatalf("uniform=%v round %d: Solve %+v beats brute force %+v: one of them is wrong", tc.uniform, i, s.Objective, bf.Objective)
			}
			if s.Objective == bf.Objective {
				solveOpt++
			}
			if s.Optimal {
				solveProven++
			}
			if g.Objective == bf.Objective {
				greedyOpt++
			}
			if g.Assigned < bf.Assigned {
				greedyFewer++
			}
		}
		t.Logf("uniform=%v rounds=%d (6 batches, 4 graders): Solve optimal %d (proven %d); Greedy optimal %d, fewer batches in %d",
			tc.uniform, n, solveOpt, solveProven, greedyOpt, greedyFewer)
		if solveOpt < tc.minOpt || solveOpt < greedyOpt {
			t.Errorf("uniform=%v: Solve optimal in %d of %d rounds (Greedy %d), want %d or more", tc.uniform, solveOpt, n, greedyOpt, tc.minOpt)
		}
	}
}
