package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/blob/blobtest"
	"github.com/marginschool/margin/pkg/lti"
	"github.com/marginschool/margin/pkg/lti/ltitest"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"github.com/marginschool/margin/services/intake"
)

// ltiCourse is a teacher's launch into an LMS course of n learners through
// the wiring's Directory, on the embedded store: what a roster sync then
// costs.
type ltiCourse struct {
	ctx    context.Context
	tool   *lti.Tool
	dir    ltiDirectory
	key    string
	class  string
	intake *intake.Service
}

func newLTICourse(t testing.TB, n int) ltiCourse {
	t.Helper()
	ctx := context.Background()
	db := mongotest.DB(t)
	accts := account.New(db)
	if err := accts.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := intake.New(db, blobtest.Store(t), accts, intake.Config{}, quiet)
	var tool *lti.Tool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := tool.JWKS(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	tool, err := lti.New(db, lti.Config{PublicURL: srv.URL, KeyRotation: 24 * time.Hour, TokenLifetime: 5 * time.Minute}, lti.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	p := ltitest.New(t)
	course := &ltitest.Course{ID: "c1", Title: "English 10", Links: map[string]*ltitest.Link{"l1": {ID: "l1", Title: "Essay"}},
		Members: []ltitest.Member{{User: ltitest.User{ID: "teacher", Name: "Tess Teacher"}, Roles: []string{ltitest.Instructor}}}}
	for i := range n {
		course.Members = append(course.Members, ltitest.Member{User: ltitest.User{ID: fmt.Sprintf("u%04d", i), GivenName: "Student", FamilyName: fmt.Sprintf("N%04d", i),
			Name: fmt.Sprintf("Student N%04d", i), SourcedID: fmt.Sprintf("%04d", 1000+i)}, Roles: []string{ltitest.Learner}})
	}
	p.AddCourse(course)
	c := p.AddClient(tool.URL(lti.LoginPath), tool.URL(lti.LaunchPath), tool.URL(lti.JWKSPath))
	if _, err := tool.Register(ctx, lti.RegistrationInput{Issuer: p.Issuer, ClientID: c.ID, AuthURL: p.URL("/auth"), TokenURL: p.URL("/token"),
		JWKSURL: p.URL("/jwks"), DeploymentIDs: []string{c.DeploymentID}}); err != nil {
		t.Fatal(err)
	}
	login := p.ResourceLinkLogin(c, "c1", "l1", "teacher")
	red, err := tool.Login(ctx, lti.LoginRequestFrom(login.Values))
	if err != nil {
		t.Fatal(err)
	}
	_, fields, err := ltitest.Authorize(red.URL)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tool.ValidateLaunch(ctx, lti.LaunchRequestFrom(fields, func(string) string { return red.Cookie.Value }))
	if err != nil {
		t.Fatal(err)
	}
	dir := ltiDirectory{accounts: accts, intake: in}
	e, err := tool.Enter(ctx, l, dir)
	if err != nil {
		t.Fatal(err)
	}
	return ltiCourse{ctx: ctx, tool: tool, dir: dir, key: l.ContextKey(), class: e.ClassID, intake: in}
}

// The Directory over intake and account: a course's class, its teacher,
// and its learners enrolled by SIS ID; a second sync changes no one.
func TestLTIDirectorySync(t *testing.T) {
	c := newLTICourse(t, 30)
	res, err := c.tool.SyncRoster(c.ctx, c.key, c.dir)
	if err != nil || res.Added != 30 || res.Members != 31 {
		t.Fatalf("first sync: %+v, %v", res, err)
	}
	if res, err := c.tool.SyncRoster(c.ctx, c.key, c.dir); err != nil || res.Added != 0 || res.Updated != 30 || res.Left != 0 {
		t.Fatalf("second sync: %+v, %v", res, err)
	}
	cls, err := c.intake.Class(c.ctx, c.class)
	if err != nil || cls.TeacherID != account.ExternalUserID(mustIssuer(t, c), "teacher") {
		t.Fatalf("class %+v, %v", cls, err)
	}
	st, err := c.intake.Student(c.ctx, c.class, "1007")
	if err != nil || st.Name() != "Student N0007" || st.UserID != account.EnrolmentUserID(c.class, "1007") {
		t.Fatalf("student 1007: %+v, %v", st, err)
	}
}

func mustIssuer(t testing.TB, c ltiCourse) string {
	t.Helper()
	regs, err := c.tool.Registrations(c.ctx)
	if err != nil || len(regs) != 1 {
		t.Fatalf("registrations: %v, %v", regs, err)
	}
	return regs[0].Issuer
}

// BenchmarkLTIRosterSync is a roster sync of a 150-student LMS course
// through the wiring on the embedded store: first (every student
// enrolled) and again (every student's names refreshed).
func BenchmarkLTIRosterSync(b *testing.B) {
	for _, first := range []bool{true, false} {
		name := "again"
		if first {
			name = "first"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				c := newLTICourse(b, 150)
				if !first {
					if _, err := c.tool.SyncRoster(c.ctx, c.key, c.dir); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				if _, err := c.tool.SyncRoster(c.ctx, c.key, c.dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
