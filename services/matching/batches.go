package matching

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/intake"
)

// batchID names a batch of an assignment for reader: "<assignment
// id>-<reader>-<12 letters and digits>", the letters a keyed hash (see
// idKey) of what makes the batch, such as its first submission version. It
// is the same every time for the same batch, so inserting a batch twice is
// a duplicate key and batching is idempotent, yet it says nothing about the
// students in it: it holds no ID of theirs and cannot be worked back
// without the key. It has only characters that need no escaping in a URL
// path.
func (s *Service) batchID(ctx context.Context, assignmentID string, reader Reader, of string) (string, error) {
	key, err := s.idKey(ctx)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(assignmentID + "\x00" + string(reader) + "\x00" + of))
	sum := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil)))
	return assignmentID + "-" + string(reader) + "-" + sum[:12], nil
}

// idKey is the secret that batch IDs are made with: random, made once per
// deployment and kept in the store.
func (s *Service) idKey(ctx context.Context) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	var d struct {
		Key []byte `bson:"key"`
	}
	err := s.findByID(ctx, colKeys, "batch_ids", "key", &d)
	if errs.Is(err, errs.NotFound) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, errs.Wrap(err, "make batch ID key")
		}
		if _, err := s.c(colKeys).InsertOne(ctx, bson.D{{Key: "_id", Value: "batch_ids"}, {Key: "key", Value: key}}); err != nil && !mongostore.IsDuplicateKey(err) {
			return nil, errs.Wrap(err, "save batch ID key")
		}
		err = s.findByID(ctx, colKeys, "batch_ids", "key", &d) // whoever inserted first
	}
	if err != nil {
		return nil, err
	}
	if len(d.Key) == 0 {
		return nil, errs.E(errs.Internal, "The batch ID key is empty.")
	}
	s.key = d.Key
	return s.key, nil
}

// newBatch is a batch of items of assignment a, open for matching.
func (s *Service) newBatch(ctx context.Context, a intake.Assignment, reader Reader, items []Item) (Batch, error) {
	id, err := s.batchID(ctx, a.ID, reader, items[0].VersionID)
	if err != nil {
		return Batch{}, err
	}
	now := s.stamp()
	return Batch{
		ID: id, AssignmentID: a.ID, ClassID: a.ClassID, SchoolID: a.SchoolID,
		TeacherID: a.TeacherID, Subject: normSubject(a.Subject), GradeLevel: a.GradeLevel, Reader: reader,
		Items: items, DueAt: a.DueAt, State: BatchOpen, Exclude: []string{}, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// insertBatch stores a new batch, first listing it in its assignment's
// status (Status.BatchIDs) and among the active batches (markActive); a
// batch that already exists is left as it is.
func (s *Service) insertBatch(ctx context.Context, b Batch) error {
	if err := s.listBatches(ctx, b.AssignmentID, b.ID); err != nil {
		return err
	}
	if err := s.markActive(ctx, true, b.ID); err != nil {
		return err
	}
	if _, err := s.c(colBatches).InsertOne(ctx, b); err != nil && !mongostore.IsDuplicateKey(err) {
		return errs.Wrap(err, "insert batch")
	}
	return nil
}

// Batch returns a batch by ID. Returns not_found.
func (s *Service) Batch(ctx context.Context, id string) (Batch, error) {
	return mongostore.Get[Batch](ctx, s.c(colBatches), id, "batch")
}

// listBatches records batch IDs in their assignment's status.
func (s *Service) listBatches(ctx context.Context, assignmentID string, ids ...string) error {
	return s.setIDs(ctx, colStatus, assignmentID, "batch_ids", true, ids)
}

// setIDs adds (on) or removes batch IDs in the set field (a map of
// mongostore.FieldKey(id) to true) of the document docID of col, creating
// the document if need be.
func (s *Service) setIDs(ctx context.Context, col, docID, field string, on bool, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	fields := bson.D{}
	for _, id := range ids {
		fields = append(fields, bson.E{Key: field + "." + mongostore.FieldKey(id), Value: true})
	}
	op := "$set"
	if !on {
		op = "$unset"
	}
	_, err := s.c(col).UpdateOne(ctx, bson.D{{Key: "_id", Value: docID}}, bson.D{{Key: op, Value: fields}}, options.Update().SetUpsert(true))
	return errs.Wrap(err, "list batches")
}

// batchesIn reads the batches of a set field (see setIDs) by _id; IDs
// whose batch does not exist are left out of the map.
func (s *Service) batchesIn(ctx context.Context, set map[string]bool) (ids []string, byID map[string]Batch, err error) {
	ids = make([]string, 0, len(set))
	for k := range set {
		ids = append(ids, mongostore.UnFieldKey(k))
	}
	byID, err = mongostore.GetMany(ctx, s.c(colBatches), ids, func(b Batch) string { return b.ID })
	return ids, byID, err
}

// activeID is the _id of the document in colActive that lists the batches
// not yet done (ids.<FieldKey(id)>), so that the background loop reads
// the batches in flight by _id instead of scanning every batch of the
// school for a state. A batch is listed before it is inserted and unlisted
// after it is done; one listed but done or missing is skipped (and
// unlisted) by activeBatches.
const activeID = "batches"

// markActive lists (on) or unlists batch IDs among the active batches.
func (s *Service) markActive(ctx context.Context, on bool, ids ...string) error {
	return s.setIDs(ctx, colActive, activeID, "ids", on, ids)
}

// activeBatches returns the batches in state, read by _id from the list of
// active batches.
func (s *Service) activeBatches(ctx context.Context, state BatchState) ([]Batch, error) {
	var doc struct {
		IDs map[string]bool `bson:"ids"`
	}
	err := s.findByID(ctx, colActive, activeID, "active batches", &doc)
	if err != nil && !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	ids, byID, err := s.batchesIn(ctx, doc.IDs)
	if err != nil {
		return nil, err
	}
	var gone []string
	var batches []Batch
	for _, id := range ids {
		b, ok := byID[id]
		switch {
		case !ok || b.State == BatchDone:
			if ok { // a batch inserted by a crashed process may yet appear: keep missing ones
				gone = append(gone, id)
			}
		case b.State == state:
			batches = append(batches, b)
		}
	}
	if err := s.markActive(ctx, false, gone...); err != nil {
		return nil, err
	}
	return batches, nil
}

// batchesOf returns the assignment's batches, read by _id from the list in
// its status.
func (s *Service) batchesOf(ctx context.Context, st Status) ([]Batch, error) {
	_, byID, err := s.batchesIn(ctx, st.BatchIDs)
	if err != nil {
		return nil, err
	}
	out := make([]Batch, 0, len(byID))
	for _, b := range byID {
		out = append(out, b)
	}
	return out, nil
}

// Migrate lists the batches made before the lists existed in their
// assignments' statuses and, those not done, among the active batches:
// one scan of the batches, once (a marker in the status collection says it
// is done).
func (s *Service) Migrate(ctx context.Context) error {
	const marker = "migration:batch_lists"
	n, err := s.c(colStatus).CountDocuments(ctx, bson.D{{Key: "_id", Value: marker}})
	if err != nil || n > 0 {
		return errs.Wrap(err, "read migrations")
	}
	batches, err := mongostore.FindAll[Batch](ctx, s.c(colBatches), bson.D{}, options.Find().SetProjection(bson.D{{Key: "assignment_id", Value: 1}, {Key: "state", Value: 1}}))
	if err != nil {
		return err
	}
	byAssignment := map[string][]string{}
	var active []string
	for _, b := range batches {
		byAssignment[b.AssignmentID] = append(byAssignment[b.AssignmentID], b.ID)
		if b.State != BatchDone {
			active = append(active, b.ID)
		}
	}
	if err := s.markActive(ctx, true, active...); err != nil {
		return err
	}
	for a, ids := range byAssignment {
		if err := s.listBatches(ctx, a, ids...); err != nil {
			return err
		}
	}
	_, err = s.c(colStatus).InsertOne(ctx, bson.D{{Key: "_id", Value: marker}, {Key: "done_at", Value: s.stamp()}})
	if mongostore.IsDuplicateKey(err) {
		err = nil
	}
	return errs.Wrap(err, "record migration")
}

// status returns an assignment's matching status, empty when it has none.
func (s *Service) status(ctx context.Context, assignmentID string) (Status, error) {
	var st Status
	err := s.findByID(ctx, colStatus, assignmentID, "matching status", &st)
	if errs.Is(err, errs.NotFound) {
		return Status{AssignmentID: assignmentID, Versions: map[string]int{}, Unmatched: []Unmatched{}}, nil
	}
	if st.Versions == nil {
		st.Versions = map[string]int{}
	}
	st.Unmatched = nonNil(st.Unmatched)
	return st, err
}

// ensureBatches puts every submission version of a published assignment
// that is not yet in a batch into one: the first versions together in one
// first-reader batch for the class (split later only if no grader can take
// it whole), and each revision of a graded version in a batch of its own
// that prefers the grader of the earlier version. Versions are recorded in
// the assignment's status after their batch exists, so a crash between the
// two only repeats an idempotent insert. stale reports that the status
// lists unmatched batches, which the round must rewrite even when the
// assignment has no open batch now.
func (s *Service) ensureBatches(ctx context.Context, a intake.Assignment) (stale bool, err error) {
	st, err := s.status(ctx, a.ID)
	if err != nil {
		return false, err
	}
	stale = len(st.Unmatched) > 0
	rows, err := s.intake.Rows(ctx, a.ID)
	if err != nil {
		return stale, err
	}
	var fresh []Item
	set := bson.D{}
	for _, r := range rows {
		if r.Flag != nil {
			continue // the version may be another student's: it waits for the teacher
		}
		known := st.Versions[r.StudentID]
		if r.Version <= known {
			continue
		}
		sub := r.SubmissionID
		it := Item{SubmissionID: sub, VersionID: intake.VersionID(sub, r.Version), Version: r.Version}
		if known == 0 {
			fresh = append(fresh, it)
		} else if err := s.reviseBatch(ctx, a, it, intake.VersionID(sub, known)); err != nil {
			return stale, err
		}
		set = append(set, bson.E{Key: "versions." + mongostore.FieldKey(r.StudentID), Value: r.Version})
	}
	if len(fresh) > 0 {
		b, err := s.newBatch(ctx, a, First, fresh)
		if err != nil {
			return stale, err
		}
		if err := s.insertBatch(ctx, b); err != nil {
			return stale, err
		}
	}
	if len(set) == 0 {
		return stale, nil
	}
	set = append(set, bson.E{Key: "updated_at", Value: s.stamp()})
	_, err = s.c(colStatus).UpdateOne(ctx, bson.D{{Key: "_id", Value: a.ID}}, bson.D{{Key: "$set", Value: set}}, options.Update().SetUpsert(true))
	return stale, errs.Wrap(err, "record batched versions")
}

// reviseBatch opens a first-reader batch for a revised version, preferring
// the grader who first-read the earlier version.
func (s *Service) reviseBatch(ctx context.Context, a intake.Assignment, it Item, earlierVersion string) error {
	b, err := s.newBatch(ctx, a, First, []Item{it})
	if err != nil {
		return err
	}
	if t, err := s.Task(ctx, TaskID(earlierVersion, First)); err == nil {
		b.Prefer = t.GraderID
	}
	return s.insertBatch(ctx, b)
}

// secondReads picks the items of a first-reader batch to be read again
// blind: share of them, rounded, at least one when share is above zero. The
// pick is deterministic (by a hash of the version ID), so it is the same on
// every run, but not by roster order.
func secondReads(items []Item, share float64) []Item {
	if share <= 0 || len(items) == 0 {
		return nil
	}
	k := min(len(items), max(1, int(math.Round(share*float64(len(items))))))
	picked := slices.Clone(items)
	slices.SortFunc(picked, func(a, b Item) int {
		ha, hb := sha256.Sum256([]byte(a.VersionID)), sha256.Sum256([]byte(b.VersionID))
		return cmp.Or(slices.Compare(ha[:], hb[:]), cmp.Compare(a.VersionID, b.VersionID))
	})
	picked = picked[:k]
	slices.SortFunc(picked, func(a, b Item) int { return cmp.Compare(a.VersionID, b.VersionID) })
	return picked
}

// chunks splits n items into as few pieces as the free capacities allow:
// the largest free capacity first, each piece as big as that grader can
// take. The last piece takes what is left. It returns nil when n fits the
// largest capacity whole or no capacity is free.
func chunks(n int, free []int) []int {
	free = slices.Clone(free)
	slices.SortFunc(free, func(a, b int) int { return cmp.Compare(b, a) })
	if len(free) == 0 || free[0] <= 0 || free[0] >= n {
		return nil
	}
	var out []int
	for _, f := range free {
		if n == 0 || f <= 0 {
			break
		}
		take := min(f, n)
		out = append(out, take)
		n -= take
	}
	if n > 0 {
		// Not enough capacity in total now: the rest waits in pieces as big
		// as the largest capacity.
		for n > 0 {
			take := min(free[0], n)
			out = append(out, take)
			n -= take
		}
	}
	return out
}

// split replaces an open batch by pieces of the given sizes, in item order.
// The pieces inherit its exclusions and preference; the original is marked
// done. The piece IDs derive from the original's (like every batch ID, with
// no '/' or other character a URL path would need escaped), so repeating
// is harmless. Pieces split before IDs were opaque are "<batch id>/<n>";
// they keep those IDs, which reach the API percent-encoded.
func (s *Service) split(ctx context.Context, b Batch, sizes []int) ([]Batch, error) {
	var out []Batch
	at := 0
	for i, n := range sizes {
		p := b
		id, err := s.batchID(ctx, b.AssignmentID, b.Reader, b.ID+"\x00piece\x00"+itoa(i+1))
		if err != nil {
			return nil, err
		}
		p.ID = id
		p.Items = b.Items[at : at+n]
		p.State, p.OfferID, p.GraderID = BatchOpen, "", ""
		p.CreatedAt, p.UpdatedAt = s.stamp(), s.stamp()
		at += n
		if err := s.insertBatch(ctx, p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	res, err := mongostore.UpdateIf(ctx, s.c(colBatches), bson.D{{Key: "_id", Value: b.ID}, {Key: "state", Value: BatchOpen}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: BatchDone}, {Key: "split", Value: true}, {Key: "updated_at", Value: s.stamp()}}}})
	if err != nil {
		return nil, errs.Wrap(err, "close split batch")
	}
	if res.ModifiedCount == 0 {
		return nil, errs.E(errs.Conflict, "The batch changed while it was being split.")
	}
	if err := s.markActive(ctx, false, b.ID); err != nil {
		return nil, err
	}
	return out, nil
}
