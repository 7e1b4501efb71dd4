package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/frontend-api/api"
)

// browser is a cookie-keeping client of a listening harness that does not
// follow redirects.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: h.t, base: h.listen(), c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf opens the sign-in page and returns its CSRF token (the cookie is in
// the jar).
func (b *browser) csrf() string {
	b.t.Helper()
	_, body := b.send("GET", "/signin", "", nil)
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatal("no CSRF token on the sign-in page")
	}
	return m[1]
}

// send makes a request with the jar's cookies; header is name, value pairs.
func (b *browser) send(method, path, ctype string, body io.Reader, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func (b *browser) signin(email, password, csrf string) *http.Response {
	b.t.Helper()
	form := url.Values{"_csrf": {csrf}, "email": {email}, "password": {password}}
	resp, _ := b.send("POST", "/signin", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	return resp
}

// Finding 7, enumeration: sign-up answers the same for a taken email as for
// a new one, and changes nothing about the existing account.
func TestSignupRevealsNoAccount(t *testing.T) {
	h := newHarness(t, api.Config{})
	fresh := h.signupTeacher("ann@example.org")
	st, again, _ := h.do("POST", "/api/v1/signup", "", map[string]any{"email": "ANN@example.org", "password": "another long passphrase", "name": "Mallory", "role": "grader"})
	if st != 202 || again["message"] != fresh["message"] || len(again) != len(fresh) {
		t.Fatalf("a taken email: %d %v; a new one: %v", st, again, fresh)
	}
	tok := h.login("ann@example.org", pw)
	if _, me, _ := h.do("GET", "/api/v1/me", tok, nil); me["user"].(map[string]any)["name"] != "T ann@example.org" || me["user"].(map[string]any)["role"] != "teacher" {
		t.Errorf("the sign-up changed the existing account: %v", me)
	}
	if st, _, _ := h.do("POST", "/api/v1/sessions", "", map[string]any{"email": "ann@example.org", "password": "another long passphrase"}); st != 401 {
		t.Errorf("the second sign-up's password signs in: %d", st)
	}
}

func TestSignupIsRateLimitedPerIP(t *testing.T) {
	h := newHarness(t, api.Config{SignupPerIP: 2})
	h.signupTeacher("a@example.org")
	h.signupTeacher("b@example.org")
	st, body, _ := h.do("POST", "/api/v1/signup", "", map[string]any{"email": "c@example.org", "password": pw, "name": "C", "role": "grader"})
	if st != 429 || errCode(body) != "rate_limited" {
		t.Fatalf("a third sign-up from one address: %d %v", st, body)
	}
}

// Finding 7, login limit counted twice: failures through the API and the
// sign-in page share one per-account counter.
func TestOneLoginLimitForAPIAndPage(t *testing.T) {
	h := newHarness(t, api.Config{LoginFailuresPerAccount: 3, LoginWindow: time.Minute})
	h.signupTeacher("ann@example.org")
	b := h.browser()
	tok := b.csrf()
	for range 2 {
		if st, _, _ := h.do("POST", "/api/v1/sessions", "", map[string]any{"email": "ann@example.org", "password": "wrong wrong wrong"}); st != 401 {
			t.Fatalf("a wrong password through the API: %d", st)
		}
	}
	if r := b.signin("Ann@example.org", "wrong wrong wrong", tok); r.StatusCode != 401 {
		t.Fatalf("a wrong password through the page: %d", r.StatusCode)
	}
	// Three failures in all: both routes now refuse, even the right password.
	if st, body, _ := h.do("POST", "/api/v1/sessions", "", map[string]any{"email": "ann@example.org", "password": pw}); st != 429 {
		t.Errorf("the API after 2 + 1 failures: %d %v", st, body)
	}
	if r := b.signin("ann@example.org", pw, tok); r.StatusCode != 429 {
		t.Errorf("the page after 2 + 1 failures: %d", r.StatusCode)
	}
}

// The per-address limit, likewise, counts both routes.
func TestOneLoginLimitPerIPForAPIAndPage(t *testing.T) {
	h := newHarness(t, api.Config{LoginPerIP: 3})
	b := h.browser()
	tok := b.csrf()
	apiLogin := func(email string) int {
		r, _ := b.send("POST", "/api/v1/sessions", "application/json", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":"whatever whatever"}`, email)))
		return r.StatusCode
	}
	for i := range 2 {
		if st := apiLogin(fmt.Sprintf("x%d@example.org", i)); st != 401 {
			t.Fatalf("attempt %d through the API: %d", i+1, st)
		}
	}
	if r := b.signin("y@example.org", "whatever whatever", tok); r.StatusCode != 401 {
		t.Fatalf("an attempt through the page: %d", r.StatusCode)
	}
	if st := apiLogin("z@example.org"); st != 429 {
		t.Errorf("a fourth attempt from one address (2 API + 1 page before): %d, want 429", st)
	}
}

// Finding 7, CSRF: API writes signed in by the cookie need the page's CSRF
// token; bearer clients need none; JSON routes need the JSON content type.
func TestCookieAPIWritesNeedCSRF(t *testing.T) {
	h := newHarness(t, api.Config{})
	h.signupTeacher("ann@example.org")
	b := h.browser()
	csrf := b.csrf()
	if r := b.signin("ann@example.org", pw, csrf); r.StatusCode != 303 {
		t.Fatalf("sign-in: %d", r.StatusCode)
	}
	// What another site can make a browser send: a form or text/plain with
	// the cookie, and no token.
	for _, ctype := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json"} {
		r, body := b.send("POST", "/api/v1/classes", ctype, strings.NewReader(`{"name":"x","subject":"y","grade_level":9}`))
		if r.StatusCode != 403 || !strings.Contains(body, "CSRF") {
			t.Errorf("a cookie-only POST with %q: %d %s", ctype, r.StatusCode, body)
		}
	}
	if r, _ := b.send("DELETE", "/api/v1/sessions/current", "", nil, "X-CSRF-Token", "forged"); r.StatusCode != 403 {
		t.Errorf("a forged token: %d", r.StatusCode)
	}
	if r, _ := b.send("GET", "/api/v1/me", "", nil); r.StatusCode != 200 {
		t.Errorf("a cookie GET (reads need no token): %d", r.StatusCode)
	}
	if r, body := b.send("DELETE", "/api/v1/sessions/current", "", nil, "X-CSRF-Token", csrf); r.StatusCode != 204 {
		t.Errorf("a cookie write with the page's token: %d %s", r.StatusCode, body)
	}
	// A bearer client needs no token, but its JSON must say it is JSON.
	bearer := h.login("ann@example.org", pw)
	if st, body, _ := h.do("POST", "/api/v1/classes", bearer, `{"name":"x"}`); st == 403 {
		t.Errorf("a bearer write was refused for CSRF: %v", body)
	}
	req, _ := http.NewRequest("POST", b.base+"/api/v1/classes", strings.NewReader(`{"name":"x","subject":"y","grade_level":9}`))
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("JSON without a content type: %d, want 415", resp.StatusCode)
	}
}

// Sign out everywhere ends every session of the caller.
func TestSignOutEverywhere(t *testing.T) {
	h := newHarness(t, api.Config{})
	h.signupTeacher("ann@example.org")
	phone, laptop := h.login("ann@example.org", pw), h.login("ann@example.org", pw)
	if st, _, _ := h.do("DELETE", "/api/v1/sessions", phone, nil); st != 204 {
		t.Fatalf("sign out everywhere: %d", st)
	}
	for _, tok := range []string{phone, laptop} {
		if st, _, _ := h.do("GET", "/api/v1/me", tok, nil); st != 401 {
			t.Errorf("a session survived: %d", st)
		}
	}
	// The page's button does the same.
	b := h.browser()
	csrf := b.csrf()
	b.signin("ann@example.org", pw, csrf)
	other := h.login("ann@example.org", pw)
	r, _ := b.send("POST", "/signout/everywhere", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"_csrf": {csrf}}.Encode()))
	if r.StatusCode != 303 {
		t.Fatalf("the page's sign out everywhere: %d", r.StatusCode)
	}
	if st, _, _ := h.do("GET", "/api/v1/me", other, nil); st != 401 {
		t.Errorf("a session survived the page's sign out everywhere: %d", st)
	}
}

// Finding 7, open redirect: next must be a path on this site.
func TestSigninNextStaysOnSite(t *testing.T) {
	h := newHarness(t, api.Config{})
	h.signupTeacher("ann@example.org")
	for next, want := range map[string]string{"/\t/evil.example/": "/teacher", "//evil.example/": "/teacher", "/teacher?done=class": "/teacher?done=class"} {
		b := h.browser()
		form := url.Values{"_csrf": {b.csrf()}, "email": {"ann@example.org"}, "password": {pw}, "next": {next}}
		r, _ := b.send("POST", "/signin", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if loc := r.Header.Get("Location"); r.StatusCode != 303 || loc != want {
			t.Errorf("next=%q: %d to %q, want %q", next, r.StatusCode, loc, want)
		}
	}
}

// Finding 7, headers: every response says nosniff, no framing, and has a
// CSP; the pages' own and the API's alike.
func TestSecurityHeadersEverywhere(t *testing.T) {
	h := newHarness(t, api.Config{})
	b := h.browser()
	for _, path := range []string{"/signin", "/api/v1/me", "/healthz", "/static/margin.css", "/no/such/page"} {
		r, _ := b.send("GET", path, "", nil)
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("X-Frame-Options") != "DENY" ||
			!strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || r.Header.Get("Referrer-Policy") == "" {
			t.Errorf("GET %s: headers %v", path, r.Header)
		}
	}
}
