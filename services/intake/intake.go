package intake

import (
	"time"
)

// Class is a teacher's class: the unit that owns a roster and assignments.
type Class struct {
	ID         string    `json:"id" bson:"_id"`
	SchoolID   string    `json:"school_id" bson:"school_id"`
	TeacherID  string    `json:"teacher_id" bson:"teacher_id"`
	Name       string    `json:"name" bson:"name"`
	Subject    string    `json:"subject" bson:"subject"`
	GradeLevel int       `json:"grade_level" bson:"grade_level"` // 0 is kindergarten, 1–12 the grades
	CreatedAt  time.Time `json:"created_at" bson:"created_at"`
	// EmailStudents says the teacher allows email to the class's students
	// (notifications of released feedback); off by default.
	EmailStudents bool `json:"email_students" bson:"email_students,omitempty"`
}

// Student is one rostered student of a class. StudentID is the school's own
// identifier (the roster's student_id); UserID is the student's Margin
// account, used for sessions opened through the access link.
type Student struct {
	ClassID    string    `json:"class_id" bson:"class_id"`
	StudentID  string    `json:"student_id" bson:"student_id"`
	GivenName  string    `json:"given_name" bson:"given_name"`
	FamilyName string    `json:"family_name" bson:"family_name"`
	Email      string    `json:"email,omitempty" bson:"email,omitempty"`
	UserID     string    `json:"user_id" bson:"user_id"`
	UpdatedAt  time.Time `json:"updated_at" bson:"updated_at"`
	// Seat is the student's place in the class's lists (1, 2, … in the
	// order the roster brought them in); 0 until a student rostered before
	// seats first hands in.
	Seat int `json:"-" bson:"seat,omitempty"`
	// Left says the student has left the course in the LMS the class comes
	// from (LTI roster sync). Their work stays; they sign in no more.
	Left bool `json:"left,omitempty" bson:"left,omitempty"`
}

// Name is the student's full name as the teacher sees it.
func (s Student) Name() string { return s.GivenName + " " + s.FamilyName }

// State is where an assignment is in its life.
type State string

// The assignment states, in order. Only intake changes them, through
// Service.Advance, which other services call.
const (
	Draft     State = "draft"      // the teacher is still setting it up
	Published State = "published"  // submissions are in; matching may start
	InGrading State = "in_grading" // at least one batch has been accepted; the rubric is frozen
	Graded    State = "graded"     // every submission's feedback is approved
	Released  State = "released"   // feedback is visible to students
)

var stateOrder = map[State]int{Draft: 0, Published: 1, InGrading: 2, Graded: 3, Released: 4}

// Assignment is one piece of work set to a class, with its rubric.
type Assignment struct {
	ID         string `json:"id" bson:"_id"`
	ClassID    string `json:"class_id" bson:"class_id"`
	SchoolID   string `json:"school_id" bson:"school_id"`
	TeacherID  string `json:"teacher_id" bson:"teacher_id"`
	Title      string `json:"title" bson:"title"`
	Prompt     string `json:"prompt" bson:"prompt"`
	Subject    string `json:"subject" bson:"subject"`
	GradeLevel int    `json:"grade_level" bson:"grade_level"`
	Rubric     Rubric `json:"rubric" bson:"rubric"`
	// FocusPoints are what the teacher wants graders to look at; they
	// default to the rubric's.
	FocusPoints []string  `json:"focus_points" bson:"focus_points"`
	DueAt       time.Time `json:"due_at" bson:"due_at"` // feedback due
	PriceCents  int64     `json:"price_cents" bson:"price_cents"`
	Currency    string    `json:"currency" bson:"currency"`
	// AllowResubmission lets students upload a revision for re-assessment.
	AllowResubmission bool `json:"allow_resubmission" bson:"allow_resubmission"`
	// SecondReadShare is the share of submissions graded blind a second
	// time (0.1 by default; at least one per batch when above zero).
	SecondReadShare float64    `json:"second_read_share" bson:"second_read_share"`
	State           State      `json:"state" bson:"state"`
	CreatedAt       time.Time  `json:"created_at" bson:"created_at"`
	PublishedAt     *time.Time `json:"published_at,omitempty" bson:"published_at,omitempty"`
	ReleasedAt      *time.Time `json:"released_at,omitempty" bson:"released_at,omitempty"`
	// ReopenedAt is when its teacher first uploaded a revision after grading
	// had finished; matching then keeps reading the assignment for new
	// versions, as it does for one that takes students' revisions.
	ReopenedAt *time.Time `json:"reopened_at,omitempty" bson:"reopened_at,omitempty"`
	// ClosedAt is when its teacher closed it (Close): it takes no more
	// work, and what billing still held for it is released.
	ClosedAt *time.Time `json:"closed_at,omitempty" bson:"closed_at,omitempty"`
	// CutShortUploadID is the latest upload batch that stopped before it
	// read all its files (stopped, or interrupted by a crash), so that the
	// teacher can find out which files are in.
	CutShortUploadID string `json:"cut_short_upload_id,omitempty" bson:"cut_short_upload_id,omitempty"`
}

// RubricFrozen reports whether grading has started, after which the rubric
// cannot change.
func (a Assignment) RubricFrozen() bool { return stateOrder[a.State] >= stateOrder[InGrading] }

// Version is one uploaded file of a submission. Versions are numbered from
// 1; a different file from the same student is a new version, and old ones
// are kept.
type Version struct {
	N          int       `json:"n" bson:"n"`
	SHA256     string    `json:"sha256" bson:"sha256"`
	BlobKey    string    `json:"-" bson:"blob_key"` // content-addressed: submissions/<sha256>
	Filename   string    `json:"filename" bson:"filename"`
	Format     string    `json:"format" bson:"format"`
	Size       int64     `json:"size" bson:"size"`
	Chars      int       `json:"chars" bson:"chars"` // runes of extracted text
	Warnings   []string  `json:"warnings,omitempty" bson:"warnings,omitempty"`
	UploadedBy string    `json:"uploaded_by" bson:"uploaded_by"` // user ID (teacher or the student)
	UploadedAt time.Time `json:"uploaded_at" bson:"uploaded_at"`
	// Flag, while open, holds the version back from graders and from the
	// student until the teacher confirms it or moves it to another student.
	Flag *Flag `json:"flag,omitempty" bson:"flag,omitempty"`
}

// Flag says why a version may be filed under the wrong student: its
// Canvas-style file name names another rostered student than the one its
// ID is for (FlagNameMismatch), or no rostered student (FlagUnknownName).
type Flag struct {
	Reason   string `json:"reason" bson:"reason"`
	NamePart string `json:"name_part" bson:"name_part"` // the file name's name part, e.g. "riveraavery"
	// NamedStudentID is the rostered student the name part names, if one.
	NamedStudentID string `json:"named_student_id,omitempty" bson:"named_student_id,omitempty"`
	Message        string `json:"message" bson:"message"`
	// ConfirmedBy and ConfirmedAt are set when the teacher confirms the
	// version as the student's; the flag is then closed.
	ConfirmedBy string     `json:"confirmed_by,omitempty" bson:"confirmed_by,omitempty"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty" bson:"confirmed_at,omitempty"`
}

// The reasons for a Flag.
const (
	FlagNameMismatch = "name_mismatch"
	FlagUnknownName  = "unknown_name"
)

// Open reports whether f holds its version back: it is set and not
// confirmed.
func (f *Flag) Open() bool { return f != nil && f.ConfirmedAt == nil }

// Submission is one student's work on one assignment, in all its versions.
// Its ID is opaque, "<assignment id>:sub_<random>", and reveals nothing
// about the student; graders see it. Submissions made before IDs were
// opaque keep theirs, "<assignment id>:<student id>". A student's
// submission is found with Service.SubmissionOf, or through the list row's
// SubmissionID.
type Submission struct {
	ID           string    `json:"id" bson:"_id"`
	AssignmentID string    `json:"assignment_id" bson:"assignment_id"`
	ClassID      string    `json:"class_id" bson:"class_id"`
	StudentID    string    `json:"student_id" bson:"student_id"`
	Pseudonym    string    `json:"pseudonym" bson:"pseudonym"`
	Versions     []Version `json:"versions" bson:"versions"`
	CreatedAt    time.Time `json:"created_at" bson:"created_at"`
	// N is len(Versions), kept as a field so that adding a version is a
	// compare-and-set on it (two uploads never both become version 2).
	N int `json:"-" bson:"n"`
	// Slot is the submission's place in its assignment's list (from 1; 0
	// for a submission stored before list pages, until it is placed).
	Slot int `json:"-" bson:"slot,omitempty"`
}

// Current is the latest version.
func (s Submission) Current() Version { return s.Versions[len(s.Versions)-1] }

// Version returns version n, if the submission has it.
func (s Submission) Version(n int) (Version, bool) {
	if n < 1 || n > len(s.Versions) {
		return Version{}, false
	}
	return s.Versions[n-1], true
}

// ForStudent is the submission as its student sees it: without the
// versions whose flag is still open (they may be another student's work),
// and without the flags, which name other students. It has no versions if
// every one is flagged.
func (s Submission) ForStudent() Submission {
	vs := make([]Version, 0, len(s.Versions))
	for _, v := range s.Versions {
		if !v.Flag.Open() {
			v.Flag = nil // a confirmed flag names another student
			vs = append(vs, v)
		}
	}
	s.Versions = vs
	return s
}

// VersionID names one version of a submission: "<submission id>:v<n>".
// Feedback, grading tasks and earnings are keyed by it.
func VersionID(submissionID string, n int) string {
	return submissionID + ":v" + itoa(n)
}

// Text is the extracted text of one submission version. Text is what the
// student wrote (for the teacher and the student); GraderText is the only
// text a grader sees: the same with the name and email of every student ever
// on the class's roster replaced by that student's pseudonym on the
// assignment, and the teacher's by "the teacher" (see Redactor). The grader
// text is made when it is read, so it follows the roster as it is now.
// Spans say where the replacements are. Offsets into either text count
// Unicode code points. Quotes in feedback point into GraderText; ToOriginal
// maps them back to Text.
type Text struct {
	VersionID  string `json:"version_id" bson:"_id"`
	Text       string `json:"text" bson:"text"`
	GraderText string `json:"grader_text" bson:"-"`
	Spans      []Span `json:"-" bson:"-"`
}

// ToOriginal maps the code points [start, end) of the grader text to the
// passage of Text they came from (see the package function ToOriginal).
func (t Text) ToOriginal(start, end int) (int, int) { return ToOriginal(t.Spans, start, end) }

// Row is a submission's line in its assignment's list: the small summary
// kept on the list's pages (at most pageSize rows each), so that a page of
// the list reads the few pages it shows, whatever the assignment's size.
type Row struct {
	StudentID    string    `json:"student_id" bson:"student_id"`
	SubmissionID string    `json:"submission_id" bson:"submission_id,omitempty"`
	Pseudonym    string    `json:"pseudonym" bson:"pseudonym"`
	Version      int       `json:"version" bson:"version"`
	Filename     string    `json:"filename" bson:"filename"`
	Format       string    `json:"format" bson:"format"`
	Chars        int       `json:"chars" bson:"chars"`
	UploadedAt   time.Time `json:"uploaded_at" bson:"uploaded_at"`
	// Duplicates are the students whose text is most similar to this one
	// (at most five, most similar first).
	Duplicates []Duplicate `json:"possible_duplicates,omitempty" bson:"duplicates,omitempty"`
	// Flag is the current version's open flag: while it is set the version
	// waits for its teacher, and matching leaves it out.
	Flag *Flag `json:"flag,omitempty" bson:"flag,omitempty"`
	Slot int   `json:"-" bson:"slot"` // the submission's place in the list
}

// Duplicate flags another student whose text is the same or nearly so.
type Duplicate struct {
	StudentID  string  `json:"student_id" bson:"student_id"`
	Similarity float64 `json:"similarity" bson:"similarity"` // estimated Jaccard similarity of 5-word shingles, 0–1
}
