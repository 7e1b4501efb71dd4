package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestE2EConfigRefused: a typo in a setting stops `margin serve` at once,
// exiting non-zero with a message naming the variable, instead of running
// on a default (a misspelt payout schedule used to turn payouts off).
func TestE2EConfigRefused(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"MARGIN_PAYOUTS_SCHEDULE", "wekly", `MARGIN_PAYOUTS_SCHEDULE "wekly": want weekly, daily or off`},
		{"MARGIN_MATCHING_INTERVAL", "30", "MARGIN_MATCHING_INTERVAL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, "serve")
			cmd.Env = append(os.Environ(), "MARGIN_DATA_DIR="+t.TempDir(), "MARGIN_ADDR="+freeAddr(t), tc.name+"="+tc.value)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 || ctx.Err() != nil {
				t.Fatalf("margin serve with %s=%s: err=%v (want a non-zero exit at start-up)\n%s", tc.name, tc.value, err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("margin serve with %s=%s said %q, want it to contain %q", tc.name, tc.value, out, tc.want)
			}
		})
	}
}
