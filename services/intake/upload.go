package intake

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/intake/bulk"
	"github.com/marginschool/margin/services/intake/extract"
)

// Outcome is what happened to one uploaded file.
type Outcome struct {
	File         string   `json:"file" bson:"file"`
	Status       string   `json:"status" bson:"status"` // created, new_version, unchanged or rejected
	StudentID    string   `json:"student_id,omitempty" bson:"student_id,omitempty"`
	SubmissionID string   `json:"submission_id,omitempty" bson:"submission_id,omitempty"`
	Version      int      `json:"version,omitempty" bson:"version,omitempty"`
	Pseudonym    string   `json:"pseudonym,omitempty" bson:"pseudonym,omitempty"`
	Format       string   `json:"format,omitempty" bson:"format,omitempty"`
	Chars        int      `json:"chars,omitempty" bson:"chars,omitempty"`
	Warnings     []string `json:"warnings,omitempty" bson:"warnings,omitempty"`
	// Flag is set when the stored version may be another student's: it
	// waits for the teacher (Warnings says why, naming both).
	Flag  *Flag       `json:"flag,omitempty" bson:"flag,omitempty"`
	Error *errs.Error `json:"error,omitempty" bson:"error,omitempty"`
}

// The outcome statuses.
const (
	StatusCreated    = "created"
	StatusNewVersion = "new_version"
	StatusUnchanged  = "unchanged"
	StatusRejected   = "rejected"
)

// Upload is a batch of uploaded files and their outcomes, in the order
// received. A batch may span several requests: later requests name its ID
// to add to it, and anyone allowed to upload can follow it by ID, file by
// file, while it runs.
type Upload struct {
	ID           string `json:"id"`
	AssignmentID string `json:"assignment_id"`
	UploadedBy   string `json:"uploaded_by"`
	// State is UploadRunning while a request is reading its files, then
	// UploadFinished, UploadStopped (the last request stopped early; see
	// StoppedBy) or UploadInterrupted (the server was killed while it read
	// them: Outcomes has every file known to be stored).
	State     string    `json:"state"`
	StoppedBy string    `json:"stopped_by,omitempty"` // StopShutdown, StopTimeout or StopClient
	Outcomes  []Outcome `json:"outcomes"`
	Counts    Counts    `json:"counts"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// The states of an upload.
const (
	UploadRunning     = "running"
	UploadFinished    = "finished"
	UploadStopped     = "stopped"
	UploadInterrupted = "interrupted"
)

// Why a request stopped reading its files before the last (Upload.StoppedBy).
const (
	StopShutdown = "shutdown" // the server was shutting down
	StopTimeout  = "timeout"  // the request ran past its time limit
	StopClient   = "client"   // the client went away
)

// Counts tallies a batch's outcomes.
type Counts struct {
	Files      int `json:"files"`
	Created    int `json:"created"`
	NewVersion int `json:"new_version"`
	Unchanged  int `json:"unchanged"`
	Rejected   int `json:"rejected"`
	Flagged    int `json:"flagged"` // stored, but waiting for the teacher (Outcome.Flag)
}

func (c *Counts) add(o Outcome) {
	c.Files++
	switch o.Status {
	case StatusCreated:
		c.Created++
	case StatusNewVersion:
		c.NewVersion++
	case StatusUnchanged:
		c.Unchanged++
	default:
		c.Rejected++
	}
	if o.Flag != nil {
		c.Flagged++
	}
}

// An upload's record is small and written per batch of files, never per
// file: the document in uploads (uploadDoc) is written when a request
// starts and when it finishes; each request is a part of the batch, whose
// outcomes go to upload_outcomes in chunks of chunkSize as they fill. The
// request's in-flight record (flightDoc, in intake_inflight) marks the
// version being stored, so that Recover can finish what a crash
// interrupted; the write that marks a version also notes the files stored
// since the last such write (storedFile), so that after a crash every file
// known to be stored has its outcome.
const chunkSize = 25

// uploadDoc is an upload batch's record.
type uploadDoc struct {
	ID           string             `bson:"_id"`
	AssignmentID string             `bson:"assignment_id"`
	UploadedBy   string             `bson:"uploaded_by"`
	CreatedAt    time.Time          `bson:"created_at"`
	UpdatedAt    time.Time          `bson:"updated_at"`
	Parts        map[string]partDoc `bson:"parts,omitempty"` // each request that has added to the batch, by part ID
	// Outcomes is every outcome, as batches before chunked records kept
	// them (rewritten after each file); such a batch's later parts follow.
	Outcomes []Outcome `bson:"outcomes,omitempty"`
}

// partDoc is one request of a batch: running, or how it ended.
type partDoc struct {
	State     string    `bson:"state"`
	StoppedBy string    `bson:"stopped_by,omitempty"`
	Chunks    int       `bson:"chunks"` // its chunks in upload_outcomes
	StartedAt time.Time `bson:"started_at"`
	EndedAt   time.Time `bson:"ended_at,omitempty"`
}

// chunkDoc is up to chunkSize outcomes of one part, in order.
type chunkDoc struct {
	ID       string    `bson:"_id"` // "<upload id>:<part>:<chunk>"
	Outcomes []Outcome `bson:"outcomes"`
}

func chunkID(uploadID, part string, k int) string { return uploadID + ":" + part + ":" + itoa(k) }

// ErrStopped is what Add returns when its context ended before it read a
// file (or the next entry of a ZIP): the file was not started, and the
// client should send it again (with the batch's ID).
var ErrStopped = errors.New("intake: the request ended before every file was read")

// rosterReadAt is the number of files in a ZIP from which its batch reads
// the class's roster at once rather than each file's student.
const rosterReadAt = 30

// fileTimeout bounds the work on one file once started, which the
// request's end does not interrupt.
const fileTimeout = 5 * time.Minute

// Batch is an upload in progress: the edge hands it each file as it streams
// in, then calls Finish. It is not safe for concurrent use.
type Batch struct {
	s        *Service
	caller   account.User
	a        Assignment
	own      string             // the student ID when a student uploads their own revision
	students map[string]Student // the roster, as far as it has been read
	roster   bool               // students holds the whole roster
	list     *list              // the assignment's list, opened at the first stored file
	ids      *identityDoc       // the assignment's submission IDs and pseudonyms, read at the first stored file

	upload    Upload // the whole batch so far
	part      string // this request's part of the batch
	started   time.Time
	flightID  string       // its in-flight record
	flushed   int          // chunks written
	unflushed []Outcome    // outcomes not yet in a chunk
	unsaved   []storedFile // of those, the stored ones not yet in the in-flight record
	broken    bool         // a stored version could not be listed: Recover will
	done      bool
}

// StartUpload opens a batch of uploads to an assignment by its teacher, or
// continues batch batchID if it is not empty. After release a teacher's
// upload is a revision like a student's: a new version, graded again.
func (s *Service) StartUpload(ctx context.Context, caller account.User, assignmentID, batchID string) (*Batch, error) {
	a, err := s.AuthorizeAssignment(ctx, caller, assignmentID)
	if err != nil {
		return nil, err
	}
	if (a.State == Graded || a.State == Released) && a.ReopenedAt == nil {
		now := s.stamp()
		if _, err := s.c(colAssignments).UpdateOne(ctx, bson.D{{Key: "_id", Value: a.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "reopened_at", Value: now}}}}); err != nil {
			return nil, errs.Wrap(err, "reopen assignment")
		}
		a.ReopenedAt = &now
	}
	return s.startBatch(ctx, caller, a, batchID, "")
}

// cutShort records on an assignment that an upload to it was cut short.
func (s *Service) cutShort(ctx context.Context, assignmentID, uploadID string) error {
	_, err := s.c(colAssignments).UpdateOne(ctx, bson.D{{Key: "_id", Value: assignmentID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "cut_short_upload_id", Value: uploadID}}}})
	return errs.Wrap(err, "record cut-short upload")
}

func (s *Service) startBatch(ctx context.Context, caller account.User, a Assignment, batchID, own string) (*Batch, error) {
	if closed(a) {
		return nil, errClosed()
	}
	b := &Batch{s: s, caller: caller, a: a, own: own, students: map[string]Student{}}
	now := s.stamp()
	if batchID != "" {
		up, err := s.UploadBatch(ctx, caller, batchID)
		if err != nil {
			return nil, err
		}
		if up.AssignmentID != a.ID {
			return nil, errs.F(errs.Invalid, "batch_id", "Upload batch %q belongs to another assignment.", batchID)
		}
		b.upload, b.part, b.started = up, account.NewID("p"), now
		if _, err := s.c(colUploads).UpdateOne(ctx, bson.D{{Key: "_id", Value: batchID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "parts." + b.part, Value: partDoc{State: UploadRunning, StartedAt: now}}, {Key: "updated_at", Value: now}}}}); err != nil {
			return nil, errs.Wrap(err, "continue upload")
		}
	} else {
		b.part, b.started = account.NewID("p"), now
		h := uploadDoc{ID: account.NewID("upl"), AssignmentID: a.ID, UploadedBy: caller.ID, CreatedAt: now, UpdatedAt: now,
			Parts: map[string]partDoc{b.part: {State: UploadRunning, StartedAt: now}}}
		if _, err := s.c(colUploads).InsertOne(ctx, h); err != nil {
			return nil, errs.Wrap(err, "start upload")
		}
		b.upload = Upload{ID: h.ID, AssignmentID: a.ID, UploadedBy: caller.ID, Outcomes: []Outcome{}, CreatedAt: now}
	}
	b.upload.State, b.upload.StoppedBy, b.upload.UpdatedAt = UploadRunning, "", now
	// The in-flight record is written with the first version marked; it is
	// live from now on, so that Recover never takes it for dead.
	b.flightID = uploadFlightID(b.upload.ID, b.part)
	s.live.Store(b.flightID, true)
	return b, nil
}

// UploadBatch returns an upload batch, to its uploader or the assignment's
// teacher.
func (s *Service) UploadBatch(ctx context.Context, caller account.User, id string) (Upload, error) {
	up, err := s.uploadOf(ctx, id)
	if err != nil {
		return Upload{}, err
	}
	if up.UploadedBy != caller.ID {
		if _, err := s.AuthorizeAssignment(ctx, caller, up.AssignmentID); err != nil {
			return Upload{}, errs.E(errs.NotFound, "No upload batch with ID %q.", id)
		}
	}
	return up, nil
}

// uploadOf assembles an upload batch from its record, its chunks and the
// in-flight records of its running parts. A running part that is not
// running any more (no process has it: this one is the store's only user
// and does not, or it is older than FlightLease) reads as interrupted,
// until Recover ends it.
func (s *Service) uploadOf(ctx context.Context, id string) (Upload, error) {
	h, err := mongostore.Get[uploadDoc](ctx, s.c(colUploads), id, "upload batch")
	if err != nil {
		return Upload{}, err
	}
	up := Upload{ID: h.ID, AssignmentID: h.AssignmentID, UploadedBy: h.UploadedBy, State: UploadFinished, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt}
	type part struct {
		id string
		partDoc
		tail []Outcome // a running part's outcomes not yet in a chunk
	}
	parts := make([]part, 0, len(h.Parts))
	for pid, pd := range h.Parts {
		parts = append(parts, part{id: pid, partDoc: pd})
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Or(a.StartedAt.Compare(b.StartedAt), strings.Compare(a.id, b.id)) })
	var ids []string
	running := false
	for i := range parts {
		p := &parts[i]
		if p.State == UploadRunning {
			f, err := mongostore.Get[flightDoc](ctx, s.c(colInflight), uploadFlightID(id, p.id), "upload part")
			if err != nil && !errs.Is(err, errs.NotFound) {
				return Upload{}, err
			}
			if p.tail, err = s.outcomesOf(ctx, f.Stored); err != nil {
				return Upload{}, err
			}
			p.Chunks = f.Flushed
			if _, live := s.live.Load(uploadFlightID(id, p.id)); live || s.staleAfter() > 0 && s.now().Sub(p.StartedAt) < FlightLease {
				running = true
			} else {
				p.State = UploadInterrupted
			}
		}
		for k := range p.Chunks {
			ids = append(ids, chunkID(id, p.id, k))
		}
	}
	chunks, err := mongostore.GetMany(ctx, s.c(colOutcomes), ids, func(c chunkDoc) string { return c.ID })
	if err != nil {
		return Upload{}, err
	}
	up.Outcomes = append([]Outcome{}, h.Outcomes...)
	for _, p := range parts {
		for k := range p.Chunks {
			up.Outcomes = append(up.Outcomes, chunks[chunkID(id, p.id, k)].Outcomes...)
		}
		up.Outcomes = append(up.Outcomes, p.tail...)
		up.State, up.StoppedBy = p.State, p.StoppedBy
	}
	if running {
		up.State, up.StoppedBy = UploadRunning, ""
	}
	for _, o := range up.Outcomes {
		up.Counts.add(o)
	}
	return up, nil
}

// Upload is the batch so far.
func (b *Batch) Upload() Upload { return b.upload }

// Spool copies r to a temporary file, at most limit bytes. It returns the
// file (the caller closes and removes it) and its size, or a too_large
// error naming the file.
func Spool(r io.Reader, name string, limit int64) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "margin-upload-*")
	if err != nil {
		return nil, 0, errs.Wrap(err, "spool upload")
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		err = errs.E(errs.TooLarge, "%s is larger than the %s limit.", printableName(name), humanSize(limit))
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		if _, ok := err.(*errs.Error); !ok {
			err = errs.E(errs.Invalid, "%s could not be read to the end; the upload was interrupted. Try again.", printableName(name))
		}
		return nil, 0, err
	}
	return f, n, nil
}

// Add ingests one uploaded file (name as uploaded; studentID as given with
// the file, or "" to read it from a Canvas-style name). A ZIP (by name) is
// opened and each entry ingested, except in a student's revision, which is
// always one file. Every file gets an outcome; a bad file never stops the
// batch.
//
// The request's context is checked between files only: a file once started
// is stored whole (or rejected) under a context of its own, so that a file
// is either fully recorded or not started. If ctx has ended before a file
// (or the next entry of a ZIP), Add returns ErrStopped. Any other error
// means the store failed; the batch is then left for Recover.
func (b *Batch) Add(ctx context.Context, name, studentID string, r io.ReaderAt, size int64) error {
	if ctx.Err() != nil {
		return ErrStopped
	}
	if strings.HasSuffix(strings.ToLower(name), ".zip") && studentID == "" && b.own == "" {
		return b.addZip(ctx, name, r, size)
	}
	fctx, cancel := fileContext(ctx)
	defer cancel()
	o, err := b.ingest(fctx, name, studentID, r, size)
	if err != nil {
		return err
	}
	return b.record(fctx, o)
}

// fileContext is the context of the work on one file: not ended by the
// request's end, but bounded.
func fileContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), fileTimeout)
}

// Reject records a file that could not even be received (e.g. over the
// size limit while streaming).
func (b *Batch) Reject(ctx context.Context, name string, err error) error {
	return b.record(ctx, rejected(name, err))
}

func (b *Batch) addZip(ctx context.Context, name string, r io.ReaderAt, size int64) error {
	ar, err := bulk.Open(r, size, bulk.Limits{MaxEntries: b.s.cfg.MaxZipEntries, MaxEntrySize: b.s.cfg.MaxFileSize, MaxTotalSize: b.s.cfg.MaxZipSize})
	if err != nil {
		return b.record(ctx, rejected(name, err))
	}
	if len(ar.Entries()) > rosterReadAt {
		// One read of the roster costs less than one per file.
		if err := b.readRoster(ctx); err != nil {
			return err
		}
	}
	for _, e := range ar.Entries() {
		if ctx.Err() != nil {
			return ErrStopped
		}
		if e.Err != nil {
			if err := b.record(ctx, rejected(e.Name, e.Err)); err != nil {
				return err
			}
			continue
		}
		if err := b.addEntry(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (b *Batch) addEntry(ctx context.Context, e bulk.Entry) error {
	fctx, cancel := fileContext(ctx)
	defer cancel()
	o, err := b.ingestEntry(fctx, e)
	if err != nil {
		return err
	}
	return b.record(fctx, o)
}

func (b *Batch) ingestEntry(ctx context.Context, e bulk.Entry) (Outcome, error) {
	rc, err := e.Open()
	if err != nil {
		return rejected(e.Name, err), nil
	}
	defer rc.Close()
	f, n, err := Spool(rc, e.Name, b.s.cfg.MaxFileSize)
	if err != nil {
		return rejected(e.Name, err), nil
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	return b.ingest(ctx, e.Name, "", f, n)
}

// record adds an outcome to the batch. The outcomes gather in memory (a
// stored file's also in the in-flight record, with the next version
// marked: see mark) and go to a chunk of the upload's record once
// chunkSize have gathered.
func (b *Batch) record(ctx context.Context, o Outcome) error {
	b.upload.Outcomes = append(b.upload.Outcomes, o)
	b.upload.Counts.add(o)
	b.upload.UpdatedAt = b.s.stamp()
	b.unflushed = append(b.unflushed, o)
	if o.Status != StatusRejected {
		b.unsaved = append(b.unsaved, storedFile{File: o.File, Status: o.Status, SubmissionID: o.SubmissionID, N: o.Version})
	}
	if len(b.unflushed) >= chunkSize {
		return b.flush(ctx, false)
	}
	return nil
}

// flush writes the outcomes gathered so far as the part's next chunk, and
// empties the in-flight record of them (unless final: Finish then deletes
// it). It writes even after the request has ended.
func (b *Batch) flush(ctx context.Context, final bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if b.list != nil {
		if err := b.list.flush(ctx, false); err != nil {
			return err
		}
	}
	if b.ids != nil {
		if err := b.s.saveIdentities(ctx, b.ids); err != nil {
			return err
		}
	}
	if err := b.s.writeChunk(ctx, b.upload.ID, b.part, b.flushed, b.unflushed); err != nil {
		return err
	}
	b.flushed++
	b.unflushed, b.unsaved = nil, nil
	if final && !b.broken {
		return nil
	}
	update := bson.D{{Key: "$set", Value: b.flightFields(bson.E{Key: "stored", Value: bson.A{}}, bson.E{Key: "flushed", Value: b.flushed})}}
	if !b.broken { // a broken batch keeps its mark for Recover
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "pending", Value: ""}}})
	}
	_, err := b.s.c(colInflight).UpdateOne(ctx, bson.D{{Key: "_id", Value: b.flightID}}, update, updateUpsert())
	return errs.Wrap(err, "save upload outcomes")
}

// flightFields are the fields to $set in the part's in-flight record: set,
// and those that make it whole when the write creates it.
func (b *Batch) flightFields(set ...bson.E) bson.D {
	return append(bson.D{{Key: "kind", Value: flightUpload}, {Key: "upload_id", Value: b.upload.ID}, {Key: "assignment_id", Value: b.a.ID},
		{Key: "part", Value: b.part}, {Key: "updated_at", Value: b.s.stamp()}}, set...)
}

// writeChunk stores outcomes as chunk k of an upload's part (idempotent).
func (s *Service) writeChunk(ctx context.Context, uploadID, part string, k int, outcomes []Outcome) error {
	c := chunkDoc{ID: chunkID(uploadID, part, k), Outcomes: outcomes}
	_, err := s.c(colOutcomes).ReplaceOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, c, upsert())
	return errs.Wrap(err, "save upload outcomes")
}

// finishPart records how a part of an upload ended.
func (s *Service) finishPart(ctx context.Context, uploadID, part string, pd partDoc) error {
	_, err := s.c(colUploads).UpdateOne(ctx, bson.D{{Key: "_id", Value: uploadID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "parts." + part, Value: pd}, {Key: "updated_at", Value: pd.EndedAt}}}})
	return errs.Wrap(err, "finish upload")
}

// Finish ends this request's part of the batch and returns the whole
// batch: stoppedBy says why the request stopped before its last file
// (StopShutdown, StopTimeout or StopClient), or is "" if it read every
// file it was sent. It writes the outcomes not yet written and the part's
// end, even after the request's context has ended. Calling it again
// returns the batch.
func (b *Batch) Finish(ctx context.Context, stoppedBy string) (Upload, error) {
	if b.done {
		return b.upload, nil
	}
	b.done = true
	defer b.s.live.Delete(b.flightID)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if len(b.unflushed) > 0 {
		if err := b.flush(ctx, true); err != nil {
			return b.upload, err
		}
	} else {
		if b.list != nil {
			if err := b.list.flush(ctx, false); err != nil {
				return b.upload, err
			}
		}
		if b.ids != nil {
			if err := b.s.saveIdentities(ctx, b.ids); err != nil {
				return b.upload, err
			}
		}
	}
	state := UploadFinished
	if stoppedBy != "" {
		state = UploadStopped
	}
	now := b.s.stamp()
	if err := b.s.finishPart(ctx, b.upload.ID, b.part, partDoc{State: state, StoppedBy: stoppedBy, Chunks: b.flushed, StartedAt: b.started, EndedAt: now}); err != nil {
		return b.upload, err
	}
	if state == UploadStopped && b.own == "" {
		if err := b.s.cutShort(ctx, b.a.ID, b.upload.ID); err != nil {
			return b.upload, err
		}
	}
	if !b.broken {
		if _, err := b.s.c(colInflight).DeleteOne(ctx, bson.D{{Key: "_id", Value: b.flightID}}); err != nil {
			return b.upload, errs.Wrap(err, "finish upload")
		}
	}
	b.upload.State, b.upload.StoppedBy, b.upload.UpdatedAt = state, stoppedBy, now
	if b.own == "" {
		b.s.notifyUpload(ctx, b.caller, b.a, b.upload, b.part)
	}
	return b.upload, nil
}

func rejected(name string, err error) Outcome {
	var e *errs.Error
	if !errors.As(err, &e) || errs.Status(e.Code) >= 500 {
		e = errs.E(errs.Internal, "This file could not be stored because of a problem on our side; upload it again.")
	}
	return Outcome{File: name, Status: StatusRejected, Error: &errs.Error{Code: e.Code, Message: e.Message}}
}

// incoming is a file on its way in: whose it is, and what it holds.
type incoming struct {
	name     string
	st       Student
	flag     *Flag
	sha256   string
	size     int64
	format   string
	text     string
	warnings []string
	r        io.ReaderAt // the bytes, or nil if they are in S3 already
}

// ingest reads one file and stores it as a version of a student's
// submission. A file that cannot be stored gets a rejected outcome; an
// error means the store failed after the version was recorded.
func (b *Batch) ingest(ctx context.Context, name, studentID string, r io.ReaderAt, size int64) (Outcome, error) {
	s := b.s
	st, flag, err := b.student(ctx, name, studentID)
	if err != nil {
		return b.fail(name, "", err), nil
	}
	if size > s.cfg.MaxFileSize {
		return b.fail(name, st.StudentID, errs.E(errs.TooLarge, "%s is larger than the %s limit.", printableName(name), humanSize(s.cfg.MaxFileSize))), nil
	}
	res, err := extract.Extract(ctx, r, size, name)
	if err != nil {
		return b.fail(name, st.StudentID, err), nil
	}
	sum, err := sha256Of(r, size)
	if err != nil {
		return b.fail(name, st.StudentID, err), nil
	}
	return b.store(ctx, incoming{name: name, st: st, flag: flag, sha256: sum, size: size, format: string(res.Format),
		text: res.Text, warnings: res.Warnings, r: r})
}

// fail is the outcome of a file that was not stored; failures on our side
// are logged.
func (b *Batch) fail(name, studentID string, err error) Outcome {
	out := rejected(name, err)
	out.StudentID = studentID
	if errs.Status(errs.CodeOf(err)) >= 500 {
		b.s.log.Error("ingest", "file", name, "err", err)
	}
	return out
}

// store records a file as the next version of its student's submission.
// The order makes a failure at any step safe to retry, and a crash safe to
// recover: the original goes to S3 under its content address and is read
// back and verified; the in-flight record marks the version; then its
// text; then the version itself (a compare-and-set, so two uploads never
// take the same number); then the list row, sketch and read model. Nothing
// refers to the object or the text until the version is recorded, and
// Recover lists a marked version that was recorded.
func (b *Batch) store(ctx context.Context, in incoming) (Outcome, error) {
	s := b.s
	fail := func(err error) (Outcome, error) { return b.fail(in.name, in.st.StudentID, err), nil }
	if b.ids == nil {
		ids, err := s.identities(ctx, b.a.ID)
		if err != nil {
			return fail(err)
		}
		b.ids = &ids
	}
	id, err := s.identityUnsaved(ctx, b.ids, in.st.StudentID)
	if err != nil {
		return fail(err)
	}
	subID := id.SubmissionID
	sub, exists, err := s.storedSubmission(ctx, subID)
	if err != nil {
		return fail(err)
	}
	if exists && sub.StudentID != in.st.StudentID {
		return fail(errs.E(errs.Internal, "Submission %s is another student's.", subID))
	}
	if b.list == nil {
		if b.list, err = s.openList(ctx, b.a.ID); err != nil {
			return fail(err)
		}
	}
	sk := sketch(in.text)
	if exists && len(sub.Versions) > 0 && sub.Current().SHA256 == in.sha256 {
		// The same bytes again: nothing new, but the row is written again
		// if an earlier upload stopped before it.
		if listed, err := b.list.listed(ctx, sub); err != nil {
			return fail(err)
		} else if !listed {
			if err := b.list.place(ctx, sub, sk, false); err != nil {
				return fail(err)
			}
		}
		return outcomeOf(in.name, StatusUnchanged, sub, sub.Current()), nil
	}
	// The original is read back and hashed before any record points at it;
	// whatever else is under its content address is replaced, never trusted.
	key := "submissions/" + in.sha256
	if in.r != nil {
		if err := s.blobs.PutVerified(ctx, key, in.r, in.size, in.sha256, contentType(extract.Format(in.format))); err != nil {
			return fail(err)
		}
	}
	pseudo := sub.Pseudonym
	if pseudo == "" {
		pseudo = id.Pseudonym
	}
	slot, fresh := sub.Slot, len(sub.Versions) == 0
	if slot == 0 {
		if slot = in.st.Seat; slot == 0 {
			if slot, err = s.seat(ctx, b.a.ClassID, in.st.StudentID); err != nil {
				return fail(err)
			}
		}
	}
	n := len(sub.Versions) + 1
	// After publishing, every new version is graded: its price is held
	// first, once per version ID (an upload that loses the race for
	// number n holds for the one that wins it, and retries as n+1).
	if b.a.State != Draft {
		if err := s.hold(ctx, b.a, "version:"+VersionID(subID, n), 1); err != nil {
			return fail(err)
		}
	}
	v := Version{
		N: n, SHA256: in.sha256, BlobKey: key, Filename: baseName(in.name), Format: in.format, Size: in.size,
		Chars: utf8.RuneCountInString(in.text), Warnings: in.warnings, UploadedBy: b.caller.ID, UploadedAt: s.stamp(), Flag: in.flag,
	}
	if err := b.mark(ctx, pendingVersion{File: in.name, SubmissionID: subID, N: n, SHA256: in.sha256}); err != nil {
		return fail(err)
	}
	// The grader text is made when it is read (Text).
	text := Text{VersionID: VersionID(subID, n), Text: in.text}
	if _, err := s.c(colTexts).ReplaceOne(ctx, bson.D{{Key: "_id", Value: text.VersionID}}, text, upsert()); err != nil {
		return fail(errs.Wrap(err, "save text"))
	}
	stored, err := s.addVersion(ctx, b.a, in.st, subID, sub, exists, pseudo, slot, v)
	if err != nil {
		return fail(err)
	}
	s.testPause(ctx, PauseBeforeRow)
	if err := b.list.place(ctx, stored, sk, fresh); err != nil {
		// The version is stored but not listed: the in-flight mark stays
		// for Recover, and the batch stops.
		b.broken = true
		return Outcome{}, errs.Wrap(err, "list stored version")
	}
	status := StatusCreated
	if n > 1 {
		status = StatusNewVersion
	}
	return outcomeOf(in.name, status, stored, v), nil
}

// outcomeOf is the outcome of a file stored (or found) as version v of sub.
func outcomeOf(file, status string, sub Submission, v Version) Outcome {
	o := Outcome{File: file, Status: status, StudentID: sub.StudentID, SubmissionID: sub.ID, Version: v.N, Pseudonym: sub.Pseudonym,
		Format: v.Format, Chars: v.Chars, Warnings: v.Warnings}
	if v.Flag.Open() {
		o.Flag = v.Flag
		o.Warnings = append(slices.Clone(v.Warnings), v.Flag.Message)
	}
	return o
}

// mark records in the in-flight record the version about to be stored,
// in place of the one marked before, and notes in the same write the files
// stored since the last (that one among them). The first mark writes the
// record.
func (b *Batch) mark(ctx context.Context, p pendingVersion) error {
	update := bson.D{{Key: "$set", Value: b.flightFields(bson.E{Key: "pending", Value: p})}}
	if len(b.unsaved) > 0 {
		update = append(update, bson.E{Key: "$push", Value: bson.D{{Key: "stored", Value: bson.D{{Key: "$each", Value: b.unsaved}}}}})
	}
	if _, err := b.s.c(colInflight).UpdateOne(ctx, bson.D{{Key: "_id", Value: b.flightID}}, update, updateUpsert()); err != nil {
		return errs.Wrap(err, "mark upload")
	}
	b.unsaved = nil
	return nil
}

// storedSubmission reads a submission as stored, with no versions when its
// last was moved to another student; exists is false if there is none.
func (s *Service) storedSubmission(ctx context.Context, id string) (Submission, bool, error) {
	sub, err := mongostore.Get[Submission](ctx, s.c(colSubmissions), id, "submission")
	if errs.Is(err, errs.NotFound) {
		return Submission{}, false, nil
	}
	return sub, err == nil, err
}

// addVersion records v as the next version of sub (a new submission if it
// does not exist) and returns the submission as stored. An upload for the
// same student that got there first makes it a conflict the client can
// retry.
func (s *Service) addVersion(ctx context.Context, a Assignment, st Student, subID string, sub Submission, exists bool, pseudo string, slot int, v Version) (Submission, error) {
	conflict := errs.E(errs.Conflict, "Another upload for this student arrived at the same moment; upload this file again.")
	if !exists {
		sub = Submission{ID: subID, AssignmentID: a.ID, ClassID: a.ClassID, StudentID: st.StudentID, Pseudonym: pseudo,
			Versions: []Version{v}, CreatedAt: v.UploadedAt, N: 1, Slot: slot}
		_, err := s.c(colSubmissions).InsertOne(ctx, sub)
		if mongostore.IsDuplicateKey(err) {
			return Submission{}, conflict
		}
		return sub, errs.Wrap(err, "insert submission")
	}
	next := sub
	next.Versions = append(slices.Clone(sub.Versions), v)
	next.N, next.Pseudonym, next.Slot = len(next.Versions), pseudo, slot
	err := mongostore.Swap(ctx, s.c(colSubmissions), sub.ID, "n", int64(sub.N), next)
	if errors.Is(err, mongostore.ErrStale) {
		return Submission{}, conflict
	}
	if err != nil {
		return Submission{}, err
	}
	return next, nil
}

func sha256Of(r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		return "", errs.Wrap(err, "hash upload")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func contentType(f extract.Format) string {
	switch f {
	case extract.PDF:
		return "application/pdf"
	case extract.DOCX:
		return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	case extract.ODT:
		return "application/vnd.oasis.opendocument.text"
	case extract.Markdown:
		return "text/markdown; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}

func baseName(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	return path.Base(name)
}

func printableName(name string) string {
	b := baseName(name)
	if b == "" || b == "." || b == "/" {
		return "This file"
	}
	return "“" + b + "”"
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return itoa(int(n>>30)) + " GB"
	case n >= 1<<20:
		return itoa(int(n>>20)) + " MB"
	case n >= 1<<10:
		return itoa(int(n>>10)) + " KB"
	}
	return itoa(int(n)) + " bytes"
}
