package feedback

import (
	"time"

	"github.com/marginschool/margin/services/feedback/anchor"
)

// State is where a feedback is in its life.
//
//	draft ──submit──▶ submitted ──approve──▶ approved ──release──▶ released
//	                    │   ▲
//	              return│   │submit
//	                    ▼   │
//	                  returned
//
// The grader edits in draft and returned; the teacher edits in submitted,
// approved and released (each edit is kept in History).
type State string

// The feedback states.
const (
	Draft     State = "draft"
	Submitted State = "submitted"
	Returned  State = "returned"
	Approved  State = "approved"
	Released  State = "released"
)

// Final reports whether the teacher has approved the feedback (approved or
// released): its payable event exists and the grader can no longer edit it.
func (s State) Final() bool { return s == Approved || s == Released }

// The readers of a submission version (the same words as matching's).
const (
	First  = "first"
	Second = "second"
)

// Kind says whether a quoted comment praises or asks for growth.
type Kind string

// The quote kinds.
const (
	Strength Kind = "strength"
	Growth   Kind = "growth"
)

// Quote is a quoted comment: a passage of the student's text (anchored in
// the grader text with W3C selectors), the rubric criterion it bears on, its
// kind and the grader's comment. ID is stable across saves (the server
// assigns it) and names the comment for ratings.
type Quote struct {
	ID        string        `json:"id" bson:"id"`
	Target    anchor.Target `json:"target" bson:"target"` // into the grader text
	Criterion string        `json:"criterion" bson:"criterion"`
	Kind      Kind          `json:"kind" bson:"kind"`
	Comment   string        `json:"comment" bson:"comment"`
}

// Point is one glow (strength) or grow (area for growth) of the overall
// summary, tied to a criterion.
type Point struct {
	Criterion string `json:"criterion" bson:"criterion"`
	Text      string `json:"text" bson:"text"`
}

// FocusNote addresses one of the teacher's focus points; Index is its
// position in the assignment's FocusPoints.
type FocusNote struct {
	Index int    `json:"index" bson:"index"`
	Note  string `json:"note" bson:"note"`
}

// Content is what a grader (or a reviewing teacher) writes. Levels and
// Comments are keyed by rubric criterion key; a level is a rubric level key
// (never a label or points), so analytics never guesses.
type Content struct {
	Levels     map[string]string `json:"levels" bson:"levels"`
	Comments   map[string]string `json:"comments" bson:"comments"`
	Quotes     []Quote           `json:"quotes" bson:"quotes"`
	Glows      []Point           `json:"glows" bson:"glows"`
	Grows      []Point           `json:"grows" bson:"grows"`
	FocusNotes []FocusNote       `json:"focus_notes" bson:"focus_notes"`
}

// Edit is one entry of a feedback's history: a state change or a teacher's
// edit, with the content as it was after it.
type Edit struct {
	Rev    int       `json:"rev" bson:"rev"`
	At     time.Time `json:"at" bson:"at"`
	By     string    `json:"by" bson:"by"`         // user ID
	Role   string    `json:"role" bson:"role"`     // grader, teacher or admin
	Action string    `json:"action" bson:"action"` // submit, return, approve, edit, adjudicate, release
	Note   string    `json:"note,omitempty" bson:"note,omitempty"`
	// Content is the feedback after the action; nil when the action changed
	// only the state.
	Content *Content `json:"content,omitempty" bson:"content,omitempty"`
}

// Rating is a student's helpfulness rating of one comment.
type Rating struct {
	CommentID string    `json:"comment_id" bson:"comment_id"`
	Stars     int       `json:"stars" bson:"stars"` // 1–5
	At        time.Time `json:"at" bson:"at"`
}

// Reflection is a student's reflection on the feedback, or a question to the
// teacher.
type Reflection struct {
	Kind string    `json:"kind" bson:"kind"` // "reflection" or "question"
	Text string    `json:"text" bson:"text"`
	At   time.Time `json:"at" bson:"at"`
}

// Disagreement flags a second read whose levels differ from the first
// read's by at least the configured number of steps on some criteria.
type Disagreement struct {
	Criteria  []string  `json:"criteria" bson:"criteria"`
	FlaggedAt time.Time `json:"flagged_at" bson:"flagged_at"`
	// Resolved is set when the teacher adjudicates.
	Resolved bool `json:"resolved" bson:"resolved"`
}

// Adjudication is the teacher's decision on a disagreement: the levels that
// count (they replace the first read's levels).
type Adjudication struct {
	Levels map[string]string `json:"levels" bson:"levels"`
	// Replaced are the first reader's own levels, which Levels replaced:
	// what the second read is compared with for agreement.
	Replaced map[string]string `json:"replaced,omitempty" bson:"replaced,omitempty"`
	Note     string            `json:"note,omitempty" bson:"note,omitempty"`
	By       string            `json:"by" bson:"by"`
	At       time.Time         `json:"at" bson:"at"`
}

// Feedback is one grader's feedback on one submission version, as first or
// second reader. Its ID is the grading task's, "<version id>:<reader>" (see
// intake.VersionID). Rev counts saves: every change increments it, and a
// save against an older Rev is refused with errs.VersionConflict.
type Feedback struct {
	ID           string `json:"id" bson:"_id"`
	VersionID    string `json:"version_id" bson:"version_id"`
	SubmissionID string `json:"submission_id" bson:"submission_id"`
	AssignmentID string `json:"assignment_id" bson:"assignment_id"`
	ClassID      string `json:"class_id" bson:"class_id"`
	SchoolID     string `json:"school_id" bson:"school_id"`
	StudentID    string `json:"student_id" bson:"student_id"`
	GraderID     string `json:"grader_id" bson:"grader_id"`
	Version      int    `json:"version" bson:"version"` // the submission version number
	Reader       string `json:"reader" bson:"reader"`   // first or second
	State        State  `json:"state" bson:"state"`
	Rev          int    `json:"rev" bson:"rev"`
	// Seq counts every write, ratings and reflections included: the
	// revision that compare-and-set checks (see mutate).
	Seq int64 `json:"-" bson:"seq"`
	// Slot is the feedback's place in its assignment's list pages (0
	// before its first row is written).
	Slot int `json:"-" bson:"slot,omitempty"`

	Content `bson:",inline"`

	// ReturnNote is the teacher's note when it was last returned.
	ReturnNote   string        `json:"return_note,omitempty" bson:"return_note,omitempty"`
	History      []Edit        `json:"history" bson:"history"`
	Ratings      []Rating      `json:"ratings" bson:"ratings"`
	Reflections  []Reflection  `json:"reflections" bson:"reflections"`
	Disagreement *Disagreement `json:"disagreement,omitempty" bson:"disagreement,omitempty"`
	Adjudication *Adjudication `json:"adjudication,omitempty" bson:"adjudication,omitempty"`

	CreatedAt   time.Time  `json:"created_at" bson:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at" bson:"updated_at"`
	SubmittedAt *time.Time `json:"submitted_at,omitempty" bson:"submitted_at,omitempty"`
	ApprovedAt  *time.Time `json:"approved_at,omitempty" bson:"approved_at,omitempty"`
	ReleasedAt  *time.Time `json:"released_at,omitempty" bson:"released_at,omitempty"`
}

// PayableEvent records that a grader's feedback on a submission version was
// approved, so payouts owes them PriceCents. Its ID is
// "<version id>:<grader id>"; it is inserted once, on the first approval,
// and never changed but for Seq, its position in the payable log (see
// PayableLog), set once on events recorded before the log existed.
type PayableEvent struct {
	ID           string    `json:"id" bson:"_id"`
	VersionID    string    `json:"version_id" bson:"version_id"`
	SubmissionID string    `json:"submission_id" bson:"submission_id"`
	AssignmentID string    `json:"assignment_id" bson:"assignment_id"`
	SchoolID     string    `json:"school_id" bson:"school_id"`
	GraderID     string    `json:"grader_id" bson:"grader_id"`
	Reader       string    `json:"reader" bson:"reader"`
	PriceCents   int64     `json:"price_cents" bson:"price_cents"`
	Currency     string    `json:"currency" bson:"currency"`
	ApprovedAt   time.Time `json:"approved_at" bson:"approved_at"`
	Seq          int64     `json:"seq" bson:"seq"`
	// Recheck, on an event read from the payable log, says it may have
	// been logged before too (see PayableLog).
	Recheck bool `json:"recheck,omitempty" bson:"recheck,omitempty"`
}

// BankEntry is one saved comment in a grader's personal comment bank.
type BankEntry struct {
	ID        string    `json:"id" bson:"id"`
	Criterion string    `json:"criterion,omitempty" bson:"criterion,omitempty"`
	Kind      Kind      `json:"kind,omitempty" bson:"kind,omitempty"`
	Text      string    `json:"text" bson:"text"`
	CreatedAt time.Time `json:"created_at" bson:"created_at"`
}

// PayableEventID is the ID of the payable event of a grader's approved
// feedback on a submission version.
func PayableEventID(versionID, graderID string) string { return versionID + ":" + graderID }

// TaskID is the ID of the feedback (and grading task) of a reader of a
// submission version.
func TaskID(versionID, reader string) string { return versionID + ":" + reader }
