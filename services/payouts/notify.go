package payouts

import (
	"context"
	"fmt"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/notify"
)

// Notifier is where payouts raises events for graders
// (pkg/notify.Service). Raising the same event again is a no-op.
type Notifier interface {
	Notify(ctx context.Context, e notify.Event) error
}

// SetNotifier makes the service tell graders when a run's payment to them
// is sent or has failed. Without one it raises nothing.
func (s *Service) SetNotifier(n Notifier) { s.notes = n }

// notifyPayments tells each grader of a finished run's payment that it was
// sent or that it failed. A payment not sent because Stripe is not
// configured tells no one: nothing went wrong for the grader to fix. It runs before the run is recorded done, so a run finished again
// after a crash tells them again, which the events' keys make a no-op. A
// failure to raise is logged: the payments are settled either way.
func (s *Service) notifyPayments(ctx context.Context, payments []Payment) {
	if s.notes == nil {
		return
	}
	for _, p := range payments {
		if p.State != PaymentSent && p.State != PaymentFailed {
			continue
		}
		e := notify.Event{Kind: notify.PayoutSent, Key: p.ID, Link: "/grader/earnings",
			Title: fmt.Sprintf("Payout of %s sent", money(p.Cents, p.Currency)),
			Text:  fmt.Sprintf("%s is on its way to your connected Stripe account.", money(p.Cents, p.Currency))}
		if p.State == PaymentFailed {
			e = notify.Event{Kind: notify.PayoutFailed, Key: p.ID + "/failed", Link: "/grader/earnings",
				Title: fmt.Sprintf("Payout of %s failed", money(p.Cents, p.Currency)),
				Text:  "Your payout could not be sent. Check your payout account on your earnings page; the amount stays owed to you and goes out in a later run."}
		}
		u, err := s.accounts.User(ctx, p.GraderID)
		if err != nil {
			s.log.Warn("notify: grader", "grader", p.GraderID, "err", err)
			continue
		}
		e.Recipients = []notify.Recipient{{UserID: u.ID, Role: account.Grader, Email: u.Email, EmailAllowed: u.Email != ""}}
		if err := s.notes.Notify(ctx, e); err != nil {
			s.log.Warn("notify", "kind", e.Kind, "key", e.Key, "err", err)
		}
	}
}
