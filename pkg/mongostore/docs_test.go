package mongostore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
)

type counter struct {
	ID  string `bson:"_id"`
	Rev int64  `bson:"rev"`
	N   int    `bson:"n"`
}

// TestSwapOneWinner: writers that read the same revision race; exactly one
// wins each round, and no increment is lost when losers read again.
func TestSwapOneWinner(t *testing.T) {
	ctx := context.Background()
	col := mongotest.DB(t).Collection("counters")
	if _, err := col.InsertOne(ctx, counter{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	stale := 0
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				c, err := mongostore.Get[counter](ctx, col, "c", "counter")
				if err != nil {
					t.Error(err)
					return
				}
				next := counter{ID: c.ID, Rev: c.Rev + 1, N: c.N + 1}
				switch err := mongostore.Swap(ctx, col, "c", "rev", c.Rev, next); {
				case err == nil:
					done++
				case errors.Is(err, mongostore.ErrStale):
					mu.Lock()
					stale++
					mu.Unlock()
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := mongostore.Get[counter](ctx, col, "c", "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got.N != writers*each || got.Rev != writers*each {
		t.Fatalf("after %d swaps: n=%d rev=%d (stale answers: %d)", writers*each, got.N, got.Rev, stale)
	}
}

func TestSwapMissingAndStale(t *testing.T) {
	ctx := context.Background()
	col := mongotest.DB(t).Collection("counters")
	if err := mongostore.Swap(ctx, col, "nope", "rev", 0, counter{ID: "nope", Rev: 1}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("missing document: %v, want not_found", err)
	}
	if _, err := col.InsertOne(ctx, bson.D{{Key: "_id", Value: "old"}, {Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	// A document written before it had a revision counts as revision 0.
	if err := mongostore.Swap(ctx, col, "old", "rev", 1, counter{ID: "old", Rev: 2}); !errors.Is(err, mongostore.ErrStale) {
		t.Fatalf("stale revision: %v, want ErrStale", err)
	}
	if err := mongostore.Swap(ctx, col, "old", "rev", 0, counter{ID: "old", Rev: 1, N: 2}); err != nil {
		t.Fatalf("revision 0: %v", err)
	}
}

func TestGetAndGetMany(t *testing.T) {
	ctx := context.Background()
	col := mongotest.DB(t).Collection("counters")
	for _, id := range []string{"a", "b", "c"} {
		if _, err := col.InsertOne(ctx, counter{ID: id, N: len(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mongostore.Get[counter](ctx, col, "zz", "counter"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Get of a missing ID: %v, want not_found", err)
	}
	got, err := mongostore.GetMany(ctx, col, []string{"a", "c", "zz", "a"}, func(c counter) string { return c.ID })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a"].ID != "a" || got["c"].ID != "c" {
		t.Fatalf("GetMany = %v, want a and c", got)
	}
}

func TestFieldKey(t *testing.T) {
	for _, in := range []string{"", "plain", "asg_x:1004:v1:first", "a.b.c", "$where", "50%.$", "%2E", "%252E"} {
		k := mongostore.FieldKey(in)
		for _, bad := range []string{".", "$"} {
			if containsAny(k, bad) {
				t.Errorf("FieldKey(%q) = %q still contains %q", in, k, bad)
			}
		}
		if back := mongostore.UnFieldKey(k); back != in {
			t.Errorf("UnFieldKey(FieldKey(%q)) = %q", in, back)
		}
	}
}

func containsAny(s, chars string) bool {
	for _, c := range chars {
		for _, r := range s {
			if r == c {
				return true
			}
		}
	}
	return false
}

// TestUpdateIfOneWinner: writers race to move a document from open to
// theirs; exactly one condition holds, the others match nothing, and a
// missing document matches nothing.
func TestUpdateIfOneWinner(t *testing.T) {
	ctx := context.Background()
	col := mongotest.DB(t).Collection("claims")
	if _, err := col.InsertOne(ctx, bson.D{{Key: "_id", Value: "c"}, {Key: "state", Value: "open"}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := mongostore.UpdateIf(ctx, col,
				bson.D{{Key: "_id", Value: "c"}, {Key: "state", Value: bson.D{{Key: "$in", Value: []string{"open"}}}}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: "taken"}, {Key: "by", Value: w}}}, {Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			won += int(res.MatchedCount)
			mu.Unlock()
		}()
	}
	wg.Wait()
	var got struct {
		State string `bson:"state"`
		N     int    `bson:"n"`
	}
	if err := col.FindOne(ctx, bson.D{{Key: "_id", Value: "c"}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if won != 1 || got.State != "taken" || got.N != 1 {
		t.Errorf("%d winners, state %q, n %d; want 1 winner, taken, 1", won, got.State, got.N)
	}
	res, err := mongostore.UpdateIf(ctx, col, bson.D{{Key: "_id", Value: "missing"}, {Key: "state", Value: "open"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: "x"}}}})
	if err != nil || res.MatchedCount != 0 {
		t.Errorf("missing document: %+v, %v", res, err)
	}
	if _, err := mongostore.UpdateIf(ctx, col, bson.D{{Key: "state", Value: "open"}}, bson.D{}); err == nil {
		t.Error("a filter without _id first: no error")
	}
}
