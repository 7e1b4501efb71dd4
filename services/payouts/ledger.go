package payouts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/feedback"
)

// The ledger is kept in two collections, so that no document grows with it:
//
//   - ledger_entries holds every entry, one document each (_id: the entry
//     ID, which is deterministic, so an entry can exist once);
//   - ledger_books holds one book per grader (_id: the grader's user ID):
//     the running sums of their entries (balances, what no payout has
//     settled yet, earnings per assignment, totals per ledger account), their
//     latest entries and payments for their view, and Rev, its
//     compare-and-set revision. A book's size is bounded.
//
// An entry is applied to its grader's book first: one compare-and-set that
// adds it to the sums and to the book's Pending list. Its document is
// written after, and a book's Pending entries are written (again: inserting
// an existing entry is a no-op) before its next change, so a crash between
// the two loses nothing and the trial balance (which reads both) always
// agrees. A book knows what it applied: entries from feedback's payable log
// up to position LogPos, its latest payments, and, for anything else, the
// entry documents themselves.

const (
	maxRecentEntries  = 20  // entry IDs in a book, for the grader's view
	maxRecentPayments = 20  // payment IDs in a book, for the grader's view
	maxAssignments    = 100 // assignments with their own earnings line; older ones are summed in one
	maxAppend         = 50  // entries applied to a book by one change
)

// book is one grader's running account. See the ledger's doc. It is stored
// as a bookDoc.
type book struct {
	ID      string `bson:"_id"`
	Rev     int64  `bson:"rev"`
	Seq     int64  `bson:"seq"`     // entries applied
	LogPos  int64  `bson:"log_pos"` // the payable log position applied up to
	Entries int    `bson:"entries"`
	// Balances is what Margin owes the grader per currency; Open what of
	// it no payout has settled yet.
	Balances map[string]int64 `bson:"balances"`
	Open     map[string]Open  `bson:"open"`
	// Accounts sums the lines of the grader's entries per ledger account and
	// currency (for the trial balance).
	Accounts map[string]map[string]int64 `bson:"accounts"` // by FieldKey(account)
	Earnings []AssignmentEarnings        `bson:"earnings"` // newest last
	Recent   []string                    `bson:"recent"`   // entry IDs, newest last
	Payments []string                    `bson:"payments"` // payment IDs, newest last
	Pending  []Entry                     `bson:"pending"`  // applied, documents maybe not written yet
	// FoldedRun is the latest run whose payout to the grader is applied.
	FoldedRun string `bson:"folded_run"`
}

// Open is what no payout has settled yet in one currency: its sum and how
// many entries make it.
type Open struct {
	Cents   int64 `json:"cents" bson:"cents"`
	Entries int   `json:"entries" bson:"entries"`
}

// PaymentView is what a grader sees of one of their payments.
type PaymentView struct {
	ID             string       `json:"id" bson:"id"`
	RunID          string       `json:"run_id" bson:"run_id"`
	Cents          int64        `json:"cents" bson:"cents"`
	Currency       string       `json:"currency" bson:"currency"`
	State          PaymentState `json:"state" bson:"state"`
	TransferID     string       `json:"transfer_id,omitempty" bson:"transfer_id,omitempty"`
	IdempotencyKey string       `json:"idempotency_key" bson:"idempotency_key"`
	Reason         string       `json:"reason,omitempty" bson:"reason,omitempty"`
	UpdatedAt      time.Time    `json:"updated_at" bson:"updated_at"`
}

func viewOf(p Payment) PaymentView {
	return PaymentView{ID: p.ID, RunID: p.RunID, Cents: p.Cents, Currency: p.Currency, State: p.State,
		TransferID: p.TransferID, IdempotencyKey: p.IdempotencyKey, Reason: p.Reason, UpdatedAt: p.UpdatedAt}
}

func newBook(graderID string) book {
	return book{ID: graderID, Balances: map[string]int64{}, Open: map[string]Open{}, Accounts: map[string]map[string]int64{},
		Earnings: []AssignmentEarnings{}, Recent: []string{}, Payments: []string{}, Pending: []Entry{}}
}

// fill gives a decoded book its empty maps.
func (b *book) fill() {
	if b.Balances == nil {
		b.Balances = map[string]int64{}
	}
	if b.Open == nil {
		b.Open = map[string]Open{}
	}
	if b.Accounts == nil {
		b.Accounts = map[string]map[string]int64{}
	}
}

// apply adds an entry to the book's sums. A payout settles what was open
// when it was planned (Settles); anything else adds to what is open.
func (b *book) apply(e Entry) {
	b.fill()
	b.Seq++
	b.Entries++
	cents := e.GraderCents()
	b.Balances[e.Currency] += cents
	o := b.Open[e.Currency]
	if e.Kind == KindPayout {
		o.Cents += cents
		o.Entries -= e.SettlesEntries
	} else {
		o.Cents += cents
		o.Entries++
	}
	b.Open[e.Currency] = o
	for _, l := range e.Lines {
		k := mongostore.FieldKey(l.Account)
		if b.Accounts[k] == nil {
			b.Accounts[k] = map[string]int64{}
		}
		b.Accounts[k][e.Currency] += l.Cents
	}
	if e.Kind == KindEarning {
		b.earned(e)
	}
	b.Recent = append(b.Recent, e.ID)
	b.Recent = b.Recent[max(0, len(b.Recent)-maxRecentEntries):]
}

// earned adds an earning to its assignment's line, moving the line to the
// end (newest); past maxAssignments lines, the oldest is folded into the
// line of earlier assignments (AssignmentID "").
func (b *book) earned(e Entry) {
	i := slices.IndexFunc(b.Earnings, func(a AssignmentEarnings) bool { return a.AssignmentID == e.AssignmentID && a.Currency == e.Currency })
	line := AssignmentEarnings{AssignmentID: e.AssignmentID, Currency: e.Currency}
	if i >= 0 {
		line = b.Earnings[i]
		b.Earnings = slices.Delete(b.Earnings, i, i+1)
	}
	line.Reads++
	line.Cents += e.GraderCents()
	b.Earnings = append(b.Earnings, line)
	for {
		oldest := slices.IndexFunc(b.Earnings, func(a AssignmentEarnings) bool { return a.AssignmentID != "" })
		if len(b.Earnings)-oldest <= maxAssignments { // the lines from the oldest on are all assignments'
			return
		}
		old := b.Earnings[oldest]
		b.Earnings = slices.Delete(b.Earnings, oldest, oldest+1)
		j := slices.IndexFunc(b.Earnings, func(a AssignmentEarnings) bool { return a.AssignmentID == "" && a.Currency == old.Currency })
		if j < 0 {
			b.Earnings = append([]AssignmentEarnings{{Currency: old.Currency}}, b.Earnings...)
			j = 0
		}
		b.Earnings[j].Reads += old.Reads
		b.Earnings[j].Cents += old.Cents
	}
}

// notePayment records that the grader has a payment, newest last.
func (b *book) notePayment(id string) {
	b.Payments = slices.DeleteFunc(b.Payments, func(p string) bool { return p == id })
	b.Payments = append(b.Payments, id)
	b.Payments = b.Payments[max(0, len(b.Payments)-maxRecentPayments):]
}

// bookDoc is how a book is stored: its revision, and the rest as JSON in a
// binary field, which the embedded store reads and writes several times
// faster than the same data as nested fields (it keeps a type schema for
// every nested value); on MongoDB it costs nothing.
type bookDoc struct {
	ID   string `bson:"_id"`
	Rev  int64  `bson:"rev"`
	Body []byte `bson:"body"`
}

func (b book) doc() bookDoc {
	body, err := json.Marshal(b)
	if err != nil {
		panic(fmt.Sprintf("payouts: encoding a book: %v", err)) // plain data: cannot fail
	}
	return bookDoc{ID: b.ID, Rev: b.Rev, Body: body}
}

func (d bookDoc) book() (book, error) {
	b := newBook(d.ID)
	if err := json.Unmarshal(d.Body, &b); err != nil {
		return book{}, fmt.Errorf("book %s: %w", d.ID, err)
	}
	b.ID, b.Rev = d.ID, d.Rev
	b.fill()
	return b, nil
}

// readBook returns a grader's book; a grader with no entries has an empty
// one.
func (s *Service) readBook(ctx context.Context, graderID string) (book, error) {
	d, err := mongostore.Get[bookDoc](ctx, s.books, graderID, "book")
	if errs.Is(err, errs.NotFound) {
		return newBook(graderID), nil
	}
	if err != nil {
		return book{}, err
	}
	return d.book()
}

// allBooks reads every book, ordered by grader ID.
func (s *Service) allBooks(ctx context.Context) ([]book, error) {
	docs, err := mongostore.FindAll[bookDoc](ctx, s.books, bson.M{}, options.Find().SetSort(bson.M{"_id": 1}))
	if err != nil {
		return nil, err
	}
	out := make([]book, len(docs))
	for i, d := range docs {
		if out[i], err = d.book(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// written remembers, in this process, the entries whose documents it has
// written, so that a book's Pending entries are not written again at each
// change. It is only a shortcut: entries not in it are written (again).
type written struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (w *written) all(es []Entry) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range es {
		if !w.ids[e.ID] {
			return false
		}
	}
	return true
}

func (w *written) add(es []Entry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ids == nil || len(w.ids) > 100_000 {
		w.ids = map[string]bool{}
	}
	for _, e := range es {
		w.ids[e.ID] = true
	}
}

// entryDoc is an entry as ledger_entries stores it.
type entryDoc struct {
	ID    string `bson:"_id"`
	Entry `bson:",inline"`
}

// getEntries reads entry documents by ID.
func (s *Service) getEntries(ctx context.Context, ids []string) (map[string]Entry, error) {
	docs, err := mongostore.GetMany(ctx, s.entries, ids, func(d entryDoc) string { return d.ID })
	if err != nil {
		return nil, err
	}
	out := make(map[string]Entry, len(docs))
	for id, d := range docs {
		out[id] = d.Entry
	}
	return out, nil
}

// writeEntries inserts entry documents; those already there are left as
// they are.
func (s *Service) writeEntries(ctx context.Context, es []Entry) error {
	if len(es) == 0 || s.written.all(es) {
		return nil
	}
	docs := make([]any, len(es))
	for i, e := range es {
		docs[i] = entryDoc{ID: e.ID, Entry: e}
	}
	_, err := s.entries.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	var bw mongo.BulkWriteException
	if errors.As(err, &bw) && bw.WriteConcernError == nil && !slices.ContainsFunc(bw.WriteErrors, func(we mongo.BulkWriteError) bool {
		return !mongostore.IsDuplicateKey(we)
	}) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("write ledger entries: %w", err)
	}
	s.written.add(es)
	return nil
}

// errSkip makes change return the book unchanged.
var errSkip = errors.New("nothing to change")

// changeBook applies change to a grader's book with compare-and-set,
// re-reading and re-applying it when another writer got there first. It
// writes the book's pending entries before changing it, and the entries
// change adds to Pending after. change returns errSkip to leave the book
// as it is. It returns the book as stored.
func (s *Service) changeBook(ctx context.Context, graderID string, change func(*book) error) (book, error) {
	for {
		b, err := s.readBook(ctx, graderID)
		if err != nil {
			return book{}, err
		}
		if err := s.writeEntries(ctx, b.Pending); err != nil {
			return book{}, err
		}
		rev := b.Rev
		b.Pending = []Entry{}
		if err := change(&b); errors.Is(err, errSkip) {
			return b, nil
		} else if err != nil {
			return book{}, err
		}
		b.Rev++
		if rev == 0 { // a new book
			_, err = s.books.InsertOne(ctx, b.doc())
			if mongostore.IsDuplicateKey(err) {
				continue
			}
		} else {
			err = mongostore.Swap(ctx, s.books, graderID, "rev", rev, b.doc())
		}
		if errors.Is(err, mongostore.ErrStale) {
			continue
		}
		if err != nil {
			return book{}, fmt.Errorf("book %s: %w", graderID, err)
		}
		return b, s.writeEntries(ctx, b.Pending)
	}
}

// appendEntries applies to a grader's book those of es it does not hold
// yet (by their documents), at most maxAppend at a time, and returns how
// many it applied. Every entry must balance and be the grader's.
func (s *Service) appendEntries(ctx context.Context, graderID string, es []Entry) (int, error) {
	for _, e := range es {
		if e.GraderID != graderID || !e.Balanced() {
			return 0, fmt.Errorf("ledger entry %s does not balance or is not %s's", e.ID, graderID)
		}
	}
	added := 0
	for len(es) > 0 {
		chunk := es[:min(maxAppend, len(es))]
		es = es[len(chunk):]
		n, err := s.applyNew(ctx, graderID, chunk, 0, nil)
		if err != nil {
			return added, err
		}
		added += n
	}
	return added, nil
}

// applyNew applies the entries of es that the book does not hold yet.
// With logPos > 0 they are earnings from the payable log, in log order, up
// to that position: a book past it has them all already, and only those
// named in recheck can be in it from an earlier position (the log says
// which, see feedback.PayableLog), so only their documents are looked up.
// With logPos 0 every entry's document is looked up.
func (s *Service) applyNew(ctx context.Context, graderID string, es []Entry, logPos int64, recheck []string) (int, error) {
	if logPos == 0 {
		recheck = make([]string, len(es))
		for i, e := range es {
			recheck[i] = e.ID
		}
	}
	added := 0
	_, err := s.changeBook(ctx, graderID, func(b *book) error {
		if logPos > 0 && b.LogPos >= logPos {
			return errSkip
		}
		// The book's pending entries were written before this change,
		// so the documents tell every entry applied.
		have, err := s.getEntries(ctx, recheck)
		if err != nil {
			return err
		}
		added = 0
		seen := map[string]bool{}
		for _, e := range es {
			if _, ok := have[e.ID]; ok || seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			b.apply(e)
			b.Pending = append(b.Pending, e)
			added++
		}
		if logPos > b.LogPos {
			b.LogPos = logPos
		}
		if added == 0 && logPos == 0 {
			return errSkip
		}
		return nil
	})
	return added, err
}

// Fee is the platform fee on a price, rounded half up to a cent.
func Fee(priceCents, basisPoints int64) int64 {
	if priceCents <= 0 || basisPoints <= 0 {
		return 0
	}
	return (priceCents*basisPoints + 5000) / 10000
}

// EarningEntry is the ledger entry for one approved read: its ID is the
// payable event's ID, so each (version, grader) earns once; the amount is
// the price less the platform fee, whichever reader the grader was.
func EarningEntry(ev feedback.PayableEvent, feeBasisPoints int64) Entry {
	fee := Fee(ev.PriceCents, feeBasisPoints)
	amount := max(ev.PriceCents-fee, 0)
	return Entry{
		ID: "earning:" + ev.ID, Kind: KindEarning, GraderID: ev.GraderID, Currency: strings.ToLower(ev.Currency),
		Lines: []Line{{AccountGradingExpense, amount}, {GraderAccount(ev.GraderID), -amount}},
		At:    ev.ApprovedAt.UTC(), AssignmentID: ev.AssignmentID, SubmissionID: ev.SubmissionID,
		VersionID: ev.VersionID, Reader: ev.Reader, PriceCents: ev.PriceCents, FeeCents: min(fee, ev.PriceCents),
	}
}

// ingestPage is how many payable events Ingest asks for per call.
const ingestPage = 1000

// ingestState is where Ingest stopped in feedback's payable log
// (payout_state, _id "ingest").
type ingestState struct {
	ID  string `bson:"_id"`
	Pos int64  `bson:"pos"`
}

const ingestID = "ingest"

// Ingest records an earning for every payable event logged since it last
// ran and returns how many it added. It reads feedback's payable log from
// where it stopped (by _id), so its cost is that of what is new. It is
// idempotent and safe to run from several processes at once: a book applies
// each log position once, and each earning once.
func (s *Service) Ingest(ctx context.Context) (int, error) {
	if s.source == nil {
		return 0, nil
	}
	s.ingesting.Lock()
	defer s.ingesting.Unlock()
	st := ingestState{ID: ingestID}
	if _, err := get(ctx, s.state, ingestID, &st); err != nil {
		return 0, err
	}
	added := 0
	for {
		page, err := s.source.PayableLog(ctx, st.Pos, ingestPage)
		if err != nil {
			return added, fmt.Errorf("payable log: %w", err)
		}
		if page.Next <= st.Pos {
			return added, nil
		}
		type earning struct {
			Entry
			pos     int64
			recheck bool
		}
		byGrader := map[string][]earning{}
		var graders []string
		for _, ev := range page.Events {
			if byGrader[ev.GraderID] == nil {
				graders = append(graders, ev.GraderID)
			}
			byGrader[ev.GraderID] = append(byGrader[ev.GraderID], earning{EarningEntry(ev, s.cfg.FeeBasisPoints), ev.Seq, ev.Recheck})
		}
		for _, g := range graders {
			es := byGrader[g]
			for len(es) > 0 {
				chunk := es[:min(maxAppend, len(es))]
				es = es[len(chunk):]
				// A chunk's position is its last event's: the book skips
				// a chunk it applied (a page read again after a crash).
				pos := chunk[len(chunk)-1].pos
				if len(es) == 0 {
					pos = max(pos, page.Next)
				}
				var entries []Entry
				var recheck []string
				for _, e := range chunk {
					entries = append(entries, e.Entry)
					if e.recheck || e.pos == 0 {
						recheck = append(recheck, e.ID)
					}
				}
				if chunk[len(chunk)-1].pos == 0 { // an event with no position: look every one up
					pos = 0
				}
				n, err := s.applyNew(ctx, g, entries, pos, recheck)
				if err != nil {
					return added, err
				}
				added += n
			}
		}
		if err := s.chargeSchools(ctx, page.Events); err != nil {
			return added, err
		}
		st.Pos = page.Next
		if _, err := s.state.UpdateOne(ctx, bson.M{"_id": ingestID}, bson.M{"$set": bson.M{"pos": st.Pos}}, options.Update().SetUpsert(true)); err != nil && !isUpsertRace(err) {
			return added, fmt.Errorf("ingest position: %w", err)
		}
	}
}

// isUpsertRace reports a duplicate key from an upsert: E11000 on MongoDB,
// "UNIQUE constraint failed" on the embedded store.
func isUpsertRace(err error) bool {
	return mongostore.IsDuplicateKey(err) || strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// Adjustment is a correction to a grader's balance: a teacher's return that
// ends in reassignment, a dispute, or an admin's manual credit or debit.
type Adjustment struct {
	// ID makes the adjustment idempotent: the same ID is recorded once.
	ID       string `json:"id"`
	GraderID string `json:"grader_id"`
	// Cents is signed: positive credits the grader, negative debits them.
	Cents    int64  `json:"cents"`
	Currency string `json:"currency"`
	Reason   string `json:"reason"`
	By       string `json:"-"`
}

// Adjust records an adjustment as a new entry. It returns Invalid for a
// zero amount, a missing reason or ID, and NotFound for an unknown grader.
// Repeating an ID returns the entry first recorded under it.
func (s *Service) Adjust(ctx context.Context, a Adjustment) (Entry, error) {
	var problems errs.List
	if strings.TrimSpace(a.ID) == "" || len(a.ID) > 200 {
		problems = append(problems, errs.F(errs.Invalid, "id", "Give the adjustment an ID (up to 200 characters) so that a retry is not recorded twice."))
	}
	if a.Cents == 0 {
		problems = append(problems, errs.F(errs.Invalid, "cents", "An adjustment must credit or debit a non-zero amount of cents."))
	}
	if strings.TrimSpace(a.Reason) == "" {
		problems = append(problems, errs.F(errs.Invalid, "reason", "Say why the balance is adjusted."))
	}
	if err := problems.Err(); err != nil {
		return Entry{}, err
	}
	if a.Currency == "" {
		a.Currency = s.cfg.Currency
	}
	if u, err := s.accounts.User(ctx, a.GraderID); err != nil || u.Role != account.Grader {
		return Entry{}, errs.F(errs.NotFound, "grader_id", "There is no grader with this ID.")
	}
	e := Entry{
		ID: "adjustment:" + a.ID, Kind: KindAdjustment, GraderID: a.GraderID, Currency: strings.ToLower(a.Currency),
		Lines: []Line{{AccountAdjustmentExpense, a.Cents}, {GraderAccount(a.GraderID), -a.Cents}},
		At:    s.now(), Reason: strings.TrimSpace(a.Reason), By: a.By,
	}
	if _, err := s.appendEntries(ctx, a.GraderID, []Entry{e}); err != nil {
		return Entry{}, errs.Wrap(err, "adjust")
	}
	d, err := mongostore.Get[entryDoc](ctx, s.entries, e.ID, "ledger entry")
	return d.Entry, err
}

// AssignmentEarnings is a grader's earnings on one assignment (AssignmentID
// "" sums the assignments older than the latest 100).
type AssignmentEarnings struct {
	AssignmentID string `json:"assignment_id" bson:"assignment_id"`
	Currency     string `json:"currency" bson:"currency"`
	Reads        int    `json:"reads" bson:"reads"`
	Cents        int64  `json:"cents" bson:"cents"`
}

// TrialBalance sums every ledger entry by account. In a balanced ledger the
// totals per currency are zero, every entry balances on its own, and every
// grader's book agrees with their entries.
type TrialBalance struct {
	Balanced bool `json:"balanced"`
	// Accounts holds the platform accounts' totals and "graders", the sum
	// of every grader's account, per currency ("schools" and
	// "schools_held" likewise for the schools' credit).
	Accounts map[string]map[string]int64 `json:"accounts"`
	Entries  int                         `json:"entries"`
	Graders  int                         `json:"graders"`
	// Unbalanced lists the IDs of entries whose lines do not sum to zero.
	Unbalanced []string `json:"unbalanced"`
	// Disagreeing lists the graders (and, as "school:<id>", the schools)
	// whose book's sums differ from their entries'.
	Disagreeing []string `json:"disagreeing"`
}

// Trial computes the trial balance over the whole ledger: every entry
// document (and any entry a book holds whose document is not written yet),
// checked against the books. It reads the whole ledger: an admin's audit
// and a test check, not a hot path.
func (s *Service) Trial(ctx context.Context) (TrialBalance, error) {
	books, err := s.allBooks(ctx)
	if err != nil {
		return TrialBalance{}, err
	}
	unfolded, runID, err := s.unfolded(ctx, nil)
	if err != nil {
		return TrialBalance{}, err
	}
	for i := range books {
		books[i] = withUnfolded(books[i], unfolded, runID)
	}
	docs, err := mongostore.FindAll[entryDoc](ctx, s.entries, bson.M{})
	if err != nil {
		return TrialBalance{}, err
	}
	entries := make([]Entry, len(docs))
	for i, d := range docs {
		entries[i] = d.Entry
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		seen[e.ID] = true
	}
	for _, b := range books {
		for _, e := range b.Pending {
			if !seen[e.ID] {
				seen[e.ID] = true
				entries = append(entries, e)
			}
		}
	}
	schoolPending, schools, err := s.schoolTrial(ctx, seen)
	if err != nil {
		return TrialBalance{}, err
	}
	entries = append(entries, schoolPending...)
	tb := TrialBalance{Balanced: true, Accounts: map[string]map[string]int64{}, Unbalanced: []string{}, Disagreeing: []string{}}
	totals := map[string]int64{}
	byGrader := map[string]map[string]int64{}
	for _, e := range entries {
		tb.Entries++
		if !e.Balanced() {
			tb.Balanced = false
			tb.Unbalanced = append(tb.Unbalanced, e.ID)
		}
		if byGrader[e.GraderID] == nil {
			byGrader[e.GraderID] = map[string]int64{}
		}
		byGrader[e.GraderID][e.Currency] += e.GraderCents()
		for _, l := range e.Lines {
			acct := l.Account
			switch {
			case strings.HasPrefix(acct, "grader:"):
				acct = "graders"
			case strings.HasPrefix(acct, "school:"):
				acct = "schools"
			case strings.HasPrefix(acct, "school-held:"):
				acct = "schools_held"
			}
			if tb.Accounts[acct] == nil {
				tb.Accounts[acct] = map[string]int64{}
			}
			tb.Accounts[acct][e.Currency] += l.Cents
			totals[e.Currency] += l.Cents
		}
	}
	for _, t := range totals {
		if t != 0 {
			tb.Balanced = false
		}
	}
	for _, b := range books {
		if b.Entries > 0 {
			tb.Graders++
		}
		want := byGrader[b.ID]
		for cur, n := range b.Balances {
			if n != want[cur] {
				tb.Disagreeing = append(tb.Disagreeing, b.ID)
				break
			}
		}
		delete(byGrader, b.ID)
	}
	for g, sums := range byGrader { // entries of a grader without a book
		for _, n := range sums {
			if n != 0 {
				tb.Disagreeing = append(tb.Disagreeing, g)
				break
			}
		}
	}
	tb.Disagreeing = append(tb.Disagreeing, schoolsDisagreeing(schools, entries)...)
	sort.Strings(tb.Disagreeing)
	if len(tb.Disagreeing) > 0 {
		tb.Balanced = false
	}
	return tb, nil
}

// key is the map key of an ID inside a document (IDs may hold dots).
func key(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:10])
}
