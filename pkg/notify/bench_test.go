package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
)

// seedInbox writes n placed, unread messages for a user straight into the
// collections, as n calls of Notify would leave them, in bulk.
func seedInbox(ctx context.Context, b *testing.B, s *Service, userID string, n int) []string {
	b.Helper()
	h := headDoc{ID: userID}
	h.init()
	now := s.now()
	var msgs []any
	pages := map[int64]*pageDoc{}
	ids := make([]string, n)
	for i := range n {
		m := messageDoc{ID: messageID(OfferMade, fmt.Sprintf("seed_%d", i), userID), Kind: OfferMade, Key: fmt.Sprintf("seed_%d", i),
			UserID: userID, Role: account.Grader, Title: fmt.Sprintf("Offer %d: 12 essays", i), Text: "Grade them by Friday.",
			Link: fmt.Sprintf("/grader/offers/off_%d", i), CreatedAt: now, Placed: true, Mail: mailState{State: MailSkipped}}
		pos, _ := h.reserve(m.ID)
		h.settle(m.ID, pos)
		m.Pos = pos + 1
		ids[i] = m.ID
		msgs = append(msgs, m)
		p := pos / PageSize
		if pages[p] == nil {
			pages[p] = &pageDoc{ID: pageID(userID, p), UserID: userID, Page: p, Items: map[string]itemDoc{}}
		}
		pages[p].Items[strconv.FormatInt(pos%PageSize, 10)] = itemDoc{ID: m.ID, Pos: pos, Kind: m.Kind, Title: m.Title, Text: m.Text, Link: m.Link, At: now}
	}
	var pd []any
	for _, p := range pages {
		pd = append(pd, p)
	}
	for col, docs := range map[string][]any{colMessages: msgs, colPages: pd, colHeads: {h}} {
		for i := 0; i < len(docs); i += 1000 {
			if _, err := s.c(col).InsertMany(ctx, docs[i:min(i+1000, len(docs))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	return ids
}

// others is how many other users have an inbox of 5.
var others = 2_000

// BenchmarkInbox measures the inbox's reads and writes for a user with
// 10,000 unread messages ("big"), one with 50 ("page": one full page) and
// one with 5 ("small"), in a store that also holds 2,000 other users'
// inboxes (20,000 messages in all). Every operation reads or writes a
// fixed number of documents by _id; what varies is their size: a full
// page against a short one, and the head's unread window (16 bytes a
// page with unread items, at most 400 pages).
//
//	go test ./pkg/notify -run '^$' -bench Inbox -benchtime 200x
func BenchmarkInbox(b *testing.B) {
	ctx := context.Background()
	s, err := New(ctx, mongotest.DB(b), Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	users := map[string][]string{"big": seedInbox(ctx, b, s, "usr_big", 10_000), "page": seedInbox(ctx, b, s, "usr_page", 50)}
	b.Logf("seeded the big inbox in %v", time.Since(start).Round(time.Millisecond))
	for i := range others {
		ids := seedInbox(ctx, b, s, fmt.Sprintf("usr_%04d", i), 5)
		if i == 0 {
			users["small"] = ids
		}
	}
	b.Logf("seeded 20,000 messages for 2,001 users in %v", time.Since(start).Round(time.Millisecond))
	userOf := map[string]string{"big": "usr_big", "page": "usr_page", "small": "usr_0000"}
	for _, size := range []string{"big", "page", "small"} {
		u, ids := userOf[size], users[size]
		b.Run("Unread/"+size, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Unread(ctx, u); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("NewestPage/"+size, func(b *testing.B) {
			for b.Loop() {
				if p, err := s.Inbox(ctx, u, -1); err != nil || len(p.Items) == 0 {
					b.Fatal(len(p.Items), err)
				}
			}
		})
		// Each iteration starts from every item unread, so that each one
		// writes.
		saved, err := s.head(ctx, u)
		if err != nil {
			b.Fatal(err)
		}
		unreadAll := func(b *testing.B) {
			b.StopTimer()
			saved.Rev += 10
			if _, err := s.c(colHeads).ReplaceOne(ctx, byID(u), saved); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.Run("MarkRead/"+size, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				unreadAll(b)
				if err := s.MarkRead(ctx, u, ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("MarkAllRead/"+size, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				unreadAll(b)
				if err := s.MarkAllRead(ctx, u); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Notify/"+size, func(b *testing.B) {
			i := 0
			for b.Loop() {
				err := s.Notify(ctx, Event{Kind: OfferMade, Key: fmt.Sprintf("bench_%s_%d", size, i), Title: "An offer", Link: "/grader",
					Recipients: []Recipient{{UserID: u, Role: account.Grader, Email: "g@example.org", EmailAllowed: true}}})
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	// The queue, which Senders scan, now holds the Notify benchmarks'
	// entries; a Sender without SMTP empties it, then polls an empty queue.
	x := s.NewSender(nil)
	queued, _ := s.c(colQueue).CountDocuments(ctx, bson.D{})
	start = time.Now()
	for {
		n, err := x.RunOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	b.Logf("a Sender without SMTP emptied a queue of %d in %v (%v each)", queued, time.Since(start).Round(time.Millisecond),
		(time.Since(start) / time.Duration(max(queued, 1))).Round(10*time.Microsecond))
	b.Run("IdlePoll", func(b *testing.B) {
		for b.Loop() {
			if _, err := x.RunOnce(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
