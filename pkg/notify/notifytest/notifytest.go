// Package notifytest runs a real SMTP server inside a test, on
// github.com/emersion/go-smtp: it speaks SMTP with STARTTLS (or TLS from
// the start) and AUTH PLAIN, records every message it accepts, parsed, and
// can reject recipients (a bounce) or fail messages for a while (a
// temporary outage).
package notifytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a Server.
type Options struct {
	// Username and Password, when set, are required (AUTH PLAIN, only
	// after TLS) before a message is accepted.
	Username, Password string
	// ImplicitTLS serves smtps: TLS from the first byte. Otherwise the
	// server offers STARTTLS, unless NoTLS: then it speaks plain SMTP only,
	// as a local relay such as Mailpit does by default.
	ImplicitTLS, NoTLS bool
}

// Message is one message the server accepted.
type Message struct {
	From      string   // envelope sender
	To        []string // envelope recipients
	Raw       []byte
	Header    mail.Header
	Subject   string // decoded
	MessageID string // as in the header, with its angle brackets
	Text      string // the text/plain part, decoded
	HTML      string // the text/html part, decoded
	TLS       bool   // the session was encrypted
}

// Server is a running SMTP server; it stops when the test ends.
type Server struct {
	opts   Options
	addr   string
	client *tls.Config

	mu       sync.Mutex
	msgs     []Message
	rejected map[string]bool
	failing  int
	refuse   bool
	arrived  chan struct{}
}

// Start starts a server on 127.0.0.1 with a fresh self-signed certificate.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	serverTLS, clientTLS, err := certificates()
	if err != nil {
		t.Fatalf("notifytest: certificate: %v", err)
	}
	s := &Server{opts: opts, client: clientTLS, rejected: map[string]bool{}, arrived: make(chan struct{}, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{s: s, tls: isTLS}, nil
	}))
	srv.Domain = "localhost"
	if !opts.NoTLS {
		srv.TLSConfig = serverTLS
	}
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.ErrorLog = nopLogger{}
	var l net.Listener
	if opts.ImplicitTLS {
		l, err = tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatalf("notifytest: listen: %v", err)
	}
	s.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// URL is the server as MARGIN_SMTP_URL: smtp:// or smtps://, with the
// credentials when there are some.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.addr}
	if s.opts.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	return u.String()
}

// ClientTLS is a TLS configuration that trusts this server's certificate.
func (s *Server) ClientTLS() *tls.Config { return s.client.Clone() }

// Reject makes the server refuse the address at RCPT TO with 550 5.1.1,
// as a server does for a mailbox that does not exist.
func (s *Server) Reject(address string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected[strings.ToLower(address)] = true
}

// FailNext makes the next n messages fail at the end of DATA: with 451
// 4.3.0, a temporary failure, or with permanent, 554 5.7.1, a refusal.
func (s *Server) FailNext(n int, permanent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing, s.refuse = n, permanent
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until at least n messages have arrived and returns them;
// it fails the test after timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("notifytest: %d messages after %v, want %d", len(s.Messages()), timeout, n)
		}
	}
}

type session struct {
	s    *Server
	tls  bool
	auth bool
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != x.s.opts.Username || pass != x.s.opts.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}
		}
		x.auth = true
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.opts.Username != "" && !x.auth {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	rejected := x.s.rejected[strings.ToLower(to)]
	x.s.mu.Unlock()
	if rejected {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.failing > 0 {
		x.s.failing--
		if x.s.refuse {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message refused"}
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Unparseable message: " + err.Error()}
	}
	m.From, m.To, m.TLS = x.from, append([]string(nil), x.to...), x.tls
	x.s.msgs = append(x.s.msgs, m)
	select {
	case x.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// parse reads a message: its header, and its text and HTML parts from a
// multipart/alternative body (or a single-part one).
func parse(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	m := Message{Raw: raw, Header: msg.Header, MessageID: msg.Header.Get("Message-Id")}
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Message{}, err
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Message{}, err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := decode(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Message{}, err
		}
		m.setPart(mt, body)
		return m, nil
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return Message{}, err
		}
		pt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			return Message{}, err
		}
		// multipart.Reader undoes quoted-printable itself.
		body, err := decode(p, p.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Message{}, err
		}
		m.setPart(pt, body)
	}
}

func (m *Message) setPart(mediaType, body string) {
	switch mediaType {
	case "text/plain":
		m.Text = body
	case "text/html":
		m.HTML = body
	}
}

func decode(r io.Reader, cte string) (string, error) {
	if strings.EqualFold(cte, "base64") {
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n"), err
}

// certificates makes a self-signed certificate for 127.0.0.1 and
// localhost, and a client configuration that trusts it.
func certificates() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "notifytest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client, nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("notifytest SMTP at %s", s.addr) }
