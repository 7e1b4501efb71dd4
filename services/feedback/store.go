package feedback

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"reflect"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Changes to a feedback are serialised by a short lease: a document in
// feedback_locks whose _id is the feedback's, inserted before the read and
// deleted after the write. An insert with a unique _id is atomic on MongoDB
// and on the embedded store alike, and every read and write of the feedback
// itself is by _id (the only filter the embedded store indexes). A lease
// left by a crashed process expires after lockTTL.
const (
	lockTTL  = 10 * time.Second
	lockWait = 3 * time.Second // how long a change waits for another to finish
)

// anyRev makes a change unconditional (no optimistic-concurrency check).
const anyRev = -1

type lockDoc struct {
	ID    string    `bson:"_id"`
	Token string    `bson:"token"`
	Until time.Time `bson:"until"`
}

// lock takes the lease on feedback id and returns its release. It waits up
// to lockWait for a held lease, then returns errs.Conflict.
func (s *Service) lock(ctx context.Context, id string) (func(), error) {
	token := account.NewID("lk")
	deadline := time.Now().Add(lockWait)
	for {
		now := s.now()
		_, err := s.c(colLocks).InsertOne(ctx, lockDoc{ID: id, Token: token, Until: now.Add(lockTTL)})
		if err == nil {
			return func() {
				// The locks collection holds only leases in flight, so this
				// filter scans almost nothing.
				_, _ = s.c(colLocks).DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: id}, {Key: "token", Value: token}})
			}, nil
		}
		if !mongostore.IsDuplicateKey(err) {
			return nil, errs.Wrap(err, "lock feedback")
		}
		var held lockDoc
		if err := s.findByID(ctx, colLocks, id, "lock", &held); err == nil && held.Until.Before(now) {
			_, _ = s.c(colLocks).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "token", Value: held.Token}})
			continue
		}
		if time.Now().After(deadline) {
			return nil, errs.E(errs.Conflict, "Someone else is saving this feedback right now; try again in a moment.")
		}
		select {
		case <-ctx.Done():
			return nil, errs.Wrap(ctx.Err(), "lock feedback")
		case <-time.After(time.Duration(2+rand.IntN(8)) * time.Millisecond):
		}
	}
}

// get returns a feedback by ID, or not_found.
func (s *Service) get(ctx context.Context, id string) (Feedback, error) {
	var f Feedback
	return f, s.findByID(ctx, colFeedback, id, "feedback", &f)
}

// mutate applies change to feedback id under its lease and stores the
// result. With expectRev >= 0 the change is refused with
// errs.VersionConflict unless the stored Rev equals it. With bump, Rev is
// incremented (content and state changes); without, it is kept (ratings and
// reflections, which must not make a reviewer's open copy stale). An error
// from change aborts without writing.
func (s *Service) mutate(ctx context.Context, id string, expectRev int, bump bool, change func(*Feedback) error) (Feedback, error) {
	unlock, err := s.lock(ctx, id)
	if err != nil {
		return Feedback{}, err
	}
	defer unlock()
	f, err := s.get(ctx, id)
	if err != nil {
		return Feedback{}, err
	}
	if expectRev >= 0 && f.Rev != expectRev {
		return Feedback{}, errs.F(errs.VersionConflict, "rev",
			"The feedback was changed since you opened it (you have version %d; the latest is %d). Reload it and apply your changes again.", expectRev, f.Rev)
	}
	before := rowOf(f)
	before.Levels = maps.Clone(before.Levels) // change may edit the map in place
	if err := change(&f); err != nil {
		return Feedback{}, err
	}
	if bump {
		f.Rev++
	}
	f.UpdatedAt = s.stamp()
	if _, err := s.c(colFeedback).ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, f); err != nil {
		return Feedback{}, errs.Wrap(err, "save feedback")
	}
	if sameRow(before, rowOf(f)) { // most autosaves change only comments
		return f, nil
	}
	return f, s.index(ctx, f)
}

// sameRow reports whether two rows differ in nothing but UpdatedAt.
func sameRow(a, b Row) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// Row is a feedback's line in its assignment's list and in its student's
// list: the small summary kept in bucket documents so a list is one read.
type Row struct {
	TaskID     string            `json:"task_id" bson:"task_id"`
	StudentID  string            `json:"student_id" bson:"student_id"`
	Version    int               `json:"version" bson:"version"`
	Reader     string            `json:"reader" bson:"reader"`
	State      State             `json:"state" bson:"state"`
	GraderID   string            `json:"grader_id" bson:"grader_id"`
	Levels     map[string]string `json:"levels" bson:"levels"`
	Flagged    bool              `json:"flagged" bson:"flagged"` // an unresolved second-read disagreement
	AssignedID string            `json:"assignment_id" bson:"assignment_id"`
	UpdatedAt  time.Time         `json:"updated_at" bson:"updated_at"`
	ApprovedAt *time.Time        `json:"approved_at,omitempty" bson:"approved_at,omitempty"` // when first approved
}

func rowOf(f Feedback) Row {
	return Row{
		TaskID: f.ID, StudentID: f.StudentID, Version: f.Version, Reader: f.Reader, State: f.State,
		GraderID: f.GraderID, Levels: f.Levels, AssignedID: f.AssignmentID, UpdatedAt: f.UpdatedAt, ApprovedAt: f.ApprovedAt,
		Flagged: f.Disagreement != nil && !f.Disagreement.Resolved,
	}
}

// listDoc is a bucket document: an assignment's (its _id is the assignment
// ID) or a student's (studentListID).
type listDoc struct {
	ID       string         `bson:"_id"`
	Rows     map[string]Row `bson:"rows"`
	Settings *Settings      `bson:"settings,omitempty"`
}

func studentListID(schoolID, studentID string) string {
	return "student:" + schoolID + ":" + studentID
}

// index writes f's row into its assignment's and its student's bucket.
func (s *Service) index(ctx context.Context, f Feedback) error {
	key := "rows." + mongostore.FieldKey(f.ID)
	set := bson.D{{Key: "$set", Value: bson.D{{Key: key, Value: rowOf(f)}}}}
	for _, id := range []string{f.AssignmentID, studentListID(f.SchoolID, f.StudentID)} {
		if _, err := s.c(colLists).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, set, upsert); err != nil {
			return errs.Wrap(err, "index feedback")
		}
	}
	return nil
}

// list reads a bucket document; a missing one is empty.
func (s *Service) list(ctx context.Context, id string) (listDoc, error) {
	var d listDoc
	err := s.c(colLists).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return listDoc{ID: id}, nil
	}
	if err != nil {
		return listDoc{}, errs.Wrap(err, "read feedback list")
	}
	return d, nil
}

var upsert = options.Update().SetUpsert(true)
