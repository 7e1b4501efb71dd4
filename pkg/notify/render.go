package notify

import (
	"bytes"
	_ "embed"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"

	"github.com/marginschool/margin/pkg/account"
)

// Mail is one email, ready for a Mailer.
type Mail struct {
	// MessageID is "<local>@<host>" without angle brackets. It is derived
	// from the message's ID, so every attempt carries the same one.
	MessageID string
	To        string
	Subject   string
	Text      string // the text/plain part
	HTML      string // the text/html part
	// Unsubscribe is the one-click unsubscribe URL for the
	// List-Unsubscribe and List-Unsubscribe-Post headers (RFC 8058);
	// empty for mail that cannot be turned off.
	Unsubscribe string
	// Kind is the kind of event, or "digest".
	Kind Kind
}

// digestKind marks a digest in Mail.Kind and in failures.
const digestKind Kind = "digest"

var (
	//go:embed templates/mail.txt
	mailText string
	//go:embed templates/mail.html
	mailHTML string

	textTmpl = texttemplate.Must(texttemplate.New("mail.txt").Parse(mailText))
	htmlTmpl = htmltemplate.Must(htmltemplate.New("mail.html").Parse(mailHTML))
)

// mailView is what the templates get: one message, or a digest of entries.
type mailView struct {
	Title       string
	Paragraphs  []string
	Action, URL string // the link to the page the message is about
	Entries     []entryView
	More        int    // digest entries left out
	InboxURL    string // shown with digests
	SettingsURL string
	Unsubscribe string
	Always      bool // the kind cannot be turned off
}

type entryView struct {
	Title, Text, Action, URL string
}

// paragraphs splits text at blank lines.
func paragraphs(text string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// linkFor is the absolute URL an email gives for a message: for a student,
// the signed link that signs them in first; for anyone else, the page
// itself (it asks them to sign in when they are not).
func (s *Service) linkFor(id string, role account.Role, path string) string {
	if role == account.Student {
		return s.openURL(id)
	}
	if path == "" {
		path = InboxPath
	}
	return s.url(path)
}

// renderMessage makes the email for one message.
func (s *Service) renderMessage(m messageDoc) (Mail, error) {
	v := mailView{
		Title: m.Title, Paragraphs: paragraphs(m.Text), Action: kinds[m.Kind].action,
		URL: s.linkFor(m.ID, m.Role, m.Link), SettingsURL: s.url(SettingsPath), Always: m.Kind.Always(),
	}
	if !m.Kind.Always() {
		v.Unsubscribe = s.unsubscribeURL(m.UserID, m.Role, string(m.Kind))
	}
	return s.render(v, Mail{MessageID: m.ID + "@" + s.host, To: m.Email, Subject: m.Title, Unsubscribe: v.Unsubscribe, Kind: m.Kind})
}

// renderDigest makes the email for a day's digest.
func (s *Service) renderDigest(d digestDoc, items []digestItem) (Mail, error) {
	subject := "Your Margin updates: 1 new"
	if n := len(items) + d.More; n != 1 {
		subject = "Your Margin updates: " + strconv.Itoa(n) + " new"
	}
	v := mailView{
		Title: subject, InboxURL: s.url(InboxPath), SettingsURL: s.url(SettingsPath), More: d.More,
		Unsubscribe: s.unsubscribeURL(d.UserID, d.Role, scopeDaily),
	}
	for _, it := range items {
		v.Entries = append(v.Entries, entryView{Title: it.Title, Text: it.Text, Action: kinds[it.Kind].action, URL: s.linkFor(it.ID, d.Role, it.Link)})
	}
	return s.render(v, Mail{MessageID: "digest." + strings.ReplaceAll(d.ID, ":", ".") + "@" + s.host, To: d.Email, Subject: subject, Unsubscribe: v.Unsubscribe, Kind: digestKind})
}

func (s *Service) render(v mailView, m Mail) (Mail, error) {
	var t, h bytes.Buffer
	if err := textTmpl.Execute(&t, v); err != nil {
		return Mail{}, err
	}
	if err := htmlTmpl.Execute(&h, v); err != nil {
		return Mail{}, err
	}
	m.Text, m.HTML = t.String(), h.String()
	return m, nil
}
