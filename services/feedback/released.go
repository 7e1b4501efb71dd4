package feedback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/marginschool/margin/services/intake"
)

// ReleaseListener hears that an assignment's feedback was released (or
// released again, which changes nothing): the LMS gradebook queues the
// released grades with it. It is called after the release is stored, and
// must not fail the release: it logs its own errors.
type ReleaseListener interface {
	Released(ctx context.Context, assignmentID string)
}

// OnRelease adds a listener that every Release calls. Call it at start-up,
// before the service serves requests.
func (s *Service) OnRelease(l ReleaseListener) { s.listeners = append(s.listeners, l) }

func (s *Service) released(ctx context.Context, assignmentID string) {
	for _, l := range s.listeners {
		l.Released(ctx, assignmentID)
	}
}

// ReleasedGrade is a student's grade on an assignment as released: the
// newest version of their work whose first read is released, its levels
// and weighted points.
type ReleasedGrade struct {
	StudentID    string
	SubmissionID string
	VersionID    string
	// Key changes whenever the released grade does (a newer version, or
	// the teacher's edit of released levels): the LMS posts each key once.
	Key      string
	Levels   map[string]string
	Earned   float64   // Σ weight × points of the levels awarded
	Possible float64   // Σ weight × the top level's points
	At       time.Time // when the grade last changed
}

// ReleasedGrades returns every student's released grade on an assignment,
// ordered by student ID, without an access check (for the LMS gradebook).
// It reads the assignment and its feedback rows (a page per 50 rows).
// Returns not_found for an unknown assignment.
func (s *Service) ReleasedGrades(ctx context.Context, assignmentID string) ([]ReleasedGrade, error) {
	a, err := s.intake.Assignment(ctx, assignmentID)
	if err != nil {
		return nil, err
	}
	rows, err := s.rows(ctx, assignmentID)
	if err != nil {
		return nil, err
	}
	newest := map[string]Row{}
	for _, r := range rows {
		if r.Reader == First && r.State == Released && r.Version > newest[r.StudentID].Version {
			newest[r.StudentID] = r
		}
	}
	out := make([]ReleasedGrade, 0, len(newest))
	for st, r := range newest {
		earned, possible := WeightedPoints(a.Rubric, r.Levels)
		out = append(out, ReleasedGrade{
			StudentID: st, SubmissionID: submissionOf(r.VersionID), VersionID: r.VersionID, Key: gradeKey(r),
			Levels: r.Levels, Earned: earned, Possible: possible, At: r.UpdatedAt,
		})
	}
	slices.SortFunc(out, func(a, b ReleasedGrade) int { return strings.Compare(a.StudentID, b.StudentID) })
	return out, nil
}

// WeightedPoints is what a grading earns on a rubric, Σ weight × points of
// the level awarded, out of Σ weight × the top level's points, over every
// criterion (one with no level or an unknown one earns 0).
func WeightedPoints(r intake.Rubric, levels map[string]string) (earned, possible float64) {
	top := r.MaxPoints()
	for _, c := range r.Criteria {
		possible += c.Weight * top
		if lv, ok := r.Level(levels[c.Key]); ok {
			earned += c.Weight * lv.Points
		}
	}
	return earned, possible
}

func gradeKey(r Row) string {
	keys := make([]string, 0, len(r.Levels))
	for k := range r.Levels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k + "=" + r.Levels[k] + "\x00"))
	}
	return r.VersionID + "#" + hex.EncodeToString(h.Sum(nil)[:6])
}

// submissionOf is the submission of a version ID (intake.VersionID).
func submissionOf(versionID string) string {
	if i := strings.LastIndexByte(versionID, ':'); i >= 0 {
		return versionID[:i]
	}
	return versionID
}
