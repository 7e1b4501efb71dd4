package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/notify/notifytest"
)

// startWithMail starts margin with email on, through a real SMTP server
// started by the test (a local relay, as Mailpit is), and an admin
// root@example.org made from the command line first; env is added to its
// environment.
func startWithMail(t *testing.T, env ...string) (*instance, *notifytest.Server) {
	t.Helper()
	srv := notifytest.Start(t, notifytest.Options{NoTLS: true})
	addr := freeAddr(t)
	in := startWithAdminAt(t, addr, "root@example.org", append([]string{"MARGIN_MATCHING_INTERVAL=1h", "MARGIN_SMTP_URL=" + srv.URL(),
		"MARGIN_MAIL_FROM=Margin <margin@school.example>", "MARGIN_PUBLIC_URL=http://" + addr, "MARGIN_MAIL_POLL=100ms"}, env...)...)
	return in, srv
}

var resetAnswer = regexp.MustCompile(`<div class="flash" role="status" data-result><p>[^<]+</p></div>`)

// TestE2EPasswordResetEmail: with email on, "Forgot password?" emails a
// reset link through the outbox (never the inbox) and answers the same
// words for an address with no account, which gets no email; asking again
// at once sends nothing more. The link sets a new password once: every
// session of the user ends, the old password no longer signs in, and the
// link does not work again.
func TestE2EPasswordResetEmail(t *testing.T) {
	in, srv := startWithMail(t, "MARGIN_LOG_LEVEL=info")
	const email, newPassword = "rivera.teacher@lincoln.example.org", "a brand new password 9"
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": email, "password": teacherPassword, "name": "Ms Rivera", "role": "teacher", "school": "Lincoln High"})
	session := in.login(email, teacherPassword)

	forgot := func(address string) string {
		c := browserClient(t)
		_, body, tok := page(t, c, in, "/signin/forgot")
		if !strings.Contains(body, "Send me a link") {
			t.Fatalf("the forgot page with email on:\n%s", body)
		}
		resp, body := postPage(t, c, in, "/signin/forgot", url.Values{"_csrf": {tok}, "email": {address}})
		m := resetAnswer.FindString(body)
		if resp.StatusCode != 200 || m == "" {
			t.Fatalf("asking for a link for %s: %d\n%s", address, resp.StatusCode, body)
		}
		return m
	}
	known, unknown := forgot(" Rivera.Teacher@lincoln.example.org"), forgot("nobody@lincoln.example.org")
	if known != unknown {
		t.Errorf("the answer tells who has an account:\n%s\n%s", known, unknown)
	}
	m := ntWait(t, srv, email, "password_reset")
	links := ntCheckMessage(t, in, m, false)
	var link string
	for _, l := range links {
		if strings.HasPrefix(l, in.url("/reset/")) {
			link = strings.TrimPrefix(l, in.url(""))
		}
	}
	if link == "" || !strings.Contains(m.Text, "one hour") {
		t.Fatalf("the reset email: links %v\n%s", links, m.Text)
	}
	forgot(email) // again at once: no second email
	time.Sleep(time.Second)
	if n := len(ntMail(srv, email, "password_reset")); n != 1 {
		t.Errorf("%d reset emails, want 1", n)
	}
	for _, msg := range srv.Messages() {
		if strings.EqualFold(msg.To[0], "nobody@lincoln.example.org") {
			t.Errorf("an address with no account got %q", msg.Subject)
		}
	}
	if kinds, _ := ntInbox(t, in, session); strings.Contains(strings.Join(kinds, " "), "password_reset") {
		t.Errorf("the reset link is in the inbox: %v", kinds)
	}

	c := browserClient(t)
	resp, body, tok := page(t, c, in, link)
	if resp.StatusCode != 200 || !strings.Contains(body, email) {
		t.Fatalf("the reset page: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := postPage(t, c, in, link, url.Values{"_csrf": {tok}, "password": {"short"}, "confirm": {"short"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "at least 10 characters") {
		t.Errorf("a short password: %d", resp.StatusCode)
	}
	if r := postForm(t, c, in, link, url.Values{"_csrf": {tok}, "password": {newPassword}, "confirm": {newPassword}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/signin?done=password" {
		t.Fatalf("setting the password: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := in.call("GET", "/api/v1/me", session, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the session from before the reset: %d", r.Status)
	}
	if r := in.call("POST", "/api/v1/sessions", "", map[string]any{"email": email, "password": teacherPassword}); r.Status != http.StatusUnauthorized {
		t.Errorf("the old password: %d", r.Status)
	}
	in.login(email, newPassword)
	if r := postForm(t, c, in, link, url.Values{"_csrf": {tok}, "password": {"yet another one 10"}, "confirm": {"yet another one 10"}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the link used a second time: %d", r.StatusCode)
	}

	time.Sleep(100 * time.Millisecond) // the log line is written after the response
	if logs := in.stderr.String(); !strings.Contains(logs, `"path":"/reset/[redacted]"`) || strings.Contains(logs, strings.TrimPrefix(link, "/reset/")) {
		t.Errorf("the request log holds the reset token, or no redacted reset path:\n%.3000s", logs)
	}

	// One client asks at most 10 times an hour (three asked above).
	_, _, tok = page(t, c, in, "/signin/forgot")
	for i := 4; i <= 11; i++ {
		resp, body := postPage(t, c, in, "/signin/forgot", url.Values{"_csrf": {tok}, "email": {"someone@lincoln.example.org"}})
		if want := map[bool]int{true: http.StatusTooManyRequests, false: http.StatusOK}[i == 11]; resp.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
		if i == 11 && !strings.Contains(body, "wait an hour") {
			t.Errorf("the limit's page:\n%s", body)
		}
	}
}
