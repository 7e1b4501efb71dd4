// Package stripetest runs stripe-mock for tests, behind a recording proxy
// that counts the requests Margin sends (stripe-mock itself is stateless,
// so what Margin asked of Stripe is only visible on the wire).
package stripetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

var (
	buildOnce sync.Once
	binary    string
	errBuild  error
)

// build compiles the pinned stripe-mock (a go tool of this module) once per
// test binary, unless STRIPE_MOCK_BIN names one already built.
func build(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("STRIPE_MOCK_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stripe-mock-")
		if err != nil {
			errBuild = err
			return
		}
		binary = filepath.Join(dir, "stripe-mock")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/stripe/stripe-mock").CombinedOutput()
		if err != nil {
			errBuild = fmt.Errorf("building stripe-mock: %v: %s", err, out)
		}
	})
	if errBuild != nil {
		t.Fatal(errBuild)
	}
	return binary
}

// Request is one request seen by the proxy.
type Request struct {
	Method, Path, IdempotencyKey string
}

// Mock is a running stripe-mock with its recording proxy in front.
type Mock struct {
	// URL is the proxy's address, for MARGIN_STRIPE_API_BASE.
	URL string

	mu      sync.Mutex
	seen    []Request
	patches map[string]map[string]any // by "METHOD path"
}

// Start runs stripe-mock on free ports for the duration of the test.
func Start(t testing.TB) *Mock {
	t.Helper()
	cmd := exec.Command(build(t), "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				addr <- a
			}
		}
	}()
	var a string
	select {
	case a = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatal("stripe-mock did not start within 30 s")
	}
	target, _ := url.Parse("http://" + a)
	m := &Mock{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = m.patch
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.seen = append(m.seen, Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key")})
		m.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

// Requests returns the requests seen so far with the given method and path.
func (m *Mock) Requests(method, path string) []Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Request
	for _, r := range m.seen {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// TransferKeys returns the distinct idempotency keys of transfer creations
// seen so far, with how many requests carried each. Stripe moves money once
// per key, so the number of keys is the number of transfers made.
func (m *Mock) TransferKeys() map[string]int { return m.Keys(http.MethodPost, "/v1/transfers") }

// Event builds a webhook event payload of the pinned API version. account
// is the connected account for Connect events ("" for platform events).
func Event(id, typ, account string, object map[string]any) []byte {
	ev := map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "type": typ,
		"created": time.Now().Unix(), "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": object},
	}
	if account != "" {
		ev["account"] = account
	}
	b, _ := json.Marshal(ev)
	return b
}

// Sign returns the Stripe-Signature header for payload, signed with secret
// at time at.
func Sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

// Patch makes the proxy answer requests with this method and path with
// stripe-mock's answer, its top-level fields replaced by those given.
// stripe-mock is stateless (a retrieve returns a fixture), so this is how a
// test says what Stripe holds: a Checkout Session paid, an invoice sent. The
// request still goes to stripe-mock, which checks it. A nil fields removes
// the patch.
func (m *Mock) Patch(method, path string, fields map[string]any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.patches == nil {
		m.patches = map[string]map[string]any{}
	}
	if fields == nil {
		delete(m.patches, method+" "+path)
		return
	}
	m.patches[method+" "+path] = fields
}

func (m *Mock) patch(resp *http.Response) error {
	m.mu.Lock()
	fields := m.patches[resp.Request.Method+" "+resp.Request.URL.Path]
	m.mu.Unlock()
	if fields == nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return err
	}
	for k, v := range fields {
		obj[k] = v
	}
	if body, err = json.Marshal(obj); err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Del("Content-Encoding")
	return nil
}

// Keys returns the distinct idempotency keys of requests with this method
// and path seen so far, with how many requests carried each.
func (m *Mock) Keys(method, path string) map[string]int {
	keys := map[string]int{}
	for _, r := range m.Requests(method, path) {
		keys[r.IdempotencyKey]++
	}
	return keys
}
