package payouts

import (
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// foldState says which run's payouts may not be in the graders' books yet
// (payout_state, _id "fold"): the latest planned run, until fold has
// applied every payout it sent.
type foldState struct {
	ID     string `bson:"_id"`
	RunID  string `bson:"run_id"`
	Folded bool   `bson:"folded"`
}

const foldID = "fold"

func (s *Service) foldState(ctx context.Context) (foldState, error) {
	st := foldState{ID: foldID, Folded: true}
	_, err := get(ctx, s.state, foldID, &st)
	return st, err
}

func (s *Service) setFold(ctx context.Context, st foldState) error {
	st.ID = foldID
	_, err := s.state.ReplaceOne(ctx, bson.M{"_id": foldID}, st, options.Replace().SetUpsert(true))
	if err != nil && isUpsertRace(err) {
		_, err = s.state.ReplaceOne(ctx, bson.M{"_id": foldID}, st)
	}
	return err
}

// fold applies the payouts of the latest run to the graders' books, once
// the run is done: each book's payments say whether it holds a payout
// already, so folding again (after a crash) changes nothing twice. It
// reads each of the run's payout entries by _id and changes each paid
// grader's book, then tells each grader of the run's payment to them.
func (s *Service) fold(ctx context.Context) error {
	st, err := s.foldState(ctx)
	if err != nil || st.Folded {
		return err
	}
	var run PayoutRun
	if found, err := get(ctx, s.runs, st.RunID, &run); err != nil || !found {
		return err // a run planned but never created is nothing to fold
	}
	if run.State != RunDone {
		return nil
	}
	for i := 0; i < len(run.Graders); i += 500 {
		chunk := run.Graders[i:min(i+500, len(run.Graders))]
		ids := make([]string, len(chunk))
		for j, g := range chunk {
			ids[j] = "payout:" + PaymentID(run.ID, g)
		}
		sent, err := s.getEntries(ctx, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			e, ok := sent[id]
			if !ok {
				continue
			}
			if _, err := s.changeBook(ctx, e.GraderID, func(b *book) error { return foldInto(b, e, run.ID) }); err != nil {
				return fmt.Errorf("fold payout %s: %w", e.ID, err)
			}
		}
	}
	// The graders hear of their payments now, off the run's path; a crash
	// before the fold is recorded tells them again, which the events'
	// keys make a no-op.
	if s.notes != nil {
		_, payments, err := s.RunDetail(ctx, run.ID)
		if err != nil {
			return err
		}
		s.notifyPayments(ctx, payments)
	}
	st.Folded = true
	return s.setFold(ctx, st)
}

// foldInto applies a run's payout entry to a book unless it did already,
// or returns errSkip.
func foldInto(b *book, e Entry, runID string) error {
	if b.FoldedRun == runID {
		return errSkip
	}
	b.apply(e)
	b.notePayment(e.PaymentID)
	b.FoldedRun = runID
	return nil
}

// unfolded returns the payout entries of the latest run not folded into
// the books yet, by grader, for the given graders (nil: all of the run's):
// what the grader's view and the trial balance add to a book.
func (s *Service) unfolded(ctx context.Context, graders []string) (map[string]Entry, string, error) {
	st, err := s.foldState(ctx)
	if err != nil || st.Folded {
		return nil, "", err
	}
	if graders == nil {
		var run PayoutRun
		if _, err := get(ctx, s.runs, st.RunID, &run); err != nil {
			return nil, "", err
		}
		graders = run.Graders
	}
	ids := make([]string, len(graders))
	for i, g := range graders {
		ids[i] = "payout:" + PaymentID(st.RunID, g)
	}
	sent, err := s.getEntries(ctx, ids)
	if err != nil {
		return nil, "", err
	}
	out := make(map[string]Entry, len(sent))
	for _, e := range sent {
		out[e.GraderID] = e
	}
	return out, st.RunID, nil
}

// withUnfolded is a book with the latest run's payout added when fold has
// not applied it yet.
func withUnfolded(b book, unfolded map[string]Entry, runID string) book {
	if e, ok := unfolded[b.ID]; ok {
		b.Balances, b.Open, b.Accounts = cloneMap(b.Balances), cloneMap(b.Open), cloneAccounts(b.Accounts)
		b.Recent, b.Payments, b.Earnings = slices.Clone(b.Recent), slices.Clone(b.Payments), slices.Clone(b.Earnings)
		_ = foldInto(&b, e, runID)
	}
	return b
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneAccounts(m map[string]map[string]int64) map[string]map[string]int64 {
	out := make(map[string]map[string]int64, len(m))
	for k, v := range m {
		out[k] = cloneMap(v)
	}
	return out
}
