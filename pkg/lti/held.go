package lti

import (
	"context"
	"encoding/json"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// colHeld holds deep linking launches while the teacher picks an
// assignment (lti_deep_links, _id: the SHA-256-based hash of the token).
// It is scanned only by Sweep, and holds just the pickers open now.
const colHeld = "lti_deep_links"

// Held is a deep linking launch kept server-side while the teacher picks
// what to link, with who launched it and from which class.
type Held struct {
	Launch  *Launch
	UserID  string
	ClassID string
}

type heldDoc struct {
	ID        string    `bson:"_id"`
	Launch    []byte    `bson:"launch"` // the Launch's JSON
	UserID    string    `bson:"user_id"`
	ClassID   string    `bson:"class_id"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// Hold keeps a validated deep linking launch until l.ExpiresAt and returns
// the token that gets it back (256 random bits; only its hash is stored).
// The token is the picker form's credential: a deep linking page often
// runs in an LMS iframe, where Margin's cookies are not sent. It returns
// errs.Invalid for another message type, or an internal error.
func (t *Tool) Hold(ctx context.Context, l *Launch, userID, classID string) (string, error) {
	if l == nil || l.MessageType != MessageDeepLinking {
		return "", errs.E(errs.Invalid, "Only a deep linking launch is held.")
	}
	b, err := json.Marshal(l)
	if err != nil {
		return "", errs.Wrap(err, "lti: hold launch")
	}
	tok := randomToken()
	_, err = t.col(colHeld).InsertOne(ctx, heldDoc{ID: hashID("held", tok), Launch: b, UserID: userID, ClassID: classID, ExpiresAt: l.ExpiresAt.UTC()})
	return tok, errs.Wrap(err, "lti: hold launch")
}

// Held returns the launch Hold kept under token. It returns errs.NotFound
// (with a sentence for the teacher) when the token is unknown, spent or
// past the launch's expiry, or an internal error.
func (t *Tool) Held(ctx context.Context, token string) (Held, error) {
	gone := errs.E(errs.NotFound, "This assignment picker has expired or was already used; open it again from your course.")
	if token == "" || len(token) > 128 {
		return Held{}, gone
	}
	d, err := mongostore.Get[heldDoc](ctx, t.col(colHeld), hashID("held", token), "held launch")
	if errs.Is(err, errs.NotFound) || err == nil && !t.now().Before(d.ExpiresAt) {
		return Held{}, gone
	}
	if err != nil {
		return Held{}, err
	}
	h := Held{Launch: &Launch{}, UserID: d.UserID, ClassID: d.ClassID}
	return h, errs.Wrap(json.Unmarshal(d.Launch, h.Launch), "lti: read held launch")
}

// Release spends a held launch, so that its picker answers once. It
// returns errs.NotFound when someone else spent it first, or an internal
// error.
func (t *Tool) Release(ctx context.Context, token string) error {
	res, err := t.col(colHeld).DeleteOne(ctx, bson.D{{Key: "_id", Value: hashID("held", token)}})
	if err != nil {
		return errs.Wrap(err, "lti: spend held launch")
	}
	if res.DeletedCount == 0 {
		return errs.E(errs.NotFound, "This assignment picker was already used; open it again from your course.")
	}
	return nil
}

// sweepHeld deletes held launches past their expiry.
func (t *Tool) sweepHeld(ctx context.Context) error {
	_, err := t.col(colHeld).DeleteMany(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lt", Value: t.now().UTC()}}}})
	return errs.Wrap(err, "lti: sweep held launches")
}
