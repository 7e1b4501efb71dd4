package notify_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/notify"
)

func TestEventValidation(t *testing.T) {
	e := newEnv(t, nil)
	mut := func(f func(*notify.Event)) notify.Event {
		ev := offer(1)
		f(&ev)
		return ev
	}
	cases := []struct {
		name  string
		ev    notify.Event
		code  errs.Code
		field string
	}{
		{"unknown kind", mut(func(e *notify.Event) { e.Kind = "party" }), errs.Invalid, "kind"},
		{"no key", mut(func(e *notify.Event) { e.Key = "" }), errs.Invalid, "key"},
		{"no title", mut(func(e *notify.Event) { e.Title = " " }), errs.Invalid, "title"},
		{"two-line title", mut(func(e *notify.Event) { e.Title = "a\nb" }), errs.Invalid, "title"},
		{"absolute link", mut(func(e *notify.Event) { e.Link = "https://evil.example/x" }), errs.Invalid, "link"},
		{"protocol-relative link", mut(func(e *notify.Event) { e.Link = "//evil.example/x" }), errs.Invalid, "link"},
		{"no recipients", mut(func(e *notify.Event) { e.Recipients = nil }), errs.Invalid, "recipients"},
		{"wrong role", mut(func(e *notify.Event) { e.Recipients = []notify.Recipient{teacher} }), errs.Invalid, "recipients[0].role"},
		{"bad address", mut(func(e *notify.Event) {
			e.Recipients = []notify.Recipient{{UserID: "g", Role: account.Grader, Email: "not an address"}}
		}), errs.InvalidEmail, "recipients[0].email"},
		{"grader title names a student", mut(func(e *notify.Event) { e.Title = "Essay by ada lovelace" }), errs.Invalid, "title"},
		{"grader text names a student ID", mut(func(e *notify.Event) { e.Text = "Student S-1001 wrote it." }), errs.Invalid, "text"},
		{"grader link carries a student ID", mut(func(e *notify.Event) { e.Link = "/grader/tasks/S-1001" }), errs.Invalid, "link"},
		{"grader text carries an email", mut(func(e *notify.Event) { e.Text = "Ask someone@school.example." }), errs.Invalid, "text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := e.svc.Notify(e.ctx, c.ev)
			var ee *errs.Error
			if !errors.As(err, &ee) || ee.Code != c.code || ee.Field != c.field {
				t.Fatalf("Notify = %v, want %s on %s", err, c.code, c.field)
			}
		})
	}
	if n := e.unread(grader.UserID); n != 0 {
		t.Fatalf("refused events reached the inbox: %d unread", n)
	}
	// A name as part of a longer word is not the name; a teacher may see names.
	ok := offer(2)
	ok.StudentIdentifiers = []string{"Ann"}
	ok.Text = "Annotated essays, 12 of them."
	e.notify(ok)
	e.notify(review(1))
}

// TestNotifyOnce raises the same events again and at the same time: each
// recipient gets one inbox item and one email.
func TestNotifyOnce(t *testing.T) {
	e := newEnv(t, nil)
	ev := offer(1)
	ev.Recipients = append(ev.Recipients, notify.Recipient{UserID: "usr_grader2", Role: account.Grader, Email: "grader2@example.org", EmailAllowed: true})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.svc.Notify(e.ctx, ev); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	e.notify(ev)
	for _, u := range []string{grader.UserID, "usr_grader2"} {
		if items := e.inbox(u); len(items) != 1 || e.unread(u) != 1 {
			t.Fatalf("%s: %d items, %d unread, want 1 and 1", u, len(items), e.unread(u))
		}
	}
	if n := e.drain(); n != 2 {
		t.Fatalf("sender handled %d, want 2", n)
	}
	e.notify(ev) // after sending: still nothing new
	e.drain()
	if got := len(e.smtp.Messages()); got != 2 {
		t.Fatalf("%d emails, want 2", got)
	}
	if e.queueLen() != 0 {
		t.Fatalf("queue not empty")
	}
}

// TestFanOut: an event for a class is queued at once and the Sender fills
// the inboxes.
func TestFanOut(t *testing.T) {
	e := newEnv(t, func(c *notify.Config) { c.SMTPURL, c.MailFrom = "", "" })
	ev := released(1)
	ev.Recipients = nil
	for i := range 30 {
		ev.Recipients = append(ev.Recipients, notify.Recipient{UserID: fmt.Sprintf("usr_s%02d", i), Role: account.Student})
	}
	ev.Recipients = append(ev.Recipients, ev.Recipients[0]) // listed twice: one message
	e.notify(ev)
	if e.queueLen() != 30 || e.unread("usr_s00") != 0 {
		t.Fatalf("queue %d, unread %d: want 30 queued, none placed yet", e.queueLen(), e.unread("usr_s00"))
	}
	e.notify(ev)
	if n := e.drain(); n != 30 {
		t.Fatalf("sender handled %d, want 30", n)
	}
	e.notify(ev)
	for _, r := range ev.Recipients {
		if len(e.inbox(r.UserID)) != 1 || e.unread(r.UserID) != 1 {
			t.Fatalf("%s: %d items, %d unread", r.UserID, len(e.inbox(r.UserID)), e.unread(r.UserID))
		}
	}
	if e.queueLen() != 0 {
		t.Fatal("a finished event was queued again")
	}
}

// TestNotifyCrash stops a raise at each point of its write path, as a
// crash would, then finishes it by raising again or by the sender alone.
// Either way: one inbox item, an exact unread count, one email.
func TestNotifyCrash(t *testing.T) {
	points := []string{"notify:stored", "notify:queued", "inbox:reserved", "inbox:page", "inbox:settled"}
	for _, point := range points {
		for _, finisher := range []string{"raise again", "sender"} {
			if point == "notify:stored" && finisher == "sender" {
				continue // nothing queued yet: only the raiser can finish it
			}
			t.Run(point+"/"+finisher, func(t *testing.T) {
				e := newEnv(t, nil)
				e.notify(offer(1)) // an earlier item, so positions are not all zero
				crashed := false
				notify.SetFault(e.svc, func(p string) error {
					if p == point && !crashed {
						crashed = true
						return errors.New("crash")
					}
					return nil
				})
				if err := e.svc.Notify(e.ctx, offer(2)); err == nil || !crashed {
					t.Fatalf("Notify = %v, want the crash", err)
				}
				if finisher == "raise again" {
					e.notify(offer(2))
				}
				e.drain()
				e.notify(offer(3))
				e.drain()
				items := e.inbox(grader.UserID)
				if len(items) != 3 || e.unread(grader.UserID) != 3 {
					t.Fatalf("%d items, %d unread, want 3 and 3: %+v", len(items), e.unread(grader.UserID), items)
				}
				for i, want := range []string{"off_3", "off_2", "off_1"} {
					if !strings.HasSuffix(items[i].Link, want) {
						t.Fatalf("item %d links %s, want …%s", i, items[i].Link, want)
					}
				}
				h, err := notify.Head(e.ctx, e.svc, grader.UserID)
				if err != nil || h.Reserving != 0 || h.Next != 3 {
					t.Fatalf("head %+v, %v: want 3 positions and no reservation left", h, err)
				}
				if got := len(e.smtp.Messages()); got != 3 {
					t.Fatalf("%d emails, want 3", got)
				}
			})
		}
	}
}

// TestSendersShareWork runs two senders, as two processes would, over the
// same queue: every message is sent exactly once.
func TestSendersShareWork(t *testing.T) {
	e := newEnv(t, nil)
	const n = 30
	for i := range n {
		e.notify(offer(i))
	}
	senders := []*notify.Sender{e.sender, e.svc.NewSender(e.mailer)}
	var wg sync.WaitGroup
	handled := make([]int, len(senders))
	for i, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, err := s.RunOnce(e.ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if k == 0 {
					return
				}
				handled[i] += k
			}
		}()
	}
	wg.Wait()
	msgs := e.smtp.Messages()
	ids := map[string]bool{}
	for _, m := range msgs {
		if ids[m.MessageID] {
			t.Fatalf("message %s sent twice", m.MessageID)
		}
		ids[m.MessageID] = true
	}
	if len(msgs) != n || handled[0]+handled[1] != n {
		t.Fatalf("%d emails, %v handled; want %d", len(msgs), handled, n)
	}
	t.Logf("handled per sender: %v", handled)
}

// TestCrashAfterSend stops a sender after the SMTP server accepted a
// message and before it is recorded sent: once its lease lapses, another
// sender sends it again, with the same Message-ID; nothing else repeats.
func TestCrashAfterSend(t *testing.T) {
	e := newEnv(t, nil)
	e.notify(offer(1))
	e.notify(offer(2))
	crashed := false
	notify.SetFault(e.svc, func(p string) error {
		if p == "sender:sent" && !crashed {
			crashed = true
			return errors.New("crash")
		}
		return nil
	})
	if _, err := e.sender.RunOnce(e.ctx); err == nil {
		t.Fatal("RunOnce did not stop at the crash")
	}
	if got := len(e.smtp.Messages()); got != 1 {
		t.Fatalf("%d emails before the restart, want 1", got)
	}
	other := e.svc.NewSender(e.mailer) // the restarted process
	other.RunOnce(e.ctx)
	if got := len(e.smtp.Messages()); got != 2 {
		t.Fatalf("%d emails while the lease holds, want 2 (the crashed one waits)", got)
	}
	e.clock.Advance(e.cfg.Lease + time.Second)
	for {
		n, err := other.RunOnce(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	msgs := e.smtp.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d emails, want 3 (one duplicate)", len(msgs))
	}
	if msgs[0].MessageID != msgs[2].MessageID || msgs[0].MessageID == msgs[1].MessageID {
		t.Fatalf("Message-IDs %s %s %s: want the duplicate to repeat the first", msgs[0].MessageID, msgs[1].MessageID, msgs[2].MessageID)
	}
	if st, _ := e.mailState(offer(1), grader.UserID); st != notify.MailSent {
		t.Fatalf("state %q, want sent", st)
	}
	if e.queueLen() != 0 || e.unread(grader.UserID) != 2 {
		t.Fatalf("queue %d, unread %d", e.queueLen(), e.unread(grader.UserID))
	}
}

// TestCrashAfterMark stops a sender after it recorded a message sent and
// before it dequeued it: the next claim only dequeues.
func TestCrashAfterMark(t *testing.T) {
	e := newEnv(t, nil)
	e.notify(offer(1))
	crashed := false
	notify.SetFault(e.svc, func(p string) error {
		if p == "sender:marked" && !crashed {
			crashed = true
			return errors.New("crash")
		}
		return nil
	})
	if _, err := e.sender.RunOnce(e.ctx); err == nil {
		t.Fatal("RunOnce did not stop at the crash")
	}
	e.clock.Advance(e.cfg.Lease + time.Second)
	e.drain()
	if got := len(e.smtp.Messages()); got != 1 || e.queueLen() != 0 {
		t.Fatalf("%d emails, queue %d; want 1 and 0", got, e.queueLen())
	}
}

// TestRetryThenFail: temporary failures are retried after growing waits;
// after the last attempt the message is failed with the server's reason,
// listed for admins, and can be resent.
func TestRetryThenFail(t *testing.T) {
	e := newEnv(t, nil)
	e.smtp.FailNext(2, false)
	e.notify(offer(1))
	e.drain()
	if got := len(e.smtp.Messages()); got != 0 {
		t.Fatalf("%d emails after a failure", got)
	}
	e.clock.Advance(time.Minute - time.Second)
	if e.drain() != 0 {
		t.Fatal("retried before the first backoff (1 min) was over")
	}
	e.clock.Advance(time.Second)
	e.drain() // second failure: next wait is 4 min
	e.clock.Advance(3 * time.Minute)
	if e.drain() != 0 {
		t.Fatal("retried before the second backoff (4 min) was over")
	}
	e.clock.Advance(time.Minute)
	e.drain()
	if got := len(e.smtp.Messages()); got != 1 {
		t.Fatalf("%d emails after the server recovered, want 1", got)
	}

	e.smtp.FailNext(100, false)
	e.notify(offer(2))
	for range e.cfg.MaxAttempts {
		e.drain()
		e.clock.Advance(time.Hour)
	}
	st, why := e.mailState(offer(2), grader.UserID)
	if st != notify.MailFailed || !strings.Contains(why, "451") {
		t.Fatalf("state %q (%s), want failed with the 451", st, why)
	}
	fails, err := e.svc.Failures(e.ctx)
	if err != nil || len(fails) != 1 || fails[0].Attempts != e.cfg.MaxAttempts || fails[0].Email != grader.Email {
		t.Fatalf("Failures = %+v, %v", fails, err)
	}
	e.smtp.FailNext(0, false)
	if err := e.svc.Resend(e.ctx, fails[0].ID); err != nil {
		t.Fatal(err)
	}
	e.drain()
	if st, _ := e.mailState(offer(2), grader.UserID); st != notify.MailSent || len(e.smtp.Messages()) != 2 {
		t.Fatalf("after resend: %q, %d emails", st, len(e.smtp.Messages()))
	}
	if fails, _ := e.svc.Failures(e.ctx); len(fails) != 0 {
		t.Fatalf("failure still listed: %+v", fails)
	}
	if err := e.svc.Resend(e.ctx, "ntf_nope"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Resend(unknown) = %v", err)
	}

	// A permanent refusal of the message is not retried, and does not mark
	// the address failing.
	e.smtp.FailNext(1, true)
	e.notify(offer(3))
	e.drain()
	if st, why := e.mailState(offer(3), grader.UserID); st != notify.MailFailed || !strings.Contains(why, "554") {
		t.Fatalf("refused: %q (%s), want failed with the 554 at once", st, why)
	}
	if got, _ := e.svc.FailingAddresses(e.ctx, []string{grader.Email}); len(got) != 0 {
		t.Fatalf("a refused message marked the address failing: %+v", got)
	}
}

// TestFailingAddress: a rejected address is marked failing, mail to it
// stops, its inbox is untouched, teachers and admins see it, and a resend
// waits until it is cleared. A bounce reported later does the same.
func TestFailingAddress(t *testing.T) {
	e := newEnv(t, nil)
	e.smtp.Reject(student.Email)
	e.notify(released(1))
	e.drain()
	st, why := e.mailState(released(1), student.UserID)
	if st != notify.MailFailed || !strings.Contains(why, "550") {
		t.Fatalf("state %q (%s), want failed with the 550", st, why)
	}
	e.notify(released(2))
	e.drain()
	if st, why := e.mailState(released(2), student.UserID); st != notify.MailSkipped || !strings.Contains(why, "failing") {
		t.Fatalf("second message %q (%s), want skipped: the address is failing", st, why)
	}
	if len(e.smtp.Messages()) != 0 || e.unread(student.UserID) != 2 {
		t.Fatalf("%d emails, %d unread; want 0 and 2", len(e.smtp.Messages()), e.unread(student.UserID))
	}
	got, err := e.svc.FailingAddresses(e.ctx, []string{"Ada.Lovelace@students.example", "someone@else.example"})
	if err != nil || len(got) != 1 || !strings.Contains(got["Ada.Lovelace@students.example"].Reason, "550") {
		t.Fatalf("FailingAddresses = %+v, %v", got, err)
	}
	all, err := e.svc.AllFailingAddresses(e.ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("AllFailingAddresses = %+v, %v", all, err)
	}
	fails, _ := e.svc.Failures(e.ctx)
	if len(fails) != 1 {
		t.Fatalf("Failures = %+v", fails)
	}
	if err := e.svc.Resend(e.ctx, fails[0].ID); !errs.Is(err, errs.Conflict) {
		t.Fatalf("Resend to a failing address = %v, want conflict", err)
	}
	if err := e.svc.ClearFailing(e.ctx, student.Email); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Resend(e.ctx, fails[0].ID); err != nil {
		t.Fatal(err)
	}

	// A bounce, reported after the server accepted the message.
	e.notify(review(1))
	e.drain()
	if err := e.svc.MarkFailing(e.ctx, teacher.Email, "bounce: mailbox full"); err != nil {
		t.Fatal(err)
	}
	e.notify(review(2))
	e.drain()
	if st, _ := e.mailState(review(2), teacher.UserID); st != notify.MailSkipped {
		t.Fatalf("after a bounce: %q, want skipped", st)
	}
	if e.unread(teacher.UserID) != 2 {
		t.Fatalf("teacher inbox lost a message")
	}
}

// TestNoEmail: with no SMTP (the embedded default), or no permission to
// email a student, the inbox is the only channel and the queue empties.
func TestNoEmail(t *testing.T) {
	e := newEnv(t, func(c *notify.Config) { c.SMTPURL, c.MailFrom = "", "" })
	e.notify(offer(1))
	e.drain()
	if st, why := e.mailState(offer(1), grader.UserID); st != notify.MailSkipped || !strings.Contains(why, "not configured") {
		t.Fatalf("%q (%s)", st, why)
	}
	if e.queueLen() != 0 || e.unread(grader.UserID) != 1 {
		t.Fatal("inbox or queue wrong without SMTP")
	}

	e = newEnv(t, nil)
	ev := released(1)
	ev.Recipients[0].EmailAllowed = false // the class has student email off
	e.notify(ev)
	e.drain()
	if st, _ := e.mailState(ev, student.UserID); st != notify.MailSkipped || len(e.smtp.Messages()) != 0 {
		t.Fatalf("student emailed without the class's permission: %q", st)
	}
	if e.unread(student.UserID) != 1 {
		t.Fatal("student inbox empty")
	}
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  notify.Config
		ok   bool
		want notify.SMTPServer
	}{
		{"empty: inbox only", notify.Config{}, true, notify.SMTPServer{}},
		{"starttls with credentials", notify.Config{SMTPURL: "smtp://u%40x:p%3Aw@mail.example:2525", MailFrom: "Margin <m@x.example>", PublicURL: "https://m.example"}, true,
			notify.SMTPServer{Host: "mail.example", Port: 2525, Username: "u@x", Password: "p:w"}},
		{"default port 587", notify.Config{SMTPURL: "smtp://mail.example", MailFrom: "m@x.example", PublicURL: "http://localhost:8080"}, true,
			notify.SMTPServer{Host: "mail.example", Port: 587}},
		{"smtps default port 465", notify.Config{SMTPURL: "smtps://u:pw-secret@mail.example", MailFrom: "m@x.example", PublicURL: "https://m.example/"}, true,
			notify.SMTPServer{Host: "mail.example", Port: 465, ImplicitTLS: true, Username: "u", Password: "pw-secret"}},
		{"other scheme", notify.Config{SMTPURL: "http://mail.example", MailFrom: "m@x.example", PublicURL: "https://m.example"}, false, notify.SMTPServer{}},
		{"bad port", notify.Config{SMTPURL: "smtp://mail.example:99999", MailFrom: "m@x.example", PublicURL: "https://m.example"}, false, notify.SMTPServer{}},
		{"no public URL", notify.Config{SMTPURL: "smtp://mail.example", MailFrom: "m@x.example"}, false, notify.SMTPServer{}},
		{"public URL with a path", notify.Config{PublicURL: "https://m.example/margin"}, false, notify.SMTPServer{}},
		{"bad from", notify.Config{SMTPURL: "smtp://mail.example", MailFrom: "margin", PublicURL: "https://m.example"}, false, notify.SMTPServer{}},
		{"digest hour", notify.Config{DigestHour: 24}, false, notify.SMTPServer{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if (err == nil) != c.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, c.ok)
			}
			if c.ok && c.cfg.SMTPURL != "" {
				got, _ := c.cfg.SMTP()
				if got != c.want {
					t.Fatalf("SMTP = %+v, want %+v", got, c.want)
				}
				if c.want.Password != "" && strings.Contains(got.String(), c.want.Password) {
					t.Fatalf("String() shows the password: %s", got)
				}
			}
		})
	}
}

// TestSMTPModes delivers over STARTTLS with credentials (the server
// accepts AUTH only after TLS) and over TLS from the start.
func TestSMTPModes(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		t.Run(fmt.Sprintf("implicitTLS=%v", implicit), func(t *testing.T) {
			e := newEnv(t, nil)
			srv := e.smtp
			if implicit {
				srv = notifytestStart(t, true)
				e.cfg.SMTPURL = srv.URL()
				if !strings.HasPrefix(srv.URL(), "smtps://") {
					t.Fatalf("URL %s", srv.URL())
				}
			}
			m := newMailer(t, srv, e.cfg)
			err := m.Send(e.ctx, notify.Mail{MessageID: "x@margin.test", To: "a@example.org", Subject: "Hi", Text: "t", HTML: "<p>h</p>"})
			if err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()
			if len(got) != 1 || !got[0].TLS || got[0].MessageID != "<x@margin.test>" {
				t.Fatalf("got %+v", got)
			}
		})
	}
}
