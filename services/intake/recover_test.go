package intake

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// crashAfterVersion replays an upload killed between storing a version and
// writing its list row: the steps of Batch.store up to addVersion, then
// the process "dies" (its batch is no longer running here).
func crashAfterVersion(t *testing.T, w *world, studentID string, data []byte) (uploadID string) {
	t.Helper()
	b, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	name := "essay-" + studentID + ".txt"
	// Two files stored before the one that was being stored, and one
	// rejected (only stored files are kept through a crash).
	for _, f := range []namedFile{{"a.txt", "1003", []byte("Sam's essay, stored before the crash.")}, {"b.txt", "9999", []byte("nobody's")},
		{"c.txt", "1004", []byte("Priya's essay, stored before the crash too.")}} {
		if err := b.Add(w.ctx, f.name, f.studentID, bytes.NewReader(f.data), int64(len(f.data))); err != nil {
			t.Fatal(err)
		}
	}
	st, _, err := b.rostered(w.ctx, studentID)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := w.s.identities(w.ctx, w.asg.ID)
	if err != nil {
		t.Fatal(err)
	}
	id, err := w.s.identity(w.ctx, &ids, studentID)
	if err != nil {
		t.Fatal(err)
	}
	subID := id.SubmissionID
	sub, exists, _ := w.s.storedSubmission(w.ctx, subID)
	slot := sub.Slot
	if slot == 0 {
		slot = st.Seat
	}
	pseudo := sub.Pseudonym
	if pseudo == "" {
		pseudo = id.Pseudonym
	}
	sum, _ := sha256Of(bytes.NewReader(data), int64(len(data)))
	v := Version{N: sub.N + 1, SHA256: sum, BlobKey: "submissions/" + sum, Filename: name, Format: "txt", Size: int64(len(data)), Chars: len(data), UploadedAt: w.s.stamp()}
	if err := b.mark(w.ctx, pendingVersion{File: name, SubmissionID: subID, N: v.N, SHA256: sum}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.c(colTexts).InsertOne(w.ctx, Text{VersionID: VersionID(subID, v.N), Text: string(data)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.addVersion(w.ctx, w.asg, st, subID, sub, exists, pseudo, slot, v); err != nil {
		t.Fatal(err)
	}
	w.s.live.Delete(b.flightID) // killed
	return b.upload.ID
}

// TestRecoverVersionWithoutRow: after a crash between a version and its
// row, the teacher's list and matching do not see the submission until
// Recover lists it and ends the upload as interrupted with every outcome.
// Recover again repairs nothing.
func TestRecoverVersionWithoutRow(t *testing.T) {
	w := newWorld(t)
	w.s.cfg.SoleProcess = true
	jordans := []byte("Jordan's first essay on personalized learning, in many words, copied by Avery.")
	w.upload(t, namedFile{"essay.txt", "1002", jordans})
	uploadID := crashAfterVersion(t, w, "1001", jordans)
	if rows, _ := w.s.Rows(w.ctx, w.asg.ID); len(rows) != 3 {
		t.Fatalf("before recovery %d rows, want 3 (the crash left 1001 out)", len(rows))
	}
	up, err := w.s.UploadBatch(w.ctx, w.teacher, uploadID)
	if err != nil || up.State != UploadInterrupted || len(up.Outcomes) != 2 {
		t.Fatalf("the killed upload before recovery: %+v, %v", up, err)
	}

	rep, err := w.s.Recover(w.ctx)
	if err != nil || rep.Uploads != 1 || rep.Listed != 1 || rep.NotStored != 0 {
		t.Fatalf("recover: %+v, %v", rep, err)
	}
	rows, _ := w.s.Rows(w.ctx, w.asg.ID)
	if len(rows) != 4 || rows[0].StudentID != "1001" || rows[0].Version != 1 || rows[0].Pseudonym == "" {
		t.Fatalf("after recovery rows %+v", rows)
	}
	// Both rows of the copied text are flagged, the one listed before the
	// crash too.
	if len(rows[0].Duplicates) != 1 || rows[0].Duplicates[0].StudentID != "1002" || len(rows[1].Duplicates) != 1 || rows[1].Duplicates[0].StudentID != "1001" {
		t.Errorf("duplicate flags after recovery: %+v / %+v", rows[0].Duplicates, rows[1].Duplicates)
	}
	up, err = w.s.UploadBatch(w.ctx, w.teacher, uploadID)
	if err != nil || up.State != UploadInterrupted || len(up.Outcomes) != 3 || up.Counts.Created != 3 || up.Outcomes[0].File != "a.txt" || up.Outcomes[1].File != "c.txt" {
		t.Fatalf("the killed upload after recovery: %+v, %v", up, err)
	}
	if o := up.Outcomes[2]; o.File != "essay-1001.txt" || o.Status != StatusCreated || o.Version != 1 || o.SubmissionID != rows[0].SubmissionID {
		t.Errorf("the recovered outcome: %+v", o)
	}
	work, _ := w.s.StudentWork(w.ctx, w.class.ID, "1001")
	if len(work) != 0 { // the assignment is a draft, but the student has work in it
		if work[0].Version != 1 {
			t.Errorf("student work after recovery: %+v", work)
		}
	} else {
		t.Errorf("student work after recovery is empty")
	}
	if rep, err := w.s.Recover(w.ctx); err != nil || rep != (Repaired{}) {
		t.Errorf("a second recovery: %+v, %v", rep, err)
	}
	// The same file again is unchanged, and nothing is listed twice.
	o := w.upload(t, namedFile{"essay.txt", "1001", jordans})[0]
	if o.Status != StatusUnchanged {
		t.Errorf("the same file after recovery: %+v", o)
	}
	if p, _ := w.s.ListSubmissions(w.ctx, w.teacher, w.asg.ID, "", 0); p.Total != 4 || len(p.Rows) != 4 {
		t.Errorf("list after recovery: %+v", p)
	}
}

// TestRecoverVersionNotStored: a crash after the mark but before the
// version leaves no version; the file's outcome tells the teacher to
// upload it again.
func TestRecoverVersionNotStored(t *testing.T) {
	w := newWorld(t)
	w.s.cfg.SoleProcess = true
	b, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.mark(w.ctx, pendingVersion{File: "lost.txt", SubmissionID: w.asg.ID + ":sub_lost", N: 1, SHA256: "00"}); err != nil {
		t.Fatal(err)
	}
	// A batch still running in this process is left alone.
	if rep, err := w.s.Recover(w.ctx); err != nil || rep != (Repaired{}) {
		t.Fatalf("recover with the batch running: %+v, %v", rep, err)
	}
	w.s.live.Delete(b.flightID)
	rep, err := w.s.Recover(w.ctx)
	if err != nil || rep.Uploads != 1 || rep.NotStored != 1 {
		t.Fatalf("recover: %+v, %v", rep, err)
	}
	up, _ := w.s.UploadBatch(w.ctx, w.teacher, b.upload.ID)
	if len(up.Outcomes) != 1 || up.Outcomes[0].Status != StatusRejected || !strings.Contains(up.Outcomes[0].Error.Message, "upload it again") || up.State != UploadInterrupted {
		t.Fatalf("upload after recovery: %+v", up)
	}
	if _, err := w.s.SubmissionOf(w.ctx, w.asg.ID, "1003"); !errs.Is(err, errs.NotFound) {
		t.Errorf("a submission appeared: %v", err)
	}
}

// TestRecoverStaleOnly: a process that is not the store's only user takes
// in-flight work for dead only after FlightLease.
func TestRecoverStaleOnly(t *testing.T) {
	w := newWorld(t)
	b, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.mark(w.ctx, pendingVersion{File: "x.txt", SubmissionID: w.asg.ID + ":sub_x", N: 1}); err != nil {
		t.Fatal(err)
	}
	w.s.live.Delete(b.flightID)
	if rep, _ := w.s.Recover(w.ctx); rep != (Repaired{}) {
		t.Fatalf("recovered fresh work of another process: %+v", rep)
	}
	w.s.now = func() time.Time { return time.Now().Add(FlightLease + time.Minute) }
	if rep, _ := w.s.Recover(w.ctx); rep.Uploads != 1 {
		t.Fatalf("stale work not recovered: %+v", rep)
	}
}

// TestStopBetweenFiles: a request cancelled while a ZIP is being read
// stops at the next entry; the entry being stored is stored whole (never
// failed with "context canceled"), every outcome recorded is true of the
// store, and the batch ends as stopped.
func TestStopBetweenFiles(t *testing.T) {
	const n = 40
	w := benchWorld(t, n)
	var files []namedFile
	for i := 1; i <= n; i++ {
		files = append(files, namedFile{name: canvasName(i, 1, "essay.txt"), data: fmt.Appendf(nil, "Essay %d. %s", i, strings.Repeat(fmt.Sprintf("word%d ", i), 50))})
	}
	z := zipOf(t, files...)
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	b, err := w.s.StartUpload(ctx, w.teacher, w.asg.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	go func() { // cancel once a few files are stored
		for {
			f, err := mongostore.Get[flightDoc](w.ctx, w.s.c(colInflight), b.flightID, "flight")
			if err == nil && len(f.Stored) >= 3 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if err := b.Add(ctx, "class.zip", "", bytes.NewReader(z), int64(len(z))); err != ErrStopped {
		t.Fatalf("Add: %v, want ErrStopped", err)
	}
	up, err := b.Finish(ctx, StopShutdown)
	if err != nil || up.State != UploadStopped || up.StoppedBy != StopShutdown {
		t.Fatalf("finish: %+v, %v", up, err)
	}
	if len(up.Outcomes) < 4 || len(up.Outcomes) == n {
		t.Fatalf("%d outcomes: the upload did not stop part-way", len(up.Outcomes))
	}
	for _, o := range up.Outcomes {
		if o.Status != StatusCreated {
			t.Errorf("%s: %+v", o.File, o)
		}
	}
	rows, _ := w.s.Rows(w.ctx, w.asg.ID)
	if len(rows) != len(up.Outcomes) {
		t.Errorf("%d rows for %d outcomes", len(rows), len(up.Outcomes))
	}
	again, err := w.s.UploadBatch(w.ctx, w.teacher, up.ID)
	if err != nil || again.State != UploadStopped || len(again.Outcomes) != len(up.Outcomes) {
		t.Errorf("the stored batch: %+v, %v", again, err)
	}
	if n, _ := w.s.c(colInflight).CountDocuments(w.ctx, bson.D{}); n != 0 {
		t.Errorf("%d in-flight records left", n)
	}
}

// TestUploadRecordChunks: an upload of 230 files is recorded in chunks of
// 25 (never one growing document), read back whole and in order, also
// while it runs, and a later request continues it as its next part.
func TestUploadRecordChunks(t *testing.T) {
	w := newWorld(t)
	var files []namedFile
	for i := range 230 {
		files = append(files, namedFile{name: fmt.Sprintf("stray%03d.txt", i), data: []byte("whose?")})
	}
	b, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	z := zipOf(t, files...)
	if err := b.Add(w.ctx, "strays.zip", "", bytes.NewReader(z), int64(len(z))); err != nil {
		t.Fatal(err)
	}
	// While it runs, its outcomes are there chunk by chunk.
	running, err := w.s.UploadBatch(w.ctx, w.teacher, b.upload.ID)
	if err != nil || running.State != UploadRunning || len(running.Outcomes) != 225 || running.Outcomes[224].File != "stray224.txt" {
		t.Fatalf("while running: %s, %d outcomes, %v", running.State, len(running.Outcomes), err)
	}
	up, err := b.Finish(w.ctx, "")
	if err != nil || up.State != UploadFinished || up.Counts.Files != 230 || up.Counts.Rejected != 230 {
		t.Fatalf("finish: %+v, %v", up.Counts, err)
	}
	for k, size := range []int{25, 25, 25, 25, 25, 25, 25, 25, 25, 5} {
		c, err := mongostore.Get[chunkDoc](w.ctx, w.s.c(colOutcomes), chunkID(up.ID, b.part, k), "chunk")
		if err != nil || len(c.Outcomes) != size {
			t.Fatalf("chunk %d: %d outcomes, %v", k, len(c.Outcomes), err)
		}
	}
	var raw bson.M
	if err := w.s.c(colUploads).FindOne(w.ctx, bson.D{{Key: "_id", Value: up.ID}}).Decode(&raw); err != nil || raw["outcomes"] != nil {
		t.Fatalf("the upload's own document holds outcomes: %v", err)
	}
	// A second request adds to the batch.
	b2, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("Sam's essay, in its own words, on personalized learning.")
	if err := b2.Add(w.ctx, "sam.txt", "1003", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Finish(w.ctx, ""); err != nil {
		t.Fatal(err)
	}
	got, err := w.s.UploadBatch(w.ctx, w.teacher, up.ID)
	if err != nil || len(got.Outcomes) != 231 || got.Outcomes[0].File != "stray000.txt" || got.Outcomes[229].File != "stray229.txt" ||
		got.Outcomes[230].File != "sam.txt" || got.Counts.Created != 1 || got.State != UploadFinished {
		t.Fatalf("continued batch: %d outcomes, %+v, %v", len(got.Outcomes), got.Counts, err)
	}
}

// TestOldUploadRecord: a batch recorded before chunked records (every
// outcome in its own document) reads as it was, and continues.
func TestOldUploadRecord(t *testing.T) {
	w := newWorld(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := bson.D{{Key: "_id", Value: "upl_old"}, {Key: "assignment_id", Value: w.asg.ID}, {Key: "uploaded_by", Value: w.teacher.ID},
		{Key: "outcomes", Value: []Outcome{{File: "x.txt", Status: StatusRejected, Error: &errs.Error{Code: errs.Invalid, Message: "No."}}}},
		{Key: "counts", Value: bson.D{{Key: "files", Value: 1}, {Key: "rejected", Value: 1}}}, {Key: "created_at", Value: now}, {Key: "updated_at", Value: now}}
	if _, err := w.s.c(colUploads).InsertOne(w.ctx, old); err != nil {
		t.Fatal(err)
	}
	up, err := w.s.UploadBatch(w.ctx, w.teacher, "upl_old")
	if err != nil || len(up.Outcomes) != 1 || up.Counts.Rejected != 1 || up.State != UploadFinished {
		t.Fatalf("old batch: %+v, %v", up, err)
	}
	b, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "upl_old")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(w.ctx, "y.txt", "", bytes.NewReader([]byte("?")), 1); err != nil {
		t.Fatal(err)
	}
	up, err = b.Finish(w.ctx, "")
	if err != nil || len(up.Outcomes) != 2 || up.Outcomes[0].File != "x.txt" || up.Outcomes[1].File != "y.txt" {
		t.Fatalf("old batch continued: %+v, %v", up, err)
	}
	if again, _ := w.s.UploadBatch(w.ctx, w.teacher, "upl_old"); len(again.Outcomes) != 2 {
		t.Fatalf("old batch read again: %+v", again)
	}
}
