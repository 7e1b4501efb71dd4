// Package stripetest runs stripe-mock for tests, behind a recording proxy
// that counts the requests Margin sends (see stripemock).
package stripetest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/marginschool/margin/services/payouts/stripeclient/stripemock"
)

// Mock is a running stripe-mock with its recording proxy in front; Request
// is one request the proxy saw.
type (
	Mock    = stripemock.Mock
	Request = stripemock.Request
)

// Event and Sign build and sign webhook payloads (see stripemock).
var (
	Event = stripemock.Event
	Sign  = stripemock.Sign
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
		errBuild = stripemock.Build(context.Background(), binary)
	})
	if errBuild != nil {
		t.Fatal(errBuild)
	}
	return binary
}

// Start runs stripe-mock on free ports for the duration of the test.
func Start(t testing.TB) *Mock {
	t.Helper()
	m, err := stripemock.Start(build(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}
