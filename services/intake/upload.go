package intake

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/intake/bulk"
	"github.com/marginschool/margin/services/intake/extract"
)

// Outcome is what happened to one uploaded file.
type Outcome struct {
	File         string      `json:"file" bson:"file"`
	Status       string      `json:"status" bson:"status"` // created, new_version, unchanged or rejected
	StudentID    string      `json:"student_id,omitempty" bson:"student_id,omitempty"`
	SubmissionID string      `json:"submission_id,omitempty" bson:"submission_id,omitempty"`
	Version      int         `json:"version,omitempty" bson:"version,omitempty"`
	Pseudonym    string      `json:"pseudonym,omitempty" bson:"pseudonym,omitempty"`
	Format       string      `json:"format,omitempty" bson:"format,omitempty"`
	Chars        int         `json:"chars,omitempty" bson:"chars,omitempty"`
	Warnings     []string    `json:"warnings,omitempty" bson:"warnings,omitempty"`
	Error        *errs.Error `json:"error,omitempty" bson:"error,omitempty"`
}

// The outcome statuses.
const (
	StatusCreated    = "created"
	StatusNewVersion = "new_version"
	StatusUnchanged  = "unchanged"
	StatusRejected   = "rejected"
)

// Upload is a batch of uploaded files and their outcomes. A batch may span
// several requests: later requests name its ID to add to it, and anyone
// allowed to upload can follow it by ID.
type Upload struct {
	ID           string    `json:"id" bson:"_id"`
	AssignmentID string    `json:"assignment_id" bson:"assignment_id"`
	UploadedBy   string    `json:"uploaded_by" bson:"uploaded_by"`
	Outcomes     []Outcome `json:"outcomes" bson:"outcomes"`
	Counts       Counts    `json:"counts" bson:"counts"`
	CreatedAt    time.Time `json:"created_at" bson:"created_at"`
	UpdatedAt    time.Time `json:"updated_at" bson:"updated_at"`
}

// Counts tallies a batch's outcomes.
type Counts struct {
	Files      int `json:"files" bson:"files"`
	Created    int `json:"created" bson:"created"`
	NewVersion int `json:"new_version" bson:"new_version"`
	Unchanged  int `json:"unchanged" bson:"unchanged"`
	Rejected   int `json:"rejected" bson:"rejected"`
}

// Batch is an upload in progress: the edge hands it each file as it streams
// in. It is not safe for concurrent use.
type Batch struct {
	s      *Service
	caller account.User
	a      Assignment
	roster map[string]Student
	upload Upload
	own    string // the student ID when a student uploads their own revision
}

// StartUpload opens a batch of uploads to an assignment by its teacher, or
// continues batch batchID if it is not empty.
func (s *Service) StartUpload(ctx context.Context, caller account.User, assignmentID, batchID string) (*Batch, error) {
	a, err := s.AuthorizeAssignment(ctx, caller, assignmentID)
	if err != nil {
		return nil, err
	}
	if a.State == Released || a.State == Graded {
		return nil, errs.E(errs.Conflict, "This assignment's feedback is finished; students upload revisions themselves.")
	}
	return s.startBatch(ctx, caller, a, batchID)
}

func (s *Service) startBatch(ctx context.Context, caller account.User, a Assignment, batchID string) (*Batch, error) {
	sts, err := s.roster(ctx, a.ClassID)
	if err != nil {
		return nil, err
	}
	b := &Batch{s: s, caller: caller, a: a, roster: make(map[string]Student, len(sts))}
	for _, st := range sts {
		b.roster[st.StudentID] = st
	}
	if batchID != "" {
		up, err := s.UploadBatch(ctx, caller, batchID)
		if err != nil {
			return nil, err
		}
		if up.AssignmentID != a.ID {
			return nil, errs.F(errs.Invalid, "batch_id", "Upload batch %q belongs to another assignment.", batchID)
		}
		b.upload = up
		return b, nil
	}
	now := s.stamp()
	b.upload = Upload{ID: account.NewID("upl"), AssignmentID: a.ID, UploadedBy: caller.ID, Outcomes: []Outcome{}, CreatedAt: now, UpdatedAt: now}
	if _, err := s.c(colUploads).InsertOne(ctx, b.upload); err != nil {
		return nil, errs.Wrap(err, "start upload")
	}
	return b, nil
}

// UploadBatch returns an upload batch, to its uploader or the assignment's
// teacher.
func (s *Service) UploadBatch(ctx context.Context, caller account.User, id string) (Upload, error) {
	var up Upload
	if err := s.findByID(ctx, colUploads, id, "upload batch", &up); err != nil {
		return Upload{}, err
	}
	if up.UploadedBy != caller.ID {
		if _, err := s.AuthorizeAssignment(ctx, caller, up.AssignmentID); err != nil {
			return Upload{}, errs.E(errs.NotFound, "No upload batch with ID %q.", id)
		}
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
// batch. If ctx ends, the ZIP's remaining entries are skipped. The batch's
// record is saved after each call, even if ctx has ended, so a client can
// follow it.
func (b *Batch) Add(ctx context.Context, name, studentID string, r io.ReaderAt, size int64) error {
	if strings.HasSuffix(strings.ToLower(name), ".zip") && studentID == "" && b.own == "" {
		b.addZip(ctx, name, r, size)
	} else {
		b.recordUnlessStopped(ctx, b.ingest(ctx, name, studentID, r, size))
	}
	return b.save(ctx)
}

// Reject records a file that could not even be received (e.g. over the
// size limit while streaming).
func (b *Batch) Reject(ctx context.Context, name string, err error) error {
	b.record(rejected(name, err))
	return b.save(ctx)
}

func (b *Batch) addZip(ctx context.Context, name string, r io.ReaderAt, size int64) {
	ar, err := bulk.Open(r, size, bulk.Limits{MaxEntries: b.s.cfg.MaxZipEntries, MaxEntrySize: b.s.cfg.MaxFileSize, MaxTotalSize: b.s.cfg.MaxZipSize})
	if err != nil {
		b.record(rejected(name, err))
		return
	}
	for _, e := range ar.Entries() {
		if ctx.Err() != nil {
			return
		}
		if e.Err != nil {
			b.record(rejected(e.Name, e.Err))
			continue
		}
		b.recordUnlessStopped(ctx, b.ingestEntry(ctx, e))
	}
}

// recordUnlessStopped records o, unless ctx ended while the file was being
// ingested and it failed: then the file was not really tried, and is left
// for the client to send again.
func (b *Batch) recordUnlessStopped(ctx context.Context, o Outcome) {
	if ctx.Err() != nil && o.Status == StatusRejected {
		return
	}
	b.record(o)
}

func (b *Batch) ingestEntry(ctx context.Context, e bulk.Entry) Outcome {
	rc, err := e.Open()
	if err != nil {
		return rejected(e.Name, err)
	}
	defer rc.Close()
	f, n, err := Spool(rc, e.Name, b.s.cfg.MaxFileSize)
	if err != nil {
		return rejected(e.Name, err)
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	return b.ingest(ctx, e.Name, "", f, n)
}

func (b *Batch) record(o Outcome) {
	b.upload.Outcomes = append(b.upload.Outcomes, o)
	c := &b.upload.Counts
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
}

func (b *Batch) save(ctx context.Context) error {
	// What was ingested is recorded even when the request has just been
	// cancelled (the client left, or its time ran out).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	b.upload.UpdatedAt = b.s.stamp()
	_, err := b.s.c(colUploads).ReplaceOne(ctx, bson.D{{Key: "_id", Value: b.upload.ID}}, b.upload)
	return errs.Wrap(err, "save upload batch")
}

func rejected(name string, err error) Outcome {
	var e *errs.Error
	if !errors.As(err, &e) || errs.Status(e.Code) >= 500 {
		e = errs.E(errs.Internal, "This file could not be stored because of a problem on our side; upload it again.")
	}
	return Outcome{File: name, Status: StatusRejected, Error: &errs.Error{Code: e.Code, Message: e.Message}}
}

// ingest stores one file as a version of a student's submission. The order
// makes a failure at any step safe to retry: the original goes to S3 under
// its content address and is read back and verified; then the text; then
// the submission version (a conditional update, so two uploads never take
// the same version number); then the list row. Nothing refers to the object
// or the text until the version is recorded.
func (b *Batch) ingest(ctx context.Context, name, studentID string, r io.ReaderAt, size int64) Outcome {
	s := b.s
	o := Outcome{File: name}
	fail := func(err error) Outcome {
		out := rejected(name, err)
		out.StudentID = o.StudentID
		if errs.Status(errs.CodeOf(err)) >= 500 {
			s.log.Error("ingest", "file", name, "err", err)
		}
		return out
	}
	st, err := b.student(name, studentID)
	if err != nil {
		return fail(err)
	}
	o.StudentID = st.StudentID
	if size > s.cfg.MaxFileSize {
		return fail(errs.E(errs.TooLarge, "%s is larger than the %s limit.", printableName(name), humanSize(s.cfg.MaxFileSize)))
	}
	res, err := extract.Extract(ctx, r, size, name)
	if err != nil {
		return fail(err)
	}
	sum, err := sha256Of(r, size)
	if err != nil {
		return fail(err)
	}
	ids, err := s.identities(ctx, b.a.ID)
	if err != nil {
		return fail(err)
	}
	id, err := s.identity(ctx, &ids, st.StudentID)
	if err != nil {
		return fail(err)
	}
	subID := id.SubmissionID
	sub, err := s.Submission(ctx, subID)
	exists := err == nil
	if err != nil && !errs.Is(err, errs.NotFound) {
		return fail(err)
	}
	if exists && sub.StudentID != st.StudentID {
		return fail(errs.E(errs.Internal, "Submission %s is another student's.", subID))
	}
	if exists && sub.Current().SHA256 == sum {
		// A retry of an upload that stopped after recording the version:
		// make sure its list row is there too (updateRow is idempotent).
		if err := s.updateRow(ctx, b.a.ID, st.StudentID, subID, sub.Pseudonym, sub.Current(), sketch(res.Text)); err != nil {
			return fail(err)
		}
		o.Status, o.SubmissionID, o.Version, o.Pseudonym = StatusUnchanged, subID, sub.Current().N, sub.Pseudonym
		o.Format, o.Chars = sub.Current().Format, sub.Current().Chars
		return o
	}
	// The original is read back and hashed before any record points at it;
	// whatever else is under its content address is replaced, never trusted.
	key := "submissions/" + sum
	if err := s.blobs.PutVerified(ctx, key, r, size, sum, contentType(res.Format)); err != nil {
		return fail(err)
	}
	pseudo := sub.Pseudonym
	if !exists {
		pseudo = id.Pseudonym
	}
	n := sub.N + 1
	v := Version{
		N: n, SHA256: sum, BlobKey: key, Filename: baseName(name), Format: string(res.Format), Size: size,
		Chars: utf8.RuneCountInString(res.Text), Warnings: res.Warnings, UploadedBy: b.caller.ID, UploadedAt: s.stamp(),
	}
	text := Text{VersionID: VersionID(subID, n), Text: res.Text}
	if _, err := s.c(colTexts).ReplaceOne(ctx, bson.D{{Key: "_id", Value: text.VersionID}}, text, upsert()); err != nil {
		return fail(errs.Wrap(err, "save text"))
	}
	if err := s.addVersion(ctx, b.a, st, subID, pseudo, sub.N, v); err != nil {
		return fail(err)
	}
	if err := s.updateRow(ctx, b.a.ID, st.StudentID, subID, pseudo, v, sketch(res.Text)); err != nil {
		return fail(err)
	}
	o.Status = StatusCreated
	if n > 1 {
		o.Status = StatusNewVersion
	}
	o.SubmissionID, o.Version, o.Pseudonym, o.Format, o.Chars, o.Warnings = subID, n, pseudo, v.Format, v.Chars, v.Warnings
	return o
}

// addVersion records v as version prev+1 of the submission, creating the
// submission on its first version. A concurrent upload that took the number
// first makes this a conflict the client can retry.
func (s *Service) addVersion(ctx context.Context, a Assignment, st Student, subID, pseudo string, prev int, v Version) error {
	if prev == 0 {
		sub := Submission{ID: subID, AssignmentID: a.ID, ClassID: a.ClassID, StudentID: st.StudentID, Pseudonym: pseudo, Versions: []Version{v}, CreatedAt: v.UploadedAt, N: 1}
		_, err := s.c(colSubmissions).InsertOne(ctx, sub)
		if mongostore.IsDuplicateKey(err) {
			return errs.E(errs.Conflict, "Another upload for this student arrived at the same moment; upload this file again.")
		}
		return errs.Wrap(err, "insert submission")
	}
	res, err := s.c(colSubmissions).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: subID}, {Key: "n", Value: prev}},
		bson.D{{Key: "$push", Value: bson.D{{Key: "versions", Value: v}}}, {Key: "$set", Value: bson.D{{Key: "n", Value: prev + 1}}}})
	if err != nil {
		return errs.Wrap(err, "add version")
	}
	if res.MatchedCount == 0 {
		return errs.E(errs.Conflict, "Another upload for this student arrived at the same moment; upload this file again.")
	}
	return nil
}

// updateRow writes the student's list row into the assignment's bucket and
// flags possible duplicates on both students' rows. The MinHash sketches
// live in their own per-assignment document, as packed bytes, so that the
// list a teacher pages through stays small.
func (s *Service) updateRow(ctx context.Context, assignmentID, studentID, subID, pseudo string, v Version, sk []uint32) error {
	var bucket bucketDoc
	if err := s.c(colBuckets).FindOne(ctx, bson.D{{Key: "_id", Value: assignmentID}}).Decode(&bucket); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return errs.Wrap(err, "read list")
	}
	var sketches sketchDoc
	if err := s.c(colSketches).FindOne(ctx, bson.D{{Key: "_id", Value: assignmentID}}).Decode(&sketches); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return errs.Wrap(err, "read sketches")
	}
	row := Row{StudentID: studentID, SubmissionID: subID, Pseudonym: pseudo, Version: v.N, Filename: v.Filename, Format: v.Format, Chars: v.Chars, UploadedAt: v.UploadedAt, Duplicates: []Duplicate{}}
	set := bson.D{}
	for key, other := range bucket.Rows {
		if other.StudentID == studentID {
			continue
		}
		// Drop a stale flag against this student, then re-add if still similar.
		kept := other.Duplicates[:0:0]
		for _, d := range other.Duplicates {
			if d.StudentID != studentID {
				kept = append(kept, d)
			}
		}
		sim := math.Round(similarity(sk, unpackSketch(sketches.Sketches[key]))*100) / 100
		if sim >= s.cfg.DuplicateThreshold {
			row.Duplicates = append(row.Duplicates, Duplicate{StudentID: other.StudentID, Similarity: sim})
			kept = append(kept, Duplicate{StudentID: studentID, Similarity: sim})
		}
		if len(kept) != len(other.Duplicates) {
			set = append(set, bson.E{Key: "rows." + key + ".duplicates", Value: kept})
		}
	}
	key := mongostore.FieldKey(studentID)
	if _, err := s.c(colSketches).UpdateOne(ctx, bson.D{{Key: "_id", Value: assignmentID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "sketches." + key, Value: packSketch(sk)}}}}, updateUpsert()); err != nil {
		return errs.Wrap(err, "save sketch")
	}
	set = append(set, bson.E{Key: "rows." + key, Value: row})
	_, err := s.c(colBuckets).UpdateOne(ctx, bson.D{{Key: "_id", Value: assignmentID}}, bson.D{{Key: "$set", Value: set}}, updateUpsert())
	return errs.Wrap(err, "save list row")
}

// sketchDoc holds an assignment's MinHash sketches by row key.
type sketchDoc struct {
	ID       string            `bson:"_id"`
	Sketches map[string][]byte `bson:"sketches"`
}

func packSketch(sk []uint32) []byte {
	b := make([]byte, 4*len(sk))
	for i, v := range sk {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func unpackSketch(b []byte) []uint32 {
	sk := make([]uint32, len(b)/4)
	for i := range sk {
		sk[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return sk
}

// student resolves which rostered student a file belongs to: the explicit
// student ID, or the one in a Canvas-style file name. It never guesses.
func (b *Batch) student(name, explicit string) (Student, error) {
	if b.own != "" {
		explicit = b.own
	}
	id := strings.TrimSpace(explicit)
	if id == "" {
		n, ok := ParseSubmissionName(name)
		if !ok {
			return Student{}, errs.F(errs.Invalid, "student_id", "%s does not say whose work it is: name it like Canvas does (familygiven_<student id>_<n>_<name>.ext) or send a student_id with it.", printableName(name))
		}
		id = n.StudentID
	}
	st, ok := b.roster[id]
	if !ok {
		return Student{}, errs.F(errs.Invalid, "student_id", "%s is for student ID %s, who is not on this class's roster. Import the roster first, or check the ID.", printableName(name), id)
	}
	return st, nil
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
