package analytics

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// ClassSummary returns the class summary of an assignment (see Summarize).
// Only the class's teacher or an admin may see it; anyone else gets
// errs.NotFound, as for a missing assignment; an admin never gets names
// (Options.Names is ignored). It counts the first reads the
// teacher has approved (or released), each student's latest version, with
// the teacher's adjudicated levels where there are some; second reads count
// for agreement once submitted.
//
// A released assignment's summary is cached, keyed by a fingerprint of the
// assignment, of every feedback it counts (ID, state and last change, which
// feedback stamps on every save, ratings included) and of the previous
// assignment's list rows (for "dropped a level"), so any later edit,
// approval or rating makes a fresh one. A cache hit still reads this
// assignment's feedback, but saves the roster, the previous assignment's
// feedback and the computation.
func (s *Service) ClassSummary(ctx context.Context, caller account.User, assignmentID string, opts Options) (Summary, error) {
	a, err := s.intake.AuthorizeAssignment(ctx, caller, assignmentID)
	if err != nil {
		return Summary{}, err
	}
	if caller.Role == account.Admin {
		opts.Names = false // admins see no student names
	}
	fr, err := s.reads()
	if err != nil {
		return Summary{}, err
	}
	fbs, err := fr.ForAssignment(ctx, a.ID)
	if err != nil {
		return Summary{}, err
	}
	prev, err := s.previousAssignment(ctx, caller, a)
	if err != nil {
		return Summary{}, err
	}
	var prevRows []feedback.Row
	if prev != nil {
		if prevRows, err = fr.List(ctx, caller, prev.ID); err != nil {
			return Summary{}, err
		}
	}
	stamp := fingerprint(a, fbs, prevRows, opts)
	cacheID := a.ID + ":" + optionsKey(opts)
	if a.State == intake.Released {
		if sum, ok := s.cached(ctx, cacheID, stamp); ok {
			return sum, nil
		}
	}
	in, err := s.classInput(ctx, caller, a, prev, fbs)
	if err != nil {
		return Summary{}, err
	}
	sum, err := Summarize(in, opts)
	if err != nil {
		return Summary{}, err
	}
	if a.State == intake.Released {
		s.cache(ctx, cacheID, stamp, sum)
	}
	return sum, nil
}

// summaryDoc is a cached summary: the JSON of a Summary and the fingerprint
// of what it was computed from.
type summaryDoc struct {
	ID    string `bson:"_id"`
	Stamp string `bson:"stamp"`
	Body  []byte `bson:"body"`
}

func (s *Service) cached(ctx context.Context, id, stamp string) (Summary, bool) {
	var d summaryDoc
	if err := s.findByID(ctx, colSummaries, id, "summary", &d); err != nil || d.Stamp != stamp {
		return Summary{}, false
	}
	var sum Summary
	if err := json.Unmarshal(d.Body, &sum); err != nil {
		return Summary{}, false
	}
	return sum, true
}

// cache stores a summary; a failure only costs a recomputation later, so it
// is logged, not returned.
func (s *Service) cache(ctx context.Context, id, stamp string, sum Summary) {
	body, err := json.Marshal(sum)
	if err == nil {
		_, err = s.c(colSummaries).ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, summaryDoc{ID: id, Stamp: stamp, Body: body}, options.Replace().SetUpsert(true))
	}
	if err != nil {
		s.log.Warn("caching a class summary", "id", id, "err", err)
	}
}

func optionsKey(o Options) string {
	return fmt.Sprintf("names=%t,below=%s", o.Names, o.SupportBelow)
}

// fingerprint changes whenever anything a summary shows could change: the
// assignment, any of its feedback (every save stamps UpdatedAt), or the
// levels on the previous assignment.
func fingerprint(a intake.Assignment, fbs []feedback.Feedback, prevRows []feedback.Row, o Options) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%v|%v|%s\n", a.ID, a.State, a.ReleasedAt, a.FocusPoints, optionsKey(o))
	ids := make([]string, 0, len(fbs)+len(prevRows))
	for _, f := range fbs {
		ids = append(ids, fmt.Sprintf("%s|%s|%d|%d|%d", f.ID, f.State, f.Rev, f.UpdatedAt.UnixNano(), len(f.Ratings)))
	}
	for _, r := range prevRows {
		levels, _ := json.Marshal(r.Levels) // map keys are sorted
		ids = append(ids, fmt.Sprintf("prev|%s|%s|%s", r.TaskID, r.State, levels))
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintln(h, id)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// classInput gathers an assignment's feedback, names and pseudonyms, and
// the previous assignment's levels, into a ClassInput.
func (s *Service) classInput(ctx context.Context, caller account.User, a intake.Assignment, prev *intake.Assignment, fbs []feedback.Feedback) (ClassInput, error) {
	roster, err := s.intake.Roster(ctx, caller, a.ClassID)
	if err != nil {
		return ClassInput{}, err
	}
	names := make(map[string]string, len(roster))
	for _, st := range roster {
		names[st.StudentID] = st.Name()
	}
	rows, err := s.intake.Rows(ctx, a.ID)
	if err != nil {
		return ClassInput{}, err
	}
	pseudonyms := make(map[string]string, len(rows))
	for _, r := range rows {
		pseudonyms[r.StudentID] = r.Pseudonym
	}
	prevLevels, err := s.previousLevels(ctx, a, prev)
	if err != nil {
		return ClassInput{}, err
	}
	batchOf, err := s.firstReadBatches(ctx, caller, a.ID)
	if err != nil {
		return ClassInput{}, err
	}

	in := ClassInput{
		AssignmentID: a.ID, Title: a.Title, Rubric: a.Rubric, FocusPoints: a.FocusPoints,
		PublishedAt: a.PublishedAt, ReleasedAt: a.ReleasedAt,
	}
	firsts := latestFirstReads(fbs, func(f feedback.Feedback) bool { return f.State.Final() })
	byVersion := make(map[string]feedback.Feedback, len(firsts))
	for _, f := range firsts {
		byVersion[f.VersionID] = f
		w := studentWork(a, f, names[f.StudentID], pseudonyms[f.StudentID], prevLevels[f.StudentID])
		w.BatchID = batchOf[f.VersionID]
		in.Students = append(in.Students, w)
		in.Ratings = append(in.Ratings, ratings(f)...)
	}
	for _, f := range fbs {
		first, ok := byVersion[f.VersionID]
		if f.Reader != feedback.Second || !ok || !(f.State == feedback.Submitted || f.State.Final()) {
			continue
		}
		in.SecondReads = append(in.SecondReads, SecondRead{StudentID: f.StudentID, First: first.Levels, Second: f.Levels})
	}
	slices.SortFunc(in.SecondReads, func(x, y SecondRead) int { return cmp.Compare(x.StudentID, y.StudentID) })
	return in, nil
}

// firstReadBatches maps each submission version of the assignment to the
// first-read batch that holds it (for turnaround per batch).
func (s *Service) firstReadBatches(ctx context.Context, caller account.User, assignmentID string) (map[string]string, error) {
	m, err := s.matching.ForAssignment(ctx, caller, assignmentID)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, b := range m.Batches {
		if b.Reader != matching.First {
			continue
		}
		for _, it := range b.Items {
			out[it.VersionID] = b.ID
		}
	}
	return out, nil
}

// latestFirstReads keeps, per student, the first read of the highest
// version among those keep accepts.
func latestFirstReads(fbs []feedback.Feedback, keep func(feedback.Feedback) bool) []feedback.Feedback {
	best := map[string]feedback.Feedback{}
	for _, f := range fbs {
		if f.Reader != feedback.First || !keep(f) {
			continue
		}
		if b, ok := best[f.StudentID]; !ok || f.Version > b.Version {
			best[f.StudentID] = f
		}
	}
	out := make([]feedback.Feedback, 0, len(best))
	for _, f := range best {
		out = append(out, f)
	}
	slices.SortFunc(out, func(x, y feedback.Feedback) int { return cmp.Compare(x.StudentID, y.StudentID) })
	return out
}

// countedLevels are the levels that count: the teacher's adjudication when
// there is one, otherwise the grader's.
func countedLevels(f feedback.Feedback) map[string]string {
	if f.Adjudication != nil && len(f.Adjudication.Levels) > 0 {
		return f.Adjudication.Levels
	}
	return f.Levels
}

func studentWork(a intake.Assignment, f feedback.Feedback, name, pseudonym string, prev map[string]PriorLevel) StudentWork {
	w := StudentWork{
		StudentID: f.StudentID, Name: name, Pseudonym: pseudonym, GraderID: f.GraderID,
		Levels: countedLevels(f), ApprovedAt: f.ApprovedAt, Previous: prev,
	}
	if w.Pseudonym == "" {
		w.Pseudonym = "Student " + f.StudentID
	}
	for _, q := range f.Quotes {
		w.Quotes = append(w.Quotes, Quote{Criterion: q.Criterion, Kind: Kind(q.Kind), Text: q.Target.Quote.Exact, Comment: q.Comment})
	}
	for _, g := range f.Glows {
		w.Glows = append(w.Glows, Note{Criterion: g.Criterion, Text: g.Text})
	}
	for _, g := range f.Grows {
		w.Grows = append(w.Grows, Note{Criterion: g.Criterion, Text: g.Text})
	}
	for _, n := range f.FocusNotes {
		if n.Index >= 0 && n.Index < len(a.FocusPoints) {
			w.FocusNotes = append(w.FocusNotes, FocusNote{Point: a.FocusPoints[n.Index], Text: n.Note})
		}
	}
	return w
}

// ratings turns a feedback's comment ratings into Ratings on the rated
// comment's criterion. Comment IDs are feedback's: a quote's ID,
// "criterion:<key>" for a criterion's comment, "glow:<i>" and "grow:<i>".
func ratings(f feedback.Feedback) []Rating {
	crit := make(map[string]string, len(f.Quotes)+len(f.Comments)+len(f.Glows)+len(f.Grows))
	for _, q := range f.Quotes {
		crit[q.ID] = q.Criterion
	}
	for k := range f.Comments {
		crit["criterion:"+k] = k
	}
	for i, g := range f.Glows {
		crit["glow:"+strconv.Itoa(i)] = g.Criterion
	}
	for i, g := range f.Grows {
		crit["grow:"+strconv.Itoa(i)] = g.Criterion
	}
	var out []Rating
	for _, r := range f.Ratings {
		out = append(out, Rating{StudentID: f.StudentID, GraderID: f.GraderID, Criterion: crit[r.CommentID], Score: r.Stars})
	}
	return out
}

// previousAssignment is the class's most recent assignment created before
// a that shares a criterion key or standard code with it and is graded or
// released, or nil.
func (s *Service) previousAssignment(ctx context.Context, caller account.User, a intake.Assignment) (*intake.Assignment, error) {
	all, err := s.intake.Assignments(ctx, caller, a.ClassID)
	if err != nil {
		return nil, err
	}
	var prev *intake.Assignment
	for i, b := range all {
		if b.ID == a.ID || !b.CreatedAt.Before(a.CreatedAt) || len(sharedCriteria(a.Rubric, b.Rubric)) == 0 {
			continue
		}
		if b.State != intake.Graded && b.State != intake.Released {
			continue
		}
		if prev == nil || b.CreatedAt.After(prev.CreatedAt) {
			prev = &all[i]
		}
	}
	return prev, nil
}

// previousLevels returns each student's levels on prev (nil: none) keyed by
// a's criterion keys.
func (s *Service) previousLevels(ctx context.Context, a intake.Assignment, prev *intake.Assignment) (map[string]map[string]PriorLevel, error) {
	if prev == nil {
		return nil, nil
	}
	fbs, err := s.feedback.ForAssignment(ctx, prev.ID)
	if err != nil {
		return nil, err
	}
	shared := sharedCriteria(a.Rubric, prev.Rubric)
	out := map[string]map[string]PriorLevel{}
	for _, f := range latestFirstReads(fbs, func(f feedback.Feedback) bool { return f.State.Final() }) {
		levels := countedLevels(f)
		for cur, old := range shared {
			i, ok := prev.Rubric.LevelIndex(levels[old])
			if !ok {
				continue
			}
			if out[f.StudentID] == nil {
				out[f.StudentID] = map[string]PriorLevel{}
			}
			out[f.StudentID][cur] = PriorLevel{AssignmentID: prev.ID, Index: i, Levels: len(prev.Rubric.Scale), Label: prev.Rubric.Scale[i].Label}
		}
	}
	return out, nil
}

// sharedCriteria maps a's criterion keys to b's criteria with the same
// standard code or, failing that, the same key.
func sharedCriteria(a, b intake.Rubric) map[string]string {
	out := map[string]string{}
	for _, ca := range a.Criteria {
		for _, cb := range b.Criteria {
			if ca.Standard != "" && ca.Standard == cb.Standard || ca.Key == cb.Key {
				out[ca.Key] = cb.Key
				break
			}
		}
	}
	return out
}

// gradedOf turns feedback into Graded versions: the first reads that keep
// accepts, on their assignments' rubrics (read once each).
func (s *Service) gradedOf(ctx context.Context, fbs []feedback.Feedback, keep func(feedback.Feedback) bool) ([]Graded, error) {
	asg := map[string]intake.Assignment{}
	var out []Graded
	for _, f := range fbs {
		if f.Reader != feedback.First || !keep(f) {
			continue
		}
		a, ok := asg[f.AssignmentID]
		if !ok {
			var err error
			if a, err = s.intake.Assignment(ctx, f.AssignmentID); err != nil {
				if errs.Is(err, errs.NotFound) {
					continue
				}
				return nil, err
			}
			asg[f.AssignmentID] = a
		}
		out = append(out, Graded{AssignmentID: a.ID, Title: a.Title, StudentID: f.StudentID, Version: f.Version, At: assignmentTime(a), Rubric: a.Rubric, Levels: countedLevels(f)})
	}
	return out, nil
}

// Gradebook returns the Canvas gradebook CSV of an assignment (see
// GradebookCSV) with every rostered student, for the class's teacher or an
// admin; anyone else gets errs.NotFound.
func (s *Service) Gradebook(ctx context.Context, caller account.User, assignmentID string) ([]byte, error) {
	sum, err := s.ClassSummary(ctx, caller, assignmentID, Options{Names: true})
	if err != nil {
		return nil, err
	}
	a, err := s.intake.Assignment(ctx, assignmentID)
	if err != nil {
		return nil, err
	}
	c, err := s.intake.Class(ctx, a.ClassID)
	if err != nil {
		return nil, err
	}
	roster, err := s.intake.Roster(ctx, caller, a.ClassID)
	if err != nil {
		return nil, err
	}
	rows := make([]GradebookRow, len(roster))
	for i, st := range roster {
		rows[i] = GradebookRow{StudentID: st.StudentID, GivenName: st.GivenName, FamilyName: st.FamilyName}
	}
	return GradebookCSV(sum, a.Rubric, c.Name, rows), nil
}

// Totals are platform-wide figures for admins, with no student named.
type Totals struct {
	// Assignments counts released assignments with a computed summary;
	// Students the students graded in them.
	Assignments int `json:"assignments"`
	Students    int `json:"students"`
	// SecondReadPairs counts first/second read pairs over all criteria.
	SecondReadPairs int `json:"second_read_pairs"`
	// ShareLinks counts family links made, and ActiveShareLinks those not
	// revoked.
	ShareLinks       int `json:"share_links"`
	ActiveShareLinks int `json:"active_share_links"`
}

// PlatformTotals returns the platform-wide totals, for admins only (others
// get errs.Forbidden). They are summed over the cached summaries (one per
// released assignment a teacher has looked at) and the share links.
func (s *Service) PlatformTotals(ctx context.Context, caller account.User) (Totals, error) {
	if caller.Role != account.Admin {
		return Totals{}, errs.E(errs.Forbidden, "Only admins see platform totals.")
	}
	var t Totals
	cur, err := s.c(colSummaries).Find(ctx, bson.D{})
	if err != nil {
		return Totals{}, errs.Wrap(err, "find summaries")
	}
	seen := map[string]bool{}
	for cur.Next(ctx) {
		var d summaryDoc
		var sum Summary
		if cur.Decode(&d) != nil || json.Unmarshal(d.Body, &sum) != nil || seen[sum.AssignmentID] {
			continue
		}
		seen[sum.AssignmentID] = true
		t.Assignments++
		t.Students += len(sum.Students)
		for _, a := range sum.Agreement {
			t.SecondReadPairs += a.Agreement.Pairs
		}
	}
	if err := cur.Err(); err != nil {
		return Totals{}, errs.Wrap(err, "read summaries")
	}
	var links []ShareLink
	lc, err := s.c(colLinks).Find(ctx, bson.D{})
	if err == nil {
		err = lc.All(ctx, &links)
	}
	if err != nil {
		return Totals{}, errs.Wrap(err, "read share links")
	}
	t.ShareLinks = len(links)
	for _, l := range links {
		if l.RevokedAt == nil {
			t.ActiveShareLinks++
		}
	}
	return t, nil
}
