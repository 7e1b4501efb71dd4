package solve

import "math"

// flow is one run of the primal-dual min-cost max-flow on
//
//	s → batch (capacity 1, cost 0) → grader (capacity 1, cost −Score) → t
//
// where grader g's arc to t carries at most limit[g] units and its k-th unit
// costs penalty(k). Because penalty is non-decreasing, that arc behaves
// exactly like limit[g] parallel unit arcs of increasing cost: the residual
// arc g→t costs penalty(count+1) and t→g costs −penalty(count). Arcs into s
// and out of t are never on a shortest s–t path, so they are not stored.
//
// Node numbering: batches 0..nB-1, graders nB..nB+nG-1, then s and t.
type flow struct {
	in     *instance
	nB     int32
	s, t   int32
	limit  []int32 // per grader: most batches it may take
	off    []bool  // per edge: not part of the network
	count  []int32 // per grader: batches it holds
	assign []int32 // per batch: its edge, or -1
	head   []int32 // per grader: first batch it holds, or -1
	next   []int32 // per batch: next batch of the same grader, or -1
	prev   []int32 // per batch: previous batch of the same grader, or -1

	pi   []int64 // node potentials; every residual arc has cost+pi[u]-pi[v] ≥ 0
	dist []int64 // Dijkstra distances in reduced costs
	heap minHeap
	mark []bool  // per phase: on the DFS stack, or found unable to reach t
	cur  []int32 // per phase: per batch, the next edge to try
}

const inf = math.MaxInt64

// minCostFlow returns, per batch, the edge chosen by a min-cost max-flow with
// the given per-grader batch limits and without the edges switched off, or -1
// for a batch left out.
func (in *instance) minCostFlow(limit []int32, off []bool) []int32 {
	nB, nG := int32(len(in.p.Batches)), int32(len(in.p.Graders))
	n := nB + nG + 2
	f := &flow{
		in: in, nB: nB, s: nB + nG, t: nB + nG + 1,
		limit:  limit,
		off:    off,
		count:  make([]int32, nG),
		assign: make([]int32, nB),
		head:   make([]int32, nG),
		next:   make([]int32, nB),
		prev:   make([]int32, nB),
		pi:     make([]int64, n),
		dist:   make([]int64, n),
		mark:   make([]bool, n),
		cur:    make([]int32, nB),
	}
	for i := range f.assign {
		f.assign[i], f.next[i], f.prev[i] = -1, -1, -1
	}
	for g := range f.head {
		f.head[g] = -1
	}
	f.initPotentials()
	for f.shortestPaths() {
		f.augment()
	}
	return f.assign
}

// initPotentials makes every arc's reduced cost non-negative on the empty
// flow, whose residual network is acyclic: s and batches at 0, a grader at its
// cheapest incoming arc, t at the cheapest way in.
func (f *flow) initPotentials() {
	in := f.in
	for g := range f.count {
		f.pi[f.nB+int32(g)] = inf
	}
	for e, g := range in.grader {
		if c := -in.score[e]; c < f.pi[f.nB+g] {
			f.pi[f.nB+g] = c
		}
	}
	f.pi[f.t] = inf
	for g := range f.count {
		v := f.nB + int32(g)
		if f.pi[v] == inf {
			f.pi[v] = 0 // no edges: unreachable, any value will do
			continue
		}
		if f.limit[g] > 0 {
			f.pi[f.t] = min(f.pi[f.t], f.pi[v]+in.penalty(1))
		}
	}
	if f.pi[f.t] == inf {
		f.pi[f.t] = 0
	}
}

// shortestPaths runs Dijkstra from s on reduced costs, stopping when t is
// settled, and adds the distances (capped at t's) to the potentials, which
// keeps every reduced cost non-negative and makes the arcs of shortest s–t
// paths exactly those of reduced cost 0. It reports whether t is reachable,
// i.e. whether the flow can still grow.
func (f *flow) shortestPaths() bool {
	in, pi, dist := f.in, f.pi, f.dist
	for i := range dist {
		dist[i] = inf
	}
	f.heap = f.heap[:0]
	dist[f.s] = 0
	for b := int32(0); b < f.nB; b++ {
		if f.assign[b] < 0 && in.start[b] < in.start[b+1] {
			f.relax(b, pi[f.s]-pi[b])
		}
	}
	for len(f.heap) > 0 {
		it := f.heap.pop()
		u := it.v
		if it.d > dist[u] {
			continue
		}
		if u == f.t {
			break
		}
		if u < f.nB {
			for e := in.start[u]; e < in.start[u+1]; e++ {
				if e == f.assign[u] || f.off[e] {
					continue
				}
				v := f.nB + in.grader[e]
				f.relax(v, it.d-in.score[e]+pi[u]-pi[v])
			}
			continue
		}
		g := u - f.nB
		for b := f.head[g]; b >= 0; b = f.next[b] {
			f.relax(b, it.d+in.score[f.assign[b]]+pi[u]-pi[b])
		}
		if f.count[g] < f.limit[g] {
			f.relax(f.t, it.d+in.penalty(f.count[g]+1)+pi[u]-pi[f.t])
		}
	}
	d := dist[f.t]
	if d == inf {
		return false
	}
	for v := range pi {
		pi[v] += min(dist[v], d)
	}
	return true
}

func (f *flow) relax(v int32, d int64) {
	if d < f.dist[v] {
		f.dist[v] = d
		f.heap.push(item{d, v})
	}
}

// augment pushes flow along shortest paths (arcs of reduced cost 0) from
// free batches, in batch order, until this phase's search finds no more. A
// path always exists when the phase starts, so every phase grows the flow.
// Augmenting along zero-reduced-cost paths keeps all reduced costs
// non-negative (the next unit of a grader's sink arc costs at least as much as
// the last), so the flow stays of minimum cost for its value.
func (f *flow) augment() {
	in := f.in
	clear(f.mark)
	copy(f.cur, in.start[:f.nB])
	for b := int32(0); b < f.nB; b++ {
		if f.assign[b] < 0 && !f.mark[b] && in.start[b] < in.start[b+1] && f.pi[f.s] == f.pi[b] {
			f.fromBatch(b)
		}
	}
}

// fromBatch looks for a zero-reduced-cost path from batch b to t and, if it
// finds one, moves every batch on it to its next grader. A node it fails from
// stays marked for the rest of the phase; that can only skip paths, which the
// next phase finds.
func (f *flow) fromBatch(b int32) bool {
	in := f.in
	f.mark[b] = true
	for ; f.cur[b] < in.start[b+1]; f.cur[b]++ {
		e := f.cur[b]
		if e == f.assign[b] || f.off[e] {
			continue
		}
		v := f.nB + in.grader[e]
		if f.mark[v] || -in.score[e]+f.pi[b]-f.pi[v] != 0 {
			continue
		}
		if f.fromGrader(v) {
			f.move(b, e)
			f.mark[b] = false
			return true
		}
	}
	return false
}

// fromGrader is fromBatch for grader node v: either v takes one more batch
// (its arc to t), or one of its batches moves on to another grader.
func (f *flow) fromGrader(v int32) bool {
	in := f.in
	g := v - f.nB
	f.mark[v] = true
	if f.count[g] < f.limit[g] && in.penalty(f.count[g]+1)+f.pi[v]-f.pi[f.t] == 0 {
		f.mark[v] = false
		return true
	}
	for b := f.head[g]; b >= 0; b = f.next[b] {
		if f.mark[b] || in.score[f.assign[b]]+f.pi[v]-f.pi[b] != 0 {
			continue
		}
		if f.fromBatch(b) { // b has left g; stop walking g's list
			f.mark[v] = false
			return true
		}
	}
	return false
}

// move gives batch b the grader of edge e, taking it from its current one.
func (f *flow) move(b, e int32) {
	if old := f.assign[b]; old >= 0 {
		g := f.in.grader[old]
		if f.prev[b] >= 0 {
			f.next[f.prev[b]] = f.next[b]
		} else {
			f.head[g] = f.next[b]
		}
		if f.next[b] >= 0 {
			f.prev[f.next[b]] = f.prev[b]
		}
		f.count[g]--
	}
	g := f.in.grader[e]
	f.prev[b], f.next[b] = -1, f.head[g]
	if f.head[g] >= 0 {
		f.prev[f.head[g]] = b
	}
	f.head[g] = b
	f.count[g]++
	f.assign[b] = e
}

type item struct {
	d int64
	v int32
}

// minHeap is a binary heap ordered by distance, then node, so runs are
// reproducible.
type minHeap []item

func (h item) less(o item) bool { return h.d < o.d || h.d == o.d && h.v < o.v }

func (h *minHeap) push(x item) {
	*h = append(*h, x)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !a[i].less(a[p]) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *minHeap) pop() item {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && a[r].less(a[l]) {
			c = r
		}
		if !a[c].less(a[i]) {
			break
		}
		a[i], a[c] = a[c], a[i]
		i = c
	}
	*h = a
	return top
}
