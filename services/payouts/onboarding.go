package payouts

import (
	"context"
	"errors"
	"slices"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/payouts/stripeclient"
)

// accountDoc is a grader's connected account (stripe_accounts, _id = the
// grader's user ID); ownerDoc maps a Stripe account ID back to its grader
// (stripe_account_owners, _id = the Stripe account ID).
type accountDoc struct {
	GraderID   string `bson:"_id"`
	Onboarding `bson:",inline"`
	Bank       map[string]BankPayout `bson:"bank_payouts"`
	CreatedAt  time.Time             `bson:"created_at"`
}

type ownerDoc struct {
	ID       string `bson:"_id"`
	GraderID string `bson:"grader_id"`
}

func (o Onboarding) withState() Onboarding {
	switch {
	case o.AccountID == "":
		o.State = "not_started"
	case o.PayoutsEnabled && o.DetailsSubmitted:
		o.State = "complete"
	default:
		o.State = "in_progress"
	}
	if o.CurrentlyDue == nil {
		o.CurrentlyDue = []string{}
	}
	return o
}

var errStripeOff = errs.E(errs.Unavailable, "Stripe is not configured on this Margin, so payouts cannot be set up or sent yet; ask the person who runs it to add a Stripe key.")

// stripeErr turns a Stripe failure into an error for the user.
func stripeErr(err error, what string) error {
	switch {
	case errors.Is(err, stripeclient.ErrNotConfigured):
		return errStripeOff
	case stripeclient.Permanent(err):
		return errs.E(errs.Conflict, "Stripe refused to %s: %s", what, stripeclient.Message(err))
	}
	return &errs.Error{Code: errs.Unavailable, Message: "Stripe could not be reached; try again in a moment.", Err: err}
}

func (s *Service) accountOf(ctx context.Context, graderID string) (accountDoc, error) {
	d := accountDoc{GraderID: graderID}
	if _, err := get(ctx, s.stripeAccounts, graderID, &d); err != nil {
		return accountDoc{}, errs.Wrap(err, "stripe account")
	}
	return d, nil
}

func (s *Service) allAccounts(ctx context.Context) (map[string]accountDoc, error) {
	cur, err := s.stripeAccounts.Find(ctx, bson.M{}, options.Find().SetProjection(bson.M{"bank_payouts": 0}))
	if err != nil {
		return nil, err
	}
	var docs []accountDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make(map[string]accountDoc, len(docs))
	for _, d := range docs {
		out[d.GraderID] = d
	}
	return out, nil
}

// StartOnboarding creates the grader's Express account on first use and
// returns a fresh Account Link to Stripe-hosted onboarding (call it again
// when a link has expired). It returns Unavailable without Stripe.
func (s *Service) StartOnboarding(ctx context.Context, grader account.User) (string, Onboarding, error) {
	if !s.StripeConfigured() {
		return "", Onboarding{}, errStripeOff
	}
	d, err := s.accountOf(ctx, grader.ID)
	if err != nil {
		return "", Onboarding{}, err
	}
	if d.AccountID == "" {
		if d, err = s.createAccount(ctx, grader); err != nil {
			return "", Onboarding{}, err
		}
	}
	url, err := s.stripe.OnboardingLink(ctx, d.AccountID, s.cfg.RefreshURL, s.cfg.ReturnURL)
	if err != nil {
		return "", Onboarding{}, stripeErr(err, "create an onboarding link")
	}
	return url, d.Onboarding.withState(), nil
}

// createAccount creates the Stripe account (the idempotency key makes a
// retry return the same one) and records it; when two requests race, the
// first record wins and is returned.
func (s *Service) createAccount(ctx context.Context, grader account.User) (accountDoc, error) {
	st, err := s.stripe.CreateExpressAccount(ctx, grader.ID, grader.Email, "margin-account:"+grader.ID)
	if err != nil {
		return accountDoc{}, stripeErr(err, "create a connected account")
	}
	now := s.now()
	if _, err := s.owners.InsertOne(ctx, ownerDoc{ID: st.ID, GraderID: grader.ID}); err != nil && !mongostore.IsDuplicateKey(err) {
		return accountDoc{}, errs.Wrap(err, "stripe account owner")
	}
	_, err = s.stripeAccounts.UpdateOne(ctx, bson.M{"_id": grader.ID}, bson.M{"$setOnInsert": bson.M{
		"account_id": st.ID, "charges_enabled": st.ChargesEnabled, "payouts_enabled": st.PayoutsEnabled,
		"details_submitted": st.DetailsSubmitted, "currently_due": st.CurrentlyDue, "disabled_reason": st.DisabledReason,
		"status_at": now, "created_at": now, "bank_payouts": bson.M{},
	}}, options.Update().SetUpsert(true))
	if err != nil && !isUpsertRace(err) {
		return accountDoc{}, errs.Wrap(err, "stripe account")
	}
	return s.accountOf(ctx, grader.ID)
}

// SyncOnboarding fetches the grader's account from Stripe and records its
// status (the on-demand refresh, e.g. on return from onboarding). It
// returns NotFound before onboarding has started.
func (s *Service) SyncOnboarding(ctx context.Context, graderID string) (Onboarding, error) {
	d, err := s.accountOf(ctx, graderID)
	if err != nil {
		return Onboarding{}, err
	}
	if d.AccountID == "" {
		return Onboarding{}, errs.E(errs.NotFound, "You have not started Stripe onboarding yet.")
	}
	st, err := s.stripe.Account(ctx, d.AccountID)
	if err != nil {
		return Onboarding{}, stripeErr(err, "return the account")
	}
	if err := s.setStatus(ctx, graderID, st, s.now()); err != nil {
		return Onboarding{}, err
	}
	d, err = s.accountOf(ctx, graderID)
	return d.Onboarding.withState(), err
}

// setStatus records an account's status as of at, unless a newer status is
// already recorded (webhooks can arrive out of order). Stripe times events
// to the second, so a status from the same second counts as older.
func (s *Service) setStatus(ctx context.Context, graderID string, st stripeclient.AccountStatus, at time.Time) error {
	d, err := s.accountOf(ctx, graderID)
	if err != nil {
		return err
	}
	if d.AccountID != st.ID || d.StatusAt.Truncate(time.Second).After(at) {
		return nil
	}
	_, err = s.stripeAccounts.UpdateOne(ctx, bson.M{"_id": graderID}, bson.M{"$set": bson.M{
		"charges_enabled": st.ChargesEnabled, "payouts_enabled": st.PayoutsEnabled, "details_submitted": st.DetailsSubmitted,
		"currently_due": st.CurrentlyDue, "disabled_reason": st.DisabledReason, "status_at": at,
	}})
	if err != nil {
		return errs.Wrap(err, "account status")
	}
	return nil
}

// LoginLink returns a one-time link to the grader's Stripe Express
// dashboard. It returns NotFound before onboarding has started.
func (s *Service) LoginLink(ctx context.Context, graderID string) (string, error) {
	if !s.StripeConfigured() {
		return "", errStripeOff
	}
	d, err := s.accountOf(ctx, graderID)
	if err != nil {
		return "", err
	}
	if d.AccountID == "" {
		return "", errs.E(errs.NotFound, "You have not started Stripe onboarding yet.")
	}
	url, err := s.stripe.LoginLink(ctx, d.AccountID)
	if err != nil {
		return "", stripeErr(err, "create a dashboard link")
	}
	return url, nil
}

// GraderView is everything a grader sees of their money.
type GraderView struct {
	Onboarding Onboarding `json:"onboarding"`
	Currency   string     `json:"currency"`
	// BalanceCents is what Margin owes the grader: the sum of their entries.
	BalanceCents int64 `json:"balance_cents"`
	// PayableCents is the part no payout has settled; InPaymentCents is the
	// part a payment waiting for a retry is sending; HeldCents is what waits
	// for onboarding to finish.
	PayableCents   int64                `json:"payable_cents"`
	InPaymentCents int64                `json:"in_payment_cents"`
	HeldCents      int64                `json:"held_cents"`
	MinimumCents   int64                `json:"minimum_cents"`
	Balances       map[string]int64     `json:"balances"`
	Earnings       []AssignmentEarnings `json:"earnings"`
	// Entries are the latest ledger entries (up to 20), newest first, of
	// EntryCount in all.
	Entries     []Entry       `json:"entries"`
	EntryCount  int           `json:"entry_count"`
	Payments    []PaymentView `json:"payments"`
	BankPayouts []BankPayout  `json:"bank_payouts"`
}

// Grader returns the grader's own view: balance, earnings per assignment
// (the latest 100 assignments, the older ones summed in one line), their
// latest entries (newest first) and payments, bank payouts with their
// status, and the onboarding state. It reads by _id the grader's book and
// Stripe account, and, until the latest run is folded into the books, the
// grader's payout in it.
func (s *Service) Grader(ctx context.Context, graderID string) (GraderView, error) {
	b, err := s.readBook(ctx, graderID)
	if err != nil {
		return GraderView{}, errs.Wrap(err, "grader ledger")
	}
	unfolded, runID, err := s.unfolded(ctx, []string{graderID})
	if err != nil {
		return GraderView{}, errs.Wrap(err, "grader ledger")
	}
	b = withUnfolded(b, unfolded, runID)
	d, err := s.accountOf(ctx, graderID)
	if err != nil {
		return GraderView{}, err
	}
	v := GraderView{Onboarding: d.Onboarding.withState(), Currency: s.cfg.Currency, MinimumCents: s.cfg.MinimumCents,
		Balances: b.Balances, Earnings: slices.Clone(b.Earnings), EntryCount: b.Entries, BankPayouts: []BankPayout{}}
	if v.Earnings == nil {
		v.Earnings = []AssignmentEarnings{}
	}
	if v.Entries, err = s.recentEntries(ctx, b); err != nil {
		return GraderView{}, err
	}
	if v.Payments, err = s.paymentViews(ctx, b.Payments); err != nil {
		return GraderView{}, err
	}
	v.BalanceCents = v.Balances[s.cfg.Currency]
	v.PayableCents = b.Open[s.cfg.Currency].Cents
	for _, p := range v.Payments {
		if !p.State.Final() && p.Currency == s.cfg.Currency {
			v.InPaymentCents += p.Cents
		}
	}
	v.PayableCents -= v.InPaymentCents
	if s.StripeConfigured() && !d.PayoutsEnabled && v.PayableCents > 0 {
		v.HeldCents = v.PayableCents
	}
	for _, bp := range d.Bank {
		v.BankPayouts = append(v.BankPayouts, bp)
	}
	sort.Slice(v.Earnings, func(i, j int) bool { return v.Earnings[i].AssignmentID < v.Earnings[j].AssignmentID })
	sort.Slice(v.BankPayouts, func(i, j int) bool { return v.BankPayouts[i].EventCreated.After(v.BankPayouts[j].EventCreated) })
	return v, nil
}

// recentEntries returns a book's latest entries, newest first: those it
// holds pending, and the others' documents.
func (s *Service) recentEntries(ctx context.Context, b book) ([]Entry, error) {
	docs, err := s.getEntries(ctx, b.Recent)
	if err != nil {
		return nil, err
	}
	for _, e := range b.Pending {
		docs[e.ID] = e
	}
	out := make([]Entry, 0, len(b.Recent))
	for i := len(b.Recent) - 1; i >= 0; i-- {
		if e, ok := docs[b.Recent[i]]; ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// paymentViews returns the grader's view of their payments, newest first.
func (s *Service) paymentViews(ctx context.Context, ids []string) ([]PaymentView, error) {
	got, err := mongostore.GetMany(ctx, s.payments, ids, func(p Payment) string { return p.ID })
	if err != nil {
		return nil, err
	}
	ps := make([]Payment, 0, len(got))
	for _, p := range got {
		ps = append(ps, p)
	}
	if ps, err = s.withOutcomes(ctx, ps); err != nil {
		return nil, err
	}
	out := make([]PaymentView, len(ps))
	for i, p := range ps {
		out[i] = viewOf(p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpdatedAt.After(out[j].UpdatedAt) })
	return out, nil
}
