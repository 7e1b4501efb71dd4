package solve

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
