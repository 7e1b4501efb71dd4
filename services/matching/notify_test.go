package matching

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/notify"
)

// TestGraderNotifications: with the real notifications service on the same
// store, a grader's inbox gets the vetting decision, the offer, one warning
// as the offer nears its expiry however often the loop runs, and one
// warning per accepted task as its lease nears its end; nothing names a
// student.
func TestGraderNotifications(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	notes, err := notify.New(ctx, w.db, notify.Config{}, nil)
	must(t, err)
	w.s.SetNotifier(notes)
	g := w.grader(t, "a@readers.example.org", 10)
	kinds := func() map[notify.Kind]int {
		t.Helper()
		p, err := notes.Inbox(ctx, g.ID, -1)
		must(t, err)
		out := map[notify.Kind]int{}
		for _, it := range p.Items {
			out[it.Kind]++
			for _, name := range []string{"Natarajan", "Priya", "Okafor", "@students.example.org"} {
				if strings.Contains(it.Title+it.Text+it.Link, name) {
					t.Errorf("%s names a student: %q %q", it.Kind, it.Title, it.Text)
				}
			}
		}
		return out
	}
	w.round(t)
	w.round(t)
	if k := kinds(); k[notify.VettingDecided] != 1 || k[notify.OfferMade] != 1 {
		t.Fatalf("after vetting and two rounds: %v", k)
	}
	must(t, w.s.Tick(ctx))
	if k := kinds(); k[notify.OfferExpiring] != 0 {
		t.Fatalf("a fresh offer was warned about: %v", k)
	}
	w.advance(11 * time.Hour) // the offer expires in 1 h
	must(t, w.s.Tick(ctx))
	must(t, w.s.Tick(ctx))
	if k := kinds(); k[notify.OfferExpiring] != 1 {
		t.Fatalf("near expiry, two passes: %v", k)
	}
	o := w.openOffer(t, g)
	_, err = w.s.Accept(ctx, g, o.ID)
	must(t, err)
	must(t, w.s.Tick(ctx))
	if k := kinds(); k[notify.TaskDueSoon] != 0 {
		t.Fatalf("tasks due in two weeks were warned about: %v", k)
	}
	// The lease ends LeaseMargin (24 h) before the due date: warn the day
	// before that.
	w.clock = o.DueAt.Add(-47 * time.Hour)
	must(t, w.s.Tick(ctx))
	must(t, w.s.Tick(ctx))
	if k := kinds(); k[notify.TaskDueSoon] != o.Size {
		t.Fatalf("near the lease's end: %v, want %d task warnings", k, o.Size)
	}
}
