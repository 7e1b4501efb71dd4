package matching

import (
	"fmt"
	"math"
	"strings"
)

// The weights of a match's score, in points. A batch's score is the sum of
// Weight × Value over the factors, each Value between 0 and 1.
const (
	weightQuality    = 40 // calibration accuracy, approvals, helpfulness, agreement
	weightOnTime     = 30 // share of submitted work that was on time
	weightContinuity = 20 // graded this teacher's work before (or the earlier version)
	weightPreferred  = 25 // the teacher named the grader as preferred
	weightLoad       = 10 // room left: spreads work to graders with less on their plate
	// spreadStep is the penalty, in points, added for each further batch a
	// grader receives in the same round (0 for the first, then 10, 20, …),
	// so work is spread and new graders get a start.
	spreadStep = 10
	// priorQuality and priorOnTime stand in for a new grader's record, so
	// that new graders compete fairly until they have one.
	priorQuality = 0.75
	priorOnTime  = 0.9
	scale        = 1000 // points to solver units
)

// spreadPenalty is the solver's per-load penalty in solver units.
func spreadPenalty(n int) []int64 {
	out := make([]int64, max(n, 1))
	for k := range out {
		out[k] = int64(k * spreadStep * scale)
	}
	return out
}

// factors scores grader g for batch b. continuity says the grader has
// graded this teacher's work before; prefer says the teacher prefers them.
func factors(b Batch, g candidate, continuity, prefer bool) []Factor {
	q := g.Stats.quality()
	qual, qnote := priorQuality, "new grader: starting value"
	var parts []float64
	for _, p := range []*float64{q.CalibrationAccuracy, q.ApprovalRate, q.Helpfulness, q.Agreement} {
		if p != nil {
			parts = append(parts, *p)
		}
	}
	if len(parts) > 0 {
		qual = 0
		for _, p := range parts {
			qual += p
		}
		qual /= float64(len(parts))
		qnote = fmt.Sprintf("from %d measures of past work", len(parts))
	}
	onTime, onote := priorOnTime, "no submitted work yet: starting value"
	if q.OnTimeRate != nil {
		onTime, onote = *q.OnTimeRate, fmt.Sprintf("%d of %d submissions on time", q.OnTime, q.Submitted)
	}
	cont, cnote := 0.0, "has not graded for this teacher"
	switch {
	case b.Prefer == g.GraderID:
		cont, cnote = 1, "graded the earlier version of this work"
	case continuity:
		cont, cnote = 1, "has graded this teacher's class before"
	}
	pref, pnote := 0.0, "not named by the teacher"
	if prefer {
		pref, pnote = 1, "preferred by the teacher"
	}
	load, lnote := 0.0, "no capacity left"
	if g.Capacity > 0 {
		load = math.Max(0, float64(g.Free-b.Size())) / float64(g.Capacity)
		lnote = fmt.Sprintf("%d of %d places free after this batch", max(0, g.Free-b.Size()), g.Capacity)
	}
	return []Factor{
		factor("quality", weightQuality, qual, qnote),
		factor("on_time", weightOnTime, onTime, onote),
		factor("continuity", weightContinuity, cont, cnote),
		factor("teacher_preference", weightPreferred, pref, pnote),
		factor("spare_capacity", weightLoad, load, lnote),
	}
}

func factor(name string, w, v float64, note string) Factor {
	return Factor{Name: name, Weight: w, Value: round3(v), Points: round3(w * v), Note: note}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// total is the factors' points in solver units.
func total(fs []Factor) int64 {
	var t float64
	for _, f := range fs {
		t += f.Points
	}
	return int64(math.Round(t * scale))
}

// explain writes the explanation of a match.
func explain(b Batch, g candidate, fs []Factor, load int, eligible int) Explanation {
	pen := float64((load - 1) * spreadStep)
	score := float64(total(fs))/scale - pen
	var notes []string
	for _, f := range fs {
		notes = append(notes, fmt.Sprintf("%s %.1f/%g (%s)", strings.ReplaceAll(f.Name, "_", " "), f.Points, f.Weight, f.Note))
	}
	reader := "grade"
	if b.Reader == Second {
		reader = "second-read (blind)"
	}
	summary := fmt.Sprintf("%s was chosen to %s %s of grade %d %s, out of %s: teaches %s at this grade, vetted, no conflict of interest, and has room before the due date. Score %.1f: %s",
		g.Name, reader, count(b.Size(), "submission"), b.GradeLevel, b.Subject, count(eligible, "eligible grader"), b.Subject, score, strings.Join(notes, "; "))
	if pen > 0 {
		summary += fmt.Sprintf("; minus %.0f for being their batch number %d in this round (spreading work)", pen, load)
	}
	return Explanation{Summary: summary + ".", Factors: fs, Penalty: pen, Load: load, Score: round3(score), Eligible: eligible}
}

// count is n with the noun in its number: "1 submission", "5 submissions".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
