package intake

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/mongostore"
)

// TestMigrateLists: an assignment whose list and sketches are one document
// each, as before list pages, is read as it is, and Migrate moves it to
// pages with the same rows and duplicate flags; uploads then go on as
// usual. A crash part-way is finished by running Migrate again.
func TestMigrateLists(t *testing.T) {
	w := newWorld(t)
	w.upload(t, fixtureSubmissions(t)...)
	want, err := w.s.Rows(w.ctx, w.asg.ID)
	if err != nil || len(want) != 5 {
		t.Fatalf("rows: %d, %v", len(want), err)
	}
	// Back to the old shape: one list document, one sketch document, no
	// slots, no pages.
	rows, sketches := bson.M{}, bson.M{}
	for _, r := range want {
		r.Slot = 0
		rows[mongostore.FieldKey(r.StudentID)] = r
	}
	pg, _ := mongostore.Get[sketchPage](w.ctx, w.s.c(colSketches), pageID(w.asg.ID, 0), "sketches")
	for k, b := range pg.Sketches {
		sketches[k] = b
	}
	for _, col := range []string{colBuckets, colSketches} {
		if _, err := w.s.c(col).DeleteMany(w.ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	mustInsert(t, w, colBuckets, bson.D{{Key: "_id", Value: w.asg.ID}, {Key: "rows", Value: rows}})
	mustInsert(t, w, colSketches, bson.D{{Key: "_id", Value: w.asg.ID}, {Key: "sketches", Value: sketches}})
	if _, err := w.s.c(colSubmissions).UpdateMany(w.ctx, bson.D{}, bson.D{{Key: "$unset", Value: bson.D{{Key: "slot", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.c(colMigrations).DeleteOne(w.ctx, bson.D{{Key: "_id", Value: listMigration}}); err != nil {
		t.Fatal(err)
	}
	same := func(when string) {
		t.Helper()
		got, err := w.s.Rows(w.ctx, w.asg.ID)
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s: %d rows, %v", when, len(got), err)
		}
		for i := range got {
			g, x := got[i], want[i]
			if g.StudentID != x.StudentID || g.Version != x.Version || g.Pseudonym != x.Pseudonym || !slices.Equal(g.Duplicates, x.Duplicates) {
				t.Errorf("%s: row %+v, want %+v", when, g, x)
			}
		}
		p, err := w.s.ListSubmissions(w.ctx, w.teacher, w.asg.ID, "", 3)
		if err != nil || p.Total != 5 || len(p.Rows) != 3 || p.Next == "" {
			t.Fatalf("%s: first page %+v, %v", when, p, err)
		}
		p, err = w.s.ListSubmissions(w.ctx, w.teacher, w.asg.ID, p.Next, 3)
		if err != nil || len(p.Rows) != 2 || p.Next != "" {
			t.Fatalf("%s: second page %+v, %v", when, p, err)
		}
	}
	same("the old shape")

	// A crash part-way: one row already moved by an earlier run.
	l, err := w.s.openList(w.ctx, w.asg.ID)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := w.s.SubmissionOf(w.ctx, w.asg.ID, "1001")
	if err := l.place(w.ctx, first, nil, false); err != nil {
		t.Fatal(err)
	}
	same("part-way")
	if err := w.s.Migrate(w.ctx); err != nil {
		t.Fatal(err)
	}
	same("migrated")
	h, _ := w.s.listHead(w.ctx, w.asg.ID, true)
	if len(h.Rows) != 0 || h.total() != 5 {
		t.Errorf("head after the migration: %+v", h)
	}
	if n, _ := w.s.c(colSketches).CountDocuments(w.ctx, bson.D{{Key: "_id", Value: w.asg.ID}}); n != 0 {
		t.Error("the old sketch document is still there")
	}
	if err := w.s.Migrate(w.ctx); err != nil {
		t.Fatal(err)
	}
	// Uploads go on: the same bytes are unchanged, a new file is version 2.
	out := w.upload(t, namedFile{name: fixtureFiles[2], data: fixtureBytes(t, "submissions/"+fixtureFiles[2])},
		namedFile{name: "e.txt", studentID: "1002", data: []byte("Jordan's second version, different words.")})
	if out[0].Status != StatusUnchanged || out[1].Status != StatusNewVersion {
		t.Fatalf("uploads after the migration: %+v", out)
	}
	if p, _ := w.s.ListSubmissions(w.ctx, w.teacher, w.asg.ID, "", 0); p.Total != 5 {
		t.Errorf("total after more uploads: %d", p.Total)
	}
}

func mustInsert(t *testing.T, w *world, col string, doc any) {
	t.Helper()
	if _, err := w.s.c(col).InsertOne(w.ctx, doc); err != nil {
		t.Fatal(err)
	}
}
