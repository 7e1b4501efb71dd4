package analytics

import (
	"time"

	"github.com/marginschool/margin/services/intake"
)

// ClassInput is everything the class summary of one assignment is computed
// from. It is plain data: the loader fills it from intake and feedback, and
// the tests write it by hand.
type ClassInput struct {
	AssignmentID string        `json:"assignment_id"`
	Title        string        `json:"title"`
	Rubric       intake.Rubric `json:"rubric"`
	// FocusPoints are the teacher's focus points, in order.
	FocusPoints []string   `json:"focus_points"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
	ReleasedAt  *time.Time `json:"released_at,omitempty"`
	// Students has one entry per student with feedback (the first read of
	// their latest version), in any order.
	Students []StudentWork `json:"students"`
	// SecondReads are the blind second reads, paired with the first read of
	// the same submission version.
	SecondReads []SecondRead `json:"second_reads"`
	// Ratings are the students' helpfulness ratings of their feedback.
	Ratings []Rating `json:"ratings"`
}

// StudentWork is one student's graded work on the assignment.
type StudentWork struct {
	StudentID string `json:"student_id"`
	Pseudonym string `json:"pseudonym"`
	Name      string `json:"name"`
	GraderID  string `json:"grader_id"` // the first reader
	BatchID   string `json:"batch_id,omitempty"`
	// Levels maps criterion key to the key of the level awarded; a criterion
	// not in the map has not been scored.
	Levels     map[string]string `json:"levels"`
	Quotes     []Quote           `json:"quotes"`
	Glows      []Note            `json:"glows"`
	Grows      []Note            `json:"grows"`
	FocusNotes []FocusNote       `json:"focus_notes"`
	ApprovedAt *time.Time        `json:"approved_at,omitempty"`
	// Previous is the student's level on each criterion in their previous
	// assignment that shares the criterion key or standard code, keyed by
	// this assignment's criterion key. Empty when there is none.
	Previous map[string]PriorLevel `json:"previous,omitempty"`
}

// Kind is whether a quoted comment praises or asks for growth.
type Kind string

// The kinds of quoted comment.
const (
	Strength Kind = "strength"
	Growth   Kind = "growth"
)

// Quote is a comment anchored to an exact passage of the student's work.
// Text is the quoted passage as graders see it (pseudonymised); Comment is
// what the grader wrote about it.
type Quote struct {
	Criterion string `json:"criterion"`
	Kind      Kind   `json:"kind"`
	Text      string `json:"text"`
	Comment   string `json:"comment,omitempty"`
}

// Note is a glow or grow: a short statement tied to one criterion.
type Note struct {
	Criterion string `json:"criterion"`
	Text      string `json:"text"`
}

// FocusNote is what the grader wrote about one of the teacher's focus
// points (Point is the focus point's text).
type FocusNote struct {
	Point string `json:"point"`
	Text  string `json:"text"`
}

// PriorLevel is a level awarded on an earlier assignment: its index on that
// assignment's scale, the scale's size and the level's label.
type PriorLevel struct {
	AssignmentID string `json:"assignment_id"`
	Index        int    `json:"index"`
	Levels       int    `json:"levels"`
	Label        string `json:"label"`
}

// SecondRead pairs the first and second reader's levels on one submission
// version.
type SecondRead struct {
	StudentID string            `json:"student_id"`
	First     map[string]string `json:"first"`
	Second    map[string]string `json:"second"`
}

// Rating is one student's helpfulness rating of their feedback, 1 (not
// helpful) to 5 (very helpful), for one criterion or, with Criterion empty,
// for the feedback as a whole.
type Rating struct {
	StudentID string `json:"student_id"`
	GraderID  string `json:"grader_id"`
	Criterion string `json:"criterion,omitempty"`
	Score     int    `json:"score"`
}

// Options tune a class summary.
type Options struct {
	// Names shows students' names instead of their pseudonyms.
	Names bool `json:"names"`
	// SupportBelow is the level key below which a criterion counts towards
	// "needs support"; empty means the middle of the scale (the third of four
	// levels, the second of three).
	SupportBelow string `json:"support_below,omitempty"`
}
