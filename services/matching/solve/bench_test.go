package solve

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchRound draws a round shaped like a busy real one: nB batches from
// classes of 18–34 students, nB/2 graders with mixed free capacity, each batch
// eligible for 5–50 random graders, and a rising spread penalty. With uniform
// every batch holds 10 submissions (the caller splits classes into batches of
// one size); otherwise a class is split into near-equal batches of at most 10,
// so sizes range from 6 to 10.
func benchRound(seed uint64, nB int, uniform bool) Problem {
	r := rand.New(rand.NewPCG(seed, 7))
	nG := nB / 2
	p := Problem{
		Batches:       make([]Batch, 0, nB),
		Graders:       make([]Grader, nG),
		SpreadPenalty: []int64{0, 100_000, 250_000, 450_000, 700_000},
	}
	for len(p.Batches) < nB {
		students := 18 + r.IntN(17)
		k := (students + 9) / 10
		for i := 0; i < k && len(p.Batches) < nB; i++ {
			size := 10
			if !uniform {
				size = students / k
				if i < students%k {
					size++
				}
			}
			p.Batches = append(p.Batches, Batch{ID: fmt.Sprint("b", len(p.Batches)), Size: size})
		}
	}
	quality := make([]int64, nG)
	for g := range p.Graders {
		// Free room: a few graders nearly full, most with room for 1–4 batches.
		p.Graders[g] = Grader{ID: fmt.Sprint("g", g), Capacity: 10*r.IntN(5) + r.IntN(10)}
		quality[g] = int64(r.IntN(600_000))
	}
	for b := range p.Batches {
		for _, g := range r.Perm(nG)[:5+r.IntN(46)] {
			p.Edges = append(p.Edges, Edge{Batch: b, Grader: g, Score: quality[g] + int64(r.IntN(400_000))})
		}
	}
	return p
}

// BenchmarkSolve times Solve and reports its objective (assigned batches, net
// score in millions), Greedy's on the same round, and Solve's bound.
func BenchmarkSolve(b *testing.B) {
	for _, uniform := range []bool{true, false} {
		for _, n := range []int{100, 250, 500, 1000, 2000} {
			name := fmt.Sprintf("sizes=%s/batches=%d", map[bool]string{true: "uniform", false: "mixed"}[uniform], n)
			b.Run(name, func(b *testing.B) {
				p := benchRound(42, n, uniform)
				g, err := Greedy(p)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				var s Solution
				for b.Loop() {
					s, err = Solve(p)
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(s.Assigned), "assigned")
				b.ReportMetric(float64(s.Net)/1e6, "net-M")
				b.ReportMetric(float64(s.Bound.Assigned), "bound-assigned")
				b.ReportMetric(float64(s.Bound.Net)/1e6, "bound-net-M")
				b.ReportMetric(float64(g.Assigned), "greedy-assigned")
				b.ReportMetric(float64(g.Net)/1e6, "greedy-net-M")
			})
		}
	}
}

// BenchmarkGreedy times the baseline on the largest round.
func BenchmarkGreedy(b *testing.B) {
	p := benchRound(42, 2000, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Greedy(p); err != nil {
			b.Fatal(err)
		}
	}
}
