package notify_test

import (
	"errors"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/pkg/notify/notifytest"
)

func vetted() notify.Event {
	return notify.Event{Kind: notify.VettingDecided, Key: "usr_grader1/1", Title: "You are vetted to grade English",
		Text: "You can now accept offers.", Link: "/grader/profile", Recipients: []notify.Recipient{grader}}
}

// checkLinks follows every link of m as Margin will: a page link must be
// the event's page, a student's sign-in link must open that page for that
// student, an unsubscribe link must name the recipient and the kind. It
// returns how many links led to the event's page.
func checkLinks(t *testing.T, e *env, m notifytest.Message, r notify.Recipient, pages []string, unsub []notify.Kind) int {
	t.Helper()
	html, text := links(m)
	if len(html) == 0 || len(text) == 0 {
		t.Fatalf("no links: html %v, text %v", html, text)
	}
	toPage := 0
	for _, l := range append(html, text...) {
		rest, ok := strings.CutPrefix(l, publicURL)
		if !ok {
			t.Fatalf("link %q is not absolute on %s", l, publicURL)
		}
		switch {
		case rest == notify.SettingsPath || rest == notify.InboxPath:
		case strings.HasPrefix(rest, notify.UnsubscribePath):
			u, err := e.svc.CheckUnsubscribe(e.ctx, strings.TrimPrefix(rest, notify.UnsubscribePath))
			if err != nil || u.UserID != r.UserID || !slices.Equal(u.Kinds, unsub) {
				t.Fatalf("unsubscribe link %s: %+v, %v; want %s turning off %v", l, u, err, r.UserID, unsub)
			}
		case strings.HasPrefix(rest, notify.OpenPath):
			if r.Role != account.Student {
				t.Fatalf("a %s got a sign-in link %s", r.Role, l)
			}
			o, err := e.svc.Open(e.ctx, strings.TrimPrefix(rest, notify.OpenPath))
			if err != nil || o.UserID != r.UserID || o.Role != account.Student || !slices.Contains(pages, o.Path) {
				t.Fatalf("sign-in link %s opens %+v, %v; want %s on one of %v", l, o, err, r.UserID, pages)
			}
			toPage++
		case slices.Contains(pages, rest):
			if r.Role == account.Student {
				t.Fatalf("a student got a bare page link %s: it would ask them to sign in", l)
			}
			toPage++
		default:
			t.Fatalf("link %s leads nowhere Margin serves", l)
		}
	}
	return toPage
}

// TestMessageContent checks each email's headers, both parts and every
// link, for each role.
func TestMessageContent(t *testing.T) {
	e := newEnv(t, nil)
	events := []notify.Event{offer(1), review(1), released(1), vetted()}
	for _, ev := range events {
		e.notify(ev)
	}
	e.drain()
	msgs := e.smtp.Messages()
	if len(msgs) != len(events) {
		t.Fatalf("%d emails, want %d", len(msgs), len(events))
	}
	for i, ev := range events {
		m, r := msgs[i], ev.Recipients[0]
		t.Run(string(ev.Kind), func(t *testing.T) {
			h := m.Header
			from, err := mail.ParseAddress(h.Get("From"))
			if err != nil || from.Address != "margin@margin.test" || from.Name != "Margin" {
				t.Errorf("From %q", h.Get("From"))
			}
			if to, err := mail.ParseAddress(h.Get("To")); err != nil || to.Address != r.Email || !slices.Equal(m.To, []string{r.Email}) {
				t.Errorf("To %q, envelope %v; want %s", h.Get("To"), m.To, r.Email)
			}
			if m.Subject != ev.Title {
				t.Errorf("Subject %q, want %q", m.Subject, ev.Title)
			}
			if want := "<" + notify.MessageID(ev.Kind, ev.Key, r.UserID) + "@margin.test>"; m.MessageID != want {
				t.Errorf("Message-ID %s, want %s", m.MessageID, want)
			}
			if _, err := h.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			if !strings.HasPrefix(h.Get("Content-Type"), "multipart/alternative") || h.Get("Mime-Version") != "1.0" {
				t.Errorf("Content-Type %q, MIME-Version %q", h.Get("Content-Type"), h.Get("Mime-Version"))
			}
			if h.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("Auto-Submitted %q", h.Get("Auto-Submitted"))
			}
			for _, want := range []string{ev.Title, "Open", "/notifications/settings"} {
				if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, strings.ReplaceAll(want, "'", "&#39;")) {
					t.Errorf("a part lacks %q:\n%s\n%s", want, m.Text, m.HTML)
				}
			}
			for _, want := range []string{`<html lang="en">`, "<title>", "<h1", `<meta charset="utf-8">`} {
				if !strings.Contains(m.HTML, want) {
					t.Errorf("HTML lacks %s", want)
				}
			}
			for _, p := range strings.Split(ev.Text, "\n\n") {
				if !strings.Contains(m.Text, p) || !strings.Contains(m.HTML, p) {
					t.Errorf("a part lacks the paragraph %q", p)
				}
			}
			var unsub []notify.Kind
			lu, post := h.Get("List-Unsubscribe"), h.Get("List-Unsubscribe-Post")
			if ev.Kind.Always() {
				if lu != "" || post != "" || strings.Contains(m.Text, "/unsubscribe/") {
					t.Errorf("an always-sent kind offers to unsubscribe: %q", lu)
				}
			} else {
				unsub = []notify.Kind{ev.Kind}
				if !strings.HasPrefix(lu, "<"+publicURL+notify.UnsubscribePath) || !strings.HasSuffix(lu, ">") || post != "List-Unsubscribe=One-Click" {
					t.Errorf("List-Unsubscribe %q, List-Unsubscribe-Post %q", lu, post)
				}
				if !strings.Contains(m.Text, strings.Trim(lu, "<>")) {
					t.Errorf("the text part lacks the unsubscribe link")
				}
			}
			if n := checkLinks(t, e, m, r, []string{ev.Link}, unsub); n != 2 {
				t.Errorf("%d links to the page, want 2 (one per part)", n)
			}
			if r.Role == account.Grader && (strings.Contains(string(m.Raw), "Ada") || strings.Contains(string(m.Raw), "1001")) {
				t.Errorf("a grader's email names a student")
			}
		})
	}
	// The student's link marked the message read.
	if e.unread(student.UserID) != 0 {
		t.Fatalf("opening the student's link left it unread")
	}
}

// TestUnsubscribeHTTP: with a plain-http public URL (development), the
// headers are still there.
func TestUnsubscribeHTTP(t *testing.T) {
	e := newEnv(t, func(c *notify.Config) { c.PublicURL = "http://localhost:8080" })
	e.notify(offer(1))
	e.drain()
	m := e.smtp.Messages()[0]
	if !strings.HasPrefix(m.Header.Get("List-Unsubscribe"), "<http://localhost:8080/unsubscribe/") || m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("headers %v", m.Header)
	}
}

func unsubscribeToken(t *testing.T, m notifytest.Message) string {
	t.Helper()
	lu := strings.Trim(m.Header.Get("List-Unsubscribe"), "<>")
	tok, ok := strings.CutPrefix(lu, publicURL+notify.UnsubscribePath)
	if !ok {
		t.Fatalf("List-Unsubscribe %q", lu)
	}
	return tok
}

// TestUnsubscribe: the one-click link turns off that kind only, for that
// person only, without sign-in; altered, foreign or expired links do
// nothing.
func TestUnsubscribe(t *testing.T) {
	e := newEnv(t, nil)
	e.notify(offer(1))
	e.drain()
	tok := unsubscribeToken(t, e.smtp.Messages()[0])

	other, err := notify.New(e.ctx, mongotest.DB(t), e.cfg, nil) // another install: another key
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	dot := strings.IndexByte(tok, '.')
	for name, check := range map[string]func() error{
		"payload altered":   func() error { _, err := e.svc.CheckUnsubscribe(e.ctx, flip(tok, 3)); return err },
		"signature altered": func() error { _, err := e.svc.CheckUnsubscribe(e.ctx, flip(tok, dot+2)); return err },
		"truncated":         func() error { _, err := e.svc.Unsubscribe(e.ctx, tok[:dot]); return err },
		"another install":   func() error { _, err := other.Unsubscribe(e.ctx, tok); return err },
		"a sign-in token":   func() error { _, err := e.svc.Open(e.ctx, tok); return err },
	} {
		if err := check(); !errs.Is(err, errs.NotFound) || !errors.Is(err, notify.ErrLinkInvalid) {
			t.Errorf("%s: %v, want not_found wrapping ErrLinkInvalid", name, err)
		}
	}

	u, err := e.svc.Unsubscribe(e.ctx, tok)
	if err != nil || u.UserID != grader.UserID || !slices.Equal(u.Kinds, []notify.Kind{notify.OfferMade}) {
		t.Fatalf("Unsubscribe = %+v, %v", u, err)
	}
	if _, err := e.svc.Unsubscribe(e.ctx, tok); err != nil {
		t.Fatalf("a second click: %v", err)
	}
	e.notify(offer(2))
	due := notify.Event{Kind: notify.TaskDueSoon, Key: "t_1", Title: "A task is due tomorrow", Link: "/grader/tasks/t_1", Recipients: []notify.Recipient{grader}}
	e.notify(due)
	e.notify(vetted())
	e.drain()
	msgs := e.smtp.Messages()
	if len(msgs) != 3 || msgs[1].Subject != due.Title || msgs[2].Subject != vetted().Title {
		t.Fatalf("after unsubscribing from offers: %d emails", len(msgs))
	}
	if st, why := e.mailState(offer(2), grader.UserID); st != notify.MailSkipped || !strings.Contains(why, "Turned off") {
		t.Fatalf("offer after unsubscribe: %q (%s)", st, why)
	}
	if e.unread(grader.UserID) != 4 {
		t.Fatalf("the inbox lost a message: %d unread", e.unread(grader.UserID))
	}

	e.clock.Advance(366 * 24 * time.Hour)
	if _, err := e.svc.Unsubscribe(e.ctx, tok); !errs.Is(err, errs.LinkExpired) || !errors.Is(err, notify.ErrLinkExpired) {
		t.Fatalf("a year later: %v, want link_expired", err)
	}
}

func TestPreferences(t *testing.T) {
	e := newEnv(t, nil)
	prefs, err := e.svc.Preferences(e.ctx, grader.UserID, account.Grader)
	if err != nil || len(prefs) != 8 {
		t.Fatalf("Preferences = %+v, %v", prefs, err)
	}
	for _, p := range prefs {
		if p.Delivery != notify.Immediate || p.Label == "" || p.Always != (p.Kind == notify.VettingDecided || p.Kind == notify.PayoutFailed) {
			t.Fatalf("default %+v", p)
		}
	}
	for _, bad := range []struct {
		kind notify.Kind
		d    notify.Delivery
	}{{notify.VettingDecided, notify.Off}, {notify.PayoutFailed, notify.Daily}, {notify.ReviewWaiting, notify.Off}, {notify.OfferMade, "weekly"}, {"nope", notify.Off}} {
		if err := e.svc.SetPreference(e.ctx, grader.UserID, account.Grader, bad.kind, bad.d); !errs.Is(err, errs.Invalid) {
			t.Errorf("SetPreference(%s, %s) = %v, want invalid", bad.kind, bad.d, err)
		}
	}
	if err := e.svc.SetPreference(e.ctx, grader.UserID, account.Grader, notify.PayoutSent, notify.Off); err != nil {
		t.Fatal(err)
	}
	sent := notify.Event{Kind: notify.PayoutSent, Key: "po_1", Title: "Your payout of $42.00 is on its way", Link: "/grader/earnings", Recipients: []notify.Recipient{grader}}
	failed := notify.Event{Kind: notify.PayoutFailed, Key: "po_2", Title: "Your payout failed", Link: "/grader/earnings", Recipients: []notify.Recipient{grader}}
	e.notify(sent)
	e.notify(failed)
	e.drain()
	if msgs := e.smtp.Messages(); len(msgs) != 1 || msgs[0].Subject != failed.Title {
		t.Fatalf("with payouts sent off: %d emails", len(msgs))
	}
	prefs, _ = e.svc.Preferences(e.ctx, grader.UserID, account.Grader)
	if i := slices.IndexFunc(prefs, func(p notify.Preference) bool { return p.Kind == notify.PayoutSent }); prefs[i].Delivery != notify.Off {
		t.Fatalf("PayoutSent is %s", prefs[i].Delivery)
	}
	if got := notify.Kinds(account.Student); !slices.Equal(got, []notify.Kind{notify.FeedbackReleased, notify.RevisionGraded}) {
		t.Fatalf("student kinds %v", got)
	}
}

// TestDigest: kinds set to daily wait for the digest hour and go out in
// one email with a link to each; its unsubscribe link turns the daily
// kinds off.
func TestDigest(t *testing.T) {
	e := newEnv(t, nil)
	for _, k := range []notify.Kind{notify.OfferMade, notify.TaskDueSoon} {
		if err := e.svc.SetPreference(e.ctx, grader.UserID, account.Grader, k, notify.Daily); err != nil {
			t.Fatal(err)
		}
	}
	due := notify.Event{Kind: notify.TaskDueSoon, Key: "t_1", Title: "A task is due tomorrow", Link: "/grader/tasks/t_1", Recipients: []notify.Recipient{grader}}
	events := []notify.Event{offer(1), offer(2), due}
	for _, ev := range events {
		e.notify(ev)
	}
	e.notify(vetted()) // always at once
	e.drain()
	if msgs := e.smtp.Messages(); len(msgs) != 1 || msgs[0].Subject != vetted().Title {
		t.Fatalf("before the digest hour: %d emails", len(msgs))
	}
	if st, _ := e.mailState(offer(1), grader.UserID); st != notify.MailDigest {
		t.Fatalf("offer state %q, want digest", st)
	}
	e.clock.Advance(7*time.Hour - time.Second) // 15:59:59
	if e.drain() != 0 {
		t.Fatal("digest sent early")
	}
	e.clock.Advance(time.Second)
	e.drain()
	msgs := e.smtp.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d emails, want the digest", len(msgs))
	}
	d := msgs[1]
	if d.Subject != "Your Margin updates: 3 new" || d.MessageID != "<digest.usr_grader1.2026-03-02@margin.test>" {
		t.Fatalf("digest %q %s", d.Subject, d.MessageID)
	}
	var pages []string
	for _, ev := range events {
		pages = append(pages, ev.Link)
		if !strings.Contains(d.Text, ev.Title) || !strings.Contains(d.HTML, ev.Title) {
			t.Fatalf("digest lacks %q", ev.Title)
		}
	}
	if n := checkLinks(t, e, d, grader, pages, []notify.Kind{notify.OfferMade, notify.TaskDueSoon}); n != 6 {
		t.Fatalf("%d links to pages, want 6", n)
	}
	e.notify(offer(3)) // 16:00: tomorrow's digest
	e.drain()
	if len(e.smtp.Messages()) != 2 {
		t.Fatal("an offer after the digest hour went out at once")
	}
	if _, err := e.svc.Unsubscribe(e.ctx, unsubscribeToken(t, d)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(24 * time.Hour)
	e.drain()
	if len(e.smtp.Messages()) != 2 {
		t.Fatal("a digest went out after unsubscribing from it")
	}
	if e.queueLen() != 0 {
		t.Fatal("queue not empty")
	}
}

// TestInbox pages an inbox of 120 items and reads and marks them.
func TestInbox(t *testing.T) {
	e := newEnv(t, func(c *notify.Config) { c.SMTPURL, c.MailFrom = "", "" })
	const n = 120
	for i := range n {
		e.notify(offer(i))
	}
	p, err := e.svc.Inbox(e.ctx, grader.UserID, -1)
	if err != nil {
		t.Fatal(err)
	}
	// The newest page holds 20 (< PageSize/2), so the page before joins it.
	if len(p.Items) != 70 || p.Older != 0 || p.Unread != n || p.Items[0].Link != "/grader/offers/off_119" || p.Items[69].Link != "/grader/offers/off_50" {
		t.Fatalf("newest: %d items, older %d, unread %d, first %s", len(p.Items), p.Older, p.Unread, p.Items[0].Link)
	}
	p0, err := e.svc.Inbox(e.ctx, grader.UserID, p.Older)
	if err != nil || len(p0.Items) != 50 || p0.Older != -1 || p0.Items[49].Link != "/grader/offers/off_0" {
		t.Fatalf("oldest: %d items, older %d, %v", len(p0.Items), p0.Older, err)
	}
	id := p.Items[3].ID
	for range 2 {
		if err := e.svc.MarkRead(e.ctx, grader.UserID, id); err != nil {
			t.Fatal(err)
		}
	}
	if e.unread(grader.UserID) != n-1 {
		t.Fatalf("unread %d after marking one read twice", e.unread(grader.UserID))
	}
	p, _ = e.svc.Inbox(e.ctx, grader.UserID, -1)
	if !p.Items[3].Read || p.Items[2].Read {
		t.Fatal("read flags wrong")
	}
	if err := e.svc.MarkRead(e.ctx, teacher.UserID, id); !errs.Is(err, errs.NotFound) {
		t.Fatalf("someone else's message: %v", err)
	}
	if err := e.svc.MarkRead(e.ctx, grader.UserID, "ntf_unknown"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown message: %v", err)
	}
	if err := e.svc.MarkAllRead(e.ctx, grader.UserID); err != nil {
		t.Fatal(err)
	}
	e.notify(offer(n))
	if e.unread(grader.UserID) != 1 {
		t.Fatalf("unread %d, want 1", e.unread(grader.UserID))
	}
	if all := e.inbox(grader.UserID); len(all) != n+1 {
		t.Fatalf("%d items in all, want %d", len(all), n+1)
	}
	empty, err := e.svc.Inbox(e.ctx, teacher.UserID, -1)
	if err != nil || len(empty.Items) != 0 || empty.Older != -1 || empty.Unread != 0 {
		t.Fatalf("empty inbox: %+v, %v", empty, err)
	}
}
