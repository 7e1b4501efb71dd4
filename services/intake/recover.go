package intake

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// flightDoc is a record of intake work in flight, in intake_inflight, a
// collection that holds nothing else and so stays small: an upload
// request (its outcomes not yet in a chunk, and the version it is storing)
// or a change to an assignment (until the students' read model has it).
// Recover finishes what a crash left here.
type flightDoc struct {
	ID           string          `bson:"_id"`
	Kind         string          `bson:"kind"` // flightUpload or flightAssignment
	AssignmentID string          `bson:"assignment_id"`
	UploadID     string          `bson:"upload_id,omitempty"`
	Part         string          `bson:"part,omitempty"`
	Flushed      int             `bson:"flushed,omitempty"` // chunks the part has written
	Stored       []storedFile    `bson:"stored,omitempty"`  // files stored since, before the marked one
	Pending      *pendingVersion `bson:"pending,omitempty"`
	UpdatedAt    time.Time       `bson:"updated_at"`
}

// The kinds of work in flight.
const (
	flightUpload     = "upload"
	flightAssignment = "assignment"
)

func uploadFlightID(uploadID, part string) string   { return "upl:" + uploadID + ":" + part }
func assignmentFlightID(assignmentID string) string { return "asg:" + assignmentID }

// storedFile is a file an upload stored (or found already stored), as its
// in-flight record keeps it until its outcome is in a chunk: enough to
// tell its outcome again (outcomeOf) after a crash.
type storedFile struct {
	File         string `bson:"f"`
	Status       string `bson:"st"`
	SubmissionID string `bson:"s"`
	N            int    `bson:"n"`
}

// outcomesOf tells the outcomes of stored files again from their
// submissions (one read by _id each); a file whose version has since moved
// to another student is left out.
func (s *Service) outcomesOf(ctx context.Context, files []storedFile) ([]Outcome, error) {
	ids := make([]string, len(files))
	for i, f := range files {
		ids[i] = f.SubmissionID
	}
	subs, err := mongostore.GetMany(ctx, s.c(colSubmissions), ids, func(sub Submission) string { return sub.ID })
	if err != nil {
		return nil, err
	}
	out := make([]Outcome, 0, len(files))
	for _, f := range files {
		if v, ok := subs[f.SubmissionID].Version(f.N); ok {
			out = append(out, outcomeOf(f.File, f.Status, subs[f.SubmissionID], v))
		}
	}
	return out, nil
}

// pendingVersion marks a version an upload is storing (or, with Remove,
// moving off a submission), from before its first write until its list row
// is written.
type pendingVersion struct {
	File         string `bson:"file"`
	SubmissionID string `bson:"submission_id"`
	N            int    `bson:"n"`
	SHA256       string `bson:"sha256"`
	Remove       bool   `bson:"remove,omitempty"`
}

// Repaired is what Recover finished.
type Repaired struct {
	Uploads     int // upload requests ended as interrupted, their outcomes written
	Listed      int // versions stored but not listed, now listed
	NotStored   int // files a crash stopped before their version was stored
	Assignments int // assignment changes now in the students' read model
}

// PauseBeforeRow is the crash-test pause (Config.TestPause) between storing
// a version and writing its list row.
const PauseBeforeRow = "intake.version.before-row"

// testPause holds the caller at point until ctx ends, if the crash tests
// asked for it.
func (s *Service) testPause(ctx context.Context, point string) {
	if s.cfg.TestPause == point {
		s.log.Warn("intake paused for a crash test", "at", point)
		<-ctx.Done()
	}
}

// Recover finishes the intake work that a crash, or a failure of the
// store, left in flight. It reads only intake_inflight (which holds only
// work in flight), never scans the large collections, and takes time in
// proportion to the work it finds:
//
//   - a version stored but not yet in its assignment's list gets its row,
//     sketch and duplicate flags (and the student's read model its
//     version);
//   - an upload request that stopped mid-way is ended as interrupted, with
//     the outcome of every file known to be stored, and a rejected outcome
//     ("upload it again") for the file that was being stored but was not;
//   - an assignment changed without its students' read model is brought
//     into it.
//
// It leaves alone work running in this process and, unless this process
// is the store's only user (Config.SoleProcess), work touched within
// FlightLease. It is idempotent: run it again after a crash during it. It
// logs what it repaired; at ctx's end it stops, leaving the rest for the
// next call.
func (s *Service) Recover(ctx context.Context) (rep Repaired, err error) {
	flights, err := mongostore.FindAll[flightDoc](ctx, s.c(colInflight), bson.D{})
	if err != nil {
		return rep, err
	}
	cutoff := s.now().Add(-s.staleAfter())
	lists := map[string]*list{}
	defer func() {
		// A crash may have come before an upload wrote the duplicate flags
		// its files changed: every row of its assignment gets them again.
		for _, l := range lists {
			if ferr := l.flush(ctx, true); ferr != nil && err == nil {
				err = ferr
			}
		}
	}()
	for _, f := range flights {
		if _, running := s.live.Load(f.ID); running || s.staleAfter() > 0 && f.UpdatedAt.After(cutoff) {
			continue
		}
		if err = ctx.Err(); err != nil {
			break
		}
		if f.Kind == flightAssignment {
			err = s.recoverAssignment(ctx, f, &rep)
		} else {
			err = s.recoverUpload(ctx, f, lists, &rep)
		}
		if err != nil {
			break
		}
	}
	if rep != (Repaired{}) {
		s.log.Warn("intake finished work an interrupted run left in flight", "uploads", rep.Uploads, "versions_listed", rep.Listed,
			"files_not_stored", rep.NotStored, "assignments", rep.Assignments)
	}
	return rep, err
}

// recoverUpload lists the version an upload request was storing, if it was
// stored, and ends the request as interrupted with the outcome of every
// file known to be stored.
func (s *Service) recoverUpload(ctx context.Context, f flightDoc, lists map[string]*list, rep *Repaired) error {
	stored := f.Stored
	var lost []Outcome
	if len(stored) > 0 || f.Pending != nil {
		// Files were stored since the upload last wrote its flags.
		if _, ok := lists[f.AssignmentID]; !ok {
			l, err := s.openList(ctx, f.AssignmentID)
			if err != nil {
				return err
			}
			lists[f.AssignmentID] = l
		}
	}
	if p := f.Pending; p != nil {
		sub, exists, err := s.storedSubmission(ctx, p.SubmissionID)
		if err != nil {
			return err
		}
		if exists {
			if err := lists[f.AssignmentID].place(ctx, sub, nil, false); err != nil {
				return err
			}
		}
		switch v, ok := sub.Version(p.N); {
		case p.Remove:
		case exists && ok && v.SHA256 == p.SHA256:
			status := StatusCreated
			if v.N > 1 {
				status = StatusNewVersion
			}
			stored = append(stored, storedFile{File: p.File, Status: status, SubmissionID: sub.ID, N: v.N})
			rep.Listed++
		default:
			lost = append(lost, Outcome{File: p.File, Status: StatusRejected,
				Error: &errs.Error{Code: errs.Unavailable, Message: "Margin stopped while it was storing this file, before it was stored; upload it again."}})
			rep.NotStored++
		}
	}
	outcomes, err := s.outcomesOf(ctx, stored)
	if err != nil {
		return err
	}
	outcomes = append(outcomes, lost...)
	// Every step so far is idempotent; the chunk is written once.
	chunks := f.Flushed
	switch n, err := s.c(colOutcomes).CountDocuments(ctx, bson.D{{Key: "_id", Value: chunkID(f.UploadID, f.Part, chunks)}}); {
	case err != nil:
		return errs.Wrap(err, "recover upload")
	case n > 0:
		// The part was writing its next chunk, which holds every outcome
		// (more than its in-flight record), when it stopped.
		chunks++
	case len(outcomes) > 0:
		if err := s.writeChunk(ctx, f.UploadID, f.Part, chunks, outcomes); err != nil {
			return err
		}
		chunks++
	}
	up, err := mongostore.Get[uploadDoc](ctx, s.c(colUploads), f.UploadID, "upload batch")
	if err != nil && !errs.Is(err, errs.NotFound) {
		return err
	}
	if err := s.finishPart(ctx, f.UploadID, f.Part, partDoc{State: UploadInterrupted, Chunks: chunks, StartedAt: up.Parts[f.Part].StartedAt, EndedAt: s.stamp()}); err != nil {
		return err
	}
	if err := s.cutShort(ctx, f.AssignmentID, f.UploadID); err != nil {
		return err
	}
	if _, err := s.c(colInflight).DeleteOne(ctx, bson.D{{Key: "_id", Value: f.ID}}); err != nil {
		return errs.Wrap(err, "recover upload")
	}
	rep.Uploads++
	return nil
}

// recoverAssignment puts an assignment, as stored, into its class's read
// model.
func (s *Service) recoverAssignment(ctx context.Context, f flightDoc, rep *Repaired) error {
	a, err := s.Assignment(ctx, f.AssignmentID)
	switch {
	case err == nil:
		if err := s.indexAssignment(ctx, a); err != nil {
			return err
		}
		rep.Assignments++
	case !errs.Is(err, errs.NotFound):
		return err
	}
	_, err = s.c(colInflight).DeleteOne(ctx, bson.D{{Key: "_id", Value: f.ID}})
	return errs.Wrap(err, "recover assignment")
}
