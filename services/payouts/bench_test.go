package payouts

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/marginschool/margin/services/payouts/stripeclient"
)

// BenchmarkPayoutRun is a payout run for 2,000 graders with 50 earnings
// each against stripe-mock. It reports the Stripe calls per grader and the
// ratio of the run's time to the time spent in the Stripe calls alone
// (measured between the BeforeStripe and AfterStripe points of the same
// run). Seeding is not timed.
func BenchmarkPayoutRun(b *testing.B) {
	graders, earnings := 2000, 50
	if n, err := strconv.Atoi(os.Getenv("MARGIN_BENCH_GRADERS")); err == nil && n > 0 {
		graders = n // a smaller run, to measure the per-grader cost quickly
	}
	for range b.N {
		b.StopTimer()
		f := newFixtureTB(b)
		var mu sync.Mutex
		var inStripe time.Duration
		var started time.Time
		f.svc.stripe = stripeclient.New(stripeclient.Config{SecretKey: f.cfg.StripeSecretKey, APIBase: f.cfg.StripeAPIBase, Fault: func(p stripeclient.Point) error {
			mu.Lock()
			defer mu.Unlock()
			switch p {
			case stripeclient.BeforeStripe:
				started = time.Now()
			case stripeclient.AfterStripe:
				inStripe += time.Since(started)
			}
			return nil
		}})
		seedStart := time.Now()
		seed(b, f, graders, earnings)
		b.ReportMetric(time.Since(seedStart).Seconds(), "seed_s")
		b.StartTimer()
		start := time.Now()
		run, err := f.svc.StartRun(f.ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := f.svc.Advance(f.ctx, run.ID); err != nil {
			b.Fatal(err)
		}
		total := time.Since(start)
		b.StopTimer()
		got, _, _ := f.svc.RunDetail(f.ctx, run.ID)
		calls := len(f.mock.Requests("POST", "/v1/transfers"))
		if got.SentCount != graders || calls != graders {
			b.Fatalf("sent %d with %d Stripe calls, want %d", got.SentCount, calls, graders)
		}
		b.ReportMetric(float64(calls)/float64(graders), "stripe_calls/grader")
		b.ReportMetric(total.Seconds(), "run_s")
		b.ReportMetric(inStripe.Seconds(), "stripe_s")
		b.ReportMetric(float64(total)/float64(inStripe), "run/stripe")
	}
}

// seed writes each grader's book (earnings already ingested) and an
// onboarded account directly, in bulk.
func seed(b *testing.B, f *fixture, graders, earnings int) {
	var books, accts []any
	at := time.Now().UTC()
	for g := range graders {
		id := fmt.Sprintf("usr_bench%05d", g)
		entries := map[string]Entry{}
		for e := range earnings {
			en := Entry{ID: fmt.Sprintf("earning:asg_b:%d:v1:%s", e, id), Kind: KindEarning, GraderID: id, Currency: "usd", At: at,
				AssignmentID: "asg_b", Lines: []Line{{AccountGradingExpense, 680}, {GraderAccount(id), -680}}}
			entries[key(en.ID)] = en
		}
		books = append(books, book{ID: id, Entries: entries, Payments: map[string]PaymentView{}})
		accts = append(accts, accountDoc{GraderID: id, Onboarding: Onboarding{AccountID: "acct_" + id, PayoutsEnabled: true, DetailsSubmitted: true}, CreatedAt: at})
	}
	for i := 0; i < len(books); i += 200 {
		if _, err := f.svc.ledger.InsertMany(f.ctx, books[i:min(i+200, len(books))]); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := f.svc.stripeAccounts.InsertMany(f.ctx, accts); err != nil {
		b.Fatal(err)
	}
}
