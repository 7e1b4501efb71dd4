package notify

import (
	"context"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// MailState is where a message's email stands.
type MailState string

// The mail states. A message starts pending and ends in one of the others.
const (
	MailPending MailState = ""
	MailSent    MailState = "sent"
	MailFailed  MailState = "failed"  // tried and given up, or refused; Reason says why
	MailSkipped MailState = "skipped" // not emailed (no SMTP, no address, turned off, address failing); Reason says why
	MailDigest  MailState = "digest"  // added to a daily digest, which has its own state
)

// messageDoc is one event for one recipient: the outbox entry, and the
// source of the inbox item.
type messageDoc struct {
	ID           string       `bson:"_id"`
	Kind         Kind         `bson:"kind"`
	Key          string       `bson:"key"`
	UserID       string       `bson:"user_id"`
	Role         account.Role `bson:"role"`
	Email        string       `bson:"email,omitempty"`
	EmailAllowed bool         `bson:"email_allowed,omitempty"`
	Title        string       `bson:"title"`
	Text         string       `bson:"text,omitempty"`
	Link         string       `bson:"link,omitempty"`
	CreatedAt    time.Time    `bson:"created_at"`
	Pos          int64        `bson:"pos"`    // inbox position + 1; 0 until it has one
	Placed       bool         `bson:"placed"` // in the inbox
	Mail         mailState    `bson:"mail"`
}

// mailState is the email side of a message or a digest.
type mailState struct {
	State  MailState `bson:"state,omitempty"`
	Reason string    `bson:"reason,omitempty"`
	At     time.Time `bson:"at,omitempty"`
	Digest string    `bson:"digest,omitempty"` // the digest it went into
}

// queueDoc is undelivered work for a Sender: a message ("ntf_…") or a
// digest ("d:<user>:<day>"). It is deleted once the work is done, so the
// queue, which Senders scan, stays small.
type queueDoc struct {
	ID         string    `bson:"_id"`
	UserID     string    `bson:"user_id"`
	Digest     bool      `bson:"digest,omitempty"`
	Due        time.Time `bson:"due"`
	Attempts   int       `bson:"attempts"`
	LeaseOwner string    `bson:"lease_owner,omitempty"`
	LeaseUntil time.Time `bson:"lease_until"`
	LastError  string    `bson:"last_error,omitempty"`
}

// never is the lease of unclaimed work: long past.
var never = time.Unix(0, 0).UTC()

// Notify queues the event for each recipient and puts it in their inbox.
// Each recipient's message has a deterministic ID (from Kind, Key and the
// recipient), so raising the same event again, however often, adds
// nothing; and a raise that a crash interrupted is finished by the next
// raise (or, for the inbox, by the Sender). Email goes out later, from a
// Sender, according to the recipient's preferences at that time.
//
// Returns errs.Invalid (naming the field) for a malformed event, including
// a grader-bound event that names a student; nothing is queued then. On
// any other error some recipients may be queued: raise it again.
func (s *Service) Notify(ctx context.Context, e Event) error {
	if err := e.validate(); err != nil {
		return err
	}
	now := s.now()
	for _, r := range e.Recipients {
		m := messageDoc{
			ID: messageID(e.Kind, e.Key, r.UserID), Kind: e.Kind, Key: e.Key, UserID: r.UserID, Role: r.Role,
			Email: r.Email, EmailAllowed: r.EmailAllowed && r.Email != "",
			Title: e.Title, Text: e.Text, Link: e.Link, CreatedAt: now,
		}
		if err := s.queue(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// queue stores one message, queues it for a Sender and places it in the
// inbox, or finishes what an earlier raise of it left undone.
func (s *Service) queue(ctx context.Context, m messageDoc) error {
	_, err := s.c(colMessages).InsertOne(ctx, m)
	if mongostore.IsDuplicateKey(err) {
		old, err := mongostore.Get[messageDoc](ctx, s.c(colMessages), m.ID, "notification")
		if err != nil {
			return err
		}
		if old.Placed && old.Mail.State != MailPending {
			return nil
		}
		m = old
	} else if err != nil {
		return errs.Wrap(err, "store notification")
	}
	if err := s.fault("notify:stored"); err != nil {
		return err
	}
	// The queue entry goes in before the inbox item: if a crash stops
	// this raise, the Sender finds the entry and finishes the placement.
	q := queueDoc{ID: m.ID, UserID: m.UserID, Due: m.CreatedAt, LeaseUntil: never}
	if _, err := s.c(colQueue).InsertOne(ctx, q); err != nil && !mongostore.IsDuplicateKey(err) {
		return errs.Wrap(err, "queue notification")
	}
	if err := s.fault("notify:queued"); err != nil {
		return err
	}
	return s.place(ctx, &m)
}
