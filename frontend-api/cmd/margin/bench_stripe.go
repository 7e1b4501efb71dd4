package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// stripeMock is the stripe-mock the bench's payouts talk to, behind a proxy
// that counts the transfers made through it.
type stripeMock struct {
	URL       string // the proxy, for MARGIN_STRIPE_API_BASE
	transfers atomic.Int64
	stop      func()
}

// startStripeMock proxies to the stripe-mock at base, or, with base empty,
// starts one: the binary bin, $STRIPE_MOCK_BIN, stripe-mock on the PATH, or
// one built from this module's pinned tool (go build, which works inside
// the source tree). It returns nil, with no error, when none can be found.
func startStripeMock(ctx context.Context, bin, base string, logf func(string, ...any)) (*stripeMock, error) {
	stops := []func(){}
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if base == "" {
		if bin == "" {
			bin = findStripeMock(ctx, &stops, logf)
		}
		if bin == "" {
			return nil, nil
		}
		addr, kill, err := runStripeMock(bin)
		if err != nil {
			stop()
			return nil, err
		}
		stops = append(stops, kill)
		base = "http://" + addr
	}
	target, err := url.Parse(base)
	if err != nil {
		stop()
		return nil, fmt.Errorf("stripe-mock address %q: %w", base, err)
	}
	m := &stripeMock{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stop()
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/transfers" {
			m.transfers.Add(1)
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	stops = append(stops, func() { _ = srv.Close() })
	m.URL, m.stop = "http://"+ln.Addr().String(), stop
	return m, nil
}

// findStripeMock looks for a stripe-mock binary, building the module's
// pinned one into a temporary directory as a last resort.
func findStripeMock(ctx context.Context, stops *[]func(), logf func(string, ...any)) string {
	if bin := os.Getenv("STRIPE_MOCK_BIN"); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath("stripe-mock"); err == nil {
		return bin
	}
	dir, err := os.MkdirTemp("", "margin-bench-stripe-")
	if err != nil {
		return ""
	}
	*stops = append(*stops, func() { _ = os.RemoveAll(dir) })
	bin := filepath.Join(dir, "stripe-mock")
	logf("building stripe-mock (go build github.com/stripe/stripe-mock)")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/stripe/stripe-mock").CombinedOutput(); err != nil {
		logf("no stripe-mock (%v: %s); the payout run is measured without Stripe", err, strings.TrimSpace(string(out)))
		return ""
	}
	return bin
}

// runStripeMock starts bin on free ports and returns its HTTP address.
func runStripeMock(bin string) (string, func(), error) {
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start stripe-mock: %w", err)
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
	select {
	case a := <-addr:
		return a, kill, nil
	case <-time.After(30 * time.Second):
		kill()
		return "", nil, errors.New("stripe-mock did not start within 30 s")
	}
}
