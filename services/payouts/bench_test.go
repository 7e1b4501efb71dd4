package payouts

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/services/payouts/stripeclient"
)

// BenchmarkPayoutRun is a payout run for 2,000 graders (MARGIN_BENCH_GRADERS
// sets another number) with 50 earnings each against stripe-mock, on the
// embedded store. It reports the run's time, the Stripe calls per grader,
// and, in the same process, the time of the same number of bare transfer
// calls made one after another through Margin's Stripe adapter (the
// target: the run within 2× of them), and the time of folding the run's
// payouts into the books afterwards (fold_s, which the background loop
// does after a run). Seeding is not timed.
func BenchmarkPayoutRun(b *testing.B) {
	graders, earnings := 2000, 50
	if n, err := strconv.Atoi(os.Getenv("MARGIN_BENCH_GRADERS")); err == nil && n > 0 {
		graders = n
	}
	for range b.N {
		b.StopTimer()
		f := newFixtureTB(b)
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
		foldStart := time.Now()
		if err := f.svc.fold(f.ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(foldStart).Seconds(), "fold_s")
		got, payments, _ := f.svc.RunDetail(f.ctx, run.ID)
		transfers := len(f.mock.Requests("POST", "/v1/transfers"))
		if got.SentCount != graders || transfers != graders {
			b.Fatalf("sent %d with %d Stripe calls, want %d", got.SentCount, transfers, graders)
		}
		bare := stripeclient.New(stripeclient.Config{SecretKey: f.cfg.StripeSecretKey, APIBase: f.cfg.StripeAPIBase})
		rawStart := time.Now()
		for i, p := range payments {
			if _, err := bare.CreateTransfer(f.ctx, stripeclient.TransferRequest{Amount: p.Cents, Currency: p.Currency, Destination: p.Destination,
				Group: "bench-raw", Description: "bench", IdempotencyKey: fmt.Sprintf("bench-raw-%d", i)}); err != nil {
				b.Fatal(err)
			}
		}
		raw := time.Since(rawStart)
		b.ReportMetric(float64(transfers)/float64(graders), "stripe_calls/grader")
		b.ReportMetric(total.Seconds(), "run_s")
		b.ReportMetric(raw.Seconds(), "bare_stripe_s")
		b.ReportMetric(float64(total)/float64(raw), "run/bare")
		f.balanced()
	}
}

// seed writes each grader's earnings and book (earnings already ingested)
// and an onboarded account directly, in bulk: payouts' own documents.
func seed(b *testing.B, f *fixture, graders, earnings int) {
	var books, entries, accts []any
	at := time.Now().UTC()
	for g := range graders {
		id := fmt.Sprintf("usr_bench%05d", g)
		bk := newBook(id)
		for e := range earnings {
			en := Entry{ID: fmt.Sprintf("earning:asg_b:%d:v1:%s", e, id), Kind: KindEarning, GraderID: id, Currency: "usd", At: at,
				AssignmentID: "asg_b", Lines: []Line{{AccountGradingExpense, 680}, {GraderAccount(id), -680}}}
			bk.apply(en)
			entries = append(entries, en)
		}
		bk.Rev = 1
		books = append(books, bk.doc())
		accts = append(accts, accountDoc{GraderID: id, Onboarding: Onboarding{AccountID: "acct_" + id, PayoutsEnabled: true, DetailsSubmitted: true}, CreatedAt: at})
	}
	for _, w := range []struct {
		col  *mongo.Collection
		docs []any
	}{{f.svc.entries, entries}, {f.svc.books, books}, {f.svc.stripeAccounts, accts}} {
		for i := 0; i < len(w.docs); i += 1000 {
			if _, err := w.col.InsertMany(f.ctx, w.docs[i:min(i+1000, len(w.docs))]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
