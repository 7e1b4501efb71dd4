package feedback

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/matching"
)

// A change interrupted after its document is written and before its
// projections are (a crash there) leaves the feedback saveable at once (no
// lock to wait for), and Recover, at the next start, writes the
// projections the journal still names.
func TestInterruptedChangeIsRecovered(t *testing.T) {
	f := newFixture(t)
	id := f.task(t, "1004", 1, matching.First, f.grader)
	w, err := f.svc.Open(ctx, f.grader, id)
	must(t, err)
	c := f.complete(t, w.Text, map[string]string{"thesis": "advanced"})

	f.svc.cfg.TestFault = FaultSaveMid
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = f.svc.Save(cctx, f.grader, id, w.Feedback.Rev, c)
	if err == nil {
		t.Fatal("the save held at the fault point returned no error")
	}
	f.svc.cfg.TestFault = ""
	stored, err := f.svc.Get(ctx, id)
	must(t, err)
	rows, err := f.svc.Rows(ctx, f.asg.ID)
	must(t, err)
	if stored.Levels["thesis"] != "advanced" || len(rows) != 1 || rows[0].Levels["thesis"] == "advanced" {
		t.Fatalf("before recovery: document %v, rows %+v (want the document saved and the row behind)", stored.Levels, rows)
	}
	if n, _ := f.db.Collection(colJournal).CountDocuments(ctx, bson.D{}); n != 1 {
		t.Fatalf("%d journal entries, want the interrupted change's", n)
	}

	// Another save goes through at once: there is no lock left behind.
	start := time.Now()
	c.Levels["evidence"] = "emerging"
	saved, err := f.svc.Save(ctx, f.grader, id, stored.Rev, c)
	must(t, err)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the save after the interrupted one took %s", d)
	}

	// Another process starts: the journal is replayed and emptied.
	other := New(f.db, f.accts, f.svc.intake, f.svc.matching, Config{}, nil)
	must(t, other.Migrate(ctx))
	rows, err = other.Rows(ctx, f.asg.ID)
	must(t, err)
	if len(rows) != 1 || rows[0].Levels["evidence"] != "emerging" || rows[0].Levels["thesis"] != "advanced" {
		t.Fatalf("rows after recovery: %+v (saved %v)", rows, saved.Levels)
	}
	if n, _ := f.db.Collection(colJournal).CountDocuments(ctx, bson.D{}); n != 0 {
		t.Fatalf("%d journal entries after recovery", n)
	}
}

// Ratings and reflections racing with the teacher's edits all land: each
// write is a compare-and-set on the document, retried on a conflict, and
// the released read model ends with every one.
func TestConcurrentRatingsAndEditsAllLand(t *testing.T) {
	f := newFixture(t)
	id := f.released(t, "1004")
	fb, err := f.svc.Get(ctx, id)
	must(t, err)
	ids := []string{}
	for cid := range commentIDs(fb) {
		ids = append(ids, cid)
	}
	done := make(chan error, len(ids)+4)
	for _, cid := range ids {
		go func() {
			_, err := f.svc.Rate(ctx, f.student, id, cid, 4)
			done <- err
		}()
	}
	for i := range 3 {
		go func() {
			_, err := f.svc.Reflect(ctx, f.student, id, "reflection", fmt.Sprintf("Reflection %d", i))
			done <- err
		}()
	}
	go func() {
		c := fb.Content
		c.Comments = map[string]string{}
		for k, v := range fb.Comments {
			c.Comments[k] = v + " (edited)"
		}
		_, err := f.svc.Edit(ctx, f.teacher, id, fb.Rev, c, "clarify")
		done <- err
	}()
	for range len(ids) + 4 {
		must(t, <-done)
	}
	got, err := f.svc.Get(ctx, id)
	must(t, err)
	if len(got.Ratings) != len(ids) || len(got.Reflections) != 3 || got.Rev != fb.Rev+1 {
		t.Fatalf("%d ratings of %d, %d reflections, rev %d (was %d)", len(got.Ratings), len(ids), len(got.Reflections), got.Rev, fb.Rev)
	}
	sf, err := f.svc.ForSubmission(ctx, f.student, f.sub.ID)
	must(t, err)
	if v := sf.Versions[0]; len(v.Ratings) != len(ids) || len(v.Reflections) != 3 || v.Criteria[0].Comment != got.Comments[v.Criteria[0].Key] {
		t.Fatalf("the student's read model is behind: %d ratings, %d reflections", len(v.Ratings), len(v.Reflections))
	}
}

// released grades, approves and releases the first read of a student's
// version 1, and returns its ID.
func (f *fixture) released(t testing.TB, student string) string {
	t.Helper()
	id := f.task(t, student, 1, matching.First, f.grader)
	w, err := f.svc.Open(ctx, f.grader, id)
	must(t, err)
	fb, err := f.svc.Save(ctx, f.grader, id, w.Feedback.Rev, f.completeWith(t, w.Text, nil))
	must(t, err)
	_, err = f.svc.Submit(ctx, f.grader, id, fb.Rev)
	must(t, err)
	_, err = f.svc.Approve(ctx, f.teacher, id)
	must(t, err)
	_, err = f.svc.Release(ctx, f.teacher, f.asg.ID, student)
	must(t, err)
	return id
}

// Data written by the version before the read models (feedback documents
// without a list slot, list buckets with the settings and every row, a
// lock document, payable events without a log position) is migrated once:
// rows, settings, the student's and class's records, the released
// feedback and the payable log come from the documents, and the old
// collections are dropped.
func TestMigrateFromListBuckets(t *testing.T) {
	f := newFixture(t)
	id := f.released(t, "1004")
	fb, err := f.svc.Get(ctx, id)
	must(t, err)
	// Turn the store back into the old shape.
	for _, col := range []string{colRows, colStudents, colClasses, colReleased, colLog, colMigrations} {
		must(t, f.db.Collection(col).Drop(ctx))
	}
	_, err = f.db.Collection(colFeedback).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "slot", Value: ""}, {Key: "seq", Value: ""}}}})
	must(t, err)
	_, err = f.db.Collection(colPayable).UpdateMany(ctx, bson.D{}, bson.D{{Key: "$unset", Value: bson.D{{Key: "seq", Value: ""}}}})
	must(t, err)
	old := bson.D{{Key: "_id", Value: f.asg.ID}, {Key: "rows", Value: bson.D{{Key: mongostore.FieldKey(id), Value: rowOf(fb)}}},
		{Key: "settings", Value: Settings{MinQuotes: 1, MinCommentChars: 7}}}
	_, err = f.db.Collection(colOldLists).InsertOne(ctx, old)
	must(t, err)
	_, err = f.db.Collection(colOldLocks).InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "token", Value: "lk_old"}, {Key: "until", Value: time.Now().Add(time.Hour)}})
	must(t, err)

	for range 2 { // idempotent
		must(t, New(f.db, f.accts, f.svc.intake, f.svc.matching, Config{}, nil).Migrate(ctx))
	}
	st, err := f.svc.Settings(ctx, f.asg.ID)
	must(t, err)
	rows, err := f.svc.Rows(ctx, f.asg.ID)
	must(t, err)
	if st.MinQuotes != 1 || st.MinCommentChars != 7 || len(rows) != 1 || rows[0].State != Released || rows[0].Digest == nil {
		t.Fatalf("settings %+v, rows %+v", st, rows)
	}
	if _, err := f.svc.ForSubmission(ctx, f.student, f.sub.ID); err != nil {
		t.Fatalf("the released feedback after the migration: %v", err)
	}
	home, err := f.svc.StudentReleased(ctx, f.asg.ClassID, "1004")
	must(t, err)
	cls, err := f.svc.Class(ctx, f.asg.ClassID)
	must(t, err)
	if len(home) != 1 || !home[0].Released || len(cls.Assignments) != 1 {
		t.Fatalf("student record %+v, class record %+v", home, cls)
	}
	page, err := f.svc.PayableLog(ctx, 0, 10)
	must(t, err)
	if len(page.Events) != 1 || page.Events[0].Seq != 1 || page.Next != 1 || !page.Events[0].Recheck {
		t.Fatalf("payable log %+v (want the event, logged by a retry, marked recheck)", page)
	}
	for _, col := range []string{colOldLists, colOldLocks} {
		if n, _ := f.db.Collection(col).CountDocuments(ctx, bson.D{}); n != 0 {
			t.Errorf("%s still holds %d documents", col, n)
		}
	}
	// And the feedback still changes.
	if _, err := f.svc.Rate(ctx, f.student, id, fb.Quotes[0].ID, 5); err != nil {
		t.Fatal(err)
	}
}

// The payable log is read from a position on, by _id; a position whose
// writer died is passed once a later event has been logged long enough.
func TestPayableLogHoles(t *testing.T) {
	f := newFixture(t)
	id := f.released(t, "1004")
	page, err := f.svc.PayableLog(ctx, 0, 10)
	must(t, err)
	if len(page.Events) != 1 || page.Next != 1 || page.Events[0].ID != PayableEventID(f.sub.ID+":v1", f.grader.ID) || page.Events[0].Recheck {
		t.Fatalf("log %+v (feedback %s)", page, id)
	}
	// Position 2 is taken and never written; 3 is written.
	_, err = f.db.Collection(colLog).UpdateOne(ctx, bson.D{{Key: "_id", Value: logCounterID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 3}}}})
	must(t, err)
	ev := page.Events[0]
	ev.ID, ev.Seq = "later", 3
	_, err = f.db.Collection(colLog).InsertOne(ctx, logDoc{ID: logID(3), Event: ev, At: time.Now().UTC()})
	must(t, err)
	page, err = f.svc.PayableLog(ctx, 1, 10)
	must(t, err)
	if len(page.Events) != 0 || page.Next != 1 {
		t.Fatalf("a fresh hole was passed: %+v", page)
	}
	f.svc.now = func() time.Time { return time.Now().Add(logGrace + time.Minute) }
	page, err = f.svc.PayableLog(ctx, 1, 10)
	must(t, err)
	if len(page.Events) != 1 || page.Events[0].ID != "later" || page.Next != 3 {
		t.Fatalf("after the grace: %+v", page)
	}
	if page, err := f.svc.PayableLog(ctx, 3, 10); err != nil || len(page.Events) != 0 || page.Next != 3 {
		t.Fatalf("at the end: %+v %v", page, err)
	}
	if _, err := f.svc.ForSubmission(ctx, f.student2, f.sub.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("another student read the feedback: %v", err)
	}
}

// TestMigrateRowFields: rows written before they counted questions get the
// count from the migration, once; feedback without reflections is left
// alone.
func TestMigrateRowFields(t *testing.T) {
	f := newFixture(t)
	id := f.released(t, "1004")
	_, err := f.svc.Reflect(ctx, f.student, id, "question", "Why only developing?")
	must(t, err)
	// As an earlier version left it: a row without the count, and no record
	// of the migration.
	fb, err := f.svc.Get(ctx, id)
	must(t, err)
	old := fb
	old.Reflections = nil
	must(t, f.svc.writeRow(ctx, old))
	_, err = f.db.Collection(colMigrations).DeleteOne(ctx, bson.D{{Key: "_id", Value: rowFieldsMigration}})
	must(t, err)
	if q, err := f.svc.Questions(ctx, f.teacher, f.asg.ClassID); err != nil || q[f.asg.ID] != 0 {
		t.Fatalf("questions before the migration: %v, %v", q, err)
	}
	for range 2 { // idempotent
		must(t, New(f.db, f.accts, f.svc.intake, f.svc.matching, Config{}, nil).Migrate(ctx))
	}
	if q, err := f.svc.Questions(ctx, f.teacher, f.asg.ClassID); err != nil || q[f.asg.ID] != 1 {
		t.Fatalf("questions after the migration: %v, %v; want 1", q, err)
	}
}
