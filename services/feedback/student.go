package feedback

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/intake"
)

// CriterionView is one criterion as the student sees it: the level
// awarded, its descriptor, and the grader's comment.
type CriterionView struct {
	Key        string `json:"key"`
	CommentID  string `json:"comment_id"`
	Title      string `json:"title"`
	Level      string `json:"level"`
	LevelLabel string `json:"level_label"`
	Descriptor string `json:"descriptor"`
	Comment    string `json:"comment"`
	// Standard is the criterion's standard code, if the rubric gives one.
	Standard string `json:"standard,omitempty"`
}

// PointView is a glow or grow with the title of its criterion.
type PointView struct {
	CommentID      string `json:"comment_id"`
	Criterion      string `json:"criterion"`
	CriterionTitle string `json:"criterion_title"`
	Text           string `json:"text"`
}

// FocusView is a note on one of the teacher's focus points.
type FocusView struct {
	Point string `json:"point"`
	Note  string `json:"note"`
}

// Change is how a criterion's level moved since the previous version's
// approved feedback. Steps is the number of levels up (positive) or down.
type Change struct {
	Criterion string `json:"criterion"`
	Title     string `json:"title"`
	From      string `json:"from"`
	FromLabel string `json:"from_label"`
	To        string `json:"to"`
	ToLabel   string `json:"to_label"`
	Steps     int    `json:"steps"`
}

// StudentVersion is the released feedback on one version of a student's
// submission, as the student sees it. Changes is empty for the first
// version.
type StudentVersion struct {
	FeedbackID  string          `json:"feedback_id"`
	Version     int             `json:"version"`
	GraderName  string          `json:"grader_name"`
	Text        string          `json:"text"`
	Highlights  []Highlight     `json:"highlights"`
	Criteria    []CriterionView `json:"criteria"`
	Glows       []PointView     `json:"glows"`
	Grows       []PointView     `json:"grows"`
	FocusNotes  []FocusView     `json:"focus_notes"`
	Changes     []Change        `json:"changes"`
	Ratings     []Rating        `json:"ratings"`
	Reflections []Reflection    `json:"reflections"`
}

// StudentFeedback is a student's released feedback on one submission,
// newest version first.
type StudentFeedback struct {
	SubmissionID      string           `json:"submission_id"`
	AssignmentID      string           `json:"assignment_id"`
	Title             string           `json:"title"`
	AllowResubmission bool             `json:"allow_resubmission"`
	Versions          []StudentVersion `json:"versions"`
}

// releasedDoc is a student's released feedback on one submission as they
// read it (feedback_released, _id: the submission ID), rendered at release
// and again at every change of its released feedback (an edit, a rating, a
// reflection), so that reading it is one read by _id.
type releasedDoc struct {
	ID        string    `bson:"_id"`
	ClassID   string    `bson:"class_id"`
	StudentID string    `bson:"student_id"`
	Body      []byte    `bson:"body"` // the StudentFeedback's JSON (see asJSON)
	At        time.Time `bson:"at"`
}

// ForSubmission returns the released feedback on a student's submission.
// Only that student may read it; anyone else, and the student before any
// feedback is released, gets not_found. It is one read by _id: the
// feedback as it was rendered at release, or at its latest change since.
func (s *Service) ForSubmission(ctx context.Context, caller account.User, submissionID string) (StudentFeedback, error) {
	d, err := mongostore.Get[releasedDoc](ctx, s.c(colReleased), submissionID, "released feedback")
	if errs.Is(err, errs.NotFound) || err == nil && !intake.IsStudentOf(caller, d.ClassID, d.StudentID) {
		return StudentFeedback{}, errs.E(errs.NotFound, "No released feedback on submission %q.", submissionID)
	}
	if err != nil {
		return StudentFeedback{}, err
	}
	var sf StudentFeedback
	if err := json.Unmarshal(d.Body, &sf); err != nil {
		return StudentFeedback{}, errs.Wrap(err, "read released feedback")
	}
	return sf, nil
}

// renderReleased writes the student's view of the released feedback on a
// submission: every version whose first read is released, newest first,
// each with how its levels moved since the previous approved version.
func (s *Service) renderReleased(ctx context.Context, submissionID string) error {
	unlock := rendering.lock(submissionID)
	defer unlock()
	sub, err := s.intake.Submission(ctx, submissionID)
	if err != nil {
		return err
	}
	a, err := s.intake.Assignment(ctx, sub.AssignmentID)
	if err != nil {
		return err
	}
	ids := make([]string, len(sub.Versions))
	for i, v := range sub.Versions {
		ids[i] = TaskID(intake.VersionID(sub.ID, v.N), First)
	}
	fbs, err := mongostore.GetMany(ctx, s.c(colFeedback), ids, func(f Feedback) string { return f.ID })
	if err != nil {
		return err
	}
	out := StudentFeedback{SubmissionID: sub.ID, AssignmentID: a.ID, Title: a.Title, AllowResubmission: a.AllowResubmission, Versions: []StudentVersion{}}
	var prev *Feedback // the latest earlier version's approved feedback
	for _, id := range ids {
		f, ok := fbs[id]
		if !ok {
			continue
		}
		if f.State == Released {
			sv, err := s.studentVersion(ctx, f, a, prev)
			if err != nil {
				return err
			}
			out.Versions = append([]StudentVersion{sv}, out.Versions...)
		}
		if f.State.Final() {
			prev = &f
		}
	}
	if len(out.Versions) == 0 {
		return nil
	}
	doc := releasedDoc{ID: sub.ID, ClassID: sub.ClassID, StudentID: sub.StudentID, Body: asJSON(out), At: s.stamp()}
	_, err = s.c(colReleased).ReplaceOne(ctx, bson.D{{Key: "_id", Value: sub.ID}}, doc, options.Replace().SetUpsert(true))
	if err != nil && mongostore.IsDuplicateKey(err) {
		_, err = s.c(colReleased).ReplaceOne(ctx, bson.D{{Key: "_id", Value: sub.ID}}, doc)
	}
	return errs.Wrap(err, "write released feedback")
}

// ReleasedWork is what a student's home shows of their feedback on one
// assignment: whether any of it is released, and which version they read
// first (the newest released one) with its levels.
type ReleasedWork struct {
	AssignmentID string            `json:"assignment_id"`
	SubmissionID string            `json:"submission_id"`
	Released     bool              `json:"released"`
	Version      int               `json:"version"` // 0 when nothing is released
	Levels       map[string]string `json:"levels"`
	ReleasedAt   *time.Time        `json:"released_at,omitempty"`
}

// StudentReleased returns, per assignment of a class with approved feedback
// for a student, what the student's home shows (see ReleasedWork), ordered
// by assignment ID. It is one read by _id (the student's record in the
// class). It has no access check: the caller decides who may see it, and
// it shows only levels of released feedback.
func (s *Service) StudentReleased(ctx context.Context, classID, studentID string) ([]ReleasedWork, error) {
	rec, err := s.Student(ctx, classID, studentID)
	if err != nil {
		return nil, err
	}
	return releasedWork(rec), nil
}

func releasedWork(rec StudentRecord) []ReleasedWork {
	by := map[string]*ReleasedWork{}
	for _, w := range rec.Work {
		r := by[w.AssignmentID]
		if r == nil {
			r = &ReleasedWork{AssignmentID: w.AssignmentID, SubmissionID: w.SubmissionID, Levels: map[string]string{}}
			by[w.AssignmentID] = r
		}
		if w.State == Released && w.Version > r.Version {
			r.Released, r.Version, r.Levels, r.ReleasedAt = true, w.Version, w.Levels, w.ReleasedAt
		}
	}
	out := make([]ReleasedWork, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AssignmentID < out[j].AssignmentID })
	return out
}

func (s *Service) studentVersion(ctx context.Context, f Feedback, a intake.Assignment, prev *Feedback) (StudentVersion, error) {
	text, err := s.intake.Text(ctx, f.VersionID)
	if err != nil {
		return StudentVersion{}, err
	}
	r := a.Rubric
	v := StudentVersion{
		FeedbackID: f.ID, Version: f.Version, GraderName: s.displayName(ctx, f.GraderID),
		Text: text.Text, Highlights: highlights(f.Quotes, text),
		Criteria: []CriterionView{}, FocusNotes: []FocusView{}, Changes: []Change{},
		Glows: pointViews("glow", f.Glows, r), Grows: pointViews("grow", f.Grows, r),
		Ratings: f.Ratings, Reflections: f.Reflections,
	}
	for _, c := range r.Criteria {
		lv, _ := r.Level(f.Levels[c.Key])
		v.Criteria = append(v.Criteria, CriterionView{Key: c.Key, CommentID: "criterion:" + c.Key, Title: c.Title,
			Level: lv.Key, LevelLabel: lv.Label, Descriptor: c.Descriptors[lv.Key], Comment: f.Comments[c.Key], Standard: c.Standard})
	}
	for _, n := range f.FocusNotes {
		if n.Index < len(a.FocusPoints) {
			v.FocusNotes = append(v.FocusNotes, FocusView{Point: a.FocusPoints[n.Index], Note: n.Note})
		}
	}
	if prev != nil {
		v.Changes = changes(r, prev.Levels, f.Levels)
	}
	return v, nil
}

func pointViews(kind string, ps []Point, r intake.Rubric) []PointView {
	out := make([]PointView, 0, len(ps))
	for i, p := range ps {
		c, _ := r.Criterion(p.Criterion)
		out = append(out, PointView{CommentID: kind + ":" + strconv.Itoa(i), Criterion: p.Criterion, CriterionTitle: c.Title, Text: p.Text})
	}
	return out
}

// changes compares two sets of levels criterion by criterion, in rubric
// order, skipping criteria without a level on either side.
func changes(r intake.Rubric, from, to map[string]string) []Change {
	out := []Change{}
	for _, c := range r.Criteria {
		i, ok1 := r.LevelIndex(from[c.Key])
		j, ok2 := r.LevelIndex(to[c.Key])
		if !ok1 || !ok2 {
			continue
		}
		out = append(out, Change{Criterion: c.Key, Title: c.Title, From: r.Scale[i].Key, FromLabel: r.Scale[i].Label,
			To: r.Scale[j].Key, ToLabel: r.Scale[j].Label, Steps: j - i})
	}
	return out
}

// studentFeedback returns released feedback if caller is its student;
// anyone else gets not_found.
func (s *Service) studentFeedback(ctx context.Context, caller account.User, id string) (Feedback, error) {
	f, err := s.get(ctx, id)
	if err != nil || f.State != Released || !intake.IsStudentOf(caller, f.ClassID, f.StudentID) {
		return Feedback{}, errs.E(errs.NotFound, "No released feedback with ID %q.", id)
	}
	return f, nil
}

// commentIDs are the comments of f a student may rate: "criterion:<key>"
// for each criterion comment, each quote's ID, "glow:<i>" and "grow:<i>".
func commentIDs(f Feedback) map[string]bool {
	ids := map[string]bool{}
	for k := range f.Comments {
		ids["criterion:"+k] = true
	}
	for _, q := range f.Quotes {
		ids[q.ID] = true
	}
	for i := range f.Glows {
		ids["glow:"+strconv.Itoa(i)] = true
	}
	for i := range f.Grows {
		ids["grow:"+strconv.Itoa(i)] = true
	}
	return ids
}

// Rate records the student's helpfulness rating (1 to 5) of one comment of
// their released feedback, replacing an earlier rating of it. Returns
// not_found unless caller is the feedback's student and it is released,
// and invalid for an unknown comment or a rating out of range.
func (s *Service) Rate(ctx context.Context, caller account.User, id, commentID string, stars int) (Feedback, error) {
	if _, err := s.studentFeedback(ctx, caller, id); err != nil {
		return Feedback{}, err
	}
	if stars < 1 || stars > 5 {
		return Feedback{}, errs.F(errs.Invalid, "stars", "A rating is from 1 to 5 stars.")
	}
	return s.mutate(ctx, id, anyRev, false, func(f *Feedback) error {
		if !commentIDs(*f)[commentID] {
			return errs.F(errs.Invalid, "comment_id", "The feedback has no comment %q.", commentID)
		}
		r := Rating{CommentID: commentID, Stars: stars, At: s.stamp()}
		for i := range f.Ratings {
			if f.Ratings[i].CommentID == commentID {
				f.Ratings[i] = r
				return nil
			}
		}
		f.Ratings = append(f.Ratings, r)
		return nil
	})
}

// Limits on what a student writes back.
const (
	maxReflections    = 20
	maxReflectionChar = 2000
)

// Reflect adds the student's reflection, or a question to the teacher
// (kind "reflection" or "question"), to their released feedback. Returns
// not_found unless caller is the feedback's student and it is released,
// and invalid for an empty, overlong or unknown-kind text or beyond 20.
func (s *Service) Reflect(ctx context.Context, caller account.User, id, kind, text string) (Feedback, error) {
	if _, err := s.studentFeedback(ctx, caller, id); err != nil {
		return Feedback{}, err
	}
	var l errs.List
	if kind != "reflection" && kind != "question" {
		l = append(l, errs.F(errs.Invalid, "kind", "The kind must be \"reflection\" or \"question\"."))
	}
	switch n := utf8.RuneCountInString(text); {
	case strings.TrimSpace(text) == "":
		l = append(l, errs.F(errs.Invalid, "text", "Write something first."))
	case n > maxReflectionChar:
		l = append(l, errs.F(errs.Invalid, "text", "The text is longer than %d characters.", maxReflectionChar))
	}
	if err := l.Err(); err != nil {
		return Feedback{}, err
	}
	f, err := s.mutate(ctx, id, anyRev, false, func(f *Feedback) error {
		if len(f.Reflections) >= maxReflections {
			return errs.E(errs.Conflict, "This feedback already has %d reflections and questions.", maxReflections)
		}
		f.Reflections = append(f.Reflections, Reflection{Kind: kind, Text: text, At: s.stamp()})
		return nil
	})
	if err == nil {
		s.notifyReflection(ctx, f, kind, len(f.Reflections))
	}
	return f, err
}
