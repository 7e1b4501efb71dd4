// Package notify tells people when a step of Margin waits on them. Every
// event reaches its recipients' in-app inbox; it also reaches them by email
// when SMTP is configured, their address is known and allowed, the address
// is not failing, and their preferences ask for it (at once or in a daily
// digest).
//
// Services raise events through Service.Notify, which queues one message
// per recipient under a deterministic ID, so raising the same event again
// (a retry, a re-run after a crash) changes nothing. A Sender running in the
// background services delivers the email: it claims each message with a
// lease, retries with backoff, and records it sent or failed with the
// reason. Several Senders, in several processes, send each message once;
// a Sender that dies between handing a message to the SMTP server and
// recording it sent makes the one allowed repeat, with the same Message-ID.
//
// Every hot read and write is by _id: the embedded store scans for any other
// filter, so the only collection a Sender scans is the queue of undelivered
// messages. docs/NOTIFY.md describes the collections, the events and how the
// rest of Margin wires them.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// Event is something that happened which someone has to act on or know
// about. One Event reaches each of its Recipients once.
type Event struct {
	Kind Kind
	// Key names this occurrence of the kind: the offer's ID for OfferMade,
	// the feedback's ID and version for ReviewWaiting, and so on
	// (docs/NOTIFY.md). Kind, Key and the recipient make the message's ID,
	// so raising an event with the same Key again is a no-op.
	Key string
	// Title is one line ("An offer of 12 essays expires in 12 hours");
	// it is the email's subject.
	Title string
	// Text is a few short sentences; blank lines separate paragraphs.
	Text string
	// Link is the path of the page the event is about, on Margin's origin
	// ("/grader/offers/off_…"); emails make it absolute.
	Link string
	// Recipients are who receive it; each must be a role the kind is for.
	Recipients []Recipient
	// StudentIdentifiers are the names, IDs and email addresses of the
	// students the event concerns. They are never stored; they are only
	// checked: an event for a grader whose Title, Text or Link carries any
	// of them is refused, because graders see pseudonyms only.
	StudentIdentifiers []string
}

// Recipient is one person an Event reaches.
type Recipient struct {
	UserID string
	Role   account.Role
	// Email is the address to mail, when known (for a student, from the
	// roster).
	Email string
	// EmailAllowed says the recipient may be emailed at all: true for
	// graders, teachers and admins with an address; for a student, true
	// only when their teacher has turned email on for the class. When it
	// is false the event reaches the inbox only.
	EmailAllowed bool
}

// Limits on an event's fields, in characters.
const (
	maxKey    = 200
	maxTitle  = 200
	maxText   = 2000
	maxLink   = 500
	maxRecips = 1000
)

// emailLike finds anything shaped like an email address: grader-bound
// text may not carry one, whether or not the raiser flagged it.
var emailLike = regexp.MustCompile(`[^\s<>()\[\],;:"']+@[^\s<>()\[\],;:"']+\.[A-Za-z]{2,}`)

// validate checks an event before anything is stored; the errors are
// errs.Invalid naming the field.
func (e Event) validate() error {
	switch {
	case !e.Kind.Valid():
		return errs.F(errs.Invalid, "kind", "Unknown kind of notification %q.", e.Kind)
	case e.Key == "" || len(e.Key) > maxKey:
		return errs.F(errs.Invalid, "key", "A notification needs a key of 1 to %d characters.", maxKey)
	case strings.TrimSpace(e.Title) == "" || utf8.RuneCountInString(e.Title) > maxTitle || strings.ContainsAny(e.Title, "\r\n"):
		return errs.F(errs.Invalid, "title", "A notification needs a one-line title of at most %d characters.", maxTitle)
	case utf8.RuneCountInString(e.Text) > maxText:
		return errs.F(errs.Invalid, "text", "A notification's text is at most %d characters.", maxText)
	case !utf8.ValidString(e.Title + e.Text + e.Link):
		return errs.F(errs.Invalid, "text", "A notification's text must be valid UTF-8.")
	case len(e.Recipients) == 0 || len(e.Recipients) > maxRecips:
		return errs.F(errs.Invalid, "recipients", "A notification needs 1 to %d recipients.", maxRecips)
	}
	if err := checkLink(e.Link); err != nil {
		return err
	}
	for i, r := range e.Recipients {
		field := fmt.Sprintf("recipients[%d]", i)
		if r.UserID == "" {
			return errs.F(errs.Invalid, field+".user_id", "A recipient needs a user ID.")
		}
		if !e.Kind.For(r.Role) {
			return errs.F(errs.Invalid, field+".role", "A %s does not receive %q notifications.", r.Role, e.Kind)
		}
		if r.Email != "" {
			if a, err := mail.ParseAddress(r.Email); err != nil || a.Name != "" || a.Address != r.Email {
				return errs.F(errs.InvalidEmail, field+".email", "The recipient's email address %q is not one.", r.Email)
			}
		}
	}
	if slices.ContainsFunc(e.Recipients, func(r Recipient) bool { return r.Role == account.Grader }) {
		return e.checkPseudonymous()
	}
	return nil
}

// checkLink accepts a path on Margin's own origin, or nothing.
func checkLink(link string) error {
	if link == "" {
		return nil
	}
	u, err := url.Parse(link)
	if err != nil || len(link) > maxLink || !strings.HasPrefix(link, "/") || strings.HasPrefix(link, "//") ||
		u.Scheme != "" || u.Host != "" || strings.ContainsAny(link, " \r\n\\") {
		return errs.F(errs.Invalid, "link", "A notification's link is a path on Margin such as /grader/tasks/t_1.")
	}
	return nil
}

// checkPseudonymous refuses grader-bound content that names a student: any
// of the event's StudentIdentifiers as a whole word, in any case, or any
// email address.
func (e Event) checkPseudonymous() error {
	fields := []struct{ name, v string }{{"title", e.Title}, {"text", e.Text}, {"link", e.Link}}
	for _, f := range fields {
		if emailLike.MatchString(f.v) {
			return errs.F(errs.Invalid, f.name, "A notification for a grader may not carry an email address.")
		}
		for _, id := range e.StudentIdentifiers {
			if id = strings.TrimSpace(id); id != "" && namesWord(f.v, id) {
				return errs.F(errs.Invalid, f.name, "A notification for a grader may not name a student; use the pseudonym.")
			}
		}
	}
	return nil
}

// namesWord reports whether s contains w, case-insensitively, not as part
// of a longer word ("Ann" is in "Ann's essay", not in "annotated").
func namesWord(s, w string) bool {
	re, err := regexp.Compile(`(?i)(^|[^\pL\pN_])` + regexp.QuoteMeta(w) + `($|[^\pL\pN_])`)
	return err == nil && re.MatchString(s)
}

// messageID is the deterministic _id of the message an event makes for
// one recipient: the same event raised again makes the same ID.
func messageID(k Kind, key, userID string) string {
	sum := sha256.Sum256([]byte(string(k) + "\x00" + key + "\x00" + userID))
	return "ntf_" + strings.ToLower(b32.EncodeToString(sum[:20]))
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Config is the notifications' configuration, parsed once in main.
type Config struct {
	// SMTPURL is the mail server: smtp://user:pass@host:587 (STARTTLS,
	// required when there are credentials) or smtps://user:pass@host:465
	// (TLS from the start). Empty: no email, the inbox only.
	SMTPURL string `env:"MARGIN_SMTP_URL" secret:"true"`
	// MailFrom is the From address ("Margin <margin@school.example>").
	MailFrom string `env:"MARGIN_MAIL_FROM"`
	// PublicURL is the origin people reach Margin at; email links are
	// made absolute with it. Required with SMTPURL.
	PublicURL string `env:"MARGIN_PUBLIC_URL"`
	// DigestHour is the hour of the day (UTC) daily digests go out.
	DigestHour int `env:"MARGIN_MAIL_DIGEST_HOUR" envDefault:"16"`
	// MaxAttempts is how many times a message is tried before it is
	// recorded failed.
	MaxAttempts int `env:"MARGIN_MAIL_MAX_ATTEMPTS" envDefault:"8"`
	// RetryBase is the wait after the first failed attempt; each further
	// wait is four times longer, up to an hour.
	RetryBase time.Duration `env:"MARGIN_MAIL_RETRY_BASE" envDefault:"30s"`
	// Lease is how long a Sender holds a claimed message. A Sender that
	// dies holding one delays that message by at most this long. It must
	// well exceed the longest SMTP session (smtpmail.Timeout per command),
	// or a slow send could be claimed and sent again by another Sender.
	Lease time.Duration `env:"MARGIN_MAIL_LEASE" envDefault:"5m"`
	// Poll is how often a Sender looks for due messages.
	Poll time.Duration `env:"MARGIN_MAIL_POLL" envDefault:"2s"`
	// LinkTTL is how long the sign-in link in a student's email works.
	LinkTTL time.Duration `env:"MARGIN_MAIL_LINK_TTL" envDefault:"720h"`
	// UnsubscribeTTL is how long an unsubscribe link works.
	UnsubscribeTTL time.Duration `env:"MARGIN_MAIL_UNSUBSCRIBE_TTL" envDefault:"8760h"`
}

// withDefaults fills zero fields, so that a Config built in code (tests,
// tools) behaves like one parsed from an empty environment.
func (c Config) withDefaults() Config {
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.RetryBase, 30*time.Second)
	def(&c.Lease, 5*time.Minute)
	def(&c.Poll, 2*time.Second)
	def(&c.LinkTTL, 30*24*time.Hour)
	def(&c.UnsubscribeTTL, 365*24*time.Hour)
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 8
	}
	return c
}

// Validate checks the configuration; with no SMTPURL only the tuning is
// checked. Errors are errs.Invalid naming the variable.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.DigestHour < 0 || c.DigestHour > 23 {
		return errs.F(errs.Invalid, "MARGIN_MAIL_DIGEST_HOUR", "The digest hour is 0 to 23 (UTC).")
	}
	if c.MaxAttempts < 1 || c.RetryBase < 0 || c.Lease < time.Second || c.Poll <= 0 || c.LinkTTL <= 0 || c.UnsubscribeTTL <= 0 {
		return errs.E(errs.Invalid, "The mail attempts, retry, lease, poll and link lifetimes must be positive.")
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" {
			return errs.F(errs.Invalid, "MARGIN_PUBLIC_URL", "The public URL must be an origin such as https://margin.example.edu.")
		}
	}
	if c.SMTPURL == "" {
		return nil
	}
	if _, err := c.SMTP(); err != nil {
		return err
	}
	if c.PublicURL == "" {
		return errs.F(errs.Invalid, "MARGIN_PUBLIC_URL", "Email needs MARGIN_PUBLIC_URL, the address people open Margin at, for the links in messages.")
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		return errs.F(errs.Invalid, "MARGIN_MAIL_FROM", "MARGIN_MAIL_FROM must be an address such as \"Margin <margin@school.example>\".")
	}
	return nil
}

// SMTPServer is a parsed MARGIN_SMTP_URL.
type SMTPServer struct {
	Host string
	Port int
	// ImplicitTLS is smtps://: TLS from the first byte. Otherwise the
	// connection is upgraded with STARTTLS: always when there are
	// credentials, and when the server offers it when there are none.
	ImplicitTLS        bool
	Username, Password string
}

// String describes the server with its password masked.
func (s SMTPServer) String() string {
	scheme := "smtp"
	if s.ImplicitTLS {
		scheme = "smtps"
	}
	user := ""
	if s.Username != "" {
		user = s.Username + ":…@"
	}
	return fmt.Sprintf("%s://%s%s:%d", scheme, user, s.Host, s.Port)
}

// SMTP parses SMTPURL. The port defaults to 587 for smtp:// and 465 for
// smtps://. Returns errs.Invalid for anything else.
func (c Config) SMTP() (SMTPServer, error) {
	bad := errs.F(errs.Invalid, "MARGIN_SMTP_URL", "MARGIN_SMTP_URL must look like smtp://user:password@host:587 or smtps://user:password@host:465.")
	u, err := url.Parse(c.SMTPURL)
	if err != nil || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return SMTPServer{}, bad
	}
	s := SMTPServer{Host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		s.Port = 587
	case "smtps":
		s.Port, s.ImplicitTLS = 465, true
	default:
		return SMTPServer{}, bad
	}
	if p := u.Port(); p != "" {
		if _, err := fmt.Sscanf(p, "%d", &s.Port); err != nil || s.Port < 1 || s.Port > 65535 {
			return SMTPServer{}, bad
		}
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	return s, nil
}

// Service is the notifications: the outbox that Notify fills, the inboxes,
// preferences, unsubscribe links, failing addresses and failed messages.
// It is safe for concurrent use.
type Service struct {
	db     *mongo.Database
	cfg    Config
	key    []byte // signs unsubscribe and sign-in links
	host   string // right side of Message-IDs
	log    *slog.Logger
	now    func() time.Time
	faults func(string) error // tests: stop at a named point, as a crash would
}

// New returns the notifications service on db. It creates the signing key
// on first use (once, shared by every process). The configuration must
// have passed Validate.
func New(ctx context.Context, db *mongo.Database, cfg Config, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	s := &Service{db: db, cfg: cfg, log: logger, host: "margin.invalid",
		now: func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" {
		s.host = u.Hostname()
	}
	if err := s.ensureIndexes(ctx); err != nil {
		return nil, err
	}
	key, err := s.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	s.key = key
	return s, nil
}

// ensureIndexes creates the indexes the few scanned collections want on
// MongoDB (the embedded store scans them anyway; they are small).
func (s *Service) ensureIndexes(ctx context.Context) error {
	for col, key := range map[string]string{colQueue: "due", colFailed: "at", colSuppressed: "at"} {
		if _, err := s.c(col).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: key, Value: 1}}}); err != nil {
			return errs.Wrap(err, "index %s", col)
		}
	}
	return nil
}

func (s *Service) c(name string) *mongo.Collection { return s.db.Collection(name) }

// fault lets tests stop a write path at a named point, as a crash there
// would; it is a no-op otherwise.
func (s *Service) fault(point string) error {
	if s.faults == nil {
		return nil
	}
	return s.faults(point)
}

// The collections notify owns.
const (
	colMessages   = "notify_messages"    // one per event and recipient; by _id only
	colQueue      = "notify_queue"       // undelivered messages and digests; scanned by Senders, kept small
	colHeads      = "notify_inbox_heads" // one per user: inbox positions, unread bits and count
	colPages      = "notify_inbox_pages" // "<user>:<page>": up to PageSize inbox items
	colPrefs      = "notify_prefs"       // one per user: delivery per kind
	colDigests    = "notify_digests"     // "<user>:<day>": the day's digest items
	colSuppressed = "notify_suppressed"  // one per failing address; small
	colFailed     = "notify_failed"      // messages that failed for good; small, for admins
	colSettings   = "notify_settings"    // the signing key
)
