package api

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestRouteFor: a request finds its route's body policy as Fiber routes it.
func TestRouteFor(t *testing.T) {
	s := &Server{cfg: Config{}.withDefaults()}
	for _, r := range []struct{ method, path string }{
		{fiber.MethodGet, "/static/*"},
		{fiber.MethodPost, "/signin"},
		{fiber.MethodPost, "/api/v1/classes"},
		{fiber.MethodGet, "/api/v1/classes/:id"},
		{fiber.MethodPost, "/api/v1/classes/:id/roster"},
		{fiber.MethodPost, "/api/v1/assignments/:id/submissions"},
		{fiber.MethodGet, "/api/v1/assignments/:id/submissions"},
		{fiber.MethodPost, "/student/submissions/:id/revision"},
	} {
		s.addRoute(r.method, r.path)
	}
	tests := []struct {
		method, path string
		known        bool
		limit        int64
		stream       bool
	}{
		{"POST", "/signin", true, maxSignInBody, false},
		{"POST", "/SignIn/", true, maxSignInBody, false},
		{"POST", "/api/v1/classes", true, 1 << 20, false},
		{"GET", "/api/v1/classes/c1", true, 0, false},
		{"POST", "/api/v1/classes/c1/roster", true, maxRosterBody + formOverhead, false},
		{"POST", "/api/v1/assignments/a1/submissions", true, 512 << 20, true},
		{"GET", "/api/v1/assignments/a1/submissions", true, 0, false},
		{"POST", "/student/submissions/s1/revision", true, 25<<20 + formOverhead, true},
		{"GET", "/static/css/margin.css", true, 0, false},
		{"POST", "/readyz", false, 0, false},
		{"POST", "/api/v1/assignments//submissions", false, 0, false},
		{"POST", "/api/v1/assignments/a1/submissions/x", false, 0, false},
	}
	for _, tt := range tests {
		rt, ok := s.routeFor(tt.method, tt.path)
		if ok != tt.known || rt.policy.limit != tt.limit || rt.policy.stream != tt.stream {
			t.Errorf("%s %s: known=%v policy=%+v, want known=%v limit=%d stream=%v", tt.method, tt.path, ok, rt.policy, tt.known, tt.limit, tt.stream)
		}
	}
}

// TestLimitedReader: at most n bytes pass; one more is the 413 error.
func TestLimitedReader(t *testing.T) {
	tooLarge := errors.New("too large")
	tests := []struct {
		body    string
		n       int64
		want    string
		wantErr error
	}{
		{"hello", 5, "hello", nil},
		{"hello", 10, "hello", nil},
		{"hello!", 5, "hello", tooLarge},
		{"", 0, "", nil},
		{"x", 0, "", tooLarge},
	}
	for _, tt := range tests {
		l := &limitedReader{r: strings.NewReader(tt.body), n: tt.n, err: tooLarge}
		got, err := io.ReadAll(l)
		if string(got) != tt.want || !errors.Is(err, tt.wantErr) || l.eof != (tt.wantErr == nil) {
			t.Errorf("%q limit %d: %q, %v, eof=%v; want %q, %v", tt.body, tt.n, got, err, l.eof, tt.want, tt.wantErr)
		}
	}
}
