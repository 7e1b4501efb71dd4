package solve

import "slices"

// extend places batches that assign leaves open by ejection chains: batch x
// goes to an eligible grader with room, or to one that makes room by passing
// one of its batches on along the same kind of chain, each grader at most once.
// Each chain assigns one more batch and keeps every grader within capacity.
// It tries every open batch, in batch order, until a full pass places none.
func (in *instance) extend(assign []int32) {
	nB, nG := len(in.p.Batches), len(in.p.Graders)
	load := make([]int, nG)
	held := make([][]int32, nG)
	for b, e := range assign {
		if e >= 0 {
			g := in.grader[e]
			load[g] += in.p.Batches[b].Size
			held[g] = append(held[g], int32(b))
		}
	}
	parent := make([]int32, nB) // the batch that x makes room for
	via := make([]int32, nB)    // the edge that batch takes
	seenB := make([]bool, nB)
	seenG := make([]bool, nG)
	var queue, touchedB, touchedG []int32
	onPath := func(x int32, g int32) bool {
		for ; x >= 0; x = parent[x] {
			if e := assign[x]; e >= 0 && in.grader[e] == g {
				return true
			}
		}
		return false
	}
	place := func(x, e int32) { // move x to edge e and fix the books
		if old := assign[x]; old >= 0 {
			g := in.grader[old]
			load[g] -= in.p.Batches[x].Size
			for i, y := range held[g] {
				if y == x {
					held[g] = append(held[g][:i], held[g][i+1:]...)
					break
				}
			}
		}
		g := in.grader[e]
		load[g] += in.p.Batches[x].Size
		held[g] = append(held[g], x)
		assign[x] = e
	}
	chain := func(b int32) bool {
		defer func() {
			for _, x := range touchedB {
				seenB[x] = false
			}
			for _, g := range touchedG {
				seenG[g] = false
			}
			touchedB, touchedG = touchedB[:0], touchedG[:0]
		}()
		queue = append(queue[:0], b)
		parent[b], seenB[b] = -1, true
		touchedB = append(touchedB, b)
		for qi := 0; qi < len(queue); qi++ {
			x := queue[qi]
			size := in.p.Batches[x].Size
			for e := in.start[x]; e < in.start[x+1]; e++ {
				g := in.grader[e]
				if e == assign[x] {
					continue
				}
				free := in.p.Graders[g].Capacity - load[g]
				if size <= free && !onPath(x, g) {
					// Apply from the end: x takes e, then each batch up the
					// chain takes the room its successor left.
					for x >= 0 {
						p, pe := parent[x], via[x]
						place(x, e)
						x, e = p, pe
					}
					return true
				}
				if seenG[g] {
					continue
				}
				seenG[g] = true
				touchedG = append(touchedG, g)
				for _, a := range held[g] {
					if !seenB[a] && in.p.Batches[a].Size+free >= size {
						seenB[a] = true
						touchedB = append(touchedB, a)
						parent[a], via[a] = x, e
						queue = append(queue, a)
					}
				}
			}
		}
		return false
	}
	for progress := true; progress; {
		progress = false
		for b := range assign {
			if assign[b] < 0 && in.start[b] < in.start[b+1] && chain(int32(b)) {
				progress = true
			}
		}
	}
}

// improve raises the net score of a feasible assign by local search until
// neither step finds a gain: it moves a batch to another eligible grader with
// room (its score change minus the change in spread penalties), and swaps two
// batches between their graders when both still fit (the counts, so the
// penalties, stay the same). Both scan in batch order and only take strict
// gains, so the result is deterministic, and never unassign a batch or break
// capacity, so the Objective only grows.
func (in *instance) improve(assign []int32) {
	nG := len(in.p.Graders)
	lr := localRound{in: in, assign: assign, count: make([]int32, nG), load: make([]int, nG), held: make([][]int32, nG)}
	for b, e := range assign {
		if e >= 0 {
			lr.add(int32(b), e)
		}
	}
	for changed := true; changed; {
		changed = false
		for b := range assign {
			if assign[b] >= 0 && (lr.move(int32(b)) || lr.swap(int32(b))) {
				changed = true
			}
		}
	}
}

// localRound is improve's book of who holds what.
type localRound struct {
	in     *instance
	assign []int32
	count  []int32
	load   []int
	held   [][]int32 // per grader: its batches
}

func (lr *localRound) add(b, e int32) {
	g := lr.in.grader[e]
	lr.assign[b] = e
	lr.count[g]++
	lr.load[g] += lr.in.p.Batches[b].Size
	lr.held[g] = append(lr.held[g], b)
}

func (lr *localRound) remove(b int32) {
	g := lr.in.grader[lr.assign[b]]
	lr.assign[b] = -1
	lr.count[g]--
	lr.load[g] -= lr.in.p.Batches[b].Size
	lr.held[g] = slices.DeleteFunc(lr.held[g], func(x int32) bool { return x == b })
}

// fits reports whether grader g has room for a batch of size after giving up
// freed submissions.
func (lr *localRound) fits(g int32, size, freed int) bool {
	return lr.load[g]-freed+size <= lr.in.p.Graders[g].Capacity
}

// move gives batch b to the eligible grader with room where it adds the most
// net score, if that beats where it is.
func (lr *localRound) move(b int32) bool {
	in, cur := lr.in, lr.assign[b]
	size, from := in.p.Batches[b].Size, in.grader[cur]
	best, bestVal := cur, in.score[cur]-in.penalty(lr.count[from])
	for e := in.start[b]; e < in.start[b+1]; e++ {
		g := in.grader[e]
		if g == from || !lr.fits(g, size, 0) {
			continue
		}
		if v := in.score[e] - in.penalty(lr.count[g]+1); v > bestVal {
			best, bestVal = e, v
		}
	}
	if best == cur {
		return false
	}
	lr.remove(b)
	lr.add(b, best)
	return true
}

// swap exchanges batch b with the batch of another grader that gains the
// most score, if any gains and both fit.
func (lr *localRound) swap(a int32) bool {
	in, ea := lr.in, lr.assign[a]
	ga, sa := in.grader[ea], in.p.Batches[a].Size
	bestB, bestEA, bestEB, bestGain := int32(-1), int32(-1), int32(-1), int64(0)
	for e := in.start[a]; e < in.start[a+1]; e++ {
		gb := in.grader[e]
		if gb == ga {
			continue
		}
		for _, b := range lr.held[gb] {
			sb := in.p.Batches[b].Size
			eb := in.edge(b, ga)
			if eb < 0 || !lr.fits(gb, sa, sb) || !lr.fits(ga, sb, sa) {
				continue
			}
			gain := in.score[e] + in.score[eb] - in.score[ea] - in.score[lr.assign[b]]
			if gain > bestGain || gain == bestGain && gain > 0 && b < bestB {
				bestB, bestEA, bestEB, bestGain = b, e, eb, gain
			}
		}
	}
	if bestB < 0 {
		return false
	}
	lr.remove(a)
	lr.remove(bestB)
	lr.add(a, bestEA)
	lr.add(bestB, bestEB)
	return true
}

// edge is the edge pairing batch b with grader g, or -1.
func (in *instance) edge(b, g int32) int32 {
	lo, hi := in.start[b], in.start[b+1]
	i, ok := slices.BinarySearch(in.grader[lo:hi], g)
	if !ok {
		return -1
	}
	return lo + int32(i)
}
