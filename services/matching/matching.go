package matching

import (
	"time"
)

// Reader says whether a task is the first (the grade that counts) or the
// blind second read of a submission version.
type Reader string

// The two readers of a submission version.
const (
	First  Reader = "first"
	Second Reader = "second"
)

// TaskState is where a grading task is in its life.
type TaskState string

// The task states. A task is Assigned when its batch's offer is accepted;
// feedback reports Submitted, Returned (the teacher sent it back to the same
// grader) and Approved. Withdrawn means the lease ran out before the work was
// submitted and the version went back into matching; a later accept assigns
// the same task (same ID) to the new grader.
const (
	TaskAssigned  TaskState = "assigned"
	TaskSubmitted TaskState = "submitted"
	TaskReturned  TaskState = "returned"
	TaskApproved  TaskState = "approved"
	TaskWithdrawn TaskState = "withdrawn"
)

// Task is one submission version to be graded by one grader, as first or
// second reader. Its ID is TaskID(versionID, reader), i.e.
// "<version id>:<reader>", and feedback is stored under the same ID.
type Task struct {
	ID           string     `json:"id" bson:"_id"`
	GraderID     string     `json:"grader_id" bson:"grader_id"`
	AssignmentID string     `json:"assignment_id" bson:"assignment_id"`
	SubmissionID string     `json:"submission_id" bson:"submission_id"`
	VersionID    string     `json:"version_id" bson:"version_id"`
	Version      int        `json:"version" bson:"version"`
	Reader       Reader     `json:"reader" bson:"reader"`
	BatchID      string     `json:"batch_id" bson:"batch_id"`
	DueAt        time.Time  `json:"due_at" bson:"due_at"` // the lease: the task is withdrawn shortly before this if unsubmitted
	State        TaskState  `json:"state" bson:"state"`
	AssignedAt   time.Time  `json:"assigned_at" bson:"assigned_at"`
	SubmittedAt  *time.Time `json:"submitted_at,omitempty" bson:"submitted_at,omitempty"`
	UpdatedAt    time.Time  `json:"updated_at" bson:"updated_at"`
}

// Open reports whether the task still holds a unit of its grader's capacity
// (assigned or returned for rework).
func (t Task) Open() bool { return t.State == TaskAssigned || t.State == TaskReturned }

// TaskID is the ID of the task for reader of a submission version (see
// intake.VersionID).
func TaskID(versionID string, reader Reader) string { return versionID + ":" + string(reader) }

// VettingStatus is where a grader is in vetting.
type VettingStatus string

// Vetting states. Only an admin moves a grader out of Pending.
const (
	Pending  VettingStatus = "pending"
	Approved VettingStatus = "approved"
	Rejected VettingStatus = "rejected"
)

// AffiliationKind is how a grader is tied to a school.
type AffiliationKind string

// The declared kinds of affiliation; each is a conflict of interest with
// that school.
const (
	Works   AffiliationKind = "works"
	Studies AffiliationKind = "studies"
	Child   AffiliationKind = "child" // a child of the grader is enrolled
)

// Affiliation is a school the grader declares a tie with. School is matched
// against a school's ID or, case-insensitively, its name.
type Affiliation struct {
	School string          `json:"school" bson:"school"`
	Kind   AffiliationKind `json:"kind" bson:"kind"`
}

// GradeBand is an inclusive range of grade levels (0 is kindergarten).
type GradeBand struct {
	Min int `json:"min" bson:"min"`
	Max int `json:"max" bson:"max"`
}

// Contains reports whether grade lies in the band.
func (b GradeBand) Contains(grade int) bool { return grade >= b.Min && grade <= b.Max }

// Profile is what a grader declares about themself, plus their vetting
// status. The quality record is computed, never typed in (see Quality).
type Profile struct {
	GraderID     string         `json:"grader_id" bson:"_id"`
	Name         string         `json:"name" bson:"name"`
	EmailDomain  string         `json:"-" bson:"email_domain"`
	Subjects     []string       `json:"subjects" bson:"subjects"` // lower-case
	GradeBands   []GradeBand    `json:"grade_bands" bson:"grade_bands"`
	Affiliations []Affiliation  `json:"affiliations" bson:"affiliations"`
	Capacity     int            `json:"capacity" bson:"capacity"`             // most submissions held at once
	Days         []time.Weekday `json:"available_days" bson:"available_days"` // 0 Sunday … 6 Saturday
	Bio          string         `json:"bio" bson:"bio"`
	Status       VettingStatus  `json:"status" bson:"status"`
	VettedBy     string         `json:"vetted_by,omitempty" bson:"vetted_by,omitempty"`
	VettedAt     *time.Time     `json:"vetted_at,omitempty" bson:"vetted_at,omitempty"`
	// Held is how many submissions the grader holds now (open tasks).
	Held      int       `json:"held" bson:"held"`
	CreatedAt time.Time `json:"created_at" bson:"created_at"`
	UpdatedAt time.Time `json:"updated_at" bson:"updated_at"`
}

// Quality is a grader's record, computed from what happened. Rates are nil
// while there is nothing to compute them from.
type Quality struct {
	CalibrationAttempts int      `json:"calibration_attempts"`
	CalibrationPassed   int      `json:"calibration_passed"`
	CalibrationAccuracy *float64 `json:"calibration_accuracy,omitempty"` // share of criteria scored exactly, over all attempts
	Submitted           int      `json:"submitted"`
	OnTime              int      `json:"on_time"`
	OnTimeRate          *float64 `json:"on_time_rate,omitempty"`
	Approvals           int      `json:"approvals"`
	Returns             int      `json:"returns"`
	ApprovalRate        *float64 `json:"approval_rate,omitempty"` // approvals / (approvals + returns)
	// Helpfulness and agreement with second readers are reported by the
	// feedback service (ReportHelpfulness, ReportAgreement).
	HelpfulRatings int      `json:"helpful_ratings"`
	Helpfulness    *float64 `json:"helpfulness,omitempty"` // mean rating scaled to 0–1
	SecondReads    int      `json:"second_reads"`
	Agreement      *float64 `json:"agreement,omitempty"` // share of double-read versions within one level on every criterion
}

// BatchState is where a batch is in matching.
type BatchState string

// Batch states: Open batches go into the next round; Offered ones wait for
// the grader; Accepted ones are held under a lease until their due date;
// Done ones have every task submitted or were split up.
const (
	BatchOpen     BatchState = "open"
	BatchOffered  BatchState = "offered"
	BatchAccepted BatchState = "accepted"
	BatchDone     BatchState = "done"
)

// Item is one submission version in a batch.
type Item struct {
	SubmissionID string `json:"submission_id" bson:"submission_id"`
	VersionID    string `json:"version_id" bson:"version_id"`
	Version      int    `json:"version" bson:"version"`
}

// Batch is submission versions of one assignment that go whole to one grader
// as first or second reader.
type Batch struct {
	ID           string     `json:"id" bson:"_id"`
	AssignmentID string     `json:"assignment_id" bson:"assignment_id"`
	ClassID      string     `json:"class_id" bson:"class_id"`
	SchoolID     string     `json:"school_id" bson:"school_id"`
	TeacherID    string     `json:"teacher_id" bson:"teacher_id"`
	Subject      string     `json:"subject" bson:"subject"`
	GradeLevel   int        `json:"grade_level" bson:"grade_level"`
	Reader       Reader     `json:"reader" bson:"reader"`
	Items        []Item     `json:"items" bson:"items"`
	DueAt        time.Time  `json:"due_at" bson:"due_at"`
	State        BatchState `json:"state" bson:"state"`
	GraderID     string     `json:"grader_id,omitempty" bson:"grader_id,omitempty"`
	OfferID      string     `json:"offer_id,omitempty" bson:"offer_id,omitempty"`
	// Exclude lists graders who may not get this batch: those who declined
	// or let an offer lapse, and for a second read the first readers.
	Exclude []string `json:"-" bson:"exclude"`
	// Prefer is a grader to favour (the first reader of an earlier version,
	// for a revision).
	Prefer string `json:"-" bson:"prefer,omitempty"`
	// Offers counts the offers made for this batch so far.
	Offers    int       `json:"offers" bson:"offers"`
	CreatedAt time.Time `json:"created_at" bson:"created_at"`
	UpdatedAt time.Time `json:"updated_at" bson:"updated_at"`
}

// Size is the number of submission versions in the batch.
func (b Batch) Size() int { return len(b.Items) }

// OfferState is where an offer is.
type OfferState string

// Offer states. Only Open offers can be accepted or declined.
const (
	OfferOpen     OfferState = "open"
	OfferAccepted OfferState = "accepted"
	OfferDeclined OfferState = "declined"
	OfferExpired  OfferState = "expired"
)

// Factor is one part of a match's score: Value (0–1) times Weight gives
// Points.
type Factor struct {
	Name   string  `json:"name" bson:"name"`
	Weight float64 `json:"weight" bson:"weight"`
	Value  float64 `json:"value" bson:"value"`
	Points float64 `json:"points" bson:"points"`
	Note   string  `json:"note" bson:"note"`
}

// Explanation says why a batch went to a grader.
type Explanation struct {
	Summary string   `json:"summary" bson:"summary"`
	Factors []Factor `json:"factors" bson:"factors"`
	// Penalty is the spread penalty for this being the grader's Load-th
	// batch of the round.
	Penalty float64 `json:"spread_penalty" bson:"spread_penalty"`
	Load    int     `json:"load_in_round" bson:"load_in_round"`
	Score   float64 `json:"score" bson:"score"`
	// Eligible is how many graders could have taken the batch.
	Eligible int `json:"eligible_graders" bson:"eligible_graders"`
}

// Offer is a match put to a grader: they may accept it before ExpiresAt.
type Offer struct {
	ID           string      `json:"id" bson:"_id"`
	BatchID      string      `json:"batch_id" bson:"batch_id"`
	AssignmentID string      `json:"assignment_id" bson:"assignment_id"`
	TeacherID    string      `json:"-" bson:"teacher_id"`
	GraderID     string      `json:"grader_id" bson:"grader_id"`
	Reader       Reader      `json:"reader" bson:"reader"`
	Size         int         `json:"size" bson:"size"`
	DueAt        time.Time   `json:"due_at" bson:"due_at"`
	RoundID      string      `json:"round_id" bson:"round_id"`
	Why          Explanation `json:"why" bson:"why"`
	State        OfferState  `json:"state" bson:"state"`
	CreatedAt    time.Time   `json:"created_at" bson:"created_at"`
	ExpiresAt    time.Time   `json:"expires_at" bson:"expires_at"`
	DecidedAt    *time.Time  `json:"decided_at,omitempty" bson:"decided_at,omitempty"`
}

// Status is an assignment's matching status: whether it was split into
// batches, and why any batch has no grader.
type Status struct {
	AssignmentID string `json:"assignment_id" bson:"_id"`
	// Versions is the latest version of each student's submission that has
	// been put into a batch, by student ID.
	Versions map[string]int `json:"-" bson:"versions"`
	// BatchIDs are the assignment's batches (FieldKey of each ID), recorded
	// before each is inserted, so that its page reads them by _id instead
	// of scanning every batch of the school (an ID whose insert a crash
	// stopped names no document and is skipped).
	BatchIDs map[string]bool `json:"-" bson:"batch_ids,omitempty"`
	// Unmatched says, per open batch that the last round could not place,
	// why, e.g. "No vetted grader for grade 3 science: …".
	Unmatched []Unmatched `json:"unmatched" bson:"unmatched"`
	LastRound *time.Time  `json:"last_round,omitempty" bson:"last_round,omitempty"`
	UpdatedAt time.Time   `json:"updated_at" bson:"updated_at"`
}

// Unmatched is a batch a round could not place, and why.
type Unmatched struct {
	BatchID string `json:"batch_id" bson:"batch_id"`
	Reason  string `json:"reason" bson:"reason"`
}

// Round is the record of one matching round.
type Round struct {
	ID        string    `json:"id" bson:"_id"`
	At        time.Time `json:"at" bson:"at"`
	Batches   int       `json:"batches" bson:"batches"`
	Graders   int       `json:"graders" bson:"graders"`
	Assigned  int       `json:"assigned" bson:"assigned"`
	Optimal   bool      `json:"optimal" bson:"optimal"`
	Score     int64     `json:"score" bson:"score"`
	ElapsedMS int64     `json:"elapsed_ms" bson:"elapsed_ms"`
}
