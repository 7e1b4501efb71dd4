package main

import (
	"strings"
	"testing"
)

// TestNotifyConfig: the email settings are checked once at start-up, and a
// mistake names its variable; the log shows the server without its
// password; with no SMTP URL start-up says the inbox is the only channel.
func TestNotifyConfig(t *testing.T) {
	for _, tc := range []struct {
		name, smtp, from, public, want string
	}{
		{"inbox only", "", "", "", ""},
		{"mailpit", "smtp://mailpit:1025", "Margin <margin@margin.example>", "http://localhost:8080", ""},
		{"bad scheme", "http://mail.example.org", "m@example.org", "https://margin.example.org", "MARGIN_SMTP_URL"},
		{"no from", "smtp://mail.example.org:587", "", "https://margin.example.org", "MARGIN_MAIL_FROM"},
		{"no public url", "smtps://u:p@mail.example.org", "m@example.org", "", "MARGIN_PUBLIC_URL"},
		{"public url with a path", "", "", "https://margin.example.org/app", "MARGIN_PUBLIC_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MARGIN_DATA_DIR", t.TempDir())
			t.Setenv("MARGIN_SMTP_URL", tc.smtp)
			t.Setenv("MARGIN_MAIL_FROM", tc.from)
			t.Setenv("MARGIN_PUBLIC_URL", tc.public)
			cfg, err := loadConfig()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("loadConfig: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("loadConfig: %v, want an error naming %s", err, tc.want)
			case tc.want == "" && tc.smtp == "" && !strings.Contains(emailText(cfg), "inbox only"):
				t.Errorf("start-up says %q", emailText(cfg))
			case tc.want == "" && tc.smtp != "" && !strings.Contains(emailText(cfg), "mailpit:1025"):
				t.Errorf("start-up says %q", emailText(cfg))
			}
		})
	}
	t.Setenv("MARGIN_SMTP_URL", "smtps://user:s3cret@mail.example.org")
	t.Setenv("MARGIN_MAIL_FROM", "m@example.org")
	t.Setenv("MARGIN_PUBLIC_URL", "https://margin.example.org")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if s := emailText(cfg) + cfg.LogValue().String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "smtps://user:…@mail.example.org:465") {
		t.Errorf("the mail server is shown as %q", s)
	}
}
