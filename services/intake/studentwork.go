package intake

import (
	"cmp"
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// The students' read model, in student_work: for each class (_id: the
// class ID) a summary of each of its assignments, written when one is
// created, edited, published or advanced; and for each enrolment (_id:
// "<class id>:<student id>") the latest version of each assignment that
// the student can see, written when a version is stored. A student's home
// is then two reads by _id. A document written by a version before this
// read model (built false) is built on first read, once.

// classWork is a class's assignments as its students see them.
type classWork struct {
	ID          string                    `bson:"_id"`
	Built       bool                      `bson:"built"`
	Assignments map[string]workAssignment `bson:"assignments"` // by FieldKey(assignment ID)
}

type workAssignment struct {
	ID                string    `bson:"id"`
	Title             string    `bson:"title"`
	State             State     `bson:"state"`
	DueAt             time.Time `bson:"due_at"`
	CreatedAt         time.Time `bson:"created_at"`
	AllowResubmission bool      `bson:"allow_resubmission"`
}

// enrolmentWork is one student's versions in a class.
type enrolmentWork struct {
	ID    string                 `bson:"_id"`
	Built bool                   `bson:"built"`
	Work  map[string]workVersion `bson:"work"` // by FieldKey(assignment ID)
}

type workVersion struct {
	S  string    `bson:"s"`  // the submission's ID
	V  int       `bson:"v"`  // the latest version the student can see
	At time.Time `bson:"at"` // when it was uploaded
}

// WorkItem is one of a class's assignments as its student sees it, with
// the student's submission to it.
type WorkItem struct {
	AssignmentID      string    `json:"assignment_id"`
	Title             string    `json:"title"`
	State             State     `json:"state"`
	DueAt             time.Time `json:"due_at"`
	AllowResubmission bool      `json:"allow_resubmission"`
	// SubmissionID, Version and UploadedAt are empty when the student has
	// handed nothing in (or only a version still flagged for the teacher).
	SubmissionID string     `json:"submission_id,omitempty"`
	Version      int        `json:"version,omitempty"`
	UploadedAt   *time.Time `json:"uploaded_at,omitempty"`
}

// StudentWork returns what a student's home needs from intake: the class's
// assignments (those published, and any draft the student has work in),
// newest first, each with the latest version of the student's submission
// that the student can see. It is two reads by _id (more, once, for a
// class or student from before this read model). It does no access
// check: the edge calls it for the signed-in student's own enrolment
// (IsStudentOf).
func (s *Service) StudentWork(ctx context.Context, classID, studentID string) ([]WorkItem, error) {
	cw, err := mongostore.Get[classWork](ctx, s.c(colWork), classID, "class work")
	if err != nil && !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	if !cw.Built {
		if cw, err = s.buildClassWork(ctx, classID); err != nil {
			return nil, err
		}
	}
	ew, err := mongostore.Get[enrolmentWork](ctx, s.c(colWork), classID+":"+studentID, "student work")
	if err != nil && !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	if !ew.Built {
		if ew, err = s.buildEnrolmentWork(ctx, classID, studentID, cw); err != nil {
			return nil, err
		}
	}
	out := []WorkItem{}
	created := map[string]time.Time{}
	for k, a := range cw.Assignments {
		w := ew.Work[k]
		if a.State == Draft && w.V == 0 {
			continue
		}
		it := WorkItem{AssignmentID: a.ID, Title: a.Title, State: a.State, DueAt: a.DueAt, AllowResubmission: a.AllowResubmission}
		if w.V > 0 && w.S != "" {
			at := w.At
			it.SubmissionID, it.Version, it.UploadedAt = w.S, w.V, &at
		}
		created[a.ID] = a.CreatedAt
		out = append(out, it)
	}
	slices.SortFunc(out, func(x, y WorkItem) int {
		return cmp.Or(created[y.AssignmentID].Compare(created[x.AssignmentID]), cmp.Compare(x.AssignmentID, y.AssignmentID))
	})
	return out, nil
}

func summaryOf(a Assignment) workAssignment {
	return workAssignment{ID: a.ID, Title: a.Title, State: a.State, DueAt: a.DueAt, CreatedAt: a.CreatedAt, AllowResubmission: a.AllowResubmission}
}

// indexAssignment writes an assignment's summary into its class's read
// model.
func (s *Service) indexAssignment(ctx context.Context, a Assignment) error {
	_, err := s.c(colWork).UpdateOne(ctx, bson.D{{Key: "_id", Value: a.ClassID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "assignments." + mongostore.FieldKey(a.ID), Value: summaryOf(a)}}}}, updateUpsert())
	return errs.Wrap(err, "save class work")
}

// buildClassWork writes a class's read model from its assignments: one
// scan of assignments, once per class written before the read model.
func (s *Service) buildClassWork(ctx context.Context, classID string) (classWork, error) {
	as, err := mongostore.FindAll[Assignment](ctx, s.c(colAssignments), bson.D{{Key: "class_id", Value: classID}})
	if err != nil {
		return classWork{}, err
	}
	cw := classWork{ID: classID, Built: true, Assignments: map[string]workAssignment{}}
	set := bson.D{{Key: "built", Value: true}}
	for _, a := range as {
		k := mongostore.FieldKey(a.ID)
		cw.Assignments[k] = summaryOf(a)
		set = append(set, bson.E{Key: "assignments." + k, Value: cw.Assignments[k]})
	}
	_, err = s.c(colWork).UpdateOne(ctx, bson.D{{Key: "_id", Value: classID}}, bson.D{{Key: "$set", Value: set}}, updateUpsert())
	return cw, errs.Wrap(err, "build class work")
}

// buildEnrolmentWork writes a student's read model from their submissions
// to the class's assignments (found through each assignment's identities),
// keeping any later version written meanwhile ($max).
func (s *Service) buildEnrolmentWork(ctx context.Context, classID, studentID string, cw classWork) (enrolmentWork, error) {
	ew := enrolmentWork{ID: classID + ":" + studentID, Built: true, Work: map[string]workVersion{}}
	set, maxes := bson.D{{Key: "built", Value: true}}, bson.D{}
	for _, a := range cw.Assignments {
		sub, err := s.SubmissionOf(ctx, a.ID, studentID)
		if errs.Is(err, errs.NotFound) {
			continue
		} else if err != nil {
			return enrolmentWork{}, err
		}
		if v, ok := visibleVersion(sub); ok {
			k := mongostore.FieldKey(sub.AssignmentID)
			ew.Work[k] = workVersion{S: sub.ID, V: v.N, At: v.UploadedAt}
			set = append(set, bson.E{Key: "work." + k + ".s", Value: sub.ID})
			maxes = append(maxes, bson.E{Key: "work." + k + ".v", Value: v.N}, bson.E{Key: "work." + k + ".at", Value: v.UploadedAt})
		}
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(maxes) > 0 {
		update = append(update, bson.E{Key: "$max", Value: maxes})
	}
	_, err := s.c(colWork).UpdateOne(ctx, bson.D{{Key: "_id", Value: ew.ID}}, update, updateUpsert())
	return ew, errs.Wrap(err, "build student work")
}

// visibleVersion is the latest version of sub that its student can see.
func visibleVersion(sub Submission) (Version, bool) {
	for i := len(sub.Versions) - 1; i >= 0; i-- {
		if !sub.Versions[i].Flag.Open() {
			return sub.Versions[i], true
		}
	}
	return Version{}, false
}

// noteWork writes a submission's latest version that its student can see
// into the student's read model.
func (s *Service) noteWork(ctx context.Context, sub Submission) error {
	v, ok := visibleVersion(sub)
	if !ok {
		return nil
	}
	k := mongostore.FieldKey(sub.AssignmentID)
	_, err := s.c(colWork).UpdateOne(ctx, bson.D{{Key: "_id", Value: sub.ClassID + ":" + sub.StudentID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "work." + k + ".s", Value: sub.ID}}},
			{Key: "$max", Value: bson.D{{Key: "work." + k + ".v", Value: v.N}, {Key: "work." + k + ".at", Value: v.UploadedAt}}}}, updateUpsert())
	return errs.Wrap(err, "save student work")
}

// changeAssignment runs write, a change to assignment id, and then puts the
// assignment as stored into its class's read model. An in-flight record
// spans the two, so that Recover finishes the second after a crash.
func (s *Service) changeAssignment(ctx context.Context, id string, write func() error) error {
	fid := assignmentFlightID(id)
	s.live.Store(fid, true)
	defer s.live.Delete(fid)
	f := flightDoc{ID: fid, Kind: flightAssignment, AssignmentID: id, UpdatedAt: s.stamp()}
	if _, err := s.c(colInflight).ReplaceOne(ctx, bson.D{{Key: "_id", Value: fid}}, f, upsert()); err != nil {
		return errs.Wrap(err, "mark assignment change")
	}
	done := func() error {
		_, err := s.c(colInflight).DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: fid}})
		return errs.Wrap(err, "mark assignment change")
	}
	if err := write(); err != nil {
		_ = done()
		return err
	}
	a, err := s.Assignment(ctx, id)
	if err != nil {
		return err
	}
	if err := s.indexAssignment(ctx, a); err != nil {
		return err
	}
	return done()
}
