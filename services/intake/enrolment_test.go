package intake

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// enrolment is the account of a rostered student's enrolment, as an access
// link signs it in.
func (w *world) enrolment(t testing.TB, classID, studentID string) account.User {
	t.Helper()
	u, err := w.acct.User(w.ctx, account.EnrolmentUserID(classID, studentID))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signInWithLink redeems a link and returns the session's user and token.
func (w *world) signInWithLink(t testing.TB, link string) (account.User, string) {
	t.Helper()
	tok, u, err := w.s.RedeemAccessLink(w.ctx, link)
	if err != nil {
		t.Fatalf("redeeming the link: %v", err)
	}
	got, err := w.acct.Authenticate(w.ctx, tok)
	if err != nil || got.ID != u.ID {
		t.Fatalf("the link's session: %+v, %v", got, err)
	}
	return got, tok
}

// The attack of issue 15, finding 1: a colleague who joins the school with
// its invite code rosters the same student ID in a class of their own,
// issues that student an access link and signs in with it. They get an
// account of their own class only: the first teacher's student's
// submission, text and original stay out of reach, and the first class's
// roster and account keep their names.
func TestColleagueCannotTakeOverStudent(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	subID := w.upload(t, fixtureSubmissions(t)...)[0].SubmissionID // 1001's
	school, err := w.acct.School(ctx, w.teacher.SchoolID)
	if err != nil {
		t.Fatal(err)
	}
	colleague, err := w.acct.SignUp(ctx, account.SignUp{Email: "colleague@school.example", Password: testPassword, Name: "Col League", Role: account.Teacher, InviteCode: school.InviteCode})
	if err != nil || colleague.SchoolID != w.teacher.SchoolID {
		t.Fatalf("joining with the invite code: %+v, %v", colleague, err)
	}
	theirs := w.newClass(t, colleague)
	if _, err := w.s.ImportRoster(ctx, colleague, theirs.ID, strings.NewReader("student_id,given_name,family_name,email\n1001,Mallory,Renamed,\n")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.s.RotateAccessLink(ctx, colleague, w.class.ID, "1001"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the colleague issued a link in the first teacher's class: %v", err)
	}
	link, _, err := w.s.RotateAccessLink(ctx, colleague, theirs.ID, "1001")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := w.signInWithLink(t, link)
	if u.ClassID != theirs.ID || u.StudentID != "1001" || u.ID == w.enrolment(t, w.class.ID, "1001").ID {
		t.Fatalf("the colleague's link signed in as %+v; want their own class's enrolment", u)
	}
	if _, _, err := w.s.SubmissionFor(ctx, u, subID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the colleague read the first class's submission: %v", err)
	}
	if _, err := w.s.TextFor(ctx, u, subID, 0); !errs.Is(err, errs.NotFound) {
		t.Errorf("the colleague read the first class's essay: %v", err)
	}
	if rc, _, err := w.s.Original(ctx, u, subID, 1); !errs.Is(err, errs.NotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("the colleague downloaded the first class's original: %v", err)
	}
	if _, err := w.s.StartRevision(ctx, u, subID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the colleague started a revision of the first class's submission: %v", err)
	}
	mine, err := w.s.MySubmissions(ctx, u)
	if err != nil || len(mine) != 0 {
		t.Errorf("the colleague's student lists %d submissions (%v); want none", len(mine), err)
	}
	if cls, err := w.s.StudentClasses(ctx, u); err != nil || len(cls) != 1 || cls[0].ID != theirs.ID {
		t.Errorf("the colleague's student is in %+v (%v); want their class only", cls, err)
	}
	// Nothing of the first class was renamed.
	if st, err := w.s.Student(ctx, w.class.ID, "1001"); err != nil || st.Name() != "Avery Rivera" {
		t.Errorf("the first class's roster entry: %+v, %v", st, err)
	}
	if a := w.enrolment(t, w.class.ID, "1001"); a.Name != "Avery Rivera" {
		t.Errorf("the first class's student account was renamed to %q", a.Name)
	}
	// The real student, with the first teacher's link, still reads their work.
	own, _, err := w.s.RotateAccessLink(ctx, w.teacher, w.class.ID, "1001")
	if err != nil {
		t.Fatal(err)
	}
	avery, _ := w.signInWithLink(t, own)
	if _, _, err := w.s.SubmissionFor(ctx, avery, subID); err != nil {
		t.Errorf("the student's own submission: %v", err)
	}
}

// Finding 5: a new link ends the sessions of the old one, at once; the old
// link no longer works and says so.
func TestRotatingALinkEndsItsSessions(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	first, _, err := w.s.RotateAccessLink(ctx, w.teacher, w.class.ID, "1002")
	if err != nil {
		t.Fatal(err)
	}
	_, oldSession := w.signInWithLink(t, first)
	second, _, err := w.s.RotateAccessLink(ctx, w.teacher, w.class.ID, "1002")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.acct.Authenticate(ctx, oldSession); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("a session of the rotated link still works: %v", err)
	}
	if _, _, err := w.s.RedeemAccessLink(ctx, first); !errs.Is(err, errs.LinkExpired) {
		t.Errorf("the rotated link: %v, want link_expired", err)
	}
	if err := w.s.CheckAccessLink(ctx, first); !errs.Is(err, errs.LinkExpired) {
		t.Errorf("checking the rotated link: %v", err)
	}
	w.signInWithLink(t, second)
}

// A student taken off the class is signed out and their link stops; their
// work stays, and importing them again gives the same account, whose old
// sessions stay ended.
func TestRemoveStudent(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	subID := w.upload(t, fixtureSubmissions(t)...)[0].SubmissionID // 1001's
	link, _, err := w.s.RotateAccessLink(ctx, w.teacher, w.class.ID, "1001")
	if err != nil {
		t.Fatal(err)
	}
	u, session := w.signInWithLink(t, link)
	if err := w.s.RemoveStudent(ctx, w.teacher, w.class.ID, "1001"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.acct.Authenticate(ctx, session); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("a removed student's session still works: %v", err)
	}
	if _, _, err := w.s.RedeemAccessLink(ctx, link); !errs.Is(err, errs.LinkExpired) {
		t.Errorf("a removed student's link: %v", err)
	}
	if _, err := w.s.Student(ctx, w.class.ID, "1001"); !errs.Is(err, errs.NotFound) {
		t.Errorf("still on the roster: %v", err)
	}
	if _, err := w.s.Submission(ctx, subID); err != nil {
		t.Errorf("the removed student's work is gone: %v", err)
	}
	if err := w.s.RemoveStudent(ctx, w.teacher, w.class.ID, "1001"); !errs.Is(err, errs.NotFound) {
		t.Errorf("removing twice: %v", err)
	}
	if _, err := w.s.ImportRoster(ctx, w.teacher, w.class.ID, bytes.NewReader(fixtureBytes(t, "roster.csv"))); err != nil {
		t.Fatal(err)
	}
	if st, err := w.s.Student(ctx, w.class.ID, "1001"); err != nil || st.UserID != u.ID {
		t.Errorf("imported again: %+v, %v; want the same account %s", st, err, u.ID)
	}
	if _, err := w.acct.Authenticate(ctx, session); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("importing again revived the old session: %v", err)
	}
}

// Links expire after Config.AccessLinkTTL.
func TestAccessLinkExpires(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	link, until, err := w.s.RotateAccessLink(ctx, w.teacher, w.class.ID, "1003")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(until); d < DefaultAccessLinkTTL-time.Minute || d > DefaultAccessLinkTTL {
		t.Errorf("the link works for %v, want %v", d, DefaultAccessLinkTTL)
	}
	w.s.now = func() time.Time { return until.Add(-time.Second) }
	w.signInWithLink(t, link)
	w.s.now = func() time.Time { return until }
	if _, _, err := w.s.RedeemAccessLink(ctx, link); !errs.Is(err, errs.LinkExpired) {
		t.Errorf("an expired link: %v, want link_expired", err)
	}
	if err := w.s.CheckAccessLink(ctx, link); !errs.Is(err, errs.LinkExpired) {
		t.Errorf("checking an expired link: %v", err)
	}
	for _, bad := range []string{"", "made-up", strings.Repeat("x", 200)} {
		if _, _, err := w.s.RedeemAccessLink(ctx, bad); !errs.Is(err, errs.LinkExpired) {
			t.Errorf("link %q: %v", bad, err)
		}
	}
}

// Data of earlier versions: one student account per school and student ID,
// links without expiry. After Migrate each old link opens its own class's
// enrolment only, and sessions of the old shared account reach nothing.
func TestMigrateSchoolWideStudents(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	other := w.newClass(t, w.teacher) // the same student in a second class
	if _, err := w.s.ImportRoster(ctx, w.teacher, other.ID, strings.NewReader("student_id,given_name,family_name,email\n1001,Avery,Rivera,\n")); err != nil {
		t.Fatal(err)
	}
	// Turn the data back into the old shape.
	legacyID := "usr_stu_legacy1001"
	if _, err := w.s.db.Collection("users").InsertOne(ctx, bson.M{"_id": legacyID, "login": "student:" + w.class.SchoolID + ":1001",
		"name": "Avery Rivera", "role": "student", "school_id": w.class.SchoolID, "student_id": "1001", "created_at": time.Now()}); err != nil {
		t.Fatal(err)
	}
	legacyLinks := map[string]string{}
	for _, c := range []Class{w.class, other} {
		tok := account.NewToken()
		legacyLinks[c.ID] = tok
		if _, err := w.s.c(colLinks).InsertOne(ctx, bson.M{"_id": account.HashToken(tok), "class_id": c.ID, "student_id": "1001", "user_id": legacyID}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.c(colStudents).UpdateOne(ctx, bson.M{"_id": c.ID + ":1001"}, bson.M{"$set": bson.M{"user_id": legacyID, "link_hash": account.HashToken(tok)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.s.c(colMigrations).DeleteMany(ctx, bson.M{}); err != nil {
		t.Fatal(err)
	}
	legacySession, err := w.acct.StartSession(ctx, legacyID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.acct.Authenticate(ctx, legacySession); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("a session of the old school-wide account: %v", err)
	}
	if IsStudentOf(account.User{ID: legacyID, Role: account.Student, SchoolID: w.class.SchoolID, StudentID: "1001"}, w.class.ID, "1001") {
		t.Error("the old school-wide account passes as the student")
	}

	for range 2 { // idempotent
		if err := w.s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []Class{w.class, other} {
		st, err := w.s.Student(ctx, c.ID, "1001")
		if err != nil || st.UserID != account.EnrolmentUserID(c.ID, "1001") {
			t.Errorf("class %s's roster entry: %+v, %v", c.ID, st, err)
		}
		u, _ := w.signInWithLink(t, legacyLinks[c.ID])
		if u.ClassID != c.ID || !IsStudentOf(u, c.ID, "1001") {
			t.Errorf("class %s's old link signs in as %+v", c.ID, u)
		}
		for _, d := range []Class{w.class, other} {
			if d.ID != c.ID && IsStudentOf(u, d.ID, "1001") {
				t.Errorf("class %s's old link reaches class %s", c.ID, d.ID)
			}
		}
	}
	var l linkDoc
	if err := w.s.findByID(ctx, colLinks, account.HashToken(legacyLinks[w.class.ID]), "link", &l); err != nil || l.ExpiresAt.IsZero() {
		t.Errorf("the old link has no expiry after the migration: %+v, %v", l, err)
	}
}
