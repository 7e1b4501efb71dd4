package account

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"ann@example.org", "ann@example.org", true},
		{"  Ann.Lee@Example.ORG ", "ann.lee@example.org", true},
		{"a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk", true},
		{"", "", false},
		{"ann", "", false},
		{"ann@", "", false},
		{"@example.org", "", false},
		{"ann@localhost", "", false},
		{"ann@example.", "", false},
		{"Ann <ann@example.org>", "", false},
		{"ann@example.org, bo@example.org", "", false},
		{strings.Repeat("a", 250) + "@example.org", "", false},
	}
	for _, tc := range tests {
		got, err := NormalizeEmail(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errs.Is(err, errs.InvalidEmail) {
			t.Errorf("NormalizeEmail(%q): code %s, want invalid_email", tc.in, errs.CodeOf(err))
		}
	}
}

func TestCheckPasswordStrength(t *testing.T) {
	tests := []struct {
		pw, email string
		ok        bool
	}{
		{"correct horse battery", "a@b.org", true},
		{"ten chars!", "", true},
		{"nine char", "", false},
		{"", "", false},
		{"Password123", "", false}, // common, whatever the case
		{"ann@example.org", "ann@example.org", false},
		{"zzzzzzzzzzzz", "", false},
		{strings.Repeat("ab", 129), "", false}, // over 256 bytes
		{"élève-élève", "", true},              // 11 characters, more bytes
	}
	for _, tc := range tests {
		err := CheckPasswordStrength(tc.pw, tc.email)
		if tc.ok != (err == nil) {
			t.Errorf("CheckPasswordStrength(%q) = %v, want ok=%v", tc.pw, err, tc.ok)
		}
		if err != nil && !errs.Is(err, errs.WeakPassword) {
			t.Errorf("CheckPasswordStrength(%q): code %s", tc.pw, errs.CodeOf(err))
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h := hashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$") || strings.Contains(h, "correct") {
		t.Fatalf("hash = %q", h)
	}
	if h == hashPassword("correct horse battery") {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, tc := range []struct {
		hash, pw string
		want     bool
	}{
		{h, "correct horse battery", true},
		{h, "correct horse batterY", false},
		{h, "", false},
		{"$argon2id$v=19$m=x$bad$bad", "correct horse battery", false},
		{"plain", "plain", false},
	} {
		if got := checkPassword(tc.hash, tc.pw); got != tc.want {
			t.Errorf("checkPassword(%q, %q) = %v", tc.hash, tc.pw, got)
		}
	}
}

func TestSessionsExpireAndEnd(t *testing.T) {
	ctx := context.Background()
	s := New(mongotest.DB(t))
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	u, err := s.Create(ctx, "g@example.com", "a long passphrase", "G", Grader, "")
	if err != nil {
		t.Fatal(err)
	}
	tok, got, err := s.Login(ctx, "G@Example.com", "a long passphrase")
	if err != nil || got.ID != u.ID {
		t.Fatalf("login: %v %v", got, err)
	}
	if a, err := s.Authenticate(ctx, tok); err != nil || a.ID != u.ID {
		t.Fatalf("authenticate: %v %v", a, err)
	}
	now = now.Add(SessionTTL)
	if _, err := s.Authenticate(ctx, tok); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("expired session: %v", err)
	}
	now = now.Add(-time.Hour)
	if err := s.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, tok); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("after logout: %v", err)
	}
	if _, err := s.Authenticate(ctx, "made-up"); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("unknown token: %v", err)
	}
}
