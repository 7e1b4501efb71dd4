package matching

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/matching/solve"
)

// roundEnv is what a round knows besides batches and graders: each batch's
// school, the teachers' preferences, anchors and calibrations, and who has
// graded for whom.
type roundEnv struct {
	schools    map[string]school // by assignment ID
	prefs      map[string]Prefs  // by teacher ID
	anchored   map[string]bool   // assignment IDs with anchor papers
	calibrated map[string]bool   // "<assignment id>:<grader id>" passed calibration
	history    map[string]bool   // "<teacher id>:<grader id>" graded before
	now        time.Time
}

// plan is a round's problem with what is needed to explain it.
type plan struct {
	problem  solve.Problem
	factors  [][]Factor       // per edge
	start    []int            // edges of batch b are [start[b], start[b+1])
	eligible []int            // per batch: how many graders were eligible
	failed   []map[reason]int // per batch: graders failing each rule
}

// buildPlan checks every grader against every batch and scores the eligible
// pairs. Graders' capacity in the problem is their free capacity.
func buildPlan(batches []Batch, cands []candidate, env roundEnv) plan {
	p := plan{
		problem:  solve.Problem{Batches: make([]solve.Batch, len(batches)), Graders: make([]solve.Grader, len(cands))},
		eligible: make([]int, len(batches)),
		failed:   make([]map[reason]int, len(batches)),
		start:    make([]int, len(batches)+1),
	}
	for i, g := range cands {
		p.problem.Graders[i] = solve.Grader{ID: g.GraderID, Capacity: g.Free}
	}
	for bi, b := range batches {
		p.problem.Batches[bi] = solve.Batch{ID: b.ID, Size: b.Size()}
		p.failed[bi] = map[reason]int{}
		prefs := env.prefs[b.TeacherID]
		for gi, g := range cands {
			g.Calibrated = env.calibrated[b.AssignmentID+":"+g.GraderID]
			if r := check(b, g, env.schools[b.AssignmentID], prefs, env.anchored[b.AssignmentID], env.now); r != eligible {
				p.failed[bi][r]++
				continue
			}
			fs := factors(b, g, env.history[b.TeacherID+":"+g.GraderID], prefs.prefers(g.GraderID))
			p.problem.Edges = append(p.problem.Edges, solve.Edge{Batch: bi, Grader: gi, Score: total(fs)})
			p.factors = append(p.factors, fs)
			p.eligible[bi]++
		}
		p.start[bi+1] = len(p.problem.Edges)
	}
	p.problem.SpreadPenalty = spreadPenalty(len(batches))
	return p
}

// edgeFactors finds the factors of the pair (batch, grader).
func (p plan) edgeFactors(b, g int) []Factor {
	for i := p.start[b]; i < p.start[b+1]; i++ {
		if p.problem.Edges[i].Grader == g {
			return p.factors[i]
		}
	}
	return nil
}

// RunRound runs one matching round now: it batches newly published work,
// splits batches no grader can take whole, assigns every open batch at once
// by an exact min-cost flow, makes an offer for each match with its
// explanation, and records on each assignment why any batch found no
// grader. Only one round runs at a time across processes (a lease in the
// store); RunRound waits up to ten seconds for a running one, then returns
// conflict.
func (s *Service) RunRound(ctx context.Context) (Round, error) {
	release, err := s.waitLease(ctx, "round", roundLease, 10*time.Second)
	if err != nil {
		return Round{}, err
	}
	defer release()
	return s.round(ctx)
}

func (s *Service) round(ctx context.Context) (Round, error) {
	started := time.Now()
	rd := Round{ID: newID("rnd"), At: s.stamp()}
	assignments, err := s.intake.OpenAssignments(ctx)
	if err != nil {
		return rd, err
	}
	touched := map[string]bool{}
	for _, a := range assignments {
		stale, err := s.ensureBatches(ctx, a)
		if err != nil {
			return rd, err
		}
		// An assignment's status is rewritten only when this round says
		// something new about it: it has open batches, or its last word
		// (unmatched batches) no longer holds. Most open assignments of a
		// school year have neither.
		if stale {
			touched[a.ID] = true
		}
	}
	batches, err := s.activeBatches(ctx, BatchOpen)
	if err != nil {
		return rd, err
	}
	slices.SortFunc(batches, func(a, b Batch) int { return cmpBatch(a, b) })
	cands, err := s.candidates(ctx)
	if err != nil {
		return rd, err
	}
	env, err := s.loadEnv(ctx, batches, rd.At)
	if err != nil {
		return rd, err
	}
	if batches, err = s.splitOversized(ctx, batches, cands, env); err != nil {
		return rd, err
	}
	p := buildPlan(batches, cands, env)
	sol, err := solve.Solve(p.problem)
	if err != nil {
		return rd, err
	}
	unmatched := map[string][]Unmatched{}
	for bi, b := range batches {
		touched[b.AssignmentID] = true
		a := sol.Assignments[bi]
		if a.Grader == solve.Unassigned {
			unmatched[b.AssignmentID] = append(unmatched[b.AssignmentID], Unmatched{BatchID: b.ID, Reason: whyUnmatched(b, p.eligible[bi], p.failed[bi])})
			continue
		}
		why := explain(b, cands[a.Grader], p.edgeFactors(bi, a.Grader), a.Load, p.eligible[bi])
		if err := s.offer(ctx, b, cands[a.Grader].GraderID, rd.ID, why); err != nil {
			return rd, err
		}
		rd.Assigned++
	}
	for id := range touched {
		set := bson.D{{Key: "unmatched", Value: nonNil(unmatched[id])}, {Key: "last_round", Value: rd.At}, {Key: "updated_at", Value: rd.At}}
		if _, err := s.c(colStatus).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: set}}, options.Update().SetUpsert(true)); err != nil {
			return rd, errs.Wrap(err, "record matching status")
		}
	}
	rd.Batches, rd.Graders, rd.Optimal, rd.Score = len(batches), len(cands), sol.Optimal, sol.Net
	rd.ElapsedMS = time.Since(started).Milliseconds()
	if len(batches) > 0 {
		if _, err := s.c(colRounds).InsertOne(ctx, rd); err != nil {
			return rd, errs.Wrap(err, "record round")
		}
	}
	if rd.Assigned > 0 {
		s.log.Info("matching round", "batches", rd.Batches, "graders", rd.Graders, "assigned", rd.Assigned, "ms", rd.ElapsedMS)
	}
	return rd, nil
}

func cmpBatch(a, b Batch) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	if a.ID < b.ID {
		return -1
	}
	if a.ID > b.ID {
		return 1
	}
	return 0
}

// whyUnmatched explains a batch the round left open.
func whyUnmatched(b Batch, eligible int, failed map[reason]int) string {
	if eligible > 0 {
		return fmt.Sprintf("All %s for grade %d %s had their capacity used by other batches in this round; it will be matched when capacity frees up.", count(eligible, "eligible grader"), b.GradeLevel, b.Subject)
	}
	return explainNone(b, failed)
}

// candidates loads every grader profile with its free capacity: capacity
// minus held work minus open offers.
func (s *Service) candidates(ctx context.Context) ([]candidate, error) {
	var docs []profileDoc
	if err := s.findAll(ctx, colProfiles, bson.D{}, &docs); err != nil {
		return nil, err
	}
	var offers []Offer
	if err := s.findAll(ctx, colOffers, bson.D{{Key: "state", Value: OfferOpen}}, &offers); err != nil {
		return nil, err
	}
	reserved := map[string]int{}
	for _, o := range offers {
		reserved[o.GraderID] += o.Size
	}
	slices.SortFunc(docs, func(a, b profileDoc) int { return cmpString(a.GraderID, b.GraderID) })
	out := make([]candidate, len(docs))
	for i, d := range docs {
		out[i] = candidate{profileDoc: d, Free: d.Capacity - d.Held - reserved[d.GraderID]}
	}
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// loadEnv reads the schools, preferences, anchors, calibrations and history
// the batches need.
func (s *Service) loadEnv(ctx context.Context, batches []Batch, now time.Time) (roundEnv, error) {
	env := roundEnv{schools: map[string]school{}, prefs: map[string]Prefs{}, anchored: map[string]bool{},
		calibrated: map[string]bool{}, history: map[string]bool{}, now: now}
	for _, b := range batches {
		if _, ok := env.schools[b.AssignmentID]; ok {
			continue
		}
		env.schools[b.AssignmentID] = s.schoolOf(ctx, b)
		if _, ok := env.prefs[b.TeacherID]; !ok {
			p, err := s.prefs(ctx, b.TeacherID)
			if err != nil {
				return env, err
			}
			env.prefs[b.TeacherID] = p
		}
		anchors, err := s.anchors(ctx, b.AssignmentID)
		if err != nil {
			return env, err
		}
		if len(anchors.Anchors) > 0 {
			env.anchored[b.AssignmentID] = true
			passed, err := s.passedGraders(ctx, b.AssignmentID)
			if err != nil {
				return env, err
			}
			for _, g := range passed {
				env.calibrated[b.AssignmentID+":"+g] = true
			}
		}
	}
	var hist []struct {
		ID string `bson:"_id"`
	}
	if err := s.findAll(ctx, colHistory, bson.D{}, &hist); err != nil {
		return env, err
	}
	for _, h := range hist {
		env.history[h.ID] = true
	}
	return env, nil
}

// schoolOf is what the conflict checks need to know about b's school and
// teacher; what cannot be read stays empty (and so conflicts with nothing).
func (s *Service) schoolOf(ctx context.Context, b Batch) school {
	sch := school{ID: b.SchoolID}
	if sc, err := s.accounts.School(ctx, b.SchoolID); err == nil {
		sch.Name = sc.Name
	}
	if t, err := s.accounts.User(ctx, b.TeacherID); err == nil {
		sch.TeacherDomain = emailDomain(t.Email)
	}
	return sch
}

// splitOversized splits each open batch that no eligible grader has room
// for whole, into as few pieces as the eligible graders' free capacities
// allow, and returns the new list of open batches.
func (s *Service) splitOversized(ctx context.Context, batches []Batch, cands []candidate, env roundEnv) ([]Batch, error) {
	var out []Batch
	for _, b := range batches {
		var free []int
		fits := false
		for _, g := range cands {
			g.Calibrated = env.calibrated[b.AssignmentID+":"+g.GraderID]
			r := check(b, g, env.schools[b.AssignmentID], env.prefs[b.TeacherID], env.anchored[b.AssignmentID], env.now)
			if r == eligible {
				fits = true
				break
			}
			if r == noCapacity && g.Free > 0 {
				free = append(free, g.Free)
			}
		}
		sizes := chunks(b.Size(), free)
		if fits || len(sizes) < 2 {
			out = append(out, b)
			continue
		}
		pieces, err := s.split(ctx, b, sizes)
		if err != nil {
			return nil, err
		}
		out = append(out, pieces...)
	}
	return out, nil
}
