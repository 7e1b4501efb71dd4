package notify

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

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

// inlinePlacements is how many recipients Notify puts in the inbox itself;
// a larger fan-out (a class's release) returns once queued and the Sender
// fills the inboxes within a poll or two.
const inlinePlacements = 10

// Notify queues the event for each recipient: one message each, with a
// deterministic ID (from Kind, Key and the recipient), so raising the same
// event again, however often, adds nothing, and a raise a crash interrupted
// is finished by the next raise or by the Sender. For up to
// inlinePlacements recipients the inbox item is there when Notify returns;
// for more, the Sender places them. Email goes out later, from a Sender,
// according to each recipient's preferences at that time.
//
// Returns errs.Invalid (naming the field) for a malformed event, including
// a grader-bound event that names a student; nothing is queued then. On any
// other error some recipients may be queued: raise it again.
func (s *Service) Notify(ctx context.Context, e Event) error {
	if err := e.validate(); err != nil {
		return err
	}
	now := s.now()
	var ms []messageDoc
	seen := map[string]bool{}
	for _, r := range e.Recipients {
		m := messageDoc{
			ID: messageID(e.Kind, e.Key, r.UserID), Kind: e.Kind, Key: e.Key, UserID: r.UserID, Role: r.Role,
			Email: r.Email, EmailAllowed: r.EmailAllowed && r.Email != "",
			Title: e.Title, Text: e.Text, Link: e.Link, CreatedAt: now,
		}
		if !seen[m.ID] {
			seen[m.ID] = true
			ms = append(ms, m)
		}
	}
	pending, err := s.store(ctx, ms)
	if err != nil {
		return err
	}
	if err := s.fault("notify:stored"); err != nil {
		return err
	}
	// The queue entries go in before the inbox items: if a crash stops
	// this raise, the Sender finds them and finishes the placements.
	qs := make([]any, len(pending))
	for i, m := range pending {
		qs[i] = queueDoc{ID: m.ID, UserID: m.UserID, Due: m.CreatedAt, LeaseUntil: never}
	}
	if _, err := insertMany(ctx, s.c(colQueue), qs); err != nil {
		return errs.Wrap(err, "queue notifications")
	}
	if err := s.fault("notify:queued"); err != nil {
		return err
	}
	if len(pending) > inlinePlacements {
		return nil
	}
	for i := range pending {
		if err := s.place(ctx, &pending[i]); err != nil {
			return err
		}
	}
	return nil
}

// store inserts the messages in one round trip and returns those with
// work left: the new ones, and the ones an earlier raise stored but did
// not finish.
func (s *Service) store(ctx context.Context, ms []messageDoc) ([]messageDoc, error) {
	docs := make([]any, len(ms))
	for i, m := range ms {
		docs[i] = m
	}
	dup, err := insertMany(ctx, s.c(colMessages), docs)
	if err != nil {
		return nil, errs.Wrap(err, "store notifications")
	}
	var pending []messageDoc
	var again []string
	for i, m := range ms {
		if dup[i] {
			again = append(again, m.ID)
		} else {
			pending = append(pending, m)
		}
	}
	old, err := mongostore.GetMany(ctx, s.c(colMessages), again, func(m messageDoc) string { return m.ID })
	if err != nil {
		return nil, err
	}
	for _, id := range again {
		if m, ok := old[id]; ok && !(m.Placed && m.Mail.State != MailPending) {
			pending = append(pending, m)
		}
	}
	return pending, nil
}

// insertMany inserts docs in one round trip, unordered, and reports which
// of them (by index) were there already.
func insertMany(ctx context.Context, col *mongo.Collection, docs []any) (dup map[int]bool, err error) {
	dup = map[int]bool{}
	if len(docs) == 0 {
		return dup, nil
	}
	_, err = col.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return dup, err
	}
	for _, we := range bwe.WriteErrors {
		if !mongostore.IsDuplicateKey(we) {
			return nil, err
		}
		dup[we.Index] = true
	}
	return dup, nil
}
