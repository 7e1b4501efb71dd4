package payouts

import (
	"context"
	"fmt"
	"time"

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
// configured tells no one: nothing went wrong for the grader to fix. fold
// calls it, after the run is done and off its path, before recording the
// fold, so a fold done again after a crash tells them again, which the
// events' keys make a no-op. A failure to raise is logged: the payments
// are settled either way.
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
		s.notifyGrader(ctx, p.GraderID, e)
	}
}

// notifyGrader raises e for one grader (nothing without a Notifier); a
// failure is logged. Raised while a webhook is applied, before the event is
// recorded applied, a redelivery raises it again, which the event's key
// makes a no-op.
func (s *Service) notifyGrader(ctx context.Context, graderID string, e notify.Event) {
	if s.notes == nil {
		return
	}
	u, err := s.accounts.User(ctx, graderID)
	if err != nil {
		s.log.Warn("notify: grader", "grader", graderID, "err", err)
		return
	}
	e.Recipients = []notify.Recipient{{UserID: u.ID, Role: account.Grader, Email: u.Email, EmailAllowed: u.Email != ""}}
	if err := s.notes.Notify(ctx, e); err != nil {
		s.log.Warn("notify", "kind", e.Kind, "key", e.Key, "err", err)
	}
}

// warnLowBalance tells the school's billing managers that its available
// credit is below Billing.LowBalanceCents: once per level of purchases
// (the event's key carries what the school has bought so far, so buying
// more makes the next warning a new one). A failure to raise is logged.
func (s *Service) warnLowBalance(ctx context.Context, b schoolBook) {
	low := s.cfg.Billing.LowBalanceCents
	if s.notes == nil || low <= 0 || b.Available >= low {
		return
	}
	s.notifyManagers(ctx, b, notify.Event{Kind: notify.LowBalance, Key: fmt.Sprintf("%s/%d", b.ID, b.PurchasedCents), Link: "/teacher",
		Title: fmt.Sprintf("Your school's grading credit is low: %s left", money(b.Available, s.cfg.Currency)),
		Text: fmt.Sprintf("Your school has %s of grading credit left, below %s. Publishing more work needs credit: buy it through Margin's billing (POST /api/v1/billing/checkout, or an invoice).",
			money(b.Available, s.cfg.Currency), money(low, s.cfg.Currency))})
}

// notifyInvoiceDue tells the school's billing managers that an unpaid
// invoice falls due within invoiceWarning: once per invoice.
func (s *Service) notifyInvoiceDue(ctx context.Context, p Purchase) {
	if s.notes == nil || p.InvoiceID == "" || p.State != PurchaseOpen {
		return
	}
	due := p.CreatedAt.Add(time.Duration(s.cfg.Billing.InvoiceDays) * 24 * time.Hour)
	if s.now().Before(due.Add(-invoiceWarning)) {
		return
	}
	b, err := s.readSchool(ctx, p.SchoolID)
	if err != nil {
		s.log.Warn("notify: school", "school", p.SchoolID, "err", err)
		return
	}
	link := p.InvoiceURL
	if link == "" {
		link = "/teacher"
	}
	s.notifyManagers(ctx, b, notify.Event{Kind: notify.InvoiceDue, Key: p.ID + "/due", Link: link,
		Title: fmt.Sprintf("Invoice for %s due %s", money(p.Cents, p.Currency), due.Format("2 January 2006")),
		Text:  fmt.Sprintf("Your school's invoice for %s of grading credit is due on %s and is not paid yet.", money(p.Cents, p.Currency), due.Format("2 January 2006"))})
}

// invoiceWarning is how long before an invoice's due date its managers are
// told.
const invoiceWarning = 3 * 24 * time.Hour

// notifyManagers raises e for the school's billing managers (managers).
func (s *Service) notifyManagers(ctx context.Context, b schoolBook, e notify.Event) {
	ids, err := s.managers(ctx, b)
	if err != nil || len(ids) == 0 {
		s.log.Warn("notify: no billing manager", "school", b.ID, "err", err)
		return
	}
	for _, id := range ids {
		u, err := s.accounts.User(ctx, id)
		if err != nil {
			s.log.Warn("notify: billing manager", "user", id, "err", err)
			continue
		}
		e.Recipients = append(e.Recipients, notify.Recipient{UserID: u.ID, Role: u.Role, Email: u.Email, EmailAllowed: u.Email != ""})
	}
	if err := s.notes.Notify(ctx, e); err != nil {
		s.log.Warn("notify", "kind", e.Kind, "key", e.Key, "err", err)
	}
}
