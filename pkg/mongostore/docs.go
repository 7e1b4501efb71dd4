package mongostore

import (
	"context"
	"errors"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
)

// Get returns the document of col whose _id is id. A missing document is
// errs.NotFound, naming what ("No class with ID …"); any other failure is
// an internal error. It is the one read every service uses for a single
// document: an exact {_id: X} filter, which the embedded store answers
// from its index.
func Get[T any](ctx context.Context, col *mongo.Collection, id, what string) (T, error) {
	var out T
	err := col.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&out)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return out, errs.E(errs.NotFound, "No %s with ID %q.", what, id)
	}
	return out, errs.Wrap(err, "find %s", what)
}

// FindAll returns every document of col that matches filter, in the order
// opts give (an empty, non-nil slice when none match). On the embedded store
// any filter but an exact {_id: X} scans the collection: use it on small
// collections, or on real MongoDB with an index.
func FindAll[T any](ctx context.Context, col *mongo.Collection, filter any, opts ...*options.FindOptions) ([]T, error) {
	cur, err := col.Find(ctx, filter, opts...)
	if err != nil {
		return nil, errs.Wrap(err, "find in %s", col.Name())
	}
	out := []T{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, errs.Wrap(err, "read %s", col.Name())
	}
	return out, nil
}

// GetMany returns the documents of col with the given _ids, by ID; missing
// ones are absent from the map. It is one round trip ({_id: {$in: ids}})
// on real MongoDB. The embedded store answers only an exact {_id: X} filter
// from its index, so there it is one indexed read per ID, which is still
// far cheaper than one scan of a large collection.
func GetMany[T any](ctx context.Context, col *mongo.Collection, ids []string, idOf func(T) string) (map[string]T, error) {
	out := make(map[string]T, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if !isEmbedded(col) {
		docs, err := FindAll[T](ctx, col, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			out[idOf(d)] = d
		}
		return out, nil
	}
	for _, id := range ids {
		if _, seen := out[id]; seen {
			continue
		}
		d, err := Get[T](ctx, col, id, col.Name())
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = d
	}
	return out, nil
}

// fieldKeys escapes the characters MongoDB does not allow in a field name
// ('.' and a leading '$'), and '%' so that the escape can be undone.
var (
	fieldKeys   = strings.NewReplacer("%", "%25", ".", "%2E", "$", "%24")
	unFieldKeys = strings.NewReplacer("%2E", ".", "%24", "$", "%25", "%")
)

// FieldKey makes s (an ID, say) safe to use as a field name, for maps kept
// in a document ("rows.<FieldKey(id)>"). UnFieldKey undoes it.
func FieldKey(s string) string { return fieldKeys.Replace(s) }

// UnFieldKey is the inverse of FieldKey.
func UnFieldKey(s string) string { return unFieldKeys.Replace(s) }

// ErrStale is what Swap returns when the stored document's revision is not
// the one the change was made against.
var ErrStale = errors.New("mongostore: the document changed since it was read")

// embeddedClients are the clients of embedded stores opened in this
// process; Swap serialises its read-compare-write through casLocks for them.
var (
	embeddedClients sync.Map // *mongo.Client → struct{}
	casLocks        keyedMutex
)

// Swap replaces the document of col with _id id by doc, provided the
// stored document's field revField still equals rev: a compare-and-set, so
// that of two writers that read the same revision exactly one wins and the
// other gets ErrStale (and should read again and retry, or tell its user).
// A stored document without revField has revision zero.
// doc must carry the new revision (rev+1, say) itself. A missing document
// is errs.NotFound.
//
// On MongoDB it is one ReplaceOne filtered on {_id, revField}, atomic
// across processes. The embedded store pushes only an exact {_id: X}
// filter down to its index and would scan the collection for that filter,
// so there the compare and the write are made atomic by a lock in this
// process instead; the embedded store serves one process (its data
// directory is locked), so that is enough. Every write of a document kept
// by Swap must go through Swap.
func Swap(ctx context.Context, col *mongo.Collection, id, revField string, rev int64, doc any) error {
	if !isEmbedded(col) {
		filter := bson.D{{Key: "_id", Value: id}, {Key: revField, Value: rev}}
		if rev == 0 { // a document written before it had revisions: absent is zero
			filter = bson.D{{Key: "_id", Value: id}, {Key: "$or", Value: bson.A{
				bson.D{{Key: revField, Value: 0}}, bson.D{{Key: revField, Value: bson.D{{Key: "$exists", Value: false}}}},
			}}}
		}
		res, err := col.ReplaceOne(ctx, filter, doc)
		if err != nil {
			return errs.Wrap(err, "swap %s", col.Name())
		}
		if res.MatchedCount == 1 {
			return nil
		}
		n, err := col.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}})
		if err != nil {
			return errs.Wrap(err, "swap %s", col.Name())
		}
		if n == 0 {
			return errs.E(errs.NotFound, "No %s with ID %q.", col.Name(), id)
		}
		return ErrStale
	}
	unlock := lockDoc(col, id)
	defer unlock()
	var cur bson.M
	err := col.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: revField, Value: 1}})).Decode(&cur)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return errs.E(errs.NotFound, "No %s with ID %q.", col.Name(), id)
	}
	if err != nil {
		return errs.Wrap(err, "swap %s", col.Name())
	}
	if !sameRev(cur[revField], rev) {
		return ErrStale
	}
	if _, err := col.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc); err != nil {
		return errs.Wrap(err, "swap %s", col.Name())
	}
	return nil
}

// lockDoc takes this process's lock on one document of col (Swap and
// UpdateIf on the embedded store), and returns its unlock.
func lockDoc(col *mongo.Collection, id string) (unlock func()) {
	return casLocks.lock(col.Database().Name() + "\x00" + col.Name() + "\x00" + id)
}

// isEmbedded reports whether col is on an embedded store of this process.
func isEmbedded(col *mongo.Collection) bool {
	_, ok := embeddedClients.Load(col.Database().Client())
	return ok
}

// sameRev compares a stored revision (decoded as int32 or int64; absent is
// zero) with rev.
func sameRev(v any, rev int64) bool {
	switch n := v.(type) {
	case nil:
		return rev == 0
	case int32:
		return int64(n) == rev
	case int64:
		return n == rev
	case float64:
		return n == float64(rev)
	}
	return false
}

// keyedMutex is a set of mutexes by key, each dropped when nobody holds or
// waits for it.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
