package account_test

import (
	"context"
	"strings"
	"testing"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
)

// An external teacher is one account per (issuer, subject), never matched
// by email: an LMS that asserts a Margin user's email gets an account of
// its own, which cannot sign in with a password. Its school is made once.
func TestExternalTeacher(t *testing.T) {
	ctx := context.Background()
	a := account.New(mongotest.DB(t))
	if err := a.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	local, err := a.SignUp(ctx, account.SignUp{Email: "rivera@school.example", Password: "correct horse battery", Name: "Ms Rivera", Role: account.Teacher, School: "Lincoln"})
	if err != nil {
		t.Fatal(err)
	}
	id := account.ExternalSchoolID("https://lms.example")
	s1, err := a.EnsureSchool(ctx, id, "LMS lms.example")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := a.EnsureSchool(ctx, id, "Another name")
	if err != nil || s2.ID != s1.ID || s2.InviteCode != s1.InviteCode {
		t.Fatalf("school ensured again: %+v, %v (first %+v)", s2, err, s1)
	}

	u, err := a.EnsureExternalTeacher(ctx, "https://lms.example", "sub-1", id, "", "Rivera@School.example")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == local.ID || u.ID != account.ExternalUserID("https://lms.example", "sub-1") || u.Name != "Teacher" || u.Role != account.Teacher || u.SchoolID != id {
		t.Fatalf("external teacher: %+v", u)
	}
	again, err := a.EnsureExternalTeacher(ctx, "https://lms.example", "sub-1", id, "Ana Rivera", "")
	if err != nil || again.ID != u.ID || again.Name != "Ana Rivera" {
		t.Fatalf("ensured again: %+v, %v", again, err)
	}
	long, err := a.EnsureExternalTeacher(ctx, "https://lms.example", "sub-2", id, "Ana\nRivera "+strings.Repeat("x", 300), "")
	if err != nil || long.Name != ("Ana Rivera " + strings.Repeat("x", 300))[:200] {
		t.Fatalf("a name of several lines and over 200 characters: %q, %v", long.Name, err)
	}
	if other, _ := a.EnsureExternalTeacher(ctx, "https://other.example", "sub-1", id, "X", ""); other.ID == u.ID {
		t.Fatal("the same subject at another issuer is the same account")
	}
	if _, _, err := a.Login(ctx, "rivera@school.example", "correct horse battery"); err != nil {
		t.Fatalf("the local teacher's login: %v", err)
	}
	if _, _, err := a.Login(ctx, "ext:"+u.ID, ""); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("an external account signs in with a password: %v", err)
	}
}
