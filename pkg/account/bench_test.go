package account

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/mongostore/mongotest"
)

// BenchmarkAuthenticate is what a signed-in request costs to identify its
// caller, with a school year's accounts (2,000 students and their
// sessions) in the store: "store" reads the session and the user each
// time (the cache emptied before each call), "cached" is a repeat within
// CacheTTL.
//
//	go test ./pkg/account/ -run '^$' -bench Authenticate
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	s := New(mongotest.DB(b))
	if err := s.EnsureIndexes(ctx); err != nil {
		b.Fatal(err)
	}
	var users, sessions []any
	now := s.now()
	for i := range 2000 {
		id := EnrolmentUserID("cls_bench", fmt.Sprint(i))
		users = append(users, userDoc{ID: id, Login: "student:cls_bench:" + fmt.Sprint(i), Name: "S", Role: Student,
			SchoolID: "sch_bench", ClassID: "cls_bench", StudentID: fmt.Sprint(i), CreatedAt: now})
		sessions = append(sessions, sessionDoc{ID: HashToken(fmt.Sprint("tok", i)), UserID: id, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	}
	if _, err := s.users.InsertMany(ctx, users); err != nil {
		b.Fatal(err)
	}
	if _, err := s.sessions.InsertMany(ctx, sessions); err != nil {
		b.Fatal(err)
	}
	tok := "tok1234"
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			s.cache.lru.Purge()
			if _, err := s.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Authenticate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
