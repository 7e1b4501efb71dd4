package feedback

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/intake"
)

// The read models feedback keeps besides the feedback documents. Each is
// written from a feedback document by project, never edited on its own, so
// projecting a feedback again (Recover, Migrate) rebuilds it. Each is a
// bounded document read by _id:
//   - the assignment's list rows, 50 to a page (store.go);
//   - a student's record per class enrolment (StudentRecord): the levels and
//     state of every approved first read, for progress, the data wall and
//     the student's home;
//   - a class's record (ClassRecord): the assignments with approved
//     feedback and a copy of their rubrics;
//   - a student's released feedback on a submission, as they read it
//     (StudentFeedback), written at release;
//   - the payable event of each approved read and its place in the payable
//     log that payouts reads.

// projection says what a change may have changed besides the row, which
// is always written.
type projection struct {
	student  bool // the enrolment record (a first read's levels or state)
	class    bool // the class record (a first approval)
	released bool // the released feedback on the submission
	payable  bool // the payable event (an approval)
	// retry says the projection may repeat one interrupted or running
	// elsewhere, so an event it logs may be logged twice (see PayableLog).
	retry bool
}

// fullProjection rewrites everything a feedback projects (Recover, retried
// approvals, Migrate).
var fullProjection = projection{student: true, class: true, released: true, payable: true, retry: true}

func projectChange(before Row, f Feedback) projection {
	approvedNow := f.State.Final() && !before.State.Final()
	return projection{
		student:  before.State != f.State || !maps.Equal(before.Levels, f.Levels),
		class:    approvedNow,
		released: f.State == Released,
		payable:  approvedNow,
	}
}

// projecting serialises the projections of one feedback (and the renders of
// one submission) in this process, and each re-reads the document, so a
// slower projection never writes an older state over a newer one.
var projecting, rendering stripes

// project writes what feedback id projects, from its stored document.
func (s *Service) project(ctx context.Context, id string, p projection) error {
	unlock := projecting.lock(id)
	defer unlock()
	f, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if f.Slot == 0 {
		return fmt.Errorf("feedback %s has no list slot", id)
	}
	if err := s.writeRow(ctx, f); err != nil {
		return err
	}
	if !f.State.Final() {
		return nil
	}
	var a intake.Assignment
	if p.payable || p.class && f.Reader == First {
		if a, err = s.intake.Assignment(ctx, f.AssignmentID); err != nil {
			return err
		}
	}
	if p.payable {
		if err := s.ensurePayable(ctx, f, a, p.retry); err != nil {
			return err
		}
	}
	if f.Reader != First {
		return nil
	}
	if p.class {
		if err := s.writeClass(ctx, a); err != nil {
			return err
		}
	}
	if p.student {
		if err := s.writeStudent(ctx, f); err != nil {
			return err
		}
	}
	if p.released && f.State == Released {
		return s.renderReleased(ctx, f.SubmissionID)
	}
	return nil
}

// StudentRecord is a student's approved work in one class (one enrolment):
// per submission version, the first read's levels and whether the student
// has been shown it. Its _id is account.EnrolmentUserID(class, student).
type StudentRecord struct {
	ID        string                `json:"-"`
	ClassID   string                `json:"class_id"`
	StudentID string                `json:"student_id"`
	Work      map[string]WorkRecord `json:"work"` // by FieldKey(version ID)
}

// WorkRecord is the approved first read of one submission version.
type WorkRecord struct {
	AssignmentID string            `json:"assignment_id" bson:"assignment_id"`
	SubmissionID string            `json:"submission_id" bson:"submission_id"`
	VersionID    string            `json:"version_id" bson:"version_id"`
	FeedbackID   string            `json:"feedback_id" bson:"feedback_id"`
	Version      int               `json:"version" bson:"version"`
	State        State             `json:"state" bson:"state"` // approved or released
	Levels       map[string]string `json:"levels" bson:"levels"`
	ApprovedAt   *time.Time        `json:"approved_at,omitempty" bson:"approved_at,omitempty"`
	ReleasedAt   *time.Time        `json:"released_at,omitempty" bson:"released_at,omitempty"`
}

// recordDoc is how a StudentRecord or a ClassRecord is stored: its entries
// as JSON (see asJSON).
type recordDoc struct {
	ID        string            `bson:"_id"`
	ClassID   string            `bson:"class_id,omitempty"`
	StudentID string            `bson:"student_id,omitempty"`
	Entries   map[string][]byte `bson:"entries"`
}

func (d recordDoc) student() (StudentRecord, error) {
	r := StudentRecord{ID: d.ID, ClassID: d.ClassID, StudentID: d.StudentID, Work: make(map[string]WorkRecord, len(d.Entries))}
	for k, b := range d.Entries {
		var w WorkRecord
		if err := json.Unmarshal(b, &w); err != nil {
			return StudentRecord{}, fmt.Errorf("student record %s: %w", d.ID, err)
		}
		r.Work[k] = w
	}
	return r, nil
}

func (s *Service) writeStudent(ctx context.Context, f Feedback) error {
	id := account.EnrolmentUserID(f.ClassID, f.StudentID)
	w := WorkRecord{AssignmentID: f.AssignmentID, SubmissionID: f.SubmissionID, VersionID: f.VersionID, FeedbackID: f.ID,
		Version: f.Version, State: f.State, Levels: f.Levels, ApprovedAt: f.ApprovedAt, ReleasedAt: f.ReleasedAt}
	_, err := s.c(colStudents).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "class_id", Value: f.ClassID}, {Key: "student_id", Value: f.StudentID},
		{Key: "entries." + mongostore.FieldKey(f.VersionID), Value: asJSON(w)}}}}, upsert)
	if err != nil && mongostore.IsDuplicateKey(err) {
		return s.writeStudent(ctx, f)
	}
	return errs.Wrap(err, "write student record")
}

// Student returns a student's record in a class (empty when nothing of
// theirs is approved yet), without an access check: for other services,
// which decide what a reader may see (State says whether the student has
// been shown it). It is one read by _id.
func (s *Service) Student(ctx context.Context, classID, studentID string) (StudentRecord, error) {
	all, err := s.Students(ctx, classID, []string{studentID})
	return all[studentID], err
}

// Students returns the records of some students in a class, by student
// ID (a student with nothing approved has an empty one), without an access
// check (for other services): one read by _id each on the embedded store,
// one $in on MongoDB.
func (s *Service) Students(ctx context.Context, classID string, studentIDs []string) (map[string]StudentRecord, error) {
	ids := make([]string, len(studentIDs))
	for i, st := range studentIDs {
		ids[i] = account.EnrolmentUserID(classID, st)
	}
	got, err := mongostore.GetMany(ctx, s.c(colStudents), ids, func(d recordDoc) string { return d.ID })
	if err != nil {
		return nil, err
	}
	out := make(map[string]StudentRecord, len(studentIDs))
	for i, st := range studentIDs {
		d, ok := got[ids[i]]
		if !ok {
			d = recordDoc{ID: ids[i], ClassID: classID, StudentID: st}
		}
		if out[st], err = d.student(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ClassRecord lists a class's assignments that have approved first reads,
// with what progress and the data wall need of each. Its _id is the class
// ID.
type ClassRecord struct {
	ID          string                    `json:"class_id"`
	Assignments map[string]AssignmentInfo `json:"assignments"` // by FieldKey(assignment ID)
}

// AssignmentInfo is an assignment as progress and the data wall show it:
// its rubric without the level descriptors (a published rubric is frozen).
type AssignmentInfo struct {
	ID          string        `json:"id" bson:"id"`
	Title       string        `json:"title" bson:"title"`
	CreatedAt   time.Time     `json:"created_at" bson:"created_at"`
	PublishedAt *time.Time    `json:"published_at,omitempty" bson:"published_at,omitempty"`
	Rubric      intake.Rubric `json:"rubric" bson:"rubric"`
}

// InfoOf is what a class record keeps of an assignment.
func InfoOf(a intake.Assignment) AssignmentInfo {
	r := a.Rubric
	r.Criteria = make([]intake.Criterion, len(a.Rubric.Criteria))
	for i, c := range a.Rubric.Criteria {
		c.Descriptors = nil
		r.Criteria[i] = c
	}
	r.FocusPoints = nil
	return AssignmentInfo{ID: a.ID, Title: a.Title, CreatedAt: a.CreatedAt, PublishedAt: a.PublishedAt, Rubric: r}
}

func (s *Service) writeClass(ctx context.Context, a intake.Assignment) error {
	_, err := s.c(colClasses).UpdateOne(ctx, bson.D{{Key: "_id", Value: a.ClassID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "entries." + mongostore.FieldKey(a.ID), Value: asJSON(InfoOf(a))}}}}, upsert)
	if err != nil && mongostore.IsDuplicateKey(err) {
		return s.writeClass(ctx, a)
	}
	return errs.Wrap(err, "write class record")
}

// Class returns a class's record (empty before any approval), without an
// access check (for other services). It is one read by _id.
func (s *Service) Class(ctx context.Context, classID string) (ClassRecord, error) {
	d, err := mongostore.Get[recordDoc](ctx, s.c(colClasses), classID, "class record")
	if err != nil && !errs.Is(err, errs.NotFound) {
		return ClassRecord{}, err
	}
	r := ClassRecord{ID: classID, Assignments: make(map[string]AssignmentInfo, len(d.Entries))}
	for k, b := range d.Entries {
		var a AssignmentInfo
		if err := json.Unmarshal(b, &a); err != nil {
			return ClassRecord{}, fmt.Errorf("class record %s: %w", classID, err)
		}
		r.Assignments[k] = a
	}
	return r, nil
}

// stripes is a fixed set of mutexes picked by a hash of the key: enough to
// serialise the few projections in flight, without a map to clean up.
type stripes [64]sync.Mutex

func (st *stripes) lock(key string) (unlock func()) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	m := &st[h.Sum32()%uint32(len(st))]
	m.Lock()
	return m.Unlock
}
