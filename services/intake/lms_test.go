package intake

import (
	"testing"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// An LMS course's class: made once however often it is ensured, owned by
// the first teacher who claims it, its students enrolled by student ID (a
// student without a shared name is shown by it), marked as having left
// without losing anything, and back on enrolling again. None of it reaches
// a class made by hand.
func TestLMSClass(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	sc, err := w.acct.EnsureSchool(ctx, account.ExternalSchoolID("https://lms.example"), "LMS lms.example")
	if err != nil {
		t.Fatal(err)
	}
	c1, err := w.s.EnsureLMSClass(ctx, "course-key", sc.ID, "English 10", "ENG10")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := w.s.EnsureLMSClass(ctx, "course-key", sc.ID, "English 10 (renamed)", "ENG10")
	if err != nil || c2.ID != c1.ID || c2.Name != "English 10 (renamed)" || c2.TeacherID != "" {
		t.Fatalf("ensured again: %+v, %v (first %+v)", c2, err, c1)
	}
	if k, ok := LMSCourseKey(c1.ID); !ok || k != "course-key" {
		t.Fatalf("LMSCourseKey(%q) = %q, %v", c1.ID, k, ok)
	}

	first, err := w.acct.EnsureExternalTeacher(ctx, "https://lms.example", "t1", sc.ID, "First Teacher", "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := w.acct.EnsureExternalTeacher(ctx, "https://lms.example", "t2", sc.ID, "Second Teacher", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []account.User{first, second} {
		if _, err := w.s.ClaimLMSClass(ctx, c1.ID, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.s.AuthorizeClass(ctx, first, c1.ID); err != nil {
		t.Fatalf("the first teacher does not own the class: %v", err)
	}
	if _, err := w.s.AuthorizeClass(ctx, second, c1.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the second teacher reaches the class: %v", err)
	}
	if _, err := w.s.ClaimLMSClass(ctx, w.class.ID, second.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("claiming a class made by hand: %v", err)
	}
	if _, err := w.s.EnrolLMSStudent(ctx, w.class.ID, LMSStudent{StudentID: "9"}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("enrolling into a class made by hand: %v", err)
	}

	uid, err := w.s.EnrolLMSStudent(ctx, c1.ID, LMSStudent{StudentID: "1004", GivenName: "Priya", FamilyName: "Natarajan", Email: "priya@students.example"})
	if err != nil || uid != account.EnrolmentUserID(c1.ID, "1004") {
		t.Fatalf("enrol: %q, %v", uid, err)
	}
	if _, err := w.s.EnrolLMSStudent(ctx, c1.ID, LMSStudent{StudentID: "lms-77"}); err != nil {
		t.Fatal(err)
	}
	anon, err := w.s.Student(ctx, c1.ID, "lms-77")
	if err != nil || anon.Name() != " lms-77" {
		t.Fatalf("a student with no shared name: %+v, %v", anon, err)
	}
	u := w.enrolment(t, c1.ID, "1004")
	tok, err := w.acct.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cls, err := w.s.StudentClasses(ctx, u); err != nil || len(cls) != 1 {
		t.Fatalf("the student's classes: %v, %v", cls, err)
	}

	if err := w.s.MarkLMSStudentLeft(ctx, c1.ID, "1004"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.acct.Authenticate(ctx, tok); !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("a student who left is still signed in: %v", err)
	}
	if cls, _ := w.s.StudentClasses(ctx, u); len(cls) != 0 {
		t.Fatalf("a student who left still has the class: %v", cls)
	}
	st, err := w.s.Student(ctx, c1.ID, "1004")
	if err != nil || !st.Left || st.GivenName != "Priya" {
		t.Fatalf("marked left: %+v, %v", st, err)
	}
	if _, err := w.s.EnrolLMSStudent(ctx, c1.ID, LMSStudent{StudentID: "1004", Name: "Priya N"}); err != nil {
		t.Fatal(err)
	}
	back, _ := w.s.Student(ctx, c1.ID, "1004")
	if back.Left || back.Seat != st.Seat || back.Name() != "Priya N" {
		t.Fatalf("back in the course: %+v (was %+v)", back, st)
	}
}

// Of many first launches at once, one teacher claims the class, and every
// claim reads that one back.
func TestClaimLMSClassOnce(t *testing.T) {
	w := newWorld(t)
	c, err := w.s.EnsureLMSClass(w.ctx, "race-key", w.teacher.SchoolID, "Race", "")
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	got := make(chan string, n)
	for i := range n {
		go func() {
			cl, err := w.s.ClaimLMSClass(w.ctx, c.ID, "usr_"+string(rune('a'+i)))
			if err != nil {
				t.Error(err)
			}
			got <- cl.TeacherID
		}()
	}
	first := <-got
	for range n - 1 {
		if other := <-got; other != first || first == "" {
			t.Fatalf("claims read back %q and %q", first, other)
		}
	}
}
