package payouts

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/payouts/stripeclient"
)

func TestFee(t *testing.T) {
	for _, c := range []struct{ price, bps, want int64 }{
		{1000, 1500, 150},
		{999, 1500, 150}, // 149.85 rounds up
		{333, 1500, 50},  // 49.95
		{1, 1500, 0},     // 0.15
		{0, 1500, 0},
		{1000, 0, 0},
		{1000, 10000, 1000},
		{-5, 1500, 0},
	} {
		if got := Fee(c.price, c.bps); got != c.want {
			t.Errorf("Fee(%d, %d) = %d, want %d", c.price, c.bps, got, c.want)
		}
	}
}

func TestEarningEntry(t *testing.T) {
	ev := feedback.PayableEvent{ID: "a:1:v1:g", VersionID: "a:1:v1", AssignmentID: "a", GraderID: "g", Reader: "second", PriceCents: 500, Currency: "USD", ApprovedAt: time.Unix(100, 0)}
	e := EarningEntry(ev, 1500)
	if e.ID != "earning:a:1:v1:g" || e.GraderCents() != 425 || e.FeeCents != 75 || e.Currency != "usd" || !e.Balanced() {
		t.Fatalf("earning = %+v (grader cents %d)", e, e.GraderCents())
	}
	first := ev
	first.Reader = "first"
	if EarningEntry(first, 1500).GraderCents() != e.GraderCents() {
		t.Fatal("a second read earns differently from a first")
	}
}

func entry(id string, kind EntryKind, cents int64, settles int) Entry {
	other := AccountGradingExpense
	if kind == KindPayout {
		cents, other = -cents, AccountStripeTransfers
	}
	return Entry{ID: id, Kind: kind, GraderID: "g", Currency: "usd", At: time.Unix(int64(len(id)), 0), AssignmentID: "a",
		Lines: []Line{{other, cents}, {GraderAccount("g"), -cents}}, SettlesEntries: settles}
}

// A book's sums follow its entries: what is open after a payout is what
// came after it was planned; currencies stay apart; the latest entries are
// kept, not all of them.
func TestBookApply(t *testing.T) {
	eur := entry("e4", KindEarning, 70, 0)
	eur.Currency = "eur"
	for _, c := range []struct {
		name      string
		entries   []Entry
		balance   int64
		open      Open
		eurCents  int64
		earnings  int
		grading   int64 // the expense:grading account's sum in usd
		transfers int64
	}{
		{"nothing", nil, 0, Open{}, 0, 0, 0, 0},
		{"two earnings", []Entry{entry("e1", KindEarning, 100, 0), entry("e2", KindEarning, 200, 0)}, 300, Open{300, 2}, 0, 1, 300, 0},
		{"paid out", []Entry{entry("e1", KindEarning, 100, 0), entry("e2", KindEarning, 200, 0), entry("p1", KindPayout, 300, 2)}, 0, Open{0, 0}, 0, 1, 300, -300},
		{"after a payout", []Entry{entry("e1", KindEarning, 100, 0), entry("e2", KindEarning, 200, 0), entry("p1", KindPayout, 300, 2),
			entry("e3", KindEarning, 50, 0), entry("adj", KindAdjustment, -20, 0), eur}, 30, Open{30, 2}, 70, 2, 330, -300},
		{"a payout planned before an earning arrived", []Entry{entry("e1", KindEarning, 100, 0), entry("e2", KindEarning, 200, 0),
			entry("p1", KindPayout, 100, 1)}, 200, Open{200, 1}, 0, 1, 300, -100},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBook("g")
			for _, e := range c.entries {
				if !e.Balanced() {
					t.Fatalf("%s does not balance", e.ID)
				}
				b.apply(e)
			}
			if b.Balances["usd"] != c.balance || b.Open["usd"] != c.open || b.Balances["eur"] != c.eurCents || b.Open["eur"].Cents != c.eurCents {
				t.Fatalf("balances %v open %v; want usd %d open %+v, eur %d", b.Balances, b.Open, c.balance, c.open, c.eurCents)
			}
			if len(b.Earnings) != c.earnings || b.Entries != len(c.entries) || len(b.Recent) != len(c.entries) {
				t.Fatalf("earnings %+v, %d entries, %d recent", b.Earnings, b.Entries, len(b.Recent))
			}
			if got := b.Accounts[mongostore.FieldKey(AccountGradingExpense)]["usd"]; got != c.grading {
				t.Fatalf("expense:grading %d, want %d", got, c.grading)
			}
			if got := b.Accounts[mongostore.FieldKey(AccountStripeTransfers)]["usd"]; got != c.transfers {
				t.Fatalf("stripe:transfers %d, want %d", got, c.transfers)
			}
		})
	}
	if (Entry{Lines: []Line{{"a", 1}, {"b", -2}}}).Balanced() {
		t.Fatal("an unbalanced entry passes")
	}
}

// A book stays bounded: the latest 20 entries and payments, and 100
// assignments with earnings lines of their own, the older ones summed in
// one line whose reads and cents are kept.
func TestBookIsBounded(t *testing.T) {
	b := newBook("g")
	var want int64
	for i := range 250 {
		e := entry(fmt.Sprintf("e%d", i), KindEarning, 10, 0)
		e.AssignmentID = fmt.Sprintf("asg_%03d", i/2)
		b.apply(e)
		want += 10
		b.notePayment(fmt.Sprintf("p%d", i))
	}
	if len(b.Recent) != maxRecentEntries || len(b.Payments) != maxRecentPayments || len(b.Earnings) != maxAssignments+1 {
		t.Fatalf("%d recent entries, %d payments, %d earnings lines", len(b.Recent), len(b.Payments), len(b.Earnings))
	}
	var reads int
	var cents int64
	for _, e := range b.Earnings {
		reads += e.Reads
		cents += e.Cents
	}
	if reads != 250 || cents != want || b.Earnings[0].AssignmentID != "" || b.Earnings[0].Reads != 50 {
		t.Fatalf("earnings sum to %d reads and %d cents (first line %+v)", reads, cents, b.Earnings[0])
	}
	if b.Payments[len(b.Payments)-1] != "p249" || b.Recent[len(b.Recent)-1] != "e249" {
		t.Fatal("the latest payment or entry is not last in the book")
	}
}

func TestScheduledRunID(t *testing.T) {
	mon := time.Date(2026, 2, 9, 0, 0, 1, 0, time.UTC)
	sun := time.Date(2026, 2, 15, 23, 59, 0, 0, time.UTC)
	for _, c := range []struct {
		schedule string
		at       time.Time
		want     string
	}{
		{"weekly", mon, "run_2026w07"},
		{"weekly", sun, "run_2026w07"},
		{"weekly", sun.Add(time.Minute), "run_2026w08"},
		{"daily", mon, "run_20260209"},
		{"off", mon, ""},
	} {
		if got := ScheduledRunID(c.schedule, c.at); got != c.want {
			t.Errorf("ScheduledRunID(%s, %s) = %q, want %q", c.schedule, c.at, got, c.want)
		}
	}
}

func TestCompare(t *testing.T) {
	sent := func(id, tr string, cents int64) Payment {
		return Payment{ID: id, State: PaymentSent, TransferID: tr, Cents: cents}
	}
	tr := func(id, payment string, cents int64) stripeclient.Transfer {
		return stripeclient.Transfer{ID: id, Amount: cents, Metadata: map[string]string{"margin_payment": payment}}
	}
	for _, c := range []struct {
		name      string
		payments  []Payment
		transfers []stripeclient.Transfer
		want      []MismatchKind
	}{
		{"agree", []Payment{sent("p1", "tr1", 100)}, []stripeclient.Transfer{tr("tr1", "p1", 100)}, nil},
		{"missing in stripe", []Payment{sent("p1", "tr1", 100)}, nil, []MismatchKind{MissingInStripe}},
		{"missing in ledger", nil, []stripeclient.Transfer{tr("tr1", "p9", 100)}, []MismatchKind{MissingInLedger}},
		{"failed payment but a transfer", []Payment{{ID: "p1", State: PaymentFailed}}, []stripeclient.Transfer{tr("tr1", "p1", 100)}, []MismatchKind{MissingInLedger}},
		{"amount", []Payment{sent("p1", "tr1", 100)}, []stripeclient.Transfer{tr("tr1", "p1", 90)}, []MismatchKind{AmountDiffers}},
		{"duplicate", []Payment{sent("p1", "tr1", 100)}, []stripeclient.Transfer{tr("tr1", "p1", 100), tr("tr2", "p1", 100)}, []MismatchKind{Duplicate, Duplicate}},
		{"other transfer", []Payment{sent("p1", "tr1", 100)}, []stripeclient.Transfer{tr("tr2", "p1", 100)}, []MismatchKind{OtherTransfer}},
		{"not sent, no transfer", []Payment{{ID: "p1", State: PaymentNotSent}}, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Compare(c.payments, c.transfers)
			if len(got) != len(c.want) {
				t.Fatalf("mismatches = %+v, want kinds %v", got, c.want)
			}
			for i := range got {
				if got[i].Kind != c.want[i] {
					t.Fatalf("mismatch %d = %+v, want %s", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New("dial tcp: i/o timeout"), false},
		{&stripe.Error{HTTPStatusCode: 400, Msg: "No such destination"}, true},
		{&stripe.Error{HTTPStatusCode: 402}, true},
		{&stripe.Error{HTTPStatusCode: 409}, false}, // idempotency key in use by a request in flight
		{&stripe.Error{HTTPStatusCode: 429}, false},
		{&stripe.Error{HTTPStatusCode: 500}, false},
		{fmt.Errorf("wrapped: %w", &stripe.Error{HTTPStatusCode: 404}), true},
	} {
		if got := stripeclient.Permanent(c.err); got != c.want {
			t.Errorf("Permanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
