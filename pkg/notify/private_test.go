package notify_test

import (
	"strings"
	"testing"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/notify"
)

// TestPrivateKind: a password reset goes by email only, always (whatever
// the preferences), is no setting, and its link (a secret) is not kept
// once the email is sent.
func TestPrivateKind(t *testing.T) {
	e := newEnv(t, nil)
	if !notify.PasswordReset.Private() || !notify.PasswordReset.Always() || notify.PasswordReset.For(account.Student) {
		t.Fatal("password_reset is not a private, always-sent kind for password holders")
	}
	for _, role := range []account.Role{account.Teacher, account.Grader, account.Admin} {
		for _, k := range notify.Kinds(role) {
			if k.Private() {
				t.Errorf("%s's settings list the private kind %s", role, k)
			}
		}
	}
	ev := notify.Event{Kind: notify.PasswordReset, Key: "hash1", Title: "Choose a new Margin password", Text: "The link works once.",
		Link: "/reset/secret-token", Recipients: []notify.Recipient{{UserID: "usr_t", Role: account.Teacher, Email: "t@school.example", EmailAllowed: true}}}
	e.notify(ev)
	if items := e.inbox("usr_t"); len(items) != 0 || e.unread("usr_t") != 0 {
		t.Errorf("the reset reached the inbox: %+v", items)
	}
	e.drain()
	msgs := e.smtp.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, publicURL+"/reset/secret-token") {
		t.Fatalf("emails %+v", msgs)
	}
	id := notify.MessageID(ev.Kind, ev.Key, "usr_t")
	if st, _, err := notify.MailOf(e.ctx, e.svc, id); err != nil || st != notify.MailSent {
		t.Errorf("mail state %s, %v", st, err)
	}
	if link, err := notify.LinkOf(e.ctx, e.svc, id); err != nil || link != "" {
		t.Errorf("the sent reset message keeps its link %q (%v)", link, err)
	}
}
