package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestBadSettingStopsServe: a value out of range stops margin serve before
// anything opens, with an error naming the variable; the defaults pass.
func TestBadSettingStopsServe(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        string // "" when the value is good
	}{
		{"MARGIN_PAYOUTS_SCHEDULE", "wekly", `MARGIN_PAYOUTS_SCHEDULE "wekly"`},
		{"MARGIN_PAYOUTS_SCHEDULE", "off", ""},
		{"MARGIN_PAYOUTS_FEE_BPS", "12000", "MARGIN_PAYOUTS_FEE_BPS 12000"},
		{"MARGIN_PAYOUTS_CURRENCY", "USD", `MARGIN_PAYOUTS_CURRENCY "USD"`},
		{"MARGIN_PAYOUTS_RETURN_URL", "/return", `MARGIN_PAYOUTS_RETURN_URL "/return"`},
		{"MARGIN_MATCHING_INTERVAL", "-1s", "MARGIN_MATCHING_INTERVAL -1s"},
		{"MARGIN_MATCHING_INTERVAL", "soon", "MARGIN_MATCHING_INTERVAL"},
		{"MARGIN_CALIBRATION_EXACT", "1.5", "MARGIN_CALIBRATION_EXACT 1.5"},
		{"MARGIN_FEEDBACK_MIN_QUOTES", "0", "MARGIN_FEEDBACK_MIN_QUOTES 0"},
		{"MARGIN_MAX_ZIP_ENTRIES", "-3", "MARGIN_MAX_ZIP_ENTRIES -3"},
		{"MARGIN_DUPLICATE_THRESHOLD", "2", "MARGIN_DUPLICATE_THRESHOLD 2"},
		{"MARGIN_ACCESS_LINK_TTL", "0s", "MARGIN_ACCESS_LINK_TTL 0s"},
		{"MARGIN_LOG_LEVEL", "loud", `MARGIN_LOG_LEVEL "loud"`},
		{"MARGIN_ADDR", "8080", `MARGIN_ADDR "8080"`},
		{"MARGIN_LOGIN_PER_IP", "0", "MARGIN_LOGIN_PER_IP 0"},
		{"MARGIN_MONGODB_URI", "postgres://u:secret@db", `MARGIN_MONGODB_URI "postgres://…@db"`},
		{"MARGIN_S3_ENDPOINT", "minio:9000", `MARGIN_S3_ENDPOINT "minio:9000"`},
		{"MARGIN_TEST_FAULT", "crash", `MARGIN_TEST_FAULT "crash"`},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Setenv("MARGIN_DATA_DIR", t.TempDir())
			t.Setenv(tc.name, tc.value)
			_, err := loadConfig()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("loadConfig: %v", err)
			case tc.want == "":
				return
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("loadConfig: %v, want an error containing %q", err, tc.want)
			case strings.Contains(err.Error(), "secret"):
				t.Fatalf("loadConfig: %v shows a secret", err)
			}
			// serve stops on it too, before it opens the data directory.
			err = run(context.Background(), []string{"serve"}, strings.NewReader(""), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("serve: %v, want an error naming %s", err, tc.name)
			}
		})
	}
}

// TestLogValueMasksSecrets: start-up prints every setting by its variable,
// secrets masked.
func TestLogValueMasksSecrets(t *testing.T) {
	t.Setenv("MARGIN_DATA_DIR", t.TempDir())
	t.Setenv("MARGIN_STRIPE_SECRET_KEY", "sk_test_verysecretvalue")
	t.Setenv("MARGIN_STRIPE_WEBHOOK_SECRET", "whsec_alsosecret")
	t.Setenv("MARGIN_MONGODB_URI", "mongodb://margin:hunter2@db.example:27017")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range cfg.LogValue().Group() {
		got[a.Key] = a.Value.String()
	}
	for name, want := range map[string]string{
		"MARGIN_STRIPE_SECRET_KEY":     "sk_test_…",
		"MARGIN_STRIPE_WEBHOOK_SECRET": "…",
		"MARGIN_MONGODB_URI":           "mongodb://…@db.example:27017",
		"MARGIN_PAYOUTS_SCHEDULE":      "weekly",
		"MARGIN_MATCHING_INTERVAL":     "30s",
		"MARGIN_FEEDBACK_MIN_QUOTES":   "2",
		"MARGIN_ACCESS_LINK_TTL":       "2880h0m0s",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	if len(got) < 35 {
		t.Errorf("start-up prints %d settings, want every one (35 or more): %v", len(got), got)
	}
}
