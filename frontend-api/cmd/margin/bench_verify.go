package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/services/analytics"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// verify checks what the teachers and the admin are shown against a
// recomputation from the raw documents (read with the driver, not through
// the services): every submission list, paged 10 at a time, holds each
// student once; every feedback list holds every read; every class summary
// counts the levels of the released first reads; every data wall shows each
// student's levels of the latest assignment; and the admin's totals add up.
// It also checks that every collection the services created answers a
// lookup by _id through an index.
func (b *bench) verify(ctx context.Context) error {
	if bad, err := b.d.store.UnindexedIDLookups(ctx); err != nil || len(bad) > 0 {
		return fmt.Errorf("bench: lookups by _id scan %v (%v)", bad, err)
	}
	var rubric intake.Rubric
	for _, c := range b.sc.classes {
		tok, err := b.token(ctx, c.teacher.ID)
		if err != nil {
			return err
		}
		for _, a := range c.assignments[:b.o.Assignments] {
			fbs, err := b.rawFeedback(ctx, bson.D{{Key: "assignment_id", Value: a}})
			if err != nil {
				return err
			}
			if err := b.verifyLists(ctx, tok, a, len(c.students), len(fbs)); err != nil {
				return err
			}
			var sum analytics.Summary
			if err := b.call(ctx, http.MethodGet, "/api/v1/analytics/assignments/"+a+"/summary", tok, nil, &sum); err != nil {
				return err
			}
			if err := checkSummary(sum, fbs); err != nil {
				return fmt.Errorf("bench: summary of %s: %w", a, err)
			}
		}
		if rubric.Criteria == nil {
			ag, err := b.d.intake.Assignment(ctx, c.assignments[0])
			if err != nil {
				return err
			}
			rubric = ag.Rubric
		}
		if err := b.verifyWall(ctx, tok, c, rubric); err != nil {
			return err
		}
	}
	return b.verifyTotals(ctx, len(rubric.Criteria))
}

// rawFeedback reads feedback documents with the driver.
func (b *bench) rawFeedback(ctx context.Context, filter bson.D) ([]feedback.Feedback, error) {
	cur, err := b.d.store.DB.Collection("feedback").Find(ctx, filter)
	if err != nil {
		return nil, err
	}
	var fbs []feedback.Feedback
	if err := cur.All(ctx, &fbs); err != nil {
		return nil, err
	}
	return fbs, nil
}

// verifyLists pages through an assignment's submission list and reads its
// feedback list.
func (b *bench) verifyLists(ctx context.Context, tok, assignmentID string, students, reads int) error {
	seen := map[string]bool{}
	after := ""
	for {
		var p intake.Page
		if err := b.call(ctx, http.MethodGet, "/api/v1/assignments/"+assignmentID+"/submissions?limit=10&after="+url.QueryEscape(after), tok, nil, &p); err != nil {
			return err
		}
		if p.Total != students {
			return fmt.Errorf("bench: submission list of %s: total %d, want %d", assignmentID, p.Total, students)
		}
		for _, r := range p.Rows {
			if seen[r.StudentID] || r.StudentID <= after {
				return fmt.Errorf("bench: submission list of %s: student %s twice or out of order", assignmentID, r.StudentID)
			}
			seen[r.StudentID] = true
			after = r.StudentID
		}
		if p.Next == "" {
			break
		}
	}
	if len(seen) != students {
		return fmt.Errorf("bench: submission list of %s: %d students in its pages, want %d", assignmentID, len(seen), students)
	}
	var fl struct{ Feedback []feedback.Row }
	if err := b.call(ctx, http.MethodGet, "/api/v1/assignments/"+assignmentID+"/feedback", tok, nil, &fl); err != nil {
		return err
	}
	if len(fl.Feedback) != reads {
		return fmt.Errorf("bench: feedback list of %s: %d rows, want the %d reads", assignmentID, len(fl.Feedback), reads)
	}
	return nil
}

// countedLevels is the level of each criterion of each student that a
// summary counts: the approved (or released) first read's, or the
// teacher's adjudicated levels.
func countedLevels(fbs []feedback.Feedback) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, f := range fbs {
		if f.Reader != feedback.First || !f.State.Final() {
			continue
		}
		levels := f.Levels
		if f.Adjudication != nil {
			levels = f.Adjudication.Levels
		}
		out[f.StudentID] = levels
	}
	return out
}

// checkSummary compares a class summary with the feedback it counts.
func checkSummary(sum analytics.Summary, fbs []feedback.Feedback) error {
	levels := countedLevels(fbs)
	if len(sum.Students) != len(levels) {
		return fmt.Errorf("%d students, want %d", len(sum.Students), len(levels))
	}
	seconds := 0
	for _, f := range fbs {
		if f.Reader == feedback.Second && f.State != feedback.Draft {
			seconds++
		}
	}
	for _, cr := range sum.Criteria {
		want := map[string]int{}
		n := 0
		for _, l := range levels {
			if k, ok := l[cr.Key]; ok {
				want[k]++
				n++
			}
		}
		if cr.Dist.N != n {
			return fmt.Errorf("criterion %s: %d scored, want %d", cr.Key, cr.Dist.N, n)
		}
		for i, lc := range cr.Dist.Levels {
			if lc.Count != want[sum.Scale[i].Key] {
				return fmt.Errorf("criterion %s, level %s: %d students, want %d", cr.Key, sum.Scale[i].Key, lc.Count, want[sum.Scale[i].Key])
			}
		}
	}
	for _, a := range sum.Agreement {
		if a.Agreement.Pairs != seconds {
			return fmt.Errorf("agreement on %s: %d pairs, want %d", a.Criterion, a.Agreement.Pairs, seconds)
		}
	}
	return nil
}

// verifyWall checks that a class's data wall shows each student's levels of
// the latest released assignment (all share one rubric).
func (b *bench) verifyWall(ctx context.Context, tok string, c *benchClass, rubric intake.Rubric) error {
	var w analytics.Wall
	if err := b.call(ctx, http.MethodGet, "/api/v1/analytics/classes/"+c.ID+"/data-wall", tok, nil, &w); err != nil {
		return err
	}
	latest := c.assignments[b.o.Assignments-1]
	fbs, err := b.rawFeedback(ctx, bson.D{{Key: "assignment_id", Value: latest}})
	if err != nil {
		return err
	}
	levels := countedLevels(fbs)
	criterion := map[string]string{} // strand key -> criterion key
	for _, cr := range rubric.Criteria {
		key := cr.Standard
		if key == "" {
			key = "criterion:" + cr.Key
		}
		criterion[key] = cr.Key
	}
	if len(w.Rows) != len(c.students) || len(w.Strands) != len(rubric.Criteria) {
		return fmt.Errorf("bench: data wall of %s: %d rows × %d strands, want %d × %d", c.ID, len(w.Rows), len(w.Strands), len(c.students), len(rubric.Criteria))
	}
	for _, r := range w.Rows {
		for j, st := range w.Strands {
			m := r.Cells[j]
			want := levels[r.StudentID][criterion[st.Key]]
			if m == nil || m.AssignmentID != latest || m.Level != want {
				return fmt.Errorf("bench: data wall of %s: student %s on %s shows %+v, want %s from %s", c.ID, r.StudentID, st.Key, m, want, latest)
			}
		}
	}
	return nil
}

// verifyTotals checks the admin's totals against the released assignments
// and the raw second reads.
func (b *bench) verifyTotals(ctx context.Context, criteria int) error {
	tok, err := b.token(ctx, b.sc.admin.ID)
	if err != nil {
		return err
	}
	var t analytics.Totals
	if err := b.call(ctx, http.MethodGet, "/api/v1/analytics/admin/totals", tok, nil, &t); err != nil {
		return err
	}
	assignments, students := 0, 0
	for _, c := range b.sc.classes {
		assignments += b.o.Assignments
		students += b.o.Assignments * len(c.students)
	}
	seconds, err := b.d.store.DB.Collection("feedback").CountDocuments(ctx, bson.D{{Key: "reader", Value: feedback.Second}, {Key: "state", Value: feedback.Released}})
	if err != nil {
		return err
	}
	approved, err := b.d.store.DB.Collection("feedback").CountDocuments(ctx, bson.D{{Key: "reader", Value: feedback.Second}, {Key: "state", Value: feedback.Approved}})
	if err != nil {
		return err
	}
	want := analytics.Totals{Assignments: assignments, Students: students, SecondReadPairs: int(seconds+approved) * criteria}
	if t != want {
		return fmt.Errorf("bench: admin totals %+v, want %+v", t, want)
	}
	return nil
}
