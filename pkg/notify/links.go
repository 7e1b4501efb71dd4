package notify

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// The paths of the pages and endpoints emails link to. The HTTP layer
// serves them (docs/NOTIFY.md); this package makes the links.
const (
	// InboxPath is the signed-in person's inbox.
	InboxPath = "/notifications"
	// SettingsPath is the signed-in person's email settings.
	SettingsPath = "/notifications/settings"
	// UnsubscribePath + token: GET shows what the link turns off and a
	// button; POST (RFC 8058 one-click, or the button) turns it off. No
	// sign-in, no CSRF token: the signed token is the authority.
	UnsubscribePath = "/unsubscribe/"
	// OpenPath + token: a student's email link. It signs the student into
	// their enrolment and opens the page the message is about.
	OpenPath = "/n/"
)

// Sentinels for refused links; the errors returned wrap them.
var (
	ErrLinkInvalid = errors.New("notify: the link is not one Margin made")
	ErrLinkExpired = errors.New("notify: the link has expired")
)

// Token purposes, the first field of every signed token.
const (
	purposeUnsubscribe = "u"
	purposeOpen        = "o"
)

// signingKey returns the install's key for signed links, creating it on
// first use. Every process reads the same key: the first insert wins.
func (s *Service) signingKey(ctx context.Context) ([]byte, error) {
	type keyDoc struct {
		ID  string `bson:"_id"`
		Key []byte `bson:"key"`
	}
	k := keyDoc{ID: "signing_key", Key: make([]byte, 32)}
	if _, err := rand.Read(k.Key); err != nil {
		return nil, errs.Wrap(err, "make signing key")
	}
	if _, err := s.c(colSettings).InsertOne(ctx, k); err != nil && !mongostore.IsDuplicateKey(err) {
		return nil, errs.Wrap(err, "store signing key")
	}
	got, err := mongostore.Get[keyDoc](ctx, s.c(colSettings), k.ID, "signing key")
	if err != nil {
		return nil, err
	}
	if len(got.Key) < 32 {
		return nil, errs.Wrap(errors.New("short key"), "read signing key")
	}
	return got.Key, nil
}

// sign makes a token for the fields and the current time: the fields,
// readable, then a truncated HMAC-SHA256 over them. Fields must not
// contain "\x00".
func (s *Service) sign(fields ...string) string {
	payload := strings.Join(append(fields, strconv.FormatInt(s.now().Unix(), 36)), "\x00")
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(s.mac(payload))
}

func (s *Service) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)[:16]
}

var b64 = base64.RawURLEncoding

// verify checks a token made by sign for purpose and returns its fields
// after the purpose. A token that was altered or made by another install
// wraps ErrLinkInvalid; one older than ttl wraps ErrLinkExpired.
func (s *Service) verify(token, purpose string, n int, ttl time.Duration) ([]string, error) {
	invalid := &errs.Error{Code: errs.NotFound, Message: "This link is not a working Margin link.", Err: ErrLinkInvalid}
	p64, m64, ok := strings.Cut(token, ".")
	if !ok || len(token) > 1024 {
		return nil, invalid
	}
	payload, err1 := b64.DecodeString(p64)
	mac, err2 := b64.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(string(payload))) {
		return nil, invalid
	}
	fields := strings.Split(string(payload), "\x00")
	if len(fields) != n+2 || fields[0] != purpose {
		return nil, invalid
	}
	issued, err := strconv.ParseInt(fields[n+1], 36, 64)
	if err != nil {
		return nil, invalid
	}
	if age := s.now().Sub(time.Unix(issued, 0)); age > ttl || age < -time.Hour {
		return nil, &errs.Error{Code: errs.LinkExpired, Message: "This link has expired; sign in to Margin instead.", Err: ErrLinkExpired}
	}
	return fields[1 : n+1], nil
}

// url makes an absolute URL of a path on Margin.
func (s *Service) url(path string) string { return s.cfg.PublicURL + path }

// scopeDaily is the unsubscribe scope of a digest's link: every kind the
// person gets in a digest. Other links' scope is one kind.
const scopeDaily = "daily"

// unsubscribeURL is the List-Unsubscribe link of a message of kind k (or
// of a digest, with scopeDaily) for a user.
func (s *Service) unsubscribeURL(userID string, role account.Role, scope string) string {
	return s.url(UnsubscribePath + s.sign(purposeUnsubscribe, userID, string(role), scope))
}

// Unsubscription is what an unsubscribe link turns off.
type Unsubscription struct {
	UserID string
	Role   account.Role
	// Kinds are the kinds of email it turns off. A vetting decision and a
	// failed payout are never among them.
	Kinds []Kind
}

// CheckUnsubscribe reads an unsubscribe link's token and says what it
// would turn off, changing nothing: for the page a GET shows (a link
// scanner's GET must not unsubscribe anyone). Errors: errs.NotFound
// wrapping ErrLinkInvalid, errs.LinkExpired wrapping ErrLinkExpired.
func (s *Service) CheckUnsubscribe(ctx context.Context, token string) (Unsubscription, error) {
	f, err := s.verify(token, purposeUnsubscribe, 3, s.cfg.UnsubscribeTTL)
	if err != nil {
		return Unsubscription{}, err
	}
	u := Unsubscription{UserID: f[0], Role: account.Role(f[1])}
	switch scope := f[2]; scope {
	case scopeDaily:
		prefs, err := s.Preferences(ctx, u.UserID, u.Role)
		if err != nil {
			return Unsubscription{}, err
		}
		for _, p := range prefs {
			if !p.Kind.Always() && p.Delivery == Daily {
				u.Kinds = append(u.Kinds, p.Kind)
			}
		}
	default:
		if k := Kind(scope); k.Valid() && !k.Always() {
			u.Kinds = []Kind{k}
		}
	}
	return u, nil
}

// Unsubscribe turns off what an unsubscribe link names, without sign-in:
// the RFC 8058 one-click POST, or the button on the page. Doing it twice
// is harmless. The inbox still gets every event. Errors as for
// CheckUnsubscribe.
func (s *Service) Unsubscribe(ctx context.Context, token string) (Unsubscription, error) {
	u, err := s.CheckUnsubscribe(ctx, token)
	if err != nil {
		return Unsubscription{}, err
	}
	set := bson.D{}
	for _, k := range u.Kinds {
		set = append(set, bson.E{Key: "kinds." + string(k), Value: Off})
	}
	if len(set) > 0 {
		if err := s.setPrefs(ctx, u.UserID, set); err != nil {
			return Unsubscription{}, err
		}
	}
	return u, nil
}

// openURL is the link in a student's email: it signs them in to their
// enrolment and opens the message's page.
func (s *Service) openURL(messageID string) string {
	return s.url(OpenPath + s.sign(purposeOpen, messageID))
}

// Opened is where a student's email link leads.
type Opened struct {
	MessageID string
	UserID    string // the student's enrolment account
	Role      account.Role
	Path      string // the page to open once signed in; InboxPath when the message had no link
}

// CheckOpen reports whether a student's email link (OpenPath + token)
// still works, changing nothing: for the page a GET shows, so that an
// altered or expired link says so at once and a link scanner's GET marks
// nothing read. Errors as for Open.
func (s *Service) CheckOpen(token string) error {
	_, err := s.verify(token, purposeOpen, 1, s.cfg.LinkTTL)
	return err
}

// Open reads the token of a student's email link (OpenPath + token) and
// marks the message read. The HTTP layer then signs UserID in, as a
// student's access link does, after checking the enrolment still exists,
// and redirects to Path. Errors: errs.NotFound wrapping ErrLinkInvalid,
// errs.LinkExpired wrapping ErrLinkExpired (after Config.LinkTTL).
func (s *Service) Open(ctx context.Context, token string) (Opened, error) {
	f, err := s.verify(token, purposeOpen, 1, s.cfg.LinkTTL)
	if err != nil {
		return Opened{}, err
	}
	m, err := mongostore.Get[messageDoc](ctx, s.c(colMessages), f[0], "notification")
	if err != nil {
		return Opened{}, err
	}
	if m.Role != account.Student {
		return Opened{}, &errs.Error{Code: errs.NotFound, Message: "This link is not a working Margin link.", Err: ErrLinkInvalid}
	}
	if err := s.MarkRead(ctx, m.UserID, m.ID); err != nil && !errs.Is(err, errs.NotFound) {
		return Opened{}, err
	}
	return Opened{MessageID: m.ID, UserID: m.UserID, Role: m.Role, Path: cmp.Or(m.Link, InboxPath)}, nil
}
