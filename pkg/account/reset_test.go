package account

import (
	"context"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
)

// TestPasswordReset follows a reset link from request to use: it sets the
// password once, ends the user's sessions and older links, and says
// nothing about addresses without an account.
func TestPasswordReset(t *testing.T) {
	ctx := context.Background()
	s := New(mongotest.DB(t))
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	u, err := s.Create(ctx, "ann@example.org", "first password 1", "Ann Lee", Teacher, "")
	if err != nil {
		t.Fatal(err)
	}
	sess, _, err := s.Login(ctx, "ann@example.org", "first password 1")
	if err != nil {
		t.Fatal(err)
	}

	for _, email := range []string{"nobody@example.org", "", "x"} {
		if _, ok, err := s.RequestReset(ctx, email); ok || err != nil {
			t.Errorf("RequestReset(%q) = ok %v, %v; want no link and no error", email, ok, err)
		}
	}
	r, ok, err := s.RequestReset(ctx, " Ann@Example.org ")
	if !ok || err != nil || r.User.ID != u.ID {
		t.Fatalf("RequestReset = %+v, %v, %v", r, ok, err)
	}
	if _, ok, _ := s.RequestReset(ctx, "ann@example.org"); ok {
		t.Error("a second request within ResetEvery made another link")
	}
	older := r
	now = now.Add(ResetEvery)
	r, ok, err = s.RequestReset(ctx, "ann@example.org")
	if !ok || err != nil {
		t.Fatalf("RequestReset after ResetEvery = %v, %v", ok, err)
	}

	if _, err := s.ResetPassword(ctx, r.Token, "short"); !errs.Is(err, errs.WeakPassword) {
		t.Errorf("weak password: %v, want weak_password", err)
	}
	if _, err := s.CheckReset(ctx, r.Token); err != nil {
		t.Errorf("the link stopped working after a weak password: %v", err)
	}
	if _, err := s.ResetPassword(ctx, r.Token, "second password 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, sess); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("the session before the reset still works: %v", err)
	}
	if _, _, err := s.Login(ctx, "ann@example.org", "second password 2"); err != nil {
		t.Errorf("sign in with the new password: %v", err)
	}
	if _, _, err := s.Login(ctx, "ann@example.org", "first password 1"); err == nil {
		t.Error("the old password still signs in")
	}
	for name, tok := range map[string]string{"used": r.Token, "older": older.Token, "unknown": NewToken(), "empty": ""} {
		if _, err := s.ResetPassword(ctx, tok, "third password 3"); !errs.Is(err, errs.LinkExpired) {
			t.Errorf("%s link: %v, want link_expired", name, err)
		}
	}

	// An admin's link, and its expiry.
	admin := User{ID: "usr_admin", Role: Admin}
	if _, err := s.IssueReset(ctx, u, u.ID); !errs.Is(err, errs.Forbidden) {
		t.Errorf("a teacher issued a link: %v", err)
	}
	if _, err := s.IssueReset(ctx, admin, "usr_nobody"); !errs.Is(err, errs.NotFound) {
		t.Errorf("unknown user: %v", err)
	}
	st, err := s.EnsureStudent(ctx, "sch_1", "cls_1", "S1", "Sam")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssueReset(ctx, admin, st.ID); !errs.Is(err, errs.Invalid) {
		t.Errorf("a student's link: %v, want invalid", err)
	}
	a, err := s.IssueReset(ctx, admin, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(ResetTTL)
	if _, err := s.ResetPassword(ctx, a.Token, "third password 3"); !errs.Is(err, errs.LinkExpired) {
		t.Errorf("expired link: %v, want link_expired", err)
	}
}
