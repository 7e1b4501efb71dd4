package mongostore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func TestFreshDatabasePerTest(t *testing.T) {
	ctx := context.Background()
	db := mongotest.DB(t)
	n, err := db.Collection("things").CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("fresh database has %d documents", n)
	}
	if _, err := db.Collection("things").InsertOne(ctx, bson.M{"_id": "a"}); err != nil {
		t.Fatal(err)
	}
	if other := mongotest.DB(t); other.Name() == db.Name() {
		t.Fatalf("two tests share database %s", db.Name())
	}
}

func TestUniqueIndex(t *testing.T) {
	ctx := context.Background()
	c := mongotest.DB(t).Collection("users")
	_, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.InsertOne(ctx, bson.M{"email": "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.InsertOne(ctx, bson.M{"email": "a@example.org"})
	if !mongostore.IsDuplicateKey(err) {
		t.Fatalf("second insert: got %v, want a duplicate key error", err)
	}
	if _, err := c.InsertOne(ctx, bson.M{"email": "b@example.org"}); err != nil {
		t.Fatalf("distinct email: %v", err)
	}
	// A duplicate made by an update is a duplicate too (the embedded store
	// reports it differently from MongoDB).
	_, err = c.UpdateOne(ctx, bson.M{"email": "b@example.org"}, bson.M{"$set": bson.M{"email": "a@example.org"}})
	if !mongostore.IsDuplicateKey(err) {
		t.Fatalf("duplicating update: got %v, want a duplicate key error", err)
	}
}

// TestClaimHasOneWinner is the pattern every background loop relies on: a
// findOneAndUpdate that claims an unclaimed job must succeed for exactly one
// of many concurrent claimants.
func TestClaimHasOneWinner(t *testing.T) {
	ctx := context.Background()
	c := mongotest.DB(t).Collection("jobs")
	const jobs = 5
	for i := range jobs {
		if _, err := c.InsertOne(ctx, bson.M{"_id": i, "owner": ""}); err != nil {
			t.Fatal(err)
		}
	}
	for job := range jobs {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.FindOneAndUpdate(ctx,
					bson.M{"_id": job, "owner": ""},
					bson.M{"$set": bson.M{"owner": w, "claimed_at": time.Now()}},
				).Err()
				switch err {
				case nil:
					wins.Add(1)
				case mongo.ErrNoDocuments:
				default:
					t.Errorf("worker %d: %v", w, err)
				}
			}()
		}
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Fatalf("job %d claimed %d times, want exactly once", job, got)
		}
	}
}

func TestIncIsAtomic(t *testing.T) {
	ctx := context.Background()
	c := mongotest.DB(t).Collection("counters")
	if _, err := c.InsertOne(ctx, bson.M{"_id": "n", "v": 0}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := c.UpdateByID(ctx, "n", bson.M{"$inc": bson.M{"v": 1}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var doc struct{ V int }
	if err := c.FindOne(ctx, bson.M{"_id": "n"}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.V != 80 {
		t.Fatalf("counter = %d after 80 increments", doc.V)
	}
}

func TestReopenKeepsData(t *testing.T) {
	if mongotest.Store(t).Embedded == false {
		t.Skip("persistence across restarts is the embedded store's concern")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s, err := mongostore.Open(ctx, mongostore.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.Collection("c").InsertOne(ctx, bson.M{"_id": "kept"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s, err = mongostore.Open(ctx, mongostore.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if err := s.DB.Collection("c").FindOne(ctx, bson.M{"_id": "kept"}).Err(); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

// TestIDLookupsUseAnIndex checks, through the plan the embedded store reports
// for the very statement it runs, that a lookup by _id uses an index in every
// kind of collection: created by an insert, an upsert, createIndexes and an
// explicit create, created again after a drop, renamed, and existing before
// the store was opened.
func TestIDLookupsUseAnIndex(t *testing.T) {
	if !mongotest.Store(t).Embedded {
		t.Skip("MongoDB always indexes _id")
	}
	ctx := context.Background()
	dir := t.TempDir()
	s, err := mongostore.Open(ctx, mongostore.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	db := s.DB
	if _, err := db.Collection("before_reopen").InsertOne(ctx, bson.M{"_id": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err = mongostore.Open(ctx, mongostore.Config{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	db = s.DB
	steps := []func() error{
		func() error { _, err := db.Collection("inserted").InsertOne(ctx, bson.M{"_id": "a"}); return err },
		func() error {
			_, err := db.Collection("upserted").UpdateByID(ctx, "a", bson.M{"$set": bson.M{"x": 1}}, options.Update().SetUpsert(true))
			return err
		},
		func() error {
			return db.Collection("found_and_upserted").FindOneAndUpdate(ctx, bson.M{"_id": "a"}, bson.M{"$set": bson.M{"x": 1}},
				options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Err()
		},
		func() error {
			_, err := db.Collection("with_index").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "k", Value: 1}}})
			return err
		},
		func() error { return db.CreateCollection(ctx, "created") },
		func() error { return s.Client.Database("other_db").CreateCollection(ctx, "c") },
		// Dropped and created again: a new table, which needs a new index.
		func() error { return db.Collection("inserted").Drop(ctx) },
		func() error { _, err := db.Collection("inserted").InsertOne(ctx, bson.M{"_id": "b"}); return err },
		func() error { return s.Client.Database("other_db").Drop(ctx) },
		func() error {
			_, err := s.Client.Database("other_db").Collection("c").InsertOne(ctx, bson.M{"_id": "c"})
			return err
		},
		func() error {
			return s.Client.Database("admin").RunCommand(ctx, bson.D{{Key: "renameCollection", Value: db.Name() + ".created"}, {Key: "to", Value: db.Name() + ".renamed"}}).Err()
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	bad, err := s.UnindexedIDLookups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("lookups by _id scan these collections: %v", bad)
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 6 {
		t.Fatalf("collections %v, want 6: the check above saw too few", names)
	}
	// The index does not change what a duplicate insert answers.
	_, err = db.Collection("inserted").InsertOne(ctx, bson.M{"_id": "b"})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate insert: %v, want E11000", err)
	}
}
