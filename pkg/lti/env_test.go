package lti

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/lti/ltitest"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
)

// clock is a time tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is Margin's tool, served over HTTP for its JWKS, registered by hand
// with a test platform that has one course.
type env struct {
	t      testing.TB
	ctx    context.Context
	tool   *Tool
	srv    *httptest.Server
	p      *ltitest.Platform
	client *ltitest.Client
	reg    Registration
	clock  *clock
}

// Members of the course "c1".
var (
	teacher  = ltitest.Member{User: ltitest.User{ID: "u-teacher", Name: "Tess Teacher", GivenName: "Tess", FamilyName: "Teacher", Email: "tess@school.example"}, Roles: []string{ltitest.Instructor}}
	student1 = ltitest.Member{User: ltitest.User{ID: "u-s1", Name: "Sam One", GivenName: "Sam", FamilyName: "One", Email: "sam@school.example", SourcedID: "SIS-001"}, Roles: []string{ltitest.Learner}}
	student2 = ltitest.Member{User: ltitest.User{ID: "u-s2"}, Roles: []string{ltitest.Learner}} // shares no name or email
)

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clock: &clock{t: time.Now().UTC()}}
	var tool *Tool
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != JWKSPath {
			http.NotFound(w, r)
			return
		}
		b, err := tool.JWKS(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(e.srv.Close)
	var err error
	tool, err = New(mongotest.DB(t), Config{PublicURL: e.srv.URL, KeyRotation: 24 * time.Hour, TokenLifetime: 5 * time.Minute},
		WithClock(e.clock.Now), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	tool.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	e.tool = tool
	e.p = ltitest.New(t)
	e.p.Now = e.clock.Now
	e.p.AddCourse(&ltitest.Course{ID: "c1", Label: "ENG10", Title: "English 10", Members: []ltitest.Member{teacher, student1, student2},
		Links: map[string]*ltitest.Link{"link-a": {ID: "link-a", Title: "Essay 1"}}})
	e.client = e.p.AddClient(tool.URL(LoginPath), tool.URL(LaunchPath), tool.URL(JWKSPath))
	e.reg, err = tool.Register(e.ctx, RegistrationInput{
		Issuer: e.p.Issuer, ClientID: e.client.ID, AuthURL: e.p.URL("/auth"), TokenURL: e.p.URL("/token"),
		JWKSURL: e.p.URL("/jwks"), DeploymentIDs: []string{e.client.DeploymentID},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// begin runs the login initiation and the platform's authorization, and
// returns the launch request the browser would post, with its cookie.
func (e *env) begin(login ltitest.Login, tamper ...ltitest.Tamper) LaunchRequest {
	e.t.Helper()
	e.p.Tamper(login, tamper...)
	red, err := e.tool.Login(e.ctx, LoginRequestFrom(login.Values))
	if err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	if red.Cookie == nil || red.Cookie.Value == "" || !red.Cookie.HttpOnly {
		e.t.Fatalf("Login cookie = %+v", red.Cookie)
	}
	action, fields, err := ltitest.Authorize(red.URL)
	if err != nil {
		e.t.Fatalf("authorize: %v", err)
	}
	if action != e.tool.URL(LaunchPath) {
		e.t.Fatalf("the platform posts to %q, want the launch URL", action)
	}
	return LaunchRequestFrom(fields, func(name string) string {
		if name == red.Cookie.Name {
			return red.Cookie.Value
		}
		return ""
	})
}

// launch is a whole launch of user into course c1's link.
func (e *env) launch(linkID, userID string, tamper ...ltitest.Tamper) (*Launch, error) {
	e.t.Helper()
	return e.tool.ValidateLaunch(e.ctx, e.begin(e.p.ResourceLinkLogin(e.client, "c1", linkID, userID), tamper...))
}

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%q does not contain %q", s, sub)
	}
}
