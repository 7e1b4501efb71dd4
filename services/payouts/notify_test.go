package payouts

import (
	"testing"

	"github.com/marginschool/margin/pkg/notify"
)

// TestPayoutNotifications: with the real notifications service on the same
// store, a grader paid by a run finds "payout sent" in their inbox once the
// run is folded into the books (off the run's path); a grader held back,
// and a run with Stripe not configured, raise nothing.
func TestPayoutNotifications(t *testing.T) {
	for _, stripe := range []bool{true, false} {
		f := newFixture(t, stripe)
		notes, err := notify.New(f.ctx, f.db, notify.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.svc.SetNotifier(notes)
		ada, cy := f.grader("ada"), f.grader("cy")
		if stripe {
			f.onboard(ada)
		}
		f.approve(ada, "asg_a", 3, 1000)
		f.approve(cy, "asg_a", 2, 1000) // not onboarded: held
		f.runToEnd(f.svc)
		if p, err := notes.Inbox(f.ctx, ada.ID, -1); err != nil || len(p.Items) != 0 {
			t.Fatalf("the run told graders itself, not its fold: %+v %v", p.Items, err)
		}
		if err := f.svc.fold(f.ctx); err != nil {
			t.Fatal(err)
		}
		for _, g := range []struct {
			id   string
			want int
		}{{ada.ID, map[bool]int{true: 1, false: 0}[stripe]}, {cy.ID, 0}} {
			p, err := notes.Inbox(f.ctx, g.id, -1)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Items) != g.want || g.want == 1 && (p.Items[0].Kind != notify.PayoutSent || p.Items[0].Title != "Payout of $25.50 sent") {
				t.Errorf("stripe %v: the inbox of %s: %+v, want %d payout_sent", stripe, g.id, p.Items, g.want)
			}
		}
	}
}
