package payouts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/feedback"
)

// The ledger is one "book" document per grader (_id = grader user ID) whose
// entries map holds every entry touching that grader's account, keyed by a
// hash of the entry ID (IDs may hold dots). An entry is only ever added,
// never changed: appendEntries skips keys already present, and entry IDs
// are deterministic, so a retried append is a no-op. A grader's balance is
// one read and a sum; the platform's side of each entry is in its lines.
type book struct {
	ID       string                 `bson:"_id"`
	Entries  map[string]Entry       `bson:"entries"`
	Payments map[string]PaymentView `bson:"payments"`
}

// PaymentView is what a grader sees of one of their payments; it is copied
// into their book at each change of the payment's state.
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

// key is the map key of an ID inside a book.
func key(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:10])
}

// readBook returns a grader's book; a grader with no entries has an empty
// one.
func (s *Service) readBook(ctx context.Context, graderID string) (book, error) {
	b := book{ID: graderID}
	if _, err := get(ctx, s.ledger, graderID, &b); err != nil {
		return book{}, err
	}
	return b, nil
}

// appendEntries adds to one grader's book the entries it does not hold yet,
// in one single-document update, and returns how many it added. Every entry
// must balance.
func (s *Service) appendEntries(ctx context.Context, graderID string, es []Entry) (int, error) {
	b, err := s.readBook(ctx, graderID)
	if err != nil {
		return 0, err
	}
	set := bson.D{}
	for _, e := range es {
		if e.GraderID != graderID || !e.Balanced() {
			return 0, fmt.Errorf("ledger entry %s does not balance or is not %s's", e.ID, graderID)
		}
		k := key(e.ID)
		if _, ok := b.Entries[k]; ok || slices.ContainsFunc(set, func(x bson.E) bool { return x.Key == "entries."+k }) {
			continue
		}
		set = append(set, bson.E{Key: "entries." + k, Value: e})
	}
	if len(set) == 0 {
		return 0, nil
	}
	update := bson.M{"$set": set}
	opts := options.Update().SetUpsert(true)
	_, err = s.ledger.UpdateOne(ctx, bson.M{"_id": graderID}, update, opts)
	if err != nil && isUpsertRace(err) {
		// Two processes created the book at once; the other won. Retry.
		_, err = s.ledger.UpdateOne(ctx, bson.M{"_id": graderID}, update, opts)
	}
	if err != nil {
		return 0, fmt.Errorf("ledger %s: %w", graderID, err)
	}
	return len(set), nil
}

// isUpsertRace reports a duplicate key from an upsert: E11000 on MongoDB,
// "UNIQUE constraint failed" on the embedded store.
func isUpsertRace(err error) bool {
	return mongostore.IsDuplicateKey(err) || strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// setPaymentView copies a payment's state into its grader's book.
func (s *Service) setPaymentView(ctx context.Context, p Payment) error {
	_, err := s.ledger.UpdateOne(ctx, bson.M{"_id": p.GraderID},
		bson.M{"$set": bson.M{"payments." + key(p.ID): viewOf(p)}}, options.Update().SetUpsert(true))
	if err != nil && isUpsertRace(err) {
		_, err = s.ledger.UpdateOne(ctx, bson.M{"_id": p.GraderID}, bson.M{"$set": bson.M{"payments." + key(p.ID): viewOf(p)}})
	}
	return err
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

// ingestPage is how many payable events Ingest asks for per call (the
// source may return fewer; an empty page ends the pass).
const ingestPage = 1000

// Ingest records an earning for every payable event not yet in the ledger
// and returns how many it added. It is idempotent and safe to run from
// several processes at once. It reads every event each time, because event
// IDs do not arrive in _id order.
func (s *Service) Ingest(ctx context.Context) (int, error) {
	if s.source == nil {
		return 0, nil
	}
	added, after := 0, ""
	for {
		evs, err := s.source.PayableEvents(ctx, after, ingestPage)
		if err != nil {
			return added, fmt.Errorf("payable events: %w", err)
		}
		byGrader := map[string][]Entry{}
		for _, ev := range evs {
			// Entries are never removed, so an event seen in the ledger
			// once by this process need not be looked up again.
			if _, ok := s.ingested.Load(ev.ID); !ok {
				byGrader[ev.GraderID] = append(byGrader[ev.GraderID], EarningEntry(ev, s.cfg.FeeBasisPoints))
			}
		}
		for g, es := range byGrader {
			n, err := s.appendEntries(ctx, g, es)
			if err != nil {
				return added, err
			}
			added += n
			for _, e := range es {
				s.ingested.Store(strings.TrimPrefix(e.ID, "earning:"), true)
			}
		}
		if len(evs) == 0 {
			return added, nil
		}
		after = evs[len(evs)-1].ID
	}
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
	b, err := s.readBook(ctx, a.GraderID)
	if err != nil {
		return Entry{}, errs.Wrap(err, "adjust")
	}
	return b.Entries[key(e.ID)], nil
}

// settledIDs is every entry ID a payout in the book settles.
func settledIDs(entries map[string]Entry) map[string]bool {
	settled := map[string]bool{}
	for _, e := range entries {
		if e.Kind == KindPayout {
			for _, id := range e.Settles {
				settled[id] = true
			}
		}
	}
	return settled
}

// Unsettled returns, in time order, the entries in currency that no payout
// has settled yet, and their sum for the grader: what a run would pay.
func Unsettled(entries map[string]Entry, currency string) ([]Entry, int64) {
	settled := settledIDs(entries)
	var out []Entry
	var sum int64
	for _, e := range entries {
		if e.Kind == KindPayout || e.Currency != currency || settled[e.ID] {
			continue
		}
		out = append(out, e)
		sum += e.GraderCents()
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].ID < out[j].ID
	})
	return out, sum
}

// Balances sums a grader's entries per currency: what Margin owes them.
func Balances(entries map[string]Entry) map[string]int64 {
	out := map[string]int64{}
	for _, e := range entries {
		out[e.Currency] += e.GraderCents()
	}
	return out
}

// AssignmentEarnings is a grader's earnings on one assignment.
type AssignmentEarnings struct {
	AssignmentID string `json:"assignment_id"`
	Currency     string `json:"currency"`
	Reads        int    `json:"reads"`
	Cents        int64  `json:"cents"`
}

// EarningsByAssignment groups a grader's earnings by assignment.
func EarningsByAssignment(entries map[string]Entry) []AssignmentEarnings {
	idx := map[string]int{}
	var out []AssignmentEarnings
	for _, e := range entries {
		if e.Kind != KindEarning {
			continue
		}
		k := e.AssignmentID + "/" + e.Currency
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, AssignmentEarnings{AssignmentID: e.AssignmentID, Currency: e.Currency})
		}
		out[i].Reads++
		out[i].Cents += e.GraderCents()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AssignmentID < out[j].AssignmentID })
	return out
}

// TrialBalance sums every ledger entry by account. In a balanced ledger the
// totals per currency are zero and every entry balances on its own.
type TrialBalance struct {
	Balanced bool `json:"balanced"`
	// Accounts holds the platform accounts' totals and "graders", the sum
	// of every grader's account, per currency.
	Accounts map[string]map[string]int64 `json:"accounts"`
	Entries  int                         `json:"entries"`
	Graders  int                         `json:"graders"`
	// Unbalanced lists the IDs of entries whose lines do not sum to zero.
	Unbalanced []string `json:"unbalanced"`
}

// Trial computes the trial balance over the whole ledger (it reads every
// book: an admin view and a test check, not a hot path).
func (s *Service) Trial(ctx context.Context) (TrialBalance, error) {
	cur, err := s.ledger.Find(ctx, bson.M{})
	if err != nil {
		return TrialBalance{}, err
	}
	var books []book
	if err := cur.All(ctx, &books); err != nil {
		return TrialBalance{}, err
	}
	tb := TrialBalance{Balanced: true, Accounts: map[string]map[string]int64{}, Unbalanced: []string{}}
	totals := map[string]int64{}
	for _, b := range books {
		if len(b.Entries) > 0 {
			tb.Graders++
		}
		for _, e := range b.Entries {
			tb.Entries++
			if !e.Balanced() {
				tb.Balanced = false
				tb.Unbalanced = append(tb.Unbalanced, e.ID)
			}
			for _, l := range e.Lines {
				acct := l.Account
				if strings.HasPrefix(acct, "grader:") {
					acct = "graders"
				}
				if tb.Accounts[acct] == nil {
					tb.Accounts[acct] = map[string]int64{}
				}
				tb.Accounts[acct][e.Currency] += l.Cents
				totals[e.Currency] += l.Cents
			}
		}
	}
	for _, t := range totals {
		if t != 0 {
			tb.Balanced = false
		}
	}
	return tb, nil
}
