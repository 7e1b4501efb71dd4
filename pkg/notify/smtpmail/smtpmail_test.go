package smtpmail_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/pkg/notify/notifytest"
	"github.com/marginschool/margin/pkg/notify/smtpmail"
)

func mailer(t *testing.T, srv *notifytest.Server, url string) *smtpmail.Mailer {
	t.Helper()
	server, err := notify.Config{SMTPURL: url}.SMTP()
	if err != nil {
		t.Fatal(err)
	}
	m, err := smtpmail.New(server, "Margin <margin@margin.test>", srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSendErrors: how the server's answers map to the errors the Sender
// acts on.
func TestSendErrors(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{Username: "margin", Password: "s3cret"})
	srv.Reject("gone@example.org")
	good := mailer(t, srv, srv.URL())
	msg := func(to string) notify.Mail {
		return notify.Mail{MessageID: "m1@margin.test", To: to, Subject: "Hello", Text: "t", HTML: "<p>h</p>"}
	}
	cases := []struct {
		name      string
		m         *smtpmail.Mailer
		setup     func()
		to        string
		rejected  bool
		refused   bool
		wantError bool
	}{
		{"delivered", good, nil, "a@example.org", false, false, false},
		{"recipient rejected (550)", good, nil, "gone@example.org", true, false, true},
		{"message refused (554)", good, func() { srv.FailNext(1, true) }, "a@example.org", false, true, true},
		{"temporary (451)", good, func() { srv.FailNext(1, false) }, "a@example.org", false, false, true},
		{"not an address", good, nil, "not an address", false, true, true},
		{"wrong password: temporary, retried until fixed", mailer(t, srv, strings.Replace(srv.URL(), "s3cret", "wrong", 1)), nil, "a@example.org", false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup()
			}
			err := c.m.Send(context.Background(), msg(c.to))
			if (err != nil) != c.wantError || errors.Is(err, notify.ErrRejected) != c.rejected || errors.Is(err, notify.ErrRefused) != c.refused {
				t.Fatalf("Send = %v; want error %v, rejected %v, refused %v", err, c.wantError, c.rejected, c.refused)
			}
		})
	}
	if got := srv.Messages(); len(got) != 1 {
		t.Fatalf("%d messages accepted, want 1", len(got))
	}
}

// TestPlainRelay: a relay without credentials or STARTTLS (as Mailpit by
// default) still gets the mail.
func TestPlainRelay(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{NoTLS: true})
	if err := mailer(t, srv, srv.URL()).Send(context.Background(), notify.Mail{MessageID: "m@x", To: "a@example.org", Subject: "s", Text: "t", HTML: "h"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages(); len(got) != 1 || got[0].TLS {
		t.Fatalf("%d messages (%+v)", len(got), got)
	}
	// With credentials, a server that offers no STARTTLS gets nothing: the
	// password never goes in clear.
	withPassword := strings.Replace(srv.URL(), "smtp://", "smtp://margin:s3cret@", 1)
	if err := mailer(t, srv, withPassword).Send(context.Background(), notify.Mail{MessageID: "m2@x", To: "a@example.org", Subject: "s", Text: "t", HTML: "h"}); err == nil {
		t.Fatal("sent with credentials over plain SMTP")
	}
	if got := srv.Messages(); len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
}
