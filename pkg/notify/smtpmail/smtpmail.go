// Package smtpmail sends Margin's notification email over SMTP, through
// github.com/wneessen/go-mail: a multipart/alternative message (plain text
// and HTML) with a stable Message-ID and the RFC 8058 one-click unsubscribe
// headers.
package smtpmail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/marginschool/margin/pkg/notify"
)

// Mailer is a notify.Mailer over one SMTP server. It opens a connection
// per message; it is safe for concurrent use.
type Mailer struct {
	client *mail.Client
	from   string
}

// Timeout bounds connecting and each SMTP command; a whole session stays
// well inside notify.Config.Lease.
const Timeout = 20 * time.Second

// New returns a Mailer for server, sending from from (an address, with or
// without a display name). tlsConfig is used for TLS (smtps://) and
// STARTTLS; nil means the system's roots and the server's host name. With
// credentials, STARTTLS is required; without, it is used when the server
// offers it (a local relay such as Mailpit offers none).
func New(server notify.SMTPServer, from string, tlsConfig *tls.Config) (*Mailer, error) {
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: server.Host, MinVersion: tls.VersionTLS12}
	}
	opts := []mail.Option{mail.WithPort(server.Port), mail.WithTimeout(Timeout), mail.WithTLSConfig(tlsConfig)}
	switch {
	case server.ImplicitTLS:
		opts = append(opts, mail.WithSSL())
	case server.Username != "":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if server.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(server.Username), mail.WithPassword(server.Password))
	}
	c, err := mail.NewClient(server.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtpmail: %w", err)
	}
	if err := mail.NewMsg().From(from); err != nil {
		return nil, fmt.Errorf("smtpmail: from address %q: %w", from, err)
	}
	return &Mailer{client: c, from: from}, nil
}

// Send delivers m. A message the server accepted is delivered even if the
// connection then fails to close cleanly. A permanent (5xx) refusal of the
// recipient wraps notify.ErrRejected; any other permanent refusal wraps
// notify.ErrRefused; everything else is temporary.
func (x *Mailer) Send(ctx context.Context, m notify.Mail) error {
	msg, err := x.message(m)
	if err != nil {
		return fmt.Errorf("%w: %v", notify.ErrRefused, err)
	}
	err = x.client.DialAndSendWithContext(ctx, msg)
	if err == nil || msg.IsDelivered() {
		return nil
	}
	var se *mail.SendError
	if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
		if se.Reason == mail.ErrSMTPRcptTo {
			return fmt.Errorf("%w: %v", notify.ErrRejected, err)
		}
		return fmt.Errorf("%w: %v", notify.ErrRefused, err)
	}
	return err
}

// message builds the MIME message for m.
func (x *Mailer) message(m notify.Mail) (*mail.Msg, error) {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := msg.From(x.from); err != nil {
		return nil, err
	}
	if err := msg.To(m.To); err != nil {
		return nil, err
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDate()
	// RFC 3834: no out-of-office replies to notifications.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader("X-Margin-Kind", string(m.Kind))
	if m.Unsubscribe != "" {
		// RFC 8058 wants an https URI; a development install on http gets
		// the same headers, which mail clients then ignore.
		if u, err := url.Parse(m.Unsubscribe); err == nil && u.Scheme == "https" {
			if err := msg.SetListUnsubscribeOneClick(m.Unsubscribe); err != nil {
				return nil, err
			}
		} else {
			msg.SetListUnsubscribe(m.Unsubscribe)
			msg.SetListUnsubscribePost()
		}
	}
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	return msg, nil
}
