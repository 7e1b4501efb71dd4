package notify

import (
	"context"
	"time"
)

// SetClock makes s read the time from now.
func SetClock(s *Service, now func() time.Time) { s.now = now }

// SetFault makes s call f at each named point of its write paths; an error
// stops the path there, as a crash would.
func SetFault(s *Service, f func(point string) error) { s.faults = f }

// MessageID is the ID an event makes for a recipient.
func MessageID(k Kind, key, userID string) string { return messageID(k, key, userID) }

// HeadState is a user's inbox head, for checking its invariants.
type HeadState struct {
	Next, Unread, Pages, Reserving int
}

func Head(ctx context.Context, s *Service, userID string) (HeadState, error) {
	h, err := s.head(ctx, userID)
	return HeadState{Next: int(h.Next), Unread: h.Unread, Pages: int(h.pages()), Reserving: len(h.Reserving)}, err
}

// QueueLen is how many entries wait in the queue.
func QueueLen(ctx context.Context, s *Service) (int64, error) {
	return s.c(colQueue).CountDocuments(ctx, map[string]any{})
}

// MailOf is the mail state of a message: its state and reason.
func MailOf(ctx context.Context, s *Service, id string) (MailState, string, error) {
	var m messageDoc
	err := s.c(colMessages).FindOne(ctx, byID(id)).Decode(&m)
	return m.Mail.State, m.Mail.Reason, err
}

// Host is the right side of s's Message-IDs.
func Host(s *Service) string { return s.host }

// LinkOf is the link a message keeps.
func LinkOf(ctx context.Context, s *Service, id string) (string, error) {
	var m messageDoc
	err := s.c(colMessages).FindOne(ctx, byID(id)).Decode(&m)
	return m.Link, err
}
