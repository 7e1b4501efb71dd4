package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Mailer sends one email. pkg/notify/smtpmail is the SMTP one.
type Mailer interface {
	// Send delivers m or returns why not. An error wrapping ErrRejected
	// means the server refused the recipient's address for good; one
	// wrapping ErrRefused, that it refused the message for good. Any
	// other error is taken as temporary and retried.
	Send(ctx context.Context, m Mail) error
}

// Mailer errors that are not worth retrying.
var (
	ErrRejected = errors.New("notify: the mail server rejected the recipient's address")
	ErrRefused  = errors.New("notify: the mail server refused the message")
)

// Sender delivers queued email. Run one in every process that runs the
// background services: each message is claimed with a lease before it is
// sent, so several Senders send it once.
type Sender struct {
	s      *Service
	mailer Mailer // nil: email is not configured; messages are only placed
	owner  string
}

// NewSender returns a Sender that mails through m, or, with a nil m (no
// SMTP configured), only finishes inbox placements and empties the queue.
func (s *Service) NewSender(m Mailer) *Sender {
	host, _ := os.Hostname()
	return &Sender{s: s, mailer: m, owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), account.NewID("snd"))}
}

// Run delivers due messages every Config.Poll until ctx ends. A pass that
// fails is logged and retried at the next poll; it returns nil once ctx
// is done.
func (x *Sender) Run(ctx context.Context) error {
	t := time.NewTicker(x.s.cfg.Poll)
	defer t.Stop()
	for {
		n, err := x.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			x.s.log.Warn("notifications pass", "err", err)
		}
		if n == batch {
			continue // more are due
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// batch is how many due entries a pass takes at most.
const batch = 100

// RunOnce handles the queue entries that are due and not leased: each
// message is placed in the inbox if a crash left it out, then emailed,
// added to a digest or skipped; each due digest is sent. It returns how
// many entries it handled, and stops at the first error (the entry stays
// leased, so the next pass takes the others).
func (x *Sender) RunOnce(ctx context.Context) (int, error) {
	now := x.s.now()
	due, err := mongostore.FindAll[queueDoc](ctx, x.s.c(colQueue), dueFilter(now),
		options.Find().SetSort(bson.D{{Key: "due", Value: 1}}).SetLimit(batch))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range due {
		if ctx.Err() != nil {
			return n, nil
		}
		q, ok, err := x.claim(ctx, d.ID)
		if err != nil {
			return n, err
		}
		if !ok {
			continue // another Sender took it
		}
		if q.Digest {
			err = x.handleDigest(ctx, q)
		} else {
			err = x.handleMessage(ctx, q)
		}
		if err != nil {
			return n, fmt.Errorf("notification %s: %w", q.ID, err)
		}
		n++
	}
	return n, nil
}

func dueFilter(now time.Time) bson.D {
	return bson.D{{Key: "due", Value: bson.D{{Key: "$lte", Value: now}}}, {Key: "lease_until", Value: bson.D{{Key: "$lt", Value: now}}}}
}

// claim takes the lease on queue entry id if it is still due and free: one
// findOneAndUpdate, atomic on MongoDB, and on the embedded store (one
// operation at a time). Each claim has its own owner, so that only its
// holder can finish or release it.
func (x *Sender) claim(ctx context.Context, id string) (queueDoc, bool, error) {
	now := x.s.now()
	var q queueDoc
	err := x.s.c(colQueue).FindOneAndUpdate(ctx, append(byID(id), dueFilter(now)...),
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "lease_owner", Value: x.owner + "/" + account.NewID("c")},
			{Key: "lease_until", Value: now.Add(x.s.cfg.Lease)},
		}}}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&q)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return q, false, nil
	}
	return q, err == nil, errs.Wrap(err, "claim notification")
}

// outgoing is the document an email is for: a message or a digest.
type outgoing struct {
	col, id, userID, email, title string
	kind                          Kind
}

func (x *Sender) handleMessage(ctx context.Context, q queueDoc) error {
	m, err := mongostore.Get[messageDoc](ctx, x.s.c(colMessages), q.ID, "notification")
	if errs.Is(err, errs.NotFound) {
		return x.dequeue(ctx, q)
	}
	if err != nil {
		return err
	}
	if err := x.s.place(ctx, &m); err != nil {
		return err
	}
	o := outgoing{col: colMessages, id: m.ID, userID: m.UserID, email: m.Email, title: m.Title, kind: m.Kind}
	if m.Mail.State != MailPending {
		return x.dequeue(ctx, q) // finished before a crash stopped the dequeue
	}
	if why := x.noMail(m.EmailAllowed); why != "" {
		return x.finish(ctx, q, o, mailState{State: MailSkipped, Reason: why})
	}
	p, err := x.s.prefs(ctx, m.UserID)
	if err != nil {
		return err
	}
	d := p.delivery(m.Kind)
	if d == Off {
		return x.finish(ctx, q, o, mailState{State: MailSkipped, Reason: "Turned off in the recipient's settings."})
	}
	if why, err := x.s.failing(ctx, m.Email); err != nil {
		return err
	} else if why != "" {
		return x.finish(ctx, q, o, skippedFailing(why))
	}
	if d == Daily {
		id, err := x.s.toDigest(ctx, m)
		if err != nil {
			return err
		}
		return x.finish(ctx, q, o, mailState{State: MailDigest, Digest: id})
	}
	mail, err := x.s.renderMessage(m)
	if err != nil {
		return errs.Wrap(err, "render notification")
	}
	return x.send(ctx, q, o, mail)
}

func skippedFailing(why string) mailState {
	return mailState{State: MailSkipped, Reason: "The address is failing: " + why}
}

// noMail says why a recipient gets no email at all, or "".
func (x *Sender) noMail(allowed bool) string {
	switch {
	case x.mailer == nil:
		return "Email is not configured."
	case !allowed:
		return "No email address, or email is not allowed for this recipient."
	}
	return ""
}

// send mails m and records the outcome: sent; failed for good (with the
// address marked failing when the server rejected it); or retried later
// with backoff until Config.MaxAttempts.
func (x *Sender) send(ctx context.Context, q queueDoc, o outgoing, m Mail) error {
	if q.Attempts >= x.s.cfg.MaxAttempts {
		return x.fail(ctx, q, o, q.LastError) // a crash stopped the last failure's bookkeeping
	}
	sctx, cancel := context.WithTimeout(ctx, x.s.cfg.Lease/2)
	err := x.mailer.Send(sctx, m)
	cancel()
	if err == nil {
		if err := x.s.fault("sender:sent"); err != nil {
			return err
		}
		return x.finish(ctx, q, o, mailState{State: MailSent})
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the lease lapses and another pass retries
	}
	reason := truncate(err.Error(), 500)
	switch {
	case errors.Is(err, ErrRejected):
		if err := x.s.MarkFailing(ctx, o.email, reason); err != nil {
			return err
		}
		return x.fail(ctx, q, o, reason)
	case errors.Is(err, ErrRefused):
		return x.fail(ctx, q, o, reason)
	}
	attempts := q.Attempts + 1
	if attempts >= x.s.cfg.MaxAttempts {
		q.Attempts = attempts
		return x.fail(ctx, q, o, reason)
	}
	x.s.log.Info("email not sent; will retry", "id", o.id, "attempt", attempts, "err", reason)
	_, err = x.s.c(colQueue).UpdateOne(ctx, held(q), bson.D{{Key: "$set", Value: bson.D{
		{Key: "attempts", Value: attempts},
		{Key: "due", Value: x.s.now().Add(x.s.cfg.backoff(attempts))},
		{Key: "lease_owner", Value: ""},
		{Key: "lease_until", Value: never},
		{Key: "last_error", Value: reason},
	}}})
	return errs.Wrap(err, "reschedule notification")
}

// backoff is the wait after the n-th failed attempt: RetryBase, then four
// times longer each time, at most an hour.
func (c Config) backoff(n int) time.Duration {
	d := c.RetryBase
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 4
	}
	return min(d, time.Hour)
}

// held filters a queue entry still leased by this claim.
func held(q queueDoc) bson.D {
	return append(byID(q.ID), bson.E{Key: "lease_owner", Value: q.LeaseOwner})
}

// finish records the email's outcome on its message or digest, then
// removes the queue entry. A crash between the two leaves the entry, and
// the next claim sees the outcome and only removes it.
func (x *Sender) finish(ctx context.Context, q queueDoc, o outgoing, st mailState) error {
	st.At = x.s.now()
	upd := set("mail", st)
	if o.kind.Private() {
		// The link carries a secret (a reset token): keep no copy of it
		// once the email is sent or given up.
		upd = bson.D{{Key: "$set", Value: bson.D{{Key: "mail", Value: st}, {Key: "link", Value: ""}}}}
	}
	if _, err := x.s.c(o.col).UpdateOne(ctx, byID(o.id), upd); err != nil {
		return errs.Wrap(err, "record email outcome")
	}
	if err := x.s.fault("sender:marked"); err != nil {
		return err
	}
	return x.dequeue(ctx, q)
}

func (x *Sender) dequeue(ctx context.Context, q queueDoc) error {
	_, err := x.s.c(colQueue).DeleteOne(ctx, held(q))
	return errs.Wrap(err, "dequeue notification")
}

// Failure is an email that failed for good, for admins to see and resend.
type Failure struct {
	ID       string    `bson:"_id" json:"id"` // the message's or digest's ID
	UserID   string    `bson:"user_id" json:"user_id"`
	Kind     Kind      `bson:"kind" json:"kind"` // "digest" for a daily digest
	Email    string    `bson:"email" json:"email"`
	Title    string    `bson:"title" json:"title"`
	Reason   string    `bson:"reason" json:"reason"`
	Attempts int       `bson:"attempts" json:"attempts"`
	At       time.Time `bson:"at" json:"at"`
}

func (x *Sender) fail(ctx context.Context, q queueDoc, o outgoing, reason string) error {
	f := Failure{ID: o.id, UserID: o.userID, Kind: o.kind, Email: o.email, Title: o.title, Reason: reason, Attempts: q.Attempts, At: x.s.now()}
	if _, err := x.s.c(colFailed).ReplaceOne(ctx, byID(f.ID), f, options.Replace().SetUpsert(true)); err != nil {
		return errs.Wrap(err, "record failed email")
	}
	x.s.log.Warn("email failed", "id", o.id, "kind", o.kind, "reason", reason)
	return x.finish(ctx, q, o, mailState{State: MailFailed, Reason: reason})
}

// Failures lists the emails that failed for good, newest first. It scans
// a collection that holds only those.
func (s *Service) Failures(ctx context.Context) ([]Failure, error) {
	return mongostore.FindAll[Failure](ctx, s.c(colFailed), bson.D{}, options.Find().SetSort(bson.D{{Key: "at", Value: -1}}))
}

// Resend queues a failed email again, from its first attempt. Returns
// errs.NotFound for an ID that is not a failure, and errs.Conflict while
// its address is failing (clear it with ClearFailing first).
func (s *Service) Resend(ctx context.Context, id string) error {
	f, err := mongostore.Get[Failure](ctx, s.c(colFailed), id, "failed email")
	if err != nil {
		return err
	}
	if why, err := s.failing(ctx, f.Email); err != nil {
		return err
	} else if why != "" {
		return errs.E(errs.Conflict, "Mail to %s is stopped because the address is failing (%s); clear it first.", f.Email, why)
	}
	col, q := colMessages, queueDoc{ID: f.ID, UserID: f.UserID, Due: s.now(), LeaseUntil: never}
	if f.Kind == digestKind {
		col, q.ID, q.Digest = colDigests, digestQueueID(f.ID), true
	}
	if _, err := s.c(col).UpdateOne(ctx, byID(f.ID), set("mail", mailState{})); err != nil {
		return errs.Wrap(err, "reset email")
	}
	if _, err := s.c(colQueue).InsertOne(ctx, q); err != nil && !mongostore.IsDuplicateKey(err) {
		return errs.Wrap(err, "queue email")
	}
	_, err = s.c(colFailed).DeleteOne(ctx, byID(f.ID))
	return errs.Wrap(err, "clear failure")
}

// digestQueueID is the queue entry of a digest.
func digestQueueID(digestID string) string { return "d:" + digestID }

func (x *Sender) handleDigest(ctx context.Context, q queueDoc) error {
	id := strings.TrimPrefix(q.ID, "d:")
	d, err := mongostore.Get[digestDoc](ctx, x.s.c(colDigests), id, "digest")
	if errs.Is(err, errs.NotFound) {
		return x.dequeue(ctx, q)
	}
	if err != nil {
		return err
	}
	if d.Mail.State != MailPending {
		return x.dequeue(ctx, q)
	}
	if d, err = x.s.sealDigest(ctx, id); err != nil {
		return err
	}
	o := outgoing{col: colDigests, id: d.ID, userID: d.UserID, email: d.Email, title: "Daily digest " + d.Day, kind: digestKind}
	if why := x.noMail(d.Email != ""); why != "" {
		return x.finish(ctx, q, o, mailState{State: MailSkipped, Reason: why})
	}
	p, err := x.s.prefs(ctx, d.UserID)
	if err != nil {
		return err
	}
	// Kinds turned off since they were added are left out.
	var items []digestItem
	for _, it := range d.Items {
		if p.delivery(it.Kind) != Off {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return x.finish(ctx, q, o, mailState{State: MailSkipped, Reason: "Nothing left to send."})
	}
	if why, err := x.s.failing(ctx, d.Email); err != nil {
		return err
	} else if why != "" {
		return x.finish(ctx, q, o, skippedFailing(why))
	}
	mail, err := x.s.renderDigest(d, items)
	if err != nil {
		return errs.Wrap(err, "render digest")
	}
	return x.send(ctx, q, o, mail)
}
