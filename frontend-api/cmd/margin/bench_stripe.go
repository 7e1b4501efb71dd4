package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/marginschool/margin/services/payouts/stripeclient/stripemock"
)

// startStripeMock returns the stripe-mock the bench's payouts talk to,
// behind a recording proxy: a proxy to the one running at base, or one it
// starts from the binary bin, $STRIPE_MOCK_BIN, stripe-mock on the PATH, or
// the module's pinned tool built into a temporary directory (which works
// inside the source tree). It returns nil, with no error, when there is
// none; close stops it.
func startStripeMock(ctx context.Context, bin, base string, logf func(string, ...any)) (m *stripemock.Mock, close func(), err error) {
	if base != "" {
		m, err := stripemock.Proxy(base)
		if err != nil {
			return nil, nil, err
		}
		return m, m.Close, nil
	}
	if bin == "" {
		bin = os.Getenv("STRIPE_MOCK_BIN")
	}
	if bin == "" {
		bin, _ = exec.LookPath("stripe-mock")
	}
	cleanup := func() {}
	if bin == "" {
		dir, err := os.MkdirTemp("", "margin-bench-stripe-")
		if err != nil {
			return nil, nil, err
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		bin = filepath.Join(dir, "stripe-mock")
		logf("building stripe-mock")
		if err := stripemock.Build(ctx, bin); err != nil {
			cleanup()
			logf("no stripe-mock, so the payout run is not measured: %v", err)
			return nil, nil, nil
		}
	}
	if m, err = stripemock.Start(bin); err != nil {
		cleanup()
		return nil, nil, err
	}
	return m, func() { m.Close(); cleanup() }, nil
}
