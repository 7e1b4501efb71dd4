package notify_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/mongostore/mongotest"
	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/pkg/notify/notifytest"
	"github.com/marginschool/margin/pkg/notify/smtpmail"
)

const publicURL = "https://margin.test"

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a notifications service on a fresh database of the embedded
// store, mailing through an in-test SMTP server.
type env struct {
	t      testing.TB
	ctx    context.Context
	svc    *notify.Service
	smtp   *notifytest.Server
	mailer notify.Mailer
	clock  *clock
	sender *notify.Sender
	cfg    notify.Config
}

// newEnv starts an env; change may adjust the configuration first.
func newEnv(t testing.TB, change func(*notify.Config)) *env {
	t.Helper()
	ctx := context.Background()
	srv := notifytest.Start(t, notifytest.Options{Username: "margin", Password: "s3cret"})
	cfg := notify.Config{
		SMTPURL: srv.URL(), MailFrom: "Margin <margin@margin.test>", PublicURL: publicURL,
		RetryBase: time.Minute, Lease: 2 * time.Minute, MaxAttempts: 4, DigestHour: 16,
	}
	if change != nil {
		change(&cfg)
	}
	svc, err := notify.New(ctx, mongotest.DB(t), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	notify.SetClock(svc, c.Now)
	e := &env{t: t, ctx: ctx, svc: svc, smtp: srv, clock: c, cfg: cfg}
	if cfg.SMTPURL != "" {
		e.mailer = newMailer(t, srv, cfg)
	}
	e.sender = svc.NewSender(e.mailer)
	return e
}

func newMailer(t testing.TB, srv *notifytest.Server, cfg notify.Config) *smtpmail.Mailer {
	t.Helper()
	server, err := cfg.SMTP()
	if err != nil {
		t.Fatal(err)
	}
	m, err := smtpmail.New(server, cfg.MailFrom, srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// notify raises e and fails the test on an error.
func (e *env) notify(ev notify.Event) {
	e.t.Helper()
	if err := e.svc.Notify(e.ctx, ev); err != nil {
		e.t.Fatalf("Notify(%s %s): %v", ev.Kind, ev.Key, err)
	}
}

// drain runs the sender until a pass handles nothing.
func (e *env) drain() int {
	e.t.Helper()
	total := 0
	for {
		n, err := e.sender.RunOnce(e.ctx)
		if err != nil {
			e.t.Fatalf("RunOnce: %v", err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

func (e *env) unread(user string) int {
	e.t.Helper()
	n, err := e.svc.Unread(e.ctx, user)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) inbox(user string) []notify.Item {
	e.t.Helper()
	var all []notify.Item
	page := int64(-1)
	for {
		p, err := e.svc.Inbox(e.ctx, user, page)
		if err != nil {
			e.t.Fatal(err)
		}
		all = append(all, p.Items...)
		if p.Older < 0 {
			return all
		}
		page = p.Older
	}
}

func (e *env) queueLen() int64 {
	e.t.Helper()
	n, err := notify.QueueLen(e.ctx, e.svc)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) mailState(ev notify.Event, user string) (notify.MailState, string) {
	e.t.Helper()
	st, why, err := notify.MailOf(e.ctx, e.svc, notify.MessageID(ev.Kind, ev.Key, user))
	if err != nil {
		e.t.Fatal(err)
	}
	return st, why
}

// Recipients used across the tests.
var (
	grader  = notify.Recipient{UserID: "usr_grader1", Role: account.Grader, Email: "grader1@example.org", EmailAllowed: true}
	teacher = notify.Recipient{UserID: "usr_teacher1", Role: account.Teacher, Email: "teacher1@school.example", EmailAllowed: true}
	student = notify.Recipient{UserID: "usr_enr_0123456789abcdef01234567", Role: account.Student, Email: "ada.lovelace@students.example", EmailAllowed: true}
)

func offer(n int) notify.Event {
	return notify.Event{
		Kind: notify.OfferMade, Key: fmt.Sprintf("off_%d", n),
		Title: fmt.Sprintf("New offer %d: 12 essays on Macbeth", n), Text: "Grade them by Friday.\n\nThe offer expires in 12 hours.",
		Link: fmt.Sprintf("/grader/offers/off_%d", n), Recipients: []notify.Recipient{grader},
		StudentIdentifiers: []string{"Ada Lovelace", "S-1001"},
	}
}

func review(n int) notify.Event {
	return notify.Event{
		Kind: notify.ReviewWaiting, Key: fmt.Sprintf("fb_%d/1", n), Title: fmt.Sprintf("Feedback for Ada Lovelace is ready for review (%d)", n),
		Text: "Grader Quill submitted feedback.", Link: fmt.Sprintf("/teacher/feedback/fb_%d", n), Recipients: []notify.Recipient{teacher},
	}
}

func released(n int) notify.Event {
	return notify.Event{
		Kind: notify.FeedbackReleased, Key: fmt.Sprintf("sub_%d/1", n), Title: "Your feedback on Macbeth is ready",
		Text: "Read it, then rate it.", Link: fmt.Sprintf("/student/submissions/sub_%d", n), Recipients: []notify.Recipient{student},
	}
}

var hrefs = regexp.MustCompile(`href="([^"]+)"`)

// links returns every URL in a message's HTML part (hrefs) and text part
// (https:// words).
func links(m notifytest.Message) (html, text []string) {
	for _, h := range hrefs.FindAllStringSubmatch(m.HTML, -1) {
		html = append(html, strings.ReplaceAll(h[1], "&amp;", "&"))
	}
	for _, w := range strings.Fields(m.Text) {
		if strings.HasPrefix(w, "https://") || strings.HasPrefix(w, "http://") {
			text = append(text, w)
		}
	}
	return html, text
}

func notifytestStart(t testing.TB, implicitTLS bool) *notifytest.Server {
	return notifytest.Start(t, notifytest.Options{Username: "margin", Password: "s3cret", ImplicitTLS: implicitTLS})
}
