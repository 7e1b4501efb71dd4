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
