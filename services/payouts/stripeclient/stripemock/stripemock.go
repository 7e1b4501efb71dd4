// Package stripemock runs stripe-mock, Stripe's stateless API fake, as a
// subprocess behind a recording proxy that keeps the requests Margin sends
// (stripe-mock itself remembers nothing, so what Margin asked of Stripe is
// only visible on the wire). Tests use it through stripetest; `margin bench
// school` uses it directly.
package stripemock

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// Build compiles the module's pinned stripe-mock (a go tool of this module)
// to the file bin. It needs the go command and the module's source tree as
// the working directory (or below it).
func Build(ctx context.Context, bin string) error {
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/stripe/stripe-mock").CombinedOutput()
	if err != nil {
		return fmt.Errorf("building stripe-mock: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Request is one request seen by the proxy.
type Request struct {
	Method, Path, IdempotencyKey string
}

// Mock is a stripe-mock with its recording proxy in front.
type Mock struct {
	// URL is the proxy's address, for MARGIN_STRIPE_API_BASE.
	URL string

	mu    sync.Mutex
	seen  []Request
	stops []func()
}

// Start runs the stripe-mock binary bin on free ports, with the proxy in
// front. Close stops both.
func Start(bin string) (*Mock, error) {
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start stripe-mock: %w", err)
	}
	kill := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
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
		kill()
		return nil, errors.New("stripe-mock did not start within 30 s")
	}
	m, err := Proxy("http://" + a)
	if err != nil {
		kill()
		return nil, err
	}
	m.stops = append(m.stops, kill)
	return m, nil
}

// Proxy puts the recording proxy in front of a stripe-mock already running
// at base. Close stops the proxy only.
func Proxy(base string) (*Mock, error) {
	target, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("stripe-mock address %q: %w", base, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &Mock{URL: "http://" + ln.Addr().String()}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.seen = append(m.seen, Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key")})
		m.mu.Unlock()
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	m.stops = append(m.stops, func() { _ = srv.Close() })
	return m, nil
}

// Close stops the proxy, and stripe-mock if Start started it.
func (m *Mock) Close() {
	for i := len(m.stops) - 1; i >= 0; i-- {
		m.stops[i]()
	}
	m.stops = nil
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
func (m *Mock) TransferKeys() map[string]int {
	keys := map[string]int{}
	for _, r := range m.Requests(http.MethodPost, "/v1/transfers") {
		keys[r.IdempotencyKey]++
	}
	return keys
}

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
