package mongostore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
)

// TestUnindexedIDLookupsSeesAScan makes sure the check that every lookup by
// _id uses an index can fail: with the index dropped behind the store's
// back, the collection is reported.
func TestUnindexedIDLookupsSeesAScan(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for _, c := range []string{"kept", "lost"} {
		if _, err := s.DB.Collection(c).InsertOne(ctx, bson.M{"_id": "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if bad, err := s.UnindexedIDLookups(ctx); err != nil || len(bad) > 0 {
		t.Fatalf("before the drop: %v, %v; want none", bad, err)
	}
	x := newIDIndexer(dir+"/store", nil)
	db, err := x.open("margin")
	if err != nil || db == nil {
		t.Fatalf("open the database file: %v", err)
	}
	defer db.Close()
	var table string
	if err := db.QueryRowContext(ctx, `SELECT table_name FROM `+collectionsTable+` WHERE name = 'lost'`).Scan(&table); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DROP INDEX `+quoteIdent(idIndexPrefix+table)); err != nil {
		t.Fatal(err)
	}
	bad, err := s.UnindexedIDLookups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bad, []string{"margin.lost"}) {
		t.Fatalf("unindexed: %v, want [margin.lost]", bad)
	}
}

func TestUsesIDIndex(t *testing.T) {
	for _, tc := range []struct {
		plan []string
		want bool
	}{
		{[]string{"id=2 parent=0 notused=0 detail=SEARCH t USING INDEX margin_id_t (<expr>=?)"}, true},
		{[]string{"id=2 parent=0 notused=0 detail=SCAN t"}, false},
		{nil, false},
	} {
		if got := usesIDIndex(tc.plan); got != tc.want {
			t.Errorf("usesIDIndex(%q) = %v, want %v", tc.plan, got, tc.want)
		}
	}
}

// BenchmarkIDLookup measures FindOne and UpdateOne by _id in a collection of
// 20,000 documents of about 2.7 KB, with the index idIndexer adds and with
// it dropped (FerretDB's own behaviour). Seeding is not timed.
//
//	go test ./pkg/mongostore -run '^$' -bench IDLookup -benchtime 200x
func BenchmarkIDLookup(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx)
	const n = 20000
	c := s.DB.Collection("docs")
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 100) // 2.7 KB
	for start := 0; start < n; start += 1000 {
		docs := make([]any, 0, 1000)
		for i := start; i < start+1000; i++ {
			docs = append(docs, bson.M{"_id": fmt.Sprintf("doc-%05d", i), "n": i, "text": filler})
		}
		if _, err := c.InsertMany(ctx, docs); err != nil {
			b.Fatal(err)
		}
	}
	ops := []struct {
		name string
		op   func(id string) error
	}{
		{"FindOne", func(id string) error { return c.FindOne(ctx, bson.M{"_id": id}).Err() }},
		{"UpdateOne", func(id string) error {
			_, err := c.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$inc": bson.M{"n": 1}})
			return err
		}},
	}
	run := func(b *testing.B) {
		for _, o := range ops {
			b.Run(o.name, func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if err := o.op(fmt.Sprintf("doc-%05d", (i*7919)%n)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	b.Run("indexed", run)
	x := newIDIndexer(filepath.Join(dir, "store"), nil)
	db, err := x.open("margin")
	if err != nil || db == nil {
		b.Fatalf("open the database file: %v", err)
	}
	defer db.Close()
	var table string
	if err := db.QueryRowContext(ctx, `SELECT table_name FROM `+collectionsTable+` WHERE name = 'docs'`).Scan(&table); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DROP INDEX `+quoteIdent(idIndexPrefix+table)); err != nil {
		b.Fatal(err)
	}
	b.Run("unindexed", run)
	start := time.Now()
	if err := x.indexAll(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("indexing the %d documents again (as Open does): %v", n, time.Since(start))
}
