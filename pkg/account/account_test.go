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

// EndSessions ends every session of one user at once, across the cache,
// and no one else's; sessions started afterwards work.
func TestEndSessions(t *testing.T) {
	ctx := context.Background()
	s := New(mongotest.DB(t))
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := s.Create(ctx, "t@example.com", "a long passphrase", "T", Teacher, "sch_1")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Create(ctx, "o@example.com", "a long passphrase", "O", Teacher, "sch_1")
	if err != nil {
		t.Fatal(err)
	}
	phone, _, _ := s.Login(ctx, "t@example.com", "a long passphrase")
	laptop, _, _ := s.Login(ctx, "t@example.com", "a long passphrase")
	theirs, _, _ := s.Login(ctx, "o@example.com", "a long passphrase")
	for _, tok := range []string{phone, laptop, theirs} { // now cached
		if _, err := s.Authenticate(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EndSessions(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{phone, laptop} {
		if _, err := s.Authenticate(ctx, tok); !errs.Is(err, errs.Unauthenticated) {
			t.Errorf("a session survived EndSessions: %v", err)
		}
	}
	if a, err := s.Authenticate(ctx, theirs); err != nil || a.ID != other.ID {
		t.Errorf("another user's session ended: %v", err)
	}
	again, _, err := s.Login(ctx, "t@example.com", "a long passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, again); err != nil {
		t.Errorf("a session started after EndSessions: %v", err)
	}
	if err := s.EndSessions(ctx, "usr_nobody"); err != nil {
		t.Errorf("ending an unknown user's sessions: %v", err)
	}
}

// Another process's cache: a logout there is seen here within CacheTTL,
// and at once after the entry expires.
func TestSessionCacheAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	db := mongotest.DB(t)
	a, b := New(db), New(db)
	if _, err := a.Create(ctx, "g@example.com", "a long passphrase", "G", Grader, ""); err != nil {
		t.Fatal(err)
	}
	tok, _, err := a.Login(ctx, "g@example.com", "a long passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(ctx, tok); err != nil { // b caches it
		t.Fatal(err)
	}
	if err := a.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, tok); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("the process that signed out still accepts the session: %v", err)
	}
	if _, err := b.Authenticate(ctx, tok); err != nil {
		t.Errorf("within CacheTTL the other process may still accept it: %v", err)
	}
	b.cache.lru.Purge() // what CacheTTL does
	if _, err := b.Authenticate(ctx, tok); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("after the cache expires the other process still accepts the session: %v", err)
	}
}

// A student account belongs to one enrolment; the name of one enrolment
// changes no other.
func TestEnsureStudentPerEnrolment(t *testing.T) {
	ctx := context.Background()
	s := New(mongotest.DB(t))
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := s.EnsureStudent(ctx, "sch_1", "cls_a", "1001", "Avery Rivera")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.EnsureStudent(ctx, "sch_1", "cls_b", "1001", "Mallory")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || a.ClassID != "cls_a" || b.ClassID != "cls_b" || a.ID != EnrolmentUserID("cls_a", "1001") {
		t.Fatalf("two enrolments: %+v and %+v", a, b)
	}
	if again, _ := s.User(ctx, a.ID); again.Name != "Avery Rivera" {
		t.Errorf("another class's roster renamed the student to %q", again.Name)
	}
	tok, err := s.StartSession(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnsureStudent(ctx, "sch_1", "cls_a", "1001", "Avery R. Rivera"); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Authenticate(ctx, tok); err != nil || u.Name != "Avery R. Rivera" || u.ClassID != "cls_a" {
		t.Errorf("after the rename the session is %+v, %v", u, err)
	}
}
