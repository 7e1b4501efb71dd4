package notify

import (
	"context"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// prefsDoc is a user's email preferences; kinds not in it are Immediate.
type prefsDoc struct {
	ID    string            `bson:"_id"`
	Kinds map[Kind]Delivery `bson:"kinds"`
}

// Preference is how one kind of event reaches a person by email.
type Preference struct {
	Kind     Kind     `json:"kind"`
	Label    string   `json:"label"`
	Delivery Delivery `json:"delivery"`
	// Always is true for a vetting decision and a failed payout: they go
	// out at once and cannot be changed.
	Always bool `json:"always"`
}

// Preferences returns the user's setting for every kind their role
// receives, in a stable order. Unset kinds are Immediate.
func (s *Service) Preferences(ctx context.Context, userID string, role account.Role) ([]Preference, error) {
	p, err := s.prefs(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := []Preference{}
	for _, k := range Kinds(role) {
		out = append(out, Preference{Kind: k, Label: k.Label(), Delivery: p.delivery(k), Always: k.Always()})
	}
	return out, nil
}

// SetPreference sets how kind k reaches the user by email. Returns
// errs.Invalid for an unknown kind or delivery, a kind the role does not
// receive, or a kind that is always sent.
func (s *Service) SetPreference(ctx context.Context, userID string, role account.Role, k Kind, d Delivery) error {
	switch {
	case !k.Valid() || !k.For(role):
		return errs.F(errs.Invalid, "kind", "A %s has no %q notifications.", role, k)
	case !d.Valid():
		return errs.F(errs.Invalid, "delivery", "Delivery is immediate, daily or off.")
	case k.Always() && d != Immediate:
		return errs.F(errs.Invalid, "delivery", "%s are always sent at once.", k.Label())
	}
	return s.setPrefs(ctx, userID, bson.D{{Key: "kinds." + string(k), Value: d}})
}

func (s *Service) setPrefs(ctx context.Context, userID string, fields bson.D) error {
	_, err := s.c(colPrefs).UpdateOne(ctx, byID(userID), bson.D{{Key: "$set", Value: fields}}, options.Update().SetUpsert(true))
	return errs.Wrap(err, "save notification settings")
}

func (s *Service) prefs(ctx context.Context, userID string) (prefsDoc, error) {
	p, err := mongostore.Get[prefsDoc](ctx, s.c(colPrefs), userID, "settings")
	if errs.Is(err, errs.NotFound) {
		return prefsDoc{ID: userID}, nil
	}
	return p, err
}

// delivery is how kind k reaches this user by email now.
func (p prefsDoc) delivery(k Kind) Delivery {
	if d := p.Kinds[k]; d.Valid() && !k.Always() {
		return d
	}
	return Immediate
}

// suppressedDoc is an address that bounced or was rejected: no more mail
// goes to it until it is cleared.
type suppressedDoc struct {
	ID     string    `bson:"_id"` // the address, lower case
	Reason string    `bson:"reason"`
	At     time.Time `bson:"at"`
}

// FailingAddress is an address Margin no longer mails.
type FailingAddress struct {
	Address string    `json:"address"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

func normAddr(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// MarkFailing stops mail to an address, for a bounce reported later (a
// webhook or an admin); a rejection during sending marks it by itself.
// Inboxes are unaffected. Marking it again updates the reason.
func (s *Service) MarkFailing(ctx context.Context, address, reason string) error {
	if normAddr(address) == "" {
		return errs.F(errs.Invalid, "address", "An address is needed.")
	}
	d := suppressedDoc{ID: normAddr(address), Reason: truncate(reason, 500), At: s.now()}
	_, err := s.c(colSuppressed).ReplaceOne(ctx, byID(d.ID), d, options.Replace().SetUpsert(true))
	return errs.Wrap(err, "mark address failing")
}

// ClearFailing lets mail go to an address again (it was fixed). Clearing
// an address that is not failing is harmless.
func (s *Service) ClearFailing(ctx context.Context, address string) error {
	_, err := s.c(colSuppressed).DeleteOne(ctx, byID(normAddr(address)))
	return errs.Wrap(err, "clear failing address")
}

// FailingAddresses returns which of the given addresses are failing (for
// a teacher: their roster's), keyed by the address as given. One read by
// _id per address on the embedded store.
func (s *Service) FailingAddresses(ctx context.Context, addresses []string) (map[string]FailingAddress, error) {
	ids := make([]string, 0, len(addresses))
	for _, a := range addresses {
		if a != "" {
			ids = append(ids, normAddr(a))
		}
	}
	got, err := mongostore.GetMany(ctx, s.c(colSuppressed), ids, func(d suppressedDoc) string { return d.ID })
	if err != nil {
		return nil, err
	}
	out := map[string]FailingAddress{}
	for _, a := range addresses {
		if d, ok := got[normAddr(a)]; ok {
			out[a] = FailingAddress{Address: a, Reason: d.Reason, At: d.At}
		}
	}
	return out, nil
}

// AllFailingAddresses lists every failing address, newest first, for
// admins. It scans a collection that holds only failing addresses.
func (s *Service) AllFailingAddresses(ctx context.Context) ([]FailingAddress, error) {
	docs, err := mongostore.FindAll[suppressedDoc](ctx, s.c(colSuppressed), bson.D{}, options.Find().SetSort(bson.D{{Key: "at", Value: -1}}))
	if err != nil {
		return nil, err
	}
	out := make([]FailingAddress, len(docs))
	for i, d := range docs {
		out[i] = FailingAddress{Address: d.ID, Reason: d.Reason, At: d.At}
	}
	return out, nil
}

// failing returns why an address is failing, or "".
func (s *Service) failing(ctx context.Context, address string) (string, error) {
	d, err := mongostore.Get[suppressedDoc](ctx, s.c(colSuppressed), normAddr(address), "address")
	if errs.Is(err, errs.NotFound) {
		return "", nil
	}
	return d.Reason, err
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
