package feedback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// A feedback document is changed by compare-and-set on its Seq (see
// mutate): there is no lock to hold, so nothing is stranded when a process
// dies mid-save. What other readers need of a feedback (its list row, the
// student's read models, the class summary's digest, the payable event) is
// projected from the document after it is written (project.go). A change
// that needs a projection first records the feedback's ID in the journal
// (feedback_journal), and deletes it once the projection is written; on
// start-up, Recover projects again every feedback the journal still names,
// so a crash between the two writes leaves no half record.

// anyRev makes a change unconditional (no optimistic-concurrency check).
const anyRev = -1

// maxSwaps bounds how often a change is re-applied when other writers keep
// changing the document between its read and its write.
const maxSwaps = 50

// get returns a feedback by ID, or not_found.
func (s *Service) get(ctx context.Context, id string) (Feedback, error) {
	return mongostore.Get[Feedback](ctx, s.c(colFeedback), id, "feedback")
}

// mutate applies change to feedback id and stores the result with
// compare-and-set, re-reading and re-applying change when another writer
// got there first. With expectRev >= 0 the change is refused with
// errs.VersionConflict unless the stored Rev equals it. With bump, Rev is
// incremented (content and state changes); without, it is kept (ratings
// and reflections, which must not make a reviewer's open copy stale). An
// error from change aborts without writing. The change is then projected
// (see project) when it changed anything projected.
func (s *Service) mutate(ctx context.Context, id string, expectRev int, bump bool, change func(*Feedback) error) (Feedback, error) {
	slot := 0 // a slot handed out for this change, kept across its retries
	for try := 0; ; try++ {
		f, err := s.get(ctx, id)
		if err != nil {
			return Feedback{}, err
		}
		if expectRev >= 0 && f.Rev != expectRev {
			return Feedback{}, errs.F(errs.VersionConflict, "rev",
				"The feedback was changed since you opened it (you have version %d; the latest is %d). Reload it and apply your changes again.", expectRev, f.Rev)
		}
		before := rowOf(f)
		before.Levels = maps.Clone(before.Levels) // change may edit the map in place
		if err := change(&f); err != nil {
			return Feedback{}, err
		}
		if bump {
			f.Rev++
		}
		seq := f.Seq
		f.Seq++
		f.UpdatedAt = s.stamp()
		projected := !sameRow(before, rowOf(f)) || f.State.Final()
		if projected && f.Slot == 0 {
			if slot == 0 {
				if slot, err = s.allocSlot(ctx, f.AssignmentID); err != nil {
					return Feedback{}, err
				}
			}
			f.Slot = slot
		}
		token := ""
		if projected {
			if token, err = s.journal(ctx, id); err != nil {
				return Feedback{}, err
			}
		}
		err = mongostore.Swap(ctx, s.c(colFeedback), id, "seq", seq, f)
		if errors.Is(err, mongostore.ErrStale) && try < maxSwaps {
			continue // the journal entry stays until a later change clears it
		}
		if errors.Is(err, mongostore.ErrStale) {
			return Feedback{}, errs.E(errs.Conflict, "This feedback is changing too often to save right now; try again in a moment.")
		}
		if err != nil {
			return Feedback{}, err
		}
		if err := s.pause(ctx, FaultSaveMid); err != nil {
			return Feedback{}, err
		}
		if !projected {
			return f, nil
		}
		if err := s.project(ctx, id, projectChange(before, f)); err != nil {
			return Feedback{}, err
		}
		s.unjournal(ctx, id, token)
		return f, nil
	}
}

// sameRow reports whether two rows differ in nothing but UpdatedAt.
func sameRow(a, b Row) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// journalDoc names a feedback whose projection may be behind its document.
// Token tells this change's entry from a later change's of the same
// feedback, so that the first to finish does not clear the other's.
type journalDoc struct {
	ID    string    `bson:"_id"`
	Token string    `bson:"token"`
	At    time.Time `bson:"at"`
}

func (s *Service) journal(ctx context.Context, id string) (string, error) {
	token := account.NewID("jr")
	_, err := s.c(colJournal).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "token", Value: token}, {Key: "at", Value: s.stamp()}}}}, upsert)
	if err != nil && mongostore.IsDuplicateKey(err) { // a concurrent first entry; ours replaces it
		_, err = s.c(colJournal).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "token", Value: token}, {Key: "at", Value: s.stamp()}}}})
	}
	return token, errs.Wrap(err, "journal feedback change")
}

// unjournal clears this change's journal entry. The journal holds only
// changes in flight, so its filter scans almost nothing; a failure only
// costs a projection at the next start.
func (s *Service) unjournal(ctx context.Context, id, token string) {
	_, err := s.c(colJournal).DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: id}, {Key: "token", Value: token}})
	if err != nil {
		s.log.Warn("clearing a feedback journal entry", "feedback", id, "err", err)
	}
}

// Row is a feedback's line in its assignment's list: the small summary kept
// in fixed-size page documents so that a list is a few reads. Digest is the
// part of approved (and released) feedback, and of submitted second reads,
// that the class summary reads; it is not shown in the list.
type Row struct {
	TaskID    string            `json:"task_id" bson:"task_id"`
	VersionID string            `json:"version_id" bson:"version_id"`
	StudentID string            `json:"student_id" bson:"student_id"`
	Version   int               `json:"version" bson:"version"`
	Reader    string            `json:"reader" bson:"reader"`
	State     State             `json:"state" bson:"state"`
	GraderID  string            `json:"grader_id" bson:"grader_id"`
	Levels    map[string]string `json:"levels" bson:"levels"`
	Flagged   bool              `json:"flagged" bson:"flagged"` // an unresolved second-read disagreement
	// Questions counts the questions the student asked about this
	// feedback (Reflect with kind "question").
	Questions int `json:"questions,omitempty" bson:"questions,omitempty"`
	// ReadLevels are the first reader's own levels where an adjudication
	// replaced them in Levels (nil otherwise): agreement compares these.
	ReadLevels map[string]string `json:"read_levels,omitempty" bson:"read_levels,omitempty"`
	AssignedID string            `json:"assignment_id" bson:"assignment_id"`
	UpdatedAt  time.Time         `json:"updated_at" bson:"updated_at"`
	ApprovedAt *time.Time        `json:"approved_at,omitempty" bson:"approved_at,omitempty"` // when first approved
	Digest     *Digest           `json:"digest,omitempty" bson:"digest,omitempty"`
}

// Digest is what the class summary needs of one feedback beyond its row:
// the quoted comments, glows and grows, focus notes and the student's
// ratings. The adjudicated levels, when there are some, are the row's
// Levels already (adjudication replaces the first read's levels).
type Digest struct {
	Quotes     []DigestQuote `json:"quotes" bson:"quotes"`
	Glows      []Point       `json:"glows" bson:"glows"`
	Grows      []Point       `json:"grows" bson:"grows"`
	FocusNotes []FocusNote   `json:"focus_notes" bson:"focus_notes"`
	Comments   []string      `json:"comments" bson:"comments"` // criterion keys with a comment (for ratings)
	Ratings    []Rating      `json:"ratings" bson:"ratings"`
}

// DigestQuote is a quoted comment as the class summary reads it: the
// passage's exact words, without the selectors that anchor it.
type DigestQuote struct {
	ID        string `json:"id" bson:"id"`
	Criterion string `json:"criterion" bson:"c"`
	Kind      Kind   `json:"kind" bson:"k"`
	Exact     string `json:"exact" bson:"x"`
	Comment   string `json:"comment" bson:"m"`
}

func rowOf(f Feedback) Row {
	return Row{
		TaskID: f.ID, VersionID: f.VersionID, StudentID: f.StudentID, Version: f.Version, Reader: f.Reader, State: f.State,
		GraderID: f.GraderID, Levels: f.Levels, AssignedID: f.AssignmentID, UpdatedAt: f.UpdatedAt, ApprovedAt: f.ApprovedAt,
		Flagged: f.Disagreement != nil && !f.Disagreement.Resolved, Questions: questions(f.Reflections),
		ReadLevels: readLevels(f),
	}
}

// readLevels are the first reader's own levels when an adjudication
// replaced them, else nil.
func readLevels(f Feedback) map[string]string {
	if f.Reader != First || f.Adjudication == nil {
		return nil
	}
	return f.Adjudication.Replaced
}

// questions counts the questions among a student's reflections.
func questions(rs []Reflection) int {
	n := 0
	for _, r := range rs {
		if r.Kind == "question" {
			n++
		}
	}
	return n
}

// RowOf is a feedback's list row with its digest, as feedback stores it
// (tests of other services build rows with it).
func RowOf(f Feedback) Row {
	r := rowOf(f)
	if f.State.Final() || f.Reader == Second && f.State == Submitted {
		d := Digest{Quotes: make([]DigestQuote, len(f.Quotes)), Glows: f.Glows, Grows: f.Grows, FocusNotes: f.FocusNotes, Ratings: f.Ratings, Comments: []string{}}
		for i, q := range f.Quotes {
			d.Quotes[i] = DigestQuote{ID: q.ID, Criterion: q.Criterion, Kind: q.Kind, Exact: q.Target.Quote.Exact, Comment: q.Comment}
		}
		for k := range f.Comments {
			d.Comments = append(d.Comments, k)
		}
		sort.Strings(d.Comments)
		r.Digest = &d
	}
	return r
}

// PageRows is how many rows one page of an assignment's list holds.
const PageRows = 50

// rowsHead is an assignment's list header (_id: the assignment ID): how
// many row slots were handed out (pages hold slots 1–50, 51–100, …) and the
// assignment's submission requirements.
type rowsHead struct {
	ID       string    `bson:"_id"`
	Slots    int       `bson:"slots"`
	Settings *Settings `bson:"settings,omitempty"`
}

// rowsPage is one page of an assignment's list (_id: "<assignment>:<n>").
// Each row is kept as its JSON (see asJSON).
type rowsPage struct {
	ID   string            `bson:"_id"`
	Rows map[string][]byte `bson:"rows"` // by FieldKey(task ID)
}

func pageID(assignmentID string, slot int) string {
	return fmt.Sprintf("%s:%d", assignmentID, (slot-1)/PageRows)
}

// allocSlot hands out the next row slot of an assignment. A slot given to a
// change that then lost its race stays empty.
func (s *Service) allocSlot(ctx context.Context, assignmentID string) (int, error) {
	var h rowsHead
	err := s.c(colRows).FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: assignmentID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "slots", Value: 1}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&h)
	if err != nil && mongostore.IsDuplicateKey(err) { // two first allocations at once on MongoDB
		return s.allocSlot(ctx, assignmentID)
	}
	if err != nil {
		return 0, errs.Wrap(err, "allocate a list row")
	}
	return h.Slots, nil
}

// head reads an assignment's list header; a missing one is empty.
func (s *Service) head(ctx context.Context, assignmentID string) (rowsHead, error) {
	h, err := mongostore.Get[rowsHead](ctx, s.c(colRows), assignmentID, "feedback list")
	if errs.Is(err, errs.NotFound) {
		return rowsHead{ID: assignmentID}, nil
	}
	return h, err
}

// rows returns every row of an assignment's list: its header and then each
// page by _id (a page per 50 rows), ordered by student, version and reader.
func (s *Service) rows(ctx context.Context, assignmentID string) ([]Row, error) {
	h, err := s.head(ctx, assignmentID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, (h.Slots+PageRows-1)/PageRows)
	for slot := 1; slot <= h.Slots; slot += PageRows {
		ids = append(ids, pageID(assignmentID, slot))
	}
	pages, err := mongostore.GetMany(ctx, s.c(colRows), ids, func(p rowsPage) string { return p.ID })
	if err != nil {
		return nil, err
	}
	var out []Row
	for _, p := range pages {
		for k, b := range p.Rows {
			var r Row
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, fmt.Errorf("feedback row %s: %w", k, err)
			}
			out = append(out, r)
		}
	}
	sortRows(out)
	return out, nil
}

// writeRow sets a feedback's row in its page.
func (s *Service) writeRow(ctx context.Context, f Feedback) error {
	_, err := s.c(colRows).UpdateOne(ctx, bson.D{{Key: "_id", Value: pageID(f.AssignmentID, f.Slot)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "rows." + mongostore.FieldKey(f.ID), Value: asJSON(RowOf(f))}}}}, upsert)
	if err != nil && mongostore.IsDuplicateKey(err) {
		return s.writeRow(ctx, f)
	}
	return errs.Wrap(err, "write feedback row")
}

func sortRows(out []Row) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.StudentID != b.StudentID {
			return a.StudentID < b.StudentID
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Reader < b.Reader
	})
}

// byTask indexes rows by task ID.
func byTask(rows []Row) map[string]Row {
	m := make(map[string]Row, len(rows))
	for _, r := range rows {
		m[r.TaskID] = r
	}
	return m
}

var upsert = options.Update().SetUpsert(true)

// asJSON is v's JSON. Read models keep their rows and bodies as JSON in a
// binary field: the embedded store reads and writes one such field several
// times faster than the same data as nested fields (it keeps a type schema
// for every nested value), and on MongoDB it costs nothing. v is a value
// of feedback's own types, so encoding cannot fail.
func asJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("feedback: encoding a read model: %v", err))
	}
	return b
}
