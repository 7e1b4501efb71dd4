package intake

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/notify"
)

// Notifier is where intake raises events for teachers
// (pkg/notify.Service). Raising the same event again is a no-op.
type Notifier interface {
	Notify(ctx context.Context, e notify.Event) error
}

// SetNotifier makes the service tell a teacher when their upload has
// finished, with the files it rejected. Without one it raises nothing.
func (s *Service) SetNotifier(n Notifier) { s.notes = n }

// SetEmailStudents turns email to the class's students on or off (off by
// default): with it on, a student whose roster row has an address gets an
// email when their feedback is released, besides the inbox. Returns
// not_found unless caller manages the class.
func (s *Service) SetEmailStudents(ctx context.Context, caller account.User, classID string, on bool) (Class, error) {
	c, err := s.AuthorizeClass(ctx, caller, classID)
	if err != nil {
		return Class{}, err
	}
	if _, err := s.c(colClasses).UpdateOne(ctx, bson.D{{Key: "_id", Value: classID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "email_students", Value: on}}}}); err != nil {
		return Class{}, errs.Wrap(err, "set email students")
	}
	c.EmailStudents = on
	return c, nil
}

// notifyUpload tells the teacher who uploaded that their part of batch u
// has finished, naming the files it rejected (at most maxNamed of them).
func (s *Service) notifyUpload(ctx context.Context, caller account.User, a Assignment, u Upload, part string) {
	if s.notes == nil || !notify.UploadFinished.For(caller.Role) {
		return
	}
	const maxNamed = 20
	var rejected []string
	for _, o := range u.Outcomes {
		if o.Status == StatusRejected {
			rejected = append(rejected, o.File)
		}
	}
	text := fmt.Sprintf("%d files read: %d new submissions, %d new versions, %d unchanged, %d rejected.",
		u.Counts.Files, u.Counts.Created, u.Counts.NewVersion, u.Counts.Unchanged, u.Counts.Rejected)
	if len(rejected) > 0 {
		named := rejected[:min(len(rejected), maxNamed)]
		text += "\n\nRejected: " + strings.Join(named, ", ")
		if len(rejected) > maxNamed {
			text += fmt.Sprintf(" and %d more", len(rejected)-maxNamed)
		}
		text += ". The assignment's page says why."
	}
	e := notify.Event{
		Kind: notify.UploadFinished, Key: u.ID + "/" + part,
		Title:      fmt.Sprintf("Upload to %q finished", a.Title),
		Text:       truncateRunes(text, 2000),
		Link:       "/teacher/assignments/" + a.ID,
		Recipients: []notify.Recipient{{UserID: caller.ID, Role: caller.Role, Email: caller.Email, EmailAllowed: caller.Email != ""}},
	}
	if err := s.notes.Notify(ctx, e); err != nil {
		s.log.Warn("notify", "kind", e.Kind, "key", e.Key, "err", err)
	}
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
