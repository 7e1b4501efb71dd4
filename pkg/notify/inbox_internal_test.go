package notify

import (
	"context"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
)

// TestHeadBits runs the head's bookkeeping through retries, reads, full
// pages and trimming; the unread count must always equal the unread bits.
func TestHeadBits(t *testing.T) {
	h := headDoc{ID: "u"}
	h.init()
	check := func(step string, unread int) {
		t.Helper()
		bits := 0
		for p := h.Base; p < h.Base+h.pages(); p++ {
			_, un, _ := h.masks(p)
			for i := range PageSize {
				if un&(1<<i) != 0 {
					bits++
				}
			}
		}
		if h.Unread != unread || bits != unread {
			t.Fatalf("%s: unread %d, bits %d, want %d", step, h.Unread, bits, unread)
		}
	}
	p0, _ := h.reserve("a")
	if again, changed := h.reserve("a"); again != p0 || changed {
		t.Fatalf("a retried reservation moved: %d → %d", p0, again)
	}
	if !h.settle("a", p0) || h.settle("a", p0) {
		t.Fatal("settle: first changes, second does not")
	}
	check("settled twice", 1)
	if !h.markRead(p0) || h.markRead(p0) {
		t.Fatal("markRead: first changes, second does not")
	}
	check("read twice", 0)
	for i := 1; i < PageSize; i++ {
		id := string(rune('A' + i))
		p, _ := h.reserve(id)
		h.settle(id, p)
		h.markRead(p)
	}
	if _, _, ok := h.masks(0); ok || len(h.Reserving) != 0 {
		t.Fatalf("a full, read page is still tracked: base %d, %d pages", h.Base, h.pages())
	}
	if h.settle("a", p0) {
		t.Fatal("settling an item of a dropped page changed the head")
	}
	check("page dropped", 0)
	for i := range (maxTrackedPages + 3) * PageSize {
		id := "m" + string(rune(i))
		p, _ := h.reserve(id)
		h.settle(id, p)
	}
	if h.pages() > maxTrackedPages {
		t.Fatalf("%d pages tracked", h.pages())
	}
	check("trimmed", maxTrackedPages*PageSize)
	if !h.markAllRead() || h.markAllRead() {
		t.Fatal("markAllRead: first changes, second does not")
	}
	check("all read", 0)
}

// TestSealedDigest: an item that arrives after its digest was sealed goes
// to the next day's.
func TestSealedDigest(t *testing.T) {
	ctx := context.Background()
	s, err := New(ctx, mongotest.DB(t), Config{DigestHour: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	m := messageDoc{ID: "ntf_1", Kind: OfferMade, UserID: "g", Role: account.Grader, Email: "g@example.org", Title: "t", CreatedAt: now}
	id, err := s.toDigest(ctx, m)
	if err != nil || id != "g:2026-03-02" {
		t.Fatalf("toDigest = %s, %v", id, err)
	}
	if _, err := s.sealDigest(ctx, id); err != nil {
		t.Fatal(err)
	}
	m.ID = "ntf_2"
	if id, err = s.toDigest(ctx, m); err != nil || id != "g:2026-03-03" {
		t.Fatalf("after sealing: %s, %v", id, err)
	}
	n, _ := s.c(colQueue).CountDocuments(ctx, map[string]any{})
	if n != 2 {
		t.Fatalf("%d digests queued, want 2", n)
	}
}
