package intake

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// An assignment's submission list is a small head document in
// submission_lists (_id: the assignment ID) and pages of at most pageSize
// rows (_id: "<assignment id>:<page>"). A submission's slot is its
// student's seat in the class (Student.Seat: 1, 2, … in the order the
// roster brought them in), and slot s is on page (s-1)/pageSize. The
// MinHash sketches of the duplicate check are on pages of the same numbers
// in submission_sketches. So storing a version rewrites one page of each,
// and a page of 100 rows of the list reads five pages, whatever the
// assignment's size. (FerretDB rewrites a whole document to change a part
// of it, in time in proportion to its size: small pages keep a version's
// writes cheap.)
const pageSize = 25

// listHead is an assignment's list head.
type listHead struct {
	ID    string         `bson:"_id"`
	Pages map[string]int `bson:"pages,omitempty"` // rows on each page, by page number
	// Rows is the whole list in one document, as versions before list
	// pages kept it; Migrate moves such rows to pages.
	Rows map[string]Row `bson:"rows,omitempty"`
}

// total is the number of rows in the list.
func (h listHead) total() int {
	n := len(h.Rows)
	for _, c := range h.Pages {
		n += c
	}
	return n
}

// pagesFrom returns the numbers of the pages from page first on that hold
// rows, in order.
func (h listHead) pagesFrom(first int) []int {
	var out []int
	for k, c := range h.Pages {
		if p, err := strconv.Atoi(k); err == nil && p >= first && c > 0 {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// listPage is one page of an assignment's list: rows by FieldKey(student).
type listPage struct {
	ID   string         `bson:"_id"`
	Rows map[string]Row `bson:"rows"`
}

// sorted is the page's rows in slot order.
func (p listPage) sorted() []Row {
	rows := make([]Row, 0, len(p.Rows))
	for _, r := range p.Rows {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a.Slot, b.Slot) })
	return rows
}

// sketchPage holds the MinHash sketches of one page's students, packed,
// by FieldKey(student).
type sketchPage struct {
	ID       string            `bson:"_id"`
	Sketches map[string][]byte `bson:"sketches"`
}

func pageOf(slot int) int                      { return (slot - 1) / pageSize }
func pageID(assignmentID string, p int) string { return assignmentID + ":" + itoa(p) }

// listHead reads an assignment's list head (empty if it has none). With
// whole false it leaves out the rows of an unmigrated list.
func (s *Service) listHead(ctx context.Context, assignmentID string, whole bool) (listHead, error) {
	opts := options.FindOne()
	if !whole {
		opts.SetProjection(bson.D{{Key: "pages", Value: 1}})
	}
	var h listHead
	err := s.c(colBuckets).FindOne(ctx, bson.D{{Key: "_id", Value: assignmentID}}, opts).Decode(&h)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return listHead{ID: assignmentID}, nil
	}
	return h, errs.Wrap(err, "read list head")
}

// listPages reads the given pages of an assignment's list, in that order
// (a page that is missing is left out).
func (s *Service) listPages(ctx context.Context, assignmentID string, pages []int) ([]listPage, error) {
	ids := make([]string, len(pages))
	for i, p := range pages {
		ids[i] = pageID(assignmentID, p)
	}
	got, err := mongostore.GetMany(ctx, s.c(colBuckets), ids, func(p listPage) string { return p.ID })
	if err != nil {
		return nil, err
	}
	out := make([]listPage, 0, len(ids))
	for _, id := range ids {
		if p, ok := got[id]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// Rows returns every list row of an assignment's submissions, ordered by
// student ID: the head and each page, one read each. It is for the
// services that work on the whole assignment; the teacher's list pages
// through ListSubmissions.
func (s *Service) Rows(ctx context.Context, assignmentID string) ([]Row, error) {
	h, err := s.listHead(ctx, assignmentID, true)
	if err != nil {
		return nil, err
	}
	pages, err := s.listPages(ctx, assignmentID, h.pagesFrom(0))
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, h.total())
	seen := map[string]bool{}
	for _, p := range pages {
		for _, r := range p.Rows {
			rows = append(rows, r)
			seen[r.StudentID] = true
		}
	}
	for _, r := range h.Rows {
		if !seen[r.StudentID] {
			if r.SubmissionID == "" { // a row from before submission IDs were opaque
				r.SubmissionID = legacySubmissionID(assignmentID, r.StudentID)
			}
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].StudentID < rows[j].StudentID })
	return rows, nil
}

// listFrom returns up to limit rows of an assignment's list from slot from
// on, in slot order (roster order), and the cursor of the rest ("" if there
// is none). It reads the head and the pages the rows are on.
func (s *Service) listFrom(ctx context.Context, assignmentID string, from, limit int) (Page, error) {
	h, err := s.listHead(ctx, assignmentID, true)
	if err != nil {
		return Page{}, err
	}
	if len(h.Rows) > 0 {
		// A list not yet moved to pages (see Migrate): its rows in order,
		// numbered in that order.
		rows, err := s.Rows(ctx, assignmentID)
		if err != nil {
			return Page{}, err
		}
		for i := range rows {
			rows[i].Slot = i + 1
		}
		p := Page{Rows: rows[min(from-1, len(rows)):min(from-1+limit, len(rows))], Total: len(rows)}
		if from-1+limit < len(rows) {
			p.Next = itoa(from + limit)
		}
		return p, nil
	}
	out := Page{Rows: []Row{}, Total: h.total()}
	nums := h.pagesFrom(pageOf(from))
	per := limit/pageSize + 2 // pages a page of the list can span
	for len(nums) > 0 {
		k := min(per, len(nums))
		pages, err := s.listPages(ctx, assignmentID, nums[:k])
		if err != nil {
			return Page{}, err
		}
		nums = nums[k:]
		for pi, pg := range pages {
			for _, r := range pg.sorted() {
				if r.Slot < from {
					continue
				}
				if len(out.Rows) == limit {
					out.Next = itoa(r.Slot)
					return out, nil
				}
				out.Rows = append(out.Rows, r)
			}
			if len(out.Rows) == limit && (pi < len(pages)-1 || len(nums) > 0) {
				out.Next = itoa(out.Rows[limit-1].Slot + 1)
				return out, nil
			}
		}
	}
	return out, nil
}

// giveSlot gives a submission stored before list pages its slot: its
// student's seat.
func (s *Service) giveSlot(ctx context.Context, sub Submission) (Submission, error) {
	seat, err := s.seat(ctx, sub.ClassID, sub.StudentID)
	if err != nil {
		return sub, err
	}
	sub.Slot = seat
	if err := mongostore.Swap(ctx, s.c(colSubmissions), sub.ID, "n", int64(sub.N), sub); err != nil {
		return sub, swapErr(err)
	}
	return sub, nil
}

// list writes one assignment's rows and sketches. It holds every sketch of
// the assignment (read once, when it is opened) for the duplicate check,
// and the page counts it has seen. The duplicate flags that a new text
// changes on other students' rows are written together, page by page, by
// flush (an upload calls it with each chunk of outcomes, and at its end).
// It is not safe for concurrent use.
type list struct {
	s            *Service
	assignmentID string
	counts       map[int]int
	dups         dupIndex
	stale        map[string]bool // students whose row's duplicate flags flush writes
}

// openList reads an assignment's list head and all its sketch pages.
func (s *Service) openList(ctx context.Context, assignmentID string) (*list, error) {
	h, err := s.listHead(ctx, assignmentID, false)
	if err != nil {
		return nil, err
	}
	l := &list{s: s, assignmentID: assignmentID, counts: map[int]int{}, stale: map[string]bool{},
		dups: dupIndex{threshold: s.cfg.DuplicateThreshold, sketches: map[string][]uint32{}, pages: map[string]int{}}}
	nums := h.pagesFrom(0)
	ids := make([]string, len(nums))
	for i, p := range nums {
		ids[i] = pageID(assignmentID, p)
		l.counts[p] = h.Pages[itoa(p)]
	}
	got, err := mongostore.GetMany(ctx, s.c(colSketches), ids, func(p sketchPage) string { return p.ID })
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		for k, b := range got[id].Sketches {
			st := mongostore.UnFieldKey(k)
			l.dups.sketches[st], l.dups.pages[st] = unpackSketch(b), nums[i]
		}
	}
	return l, nil
}

// place makes the list agree with a submission as it is stored: its row
// for its current version (with its open flag and possible duplicates),
// its sketch (sk, of the current version's text; read from the text when
// nil), the duplicate flags of the students it is similar to, and the
// student's read model (StudentWork). A submission with no versions left
// loses its row. fresh says the row is known not to be on its page yet (a
// first version): the head's count then goes up by one; otherwise the
// page is read back and counted. Every write is idempotent but that
// count, so Recover places a submission again with fresh false. The flags
// of other rows wait for flush.
func (l *list) place(ctx context.Context, sub Submission, sk []uint32, fresh bool) error {
	s := l.s
	if sub.Slot == 0 {
		var err error
		if sub, err = s.giveSlot(ctx, sub); err != nil {
			return err
		}
	}
	if len(sub.Versions) == 0 {
		return l.unplace(ctx, sub)
	}
	v := sub.Current()
	if sk == nil {
		t, err := s.Text(ctx, VersionID(sub.ID, v.N))
		if err != nil && !errs.Is(err, errs.NotFound) {
			return err
		}
		sk = sketch(t.Text)
	}
	p, key := pageOf(sub.Slot), mongostore.FieldKey(sub.StudentID)
	affected := l.dups.set(sub.StudentID, p, sk)
	row := Row{StudentID: sub.StudentID, SubmissionID: sub.ID, Pseudonym: sub.Pseudonym, Version: v.N, Filename: v.Filename, Format: v.Format, Chars: v.Chars,
		UploadedAt: v.UploadedAt, Duplicates: l.dups.of(sub.StudentID), Slot: sub.Slot}
	if v.Flag.Open() {
		row.Flag = v.Flag
	}
	set := bson.D{{Key: "$set", Value: bson.D{{Key: "rows." + key, Value: row}}}}
	if fresh {
		if err := l.addRow(ctx, p, set); err != nil {
			return err
		}
	} else if err := l.setRows(ctx, p, set); err != nil {
		return err
	}
	if _, err := s.c(colSketches).UpdateOne(ctx, bson.D{{Key: "_id", Value: pageID(l.assignmentID, p)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "sketches." + key, Value: packSketch(sk)}}}}, updateUpsert()); err != nil {
		return errs.Wrap(err, "save sketch")
	}
	l.markStale(affected)
	return s.noteWork(ctx, sub)
}

// listed reports whether the submission's row is on its page, for its
// current version.
func (l *list) listed(ctx context.Context, sub Submission) (bool, error) {
	if sub.Slot == 0 {
		return false, nil
	}
	pg, err := mongostore.Get[listPage](ctx, l.s.c(colBuckets), pageID(l.assignmentID, pageOf(sub.Slot)), "list page")
	if errs.Is(err, errs.NotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	r, ok := pg.Rows[mongostore.FieldKey(sub.StudentID)]
	return ok && len(sub.Versions) > 0 && r.Version == sub.Current().N, nil
}

// unplace takes a submission with no versions left off the list.
func (l *list) unplace(ctx context.Context, sub Submission) error {
	p, key := pageOf(sub.Slot), mongostore.FieldKey(sub.StudentID)
	if err := l.setRows(ctx, p, bson.D{{Key: "$unset", Value: bson.D{{Key: "rows." + key, Value: ""}}}}); err != nil {
		return err
	}
	if _, err := l.s.c(colSketches).UpdateOne(ctx, bson.D{{Key: "_id", Value: pageID(l.assignmentID, p)}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "sketches." + key, Value: ""}}}}); err != nil {
		return errs.Wrap(err, "remove sketch")
	}
	l.markStale(l.dups.remove(sub.StudentID))
	return nil
}

// addRow applies update, which adds a row, to page p, and counts it in
// the head.
func (l *list) addRow(ctx context.Context, p int, update bson.D) error {
	if _, err := l.s.c(colBuckets).UpdateOne(ctx, bson.D{{Key: "_id", Value: pageID(l.assignmentID, p)}}, update, updateUpsert()); err != nil {
		return errs.Wrap(err, "save list row")
	}
	if _, err := l.s.c(colBuckets).UpdateOne(ctx, bson.D{{Key: "_id", Value: l.assignmentID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "pages." + itoa(p), Value: 1}}}}, updateUpsert()); err != nil {
		return errs.Wrap(err, "count list rows")
	}
	l.counts[p]++
	return nil
}

// setRows applies update to page p, reads the page back and sets the
// head's count of its rows.
func (l *list) setRows(ctx context.Context, p int, update bson.D) error {
	var pg listPage
	err := l.s.c(colBuckets).FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: pageID(l.assignmentID, p)}}, update,
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&pg)
	if err != nil {
		return errs.Wrap(err, "save list row")
	}
	n := len(pg.Rows)
	if c, ok := l.counts[p]; ok && c == n {
		return nil
	}
	if _, err := l.s.c(colBuckets).UpdateOne(ctx, bson.D{{Key: "_id", Value: l.assignmentID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "pages." + itoa(p), Value: n}}}}, updateUpsert()); err != nil {
		return errs.Wrap(err, "count list rows")
	}
	l.counts[p] = n
	return nil
}

func (l *list) markStale(students []string) {
	for _, st := range students {
		l.stale[st] = true
	}
}

// flush writes the duplicate flags that have changed on other students'
// rows, one update per page. With all, it writes every row's (Recover
// does, since a crash may have come before a flush).
func (l *list) flush(ctx context.Context, all bool) error {
	if all {
		for st := range l.dups.sketches {
			l.stale[st] = true
		}
	}
	byPage := map[int]bson.D{}
	for st := range l.stale {
		if _, ok := l.dups.sketches[st]; !ok {
			continue // no row any more
		}
		p := l.dups.pages[st]
		byPage[p] = append(byPage[p], bson.E{Key: "rows." + mongostore.FieldKey(st) + ".duplicates", Value: l.dups.of(st)})
	}
	for p, set := range byPage {
		if _, err := l.s.c(colBuckets).UpdateOne(ctx, bson.D{{Key: "_id", Value: pageID(l.assignmentID, p)}},
			bson.D{{Key: "$set", Value: set}}); err != nil {
			return errs.Wrap(err, "save duplicate flags")
		}
	}
	clear(l.stale)
	return nil
}

// dupIndex is every sketch of an assignment in memory, for the duplicate
// check: two students are similar when their estimated similarity, rounded
// to hundredths, is at least threshold. A row lists the maxDuplicates
// students most similar to its own, so that it stays small however many
// copies of one text a class hands in.
type dupIndex struct {
	threshold float64
	sketches  map[string][]uint32 // by student ID
	pages     map[string]int      // the list page of each student's row
}

// maxDuplicates bounds a row's list of possible duplicates.
const maxDuplicates = 5

func roundSim(x float64) float64 { return math.Round(x*100) / 100 }

// of returns the students most similar to st (at most maxDuplicates), most
// similar first, then by student ID.
func (d *dupIndex) of(st string) []Duplicate {
	out := []Duplicate{}
	sk := d.sketches[st]
	for other, osk := range d.sketches {
		if other == st {
			continue
		}
		if sim := roundSim(similarity(sk, osk)); sim >= d.threshold {
			out = append(out, Duplicate{StudentID: other, Similarity: sim})
		}
	}
	slices.SortFunc(out, func(a, b Duplicate) int {
		return cmp.Or(cmp.Compare(b.Similarity, a.Similarity), cmp.Compare(a.StudentID, b.StudentID))
	})
	return out[:min(len(out), maxDuplicates)]
}

// similarTo returns the students other than st whose sketch is similar to
// sk.
func (d *dupIndex) similarTo(st string, sk []uint32) []string {
	var out []string
	for other, osk := range d.sketches {
		if other != st && roundSim(similarity(sk, osk)) >= d.threshold {
			out = append(out, other)
		}
	}
	return out
}

// set records st's sketch (on list page p) and returns the other students
// whose list of duplicates changes with it.
func (d *dupIndex) set(st string, p int, sk []uint32) []string {
	return d.change(st, func() { d.sketches[st], d.pages[st] = sk, p }, sk)
}

// remove forgets st's sketch and returns the students whose list of
// duplicates changes without it.
func (d *dupIndex) remove(st string) []string {
	return d.change(st, func() { delete(d.sketches, st) }, nil)
}

// change applies apply, which changes st's sketch to sk (nil: none), and
// returns the other students whose list of duplicates it changes: only
// students similar to st's old or new text can be among them.
func (d *dupIndex) change(st string, apply func(), sk []uint32) []string {
	var cands []string
	if old, had := d.sketches[st]; had {
		cands = d.similarTo(st, old)
	}
	if sk != nil {
		cands = append(cands, d.similarTo(st, sk)...)
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)
	before := make([][]Duplicate, len(cands))
	for i, c := range cands {
		before[i] = d.of(c)
	}
	apply()
	var affected []string
	for i, c := range cands {
		if !slices.Equal(before[i], d.of(c)) {
			affected = append(affected, c)
		}
	}
	return affected
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
