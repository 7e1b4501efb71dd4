package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/frontend-api/web"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
)

// harness is one API server on a fresh database.
type harness struct {
	t        *testing.T
	srv      *api.Server
	accounts *account.Service
}

func newHarness(t *testing.T, cfg api.Config) *harness {
	t.Helper()
	db := mongotest.DB(t)
	accts := account.New(db)
	if err := accts.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := api.New(cfg, api.Deps{Accounts: accts, Logger: logger})
	web.Register(srv)
	return &harness{t: t, srv: srv, accounts: accts}
}

// listen serves the app on a real loopback port (for what app.Test cannot
// show, such as a body refused before it is read) and returns its base URL.
func (h *harness) listen() string {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	go func() { _ = h.srv.App().Listener(ln) }()
	h.t.Cleanup(func() { _ = h.srv.App().Shutdown() })
	return "http://" + ln.Addr().String()
}

// do sends a request; body may be a string (sent raw) or a value (sent as
// JSON). It returns the status and the decoded JSON body.
func (h *harness) do(method, path, token string, body any) (int, map[string]any, *http.Response) {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		r = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.srv.App().Test(req, 10_000)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(data) > 0 && json.Unmarshal(data, &out) != nil {
		h.t.Fatalf("%s %s: body is not JSON: %q", method, path, data)
	}
	return resp.StatusCode, out, resp
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errField(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

const pw = "a long enough passphrase"

// signupTeacher signs a teacher up, founding Lincoln High, and returns the
// sign-up's answer (the same for every accepted sign-up).
func (h *harness) signupTeacher(email string) map[string]any {
	h.t.Helper()
	st, body, _ := h.do("POST", "/api/v1/signup", "", map[string]any{"email": email, "password": pw, "name": "T " + email, "role": "teacher", "school": "Lincoln High"})
	if st != 202 {
		h.t.Fatalf("signup %s: %d %v", email, st, body)
	}
	return body
}

func (h *harness) login(email, password string) string {
	h.t.Helper()
	st, body, _ := h.do("POST", "/api/v1/sessions", "", map[string]any{"email": email, "password": password})
	if st != 201 {
		h.t.Fatalf("login %s: %d %v", email, st, body)
	}
	return body["token"].(string)
}

func TestSignupLoginMeLogout(t *testing.T) {
	h := newHarness(t, api.Config{})
	body := h.signupTeacher("Ann.Lee@Lincoln.example.org")
	if body["user"] != nil || body["token"] != nil || body["school"] != nil {
		t.Fatalf("signup answered with an account: %v", body)
	}
	// The founder finds the invite code on /me once signed in.
	_, me, _ := h.do("GET", "/api/v1/me", h.login("ann.lee@lincoln.example.org", pw), nil)
	school := me["school"].(map[string]any)
	if school["invite_code"] == "" || me["user"].(map[string]any)["email"] != "ann.lee@lincoln.example.org" {
		t.Fatalf("me = %v", me)
	}

	// A colleague joins with the invite code; a grader has no school.
	if st, joined, _ := h.do("POST", "/api/v1/signup", "", map[string]any{"email": "bo@lincoln.example.org", "password": pw, "name": "Bo", "role": "teacher", "invite_code": school["invite_code"]}); st != 202 {
		t.Fatalf("join by invite: %d %v", st, joined)
	}
	if _, bo, _ := h.do("GET", "/api/v1/me", h.login("bo@lincoln.example.org", pw), nil); bo["user"].(map[string]any)["school_id"] != school["id"] {
		t.Fatalf("joined by invite: %v", bo)
	}
	if st, grader, _ := h.do("POST", "/api/v1/signup", "", map[string]any{"email": "gail@grading.example.com", "password": pw, "name": "Gail", "role": "grader"}); st != 202 {
		t.Fatalf("grader signup: %d %v", st, grader)
	}
	if _, gail, _ := h.do("GET", "/api/v1/me", h.login("gail@grading.example.com", pw), nil); gail["user"].(map[string]any)["school_id"] != nil || gail["school"] != nil {
		t.Fatalf("a grader with a school: %v", gail)
	}

	// Log in with the email in another case; the cookie is HttpOnly and SameSite.
	st, login, resp := h.do("POST", "/api/v1/sessions", "", map[string]any{"email": "ANN.LEE@lincoln.example.org", "password": pw})
	if st != 201 {
		t.Fatalf("login: %d %v", st, login)
	}
	token := login["token"].(string)
	ck := resp.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "margin_session="+token) || !strings.Contains(ck, "HttpOnly") || !strings.Contains(strings.ToLower(ck), "samesite=lax") {
		t.Fatalf("cookie = %q", ck)
	}

	st, me, _ = h.do("GET", "/api/v1/me", token, nil)
	if st != 200 || me["user"].(map[string]any)["role"] != "teacher" || me["school"].(map[string]any)["name"] != "Lincoln High" {
		t.Fatalf("me: %d %v", st, me)
	}

	// The cookie alone authenticates too.
	req := httptest.NewRequest("GET", "/api/v1/me", nil)
	req.Header.Set("Cookie", "margin_session="+token)
	if r, err := h.srv.App().Test(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("me by cookie: %v %v", r.StatusCode, err)
	}

	if st, _, _ := h.do("DELETE", "/api/v1/sessions/current", token, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if st, body, _ := h.do("GET", "/api/v1/me", token, nil); st != 401 || errCode(body) != "unauthenticated" {
		t.Fatalf("me after logout: %d %v", st, body)
	}
}

func TestSignupAndLoginErrors(t *testing.T) {
	h := newHarness(t, api.Config{})
	h.signupTeacher("taken@example.org")
	ok := map[string]any{"email": "new@example.org", "password": pw, "name": "N", "role": "grader"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name      string
		path      string
		body      any
		ctype     string
		wantCode  string
		wantField string
		wantHTTP  int
	}{
		{"malformed JSON", "/api/v1/signup", `{"email": "x@example.org",`, "", "malformed_json", "", 400},
		{"not an object", "/api/v1/signup", `[1,2]`, "", "invalid", "", 400},
		{"empty body", "/api/v1/signup", ``, "", "malformed_json", "", 400},
		{"trailing data", "/api/v1/signup", `{"email":"a@b.org"} {}`, "", "malformed_json", "", 400},
		{"unknown field", "/api/v1/signup", with("favourite_colour", "teal"), "", "unknown_field", "favourite_colour", 400},
		{"wrong type", "/api/v1/signup", with("email", 42), "", "invalid", "email", 400},
		{"bad email", "/api/v1/signup", with("email", "not-an-email"), "", "invalid_email", "email", 400},
		{"email with display name", "/api/v1/signup", with("email", "Ann <ann@example.org>"), "", "invalid_email", "email", 400},
		{"missing email", "/api/v1/signup", with("email", nil), "", "invalid_email", "email", 400},
		{"short password", "/api/v1/signup", with("password", "short"), "", "weak_password", "password", 400},
		{"common password", "/api/v1/signup", with("password", "password123"), "", "weak_password", "password", 400},
		{"password is email", "/api/v1/signup", with("password", "new@example.org"), "", "weak_password", "password", 400},
		{"missing name", "/api/v1/signup", with("name", " "), "", "invalid", "name", 400},
		{"student role", "/api/v1/signup", with("role", "student"), "", "invalid", "role", 400},
		{"admin role", "/api/v1/signup", with("role", "admin"), "", "invalid", "role", 400},
		{"made-up role", "/api/v1/signup", with("role", "principal"), "", "invalid", "role", 400},
		{"grader with school", "/api/v1/signup", with("school", "X"), "", "invalid", "school", 400},
		{"teacher without school", "/api/v1/signup", with("role", "teacher"), "", "invalid", "school", 400},
		{"bad invite code", "/api/v1/signup", map[string]any{"email": "z@example.org", "password": pw, "name": "Z", "role": "teacher", "invite_code": "NOPE1234"}, "", "invalid", "invite_code", 400},
		{"too large", "/api/v1/signup", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, "", "body_too_large", "", 413},
		{"not JSON content type", "/api/v1/signup", `email=a`, "application/x-www-form-urlencoded", "unsupported_type", "", 415},
		{"text/plain", "/api/v1/signup", `{}`, "text/plain", "unsupported_type", "", 415},
		{"no content type", "/api/v1/signup", `{}`, "-", "unsupported_type", "", 415},
		{"login malformed", "/api/v1/sessions", `{`, "", "malformed_json", "", 400},
		{"login unknown field", "/api/v1/sessions", map[string]any{"email": "taken@example.org", "password": pw, "remember": true}, "", "unknown_field", "remember", 400},
		{"login wrong password", "/api/v1/sessions", map[string]any{"email": "taken@example.org", "password": "wrong wrong wrong"}, "", "unauthenticated", "", 401},
		{"login unknown email", "/api/v1/sessions", map[string]any{"email": "nobody@example.org", "password": pw}, "", "unauthenticated", "", 401},
	}
	base := h.listen()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader
			if s, ok := tc.body.(string); ok {
				r = strings.NewReader(s)
			} else {
				b, _ := json.Marshal(tc.body)
				r = bytes.NewReader(b)
			}
			ct := tc.ctype
			if ct == "" {
				ct = "application/json"
			}
			req, err := http.NewRequest("POST", base+tc.path, r)
			if err != nil {
				t.Fatal(err)
			}
			if ct != "-" {
				req.Header.Set("Content-Type", ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			msg, _ := body["error"].(map[string]any)["message"].(string)
			if resp.StatusCode != tc.wantHTTP || errCode(body) != tc.wantCode || errField(body) != tc.wantField || msg == "" {
				t.Fatalf("got %d %v, want %d code=%s field=%q and a message", resp.StatusCode, body, tc.wantHTTP, tc.wantCode, tc.wantField)
			}
		})
	}
}

func TestLoginIsRateLimitedPerAccount(t *testing.T) {
	h := newHarness(t, api.Config{LoginFailuresPerAccount: 3, LoginWindow: time.Minute})
	h.signupTeacher("ann@example.org")
	h.signupTeacher("bo@example.org")
	for i := range 3 {
		if st, body, _ := h.do("POST", "/api/v1/sessions", "", map[string]any{"email": "ann@example.org", "password": "wrong wrong wrong"}); st != 401 {
			t.Fatalf("attempt %d: %d %v", i+1, st, body)
		}
	}
	// The fourth attempt is refused, even with the right password.
	st, body, resp := h.do("POST", "/api/v1/sessions", "", map[string]any{"email": "Ann@example.org", "password": pw})
	if st != 429 || errCode(body) != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: %d %v (Retry-After %q)", st, body, resp.Header.Get("Retry-After"))
	}
	// Another account is not affected, and its successes are not counted.
	for range 4 {
		h.login("bo@example.org", pw)
	}
}

func TestLoginIsRateLimitedPerIP(t *testing.T) {
	h := newHarness(t, api.Config{LoginPerIP: 4})
	for i := range 4 {
		if st, _, _ := h.do("POST", "/api/v1/sessions", "", map[string]any{"email": "x" + string(rune('a'+i)) + "@example.org", "password": "whatever whatever"}); st != 401 {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	if st, body, _ := h.do("POST", "/api/v1/sessions", "", map[string]any{"email": "other@example.org", "password": "whatever whatever"}); st != 429 || errCode(body) != "rate_limited" {
		t.Fatalf("fifth attempt from one address: %d %v", st, body)
	}
}

func TestRolesAreEnforced(t *testing.T) {
	h := newHarness(t, api.Config{})
	h.signupTeacher("ann@example.org")
	teacher := h.login("ann@example.org", pw)
	if _, err := h.accounts.Create(context.Background(), "root@example.org", pw, "Root", account.Admin, ""); err != nil {
		t.Fatal(err)
	}
	admin := h.login("root@example.org", pw)

	if st, body, _ := h.do("GET", "/api/v1/admin/schools", "", nil); st != 401 || errCode(body) != "unauthenticated" {
		t.Fatalf("anonymous: %d %v", st, body)
	}
	if st, body, _ := h.do("GET", "/api/v1/admin/schools", "not-a-token", nil); st != 401 {
		t.Fatalf("bad token: %d %v", st, body)
	}
	if st, body, _ := h.do("GET", "/api/v1/admin/schools", teacher, nil); st != 403 || errCode(body) != "forbidden" {
		t.Fatalf("teacher: %d %v", st, body)
	}
	st, body, _ := h.do("GET", "/api/v1/admin/schools", admin, nil)
	if st != 200 || len(body["schools"].([]any)) != 1 {
		t.Fatalf("admin: %d %v", st, body)
	}
}

func TestUnknownRouteAndPanic(t *testing.T) {
	h := newHarness(t, api.Config{})
	h.srv.App().Get("/api/v1/test/panic", func(c *fiber.Ctx) error { panic("boom") })
	h.srv.App().Get("/test/panic", func(c *fiber.Ctx) error { panic("boom") })
	if st, body, _ := h.do("GET", "/api/v1/nope", "", nil); st != 404 || errCode(body) != "not_found" {
		t.Fatalf("unknown route: %d %v", st, body)
	}
	st, body, resp := h.do("GET", "/api/v1/test/panic", "", nil)
	e, _ := body["error"].(map[string]any)
	rid := resp.Header.Get("X-Request-Id")
	if st != 500 || errCode(body) != "internal" || rid == "" || e["request_id"] != rid || !strings.Contains(e["message"].(string), rid) {
		t.Fatalf("panic: %d %v (request id %q)", st, body, rid)
	}
	// On a page, a browser gets the error page, with the request ID.
	resp, err := h.srv.App().Test(httptest.NewRequest("GET", "/test/panic", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	rid = resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 500 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || rid == "" || !strings.Contains(string(page), rid) {
		t.Fatalf("panic on a page: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	// The server still serves after a panic.
	if st, _, _ := h.do("GET", "/healthz", "", nil); st != 200 {
		t.Fatalf("healthz after panic: %d", st)
	}
}
