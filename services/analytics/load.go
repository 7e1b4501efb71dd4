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
// It reads feedback's list rows of the assignment (a page per 50 rows,
// with the digest of each approved feedback), never the feedback
// documents; the class's record for the previous assignment sharing a
// criterion, and that assignment's rows; the roster, the submission list
// and the matching batches. A released assignment's summary is cached,
// keyed by a fingerprint of the assignment, of every row (feedback stamps a
// row at every change of approved feedback, ratings included) and of the
// previous assignment's rows (for "dropped a level"): a cache hit saves the
// roster, list and batch reads and the computation.
func (s *Service) ClassSummary(ctx context.Context, caller account.User, assignmentID string, opts Options) (Summary, error) {
	a, err := s.intake.AuthorizeAssignment(ctx, caller, assignmentID)
	if err != nil {
		return Summary{}, err
	}
	if caller.Role == account.Admin {
		opts.Names = false // admins see no student names
	}
	fr := s.feedback
	rows, err := fr.Rows(ctx, a.ID)
	if err != nil {
		return Summary{}, err
	}
	prev, err := s.previousAssignment(ctx, fr, a)
	if err != nil {
		return Summary{}, err
	}
	var prevRows []feedback.Row
	if prev != nil {
		if prevRows, err = fr.Rows(ctx, prev.ID); err != nil {
			return Summary{}, err
		}
	}
	stamp := fingerprint(a, rows, prevRows, opts)
	cacheID := a.ID + ":" + optionsKey(opts)
	if a.State == intake.Released {
		if sum, ok := s.cached(ctx, cacheID, stamp); ok {
			return sum, nil
		}
	}
	in, err := s.classInput(ctx, caller, a, prev, rows, prevRows)
	if err != nil {
		return Summary{}, err
	}
	sum, err := Summarize(in, opts)
	if err != nil {
		return Summary{}, err
	}
	if a.State == intake.Released {
		s.cache(ctx, cacheID, stamp, sum)
		if err := s.count(ctx, sum); err != nil {
			return Summary{}, err
		}
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
// assignment, any of its feedback (feedback stamps a row's UpdatedAt at
// every change of approved feedback, and writes it at every change of
// state or levels), or the levels on the previous assignment.
func fingerprint(a intake.Assignment, rows, prevRows []feedback.Row, o Options) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%v|%v|%s\n", a.ID, a.State, a.ReleasedAt, a.FocusPoints, optionsKey(o))
	ids := make([]string, 0, len(rows)+len(prevRows))
	for _, r := range rows {
		levels, _ := json.Marshal(r.Levels) // map keys are sorted
		ids = append(ids, fmt.Sprintf("%s|%s|%d|%s", r.TaskID, r.State, r.UpdatedAt.UnixNano(), levels))
	}
	for _, r := range prevRows {
		levels, _ := json.Marshal(r.Levels)
		ids = append(ids, fmt.Sprintf("prev|%s|%s|%s", r.TaskID, r.State, levels))
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintln(h, id)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// classInput gathers an assignment's feedback rows, names and pseudonyms,
// and the previous assignment's levels, into a ClassInput.
func (s *Service) classInput(ctx context.Context, caller account.User, a intake.Assignment, prev *intake.Assignment, rows, prevRows []feedback.Row) (ClassInput, error) {
	roster, err := s.intake.Roster(ctx, caller, a.ClassID)
	if err != nil {
		return ClassInput{}, err
	}
	names := make(map[string]string, len(roster))
	for _, st := range roster {
		names[st.StudentID] = st.Name()
	}
	list, err := s.intake.Rows(ctx, a.ID)
	if err != nil {
		return ClassInput{}, err
	}
	pseudonyms := make(map[string]string, len(list))
	for _, r := range list {
		pseudonyms[r.StudentID] = r.Pseudonym
	}
	prevLevels := previousLevels(a, prev, prevRows)
	batchOf, err := s.firstReadBatches(ctx, caller, a.ID)
	if err != nil {
		return ClassInput{}, err
	}

	in := ClassInput{
		AssignmentID: a.ID, Title: a.Title, Rubric: a.Rubric, FocusPoints: a.FocusPoints,
		PublishedAt: a.PublishedAt, ReleasedAt: a.ReleasedAt,
	}
	firsts := latestFirstReads(rows)
	byVersion := make(map[string]feedback.Row, len(firsts))
	for _, r := range firsts {
		byVersion[r.VersionID] = r
		w := studentWork(a, r, names[r.StudentID], pseudonyms[r.StudentID], prevLevels[r.StudentID])
		w.BatchID = batchOf[r.VersionID]
		in.Students = append(in.Students, w)
		in.Ratings = append(in.Ratings, ratings(r)...)
	}
	for _, r := range rows {
		first, ok := byVersion[r.VersionID]
		if r.Reader != feedback.Second || !ok || !(r.State == feedback.Submitted || r.State.Final()) {
			continue
		}
		// The first reader's own levels, not an adjudication's: agreement
		// is between the two graders.
		firstLevels := first.Levels
		if first.ReadLevels != nil {
			firstLevels = first.ReadLevels
		}
		in.SecondReads = append(in.SecondReads, SecondRead{StudentID: r.StudentID, First: firstLevels, Second: r.Levels})
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

// latestFirstReads keeps, per student, the approved (or released) first
// read of the highest version, ordered by student.
func latestFirstReads(rows []feedback.Row) []feedback.Row {
	best := map[string]feedback.Row{}
	for _, r := range rows {
		if r.Reader != feedback.First || !r.State.Final() || r.Digest == nil {
			continue
		}
		if b, ok := best[r.StudentID]; !ok || r.Version > b.Version {
			best[r.StudentID] = r
		}
	}
	out := make([]feedback.Row, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y feedback.Row) int { return cmp.Compare(x.StudentID, y.StudentID) })
	return out
}

// studentWork is a student's work on the assignment from their first
// read's row: its levels (the adjudicated ones, which replace the first
// read's) and its digest.
func studentWork(a intake.Assignment, r feedback.Row, name, pseudonym string, prev map[string]PriorLevel) StudentWork {
	w := StudentWork{
		StudentID: r.StudentID, Name: name, Pseudonym: pseudonym, GraderID: r.GraderID,
		Levels: r.Levels, ApprovedAt: r.ApprovedAt, Previous: prev,
	}
	if w.Pseudonym == "" {
		w.Pseudonym = "Student " + r.StudentID
	}
	d := r.Digest
	for _, q := range d.Quotes {
		w.Quotes = append(w.Quotes, Quote{Criterion: q.Criterion, Kind: Kind(q.Kind), Text: q.Exact, Comment: q.Comment})
	}
	for _, g := range d.Glows {
		w.Glows = append(w.Glows, Note{Criterion: g.Criterion, Text: g.Text})
	}
	for _, g := range d.Grows {
		w.Grows = append(w.Grows, Note{Criterion: g.Criterion, Text: g.Text})
	}
	for _, n := range d.FocusNotes {
		if n.Index >= 0 && n.Index < len(a.FocusPoints) {
			w.FocusNotes = append(w.FocusNotes, FocusNote{Point: a.FocusPoints[n.Index], Text: n.Note})
		}
	}
	return w
}

// ratings turns a feedback's comment ratings into Ratings on the rated
// comment's criterion. Comment IDs are feedback's: a quote's ID,
// "criterion:<key>" for a criterion's comment, "glow:<i>" and "grow:<i>".
func ratings(r feedback.Row) []Rating {
	d := r.Digest
	crit := make(map[string]string, len(d.Quotes)+len(d.Comments)+len(d.Glows)+len(d.Grows))
	for _, q := range d.Quotes {
		crit[q.ID] = q.Criterion
	}
	for _, k := range d.Comments {
		crit["criterion:"+k] = k
	}
	for i, g := range d.Glows {
		crit["glow:"+strconv.Itoa(i)] = g.Criterion
	}
	for i, g := range d.Grows {
		crit["grow:"+strconv.Itoa(i)] = g.Criterion
	}
	var out []Rating
	for _, rt := range d.Ratings {
		out = append(out, Rating{StudentID: r.StudentID, GraderID: r.GraderID, Criterion: crit[rt.CommentID], Score: rt.Stars})
	}
	return out
}

// previousAssignment is the class's most recent assignment created before
// a that shares a criterion key or standard code with it and is graded or
// released, or nil. The candidates are the class record's assignments
// (those with approved feedback), newest first; each is read until one
// qualifies.
func (s *Service) previousAssignment(ctx context.Context, fr FeedbackReads, a intake.Assignment) (*intake.Assignment, error) {
	rec, err := fr.Class(ctx, a.ClassID)
	if err != nil {
		return nil, err
	}
	var cands []feedback.AssignmentInfo
	for _, b := range rec.Assignments {
		if b.ID != a.ID && b.CreatedAt.Before(a.CreatedAt) && len(sharedCriteria(a.Rubric, b.Rubric)) > 0 {
			cands = append(cands, b)
		}
	}
	slices.SortFunc(cands, func(x, y feedback.AssignmentInfo) int {
		return cmp.Or(y.CreatedAt.Compare(x.CreatedAt), cmp.Compare(x.ID, y.ID))
	})
	for _, c := range cands {
		b, err := s.intake.Assignment(ctx, c.ID)
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if b.State == intake.Graded || b.State == intake.Released {
			return &b, nil
		}
	}
	return nil, nil
}

// previousLevels returns each student's levels on prev (nil: none) keyed by
// a's criterion keys, from prev's list rows.
func previousLevels(a intake.Assignment, prev *intake.Assignment, rows []feedback.Row) map[string]map[string]PriorLevel {
	if prev == nil {
		return nil
	}
	shared := sharedCriteria(a.Rubric, prev.Rubric)
	out := map[string]map[string]PriorLevel{}
	for _, r := range latestFirstReads(rows) {
		for cur, old := range shared {
			i, ok := prev.Rubric.LevelIndex(r.Levels[old])
			if !ok {
				continue
			}
			if out[r.StudentID] == nil {
				out[r.StudentID] = map[string]PriorLevel{}
			}
			out[r.StudentID][cur] = PriorLevel{AssignmentID: prev.ID, Index: i, Levels: len(prev.Rubric.Scale), Label: prev.Rubric.Scale[i].Label}
		}
	}
	return out
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
