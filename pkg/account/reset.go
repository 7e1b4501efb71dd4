package account

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// ResetTTL is how long a password reset link works.
const ResetTTL = time.Hour

// ResetEvery is the least time between two reset links a person can ask
// for by email (RequestReset); an admin's IssueReset is not bound by it.
const ResetEvery = 2 * time.Minute

// resetDoc is one password reset link, in the collection password_resets:
// _id is the SHA-256 of its token (the token itself is never stored).
type resetDoc struct {
	ID        string    `bson:"_id"`
	UserID    string    `bson:"user_id"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
	// Epoch is the user's session epoch when the link was made: a reset
	// (or "sign out everywhere") moves it on, which ends every older link.
	Epoch  int        `bson:"epoch"`
	UsedAt *time.Time `bson:"used_at,omitempty"`
	By     string     `bson:"by,omitempty"` // the admin who issued it, if one did
}

// Reset is a password reset link just made: Token goes in the link
// (/reset/{token}) and is shown or sent this once.
type Reset struct {
	Token     string
	User      User
	ExpiresAt time.Time
}

// RequestReset makes a reset link for the account with this email, for the
// person to receive by email. ok is false, with no error, when there is no
// such account with a password, or when one was asked for less than
// ResetEvery ago: the caller answers the same in every case, so that the
// answer never tells who has an account.
func (s *Service) RequestReset(ctx context.Context, email string) (r Reset, ok bool, err error) {
	login := strings.ToLower(strings.TrimSpace(email))
	if login == "" || len(login) > 254 {
		return Reset{}, false, nil
	}
	var d userDoc
	err = s.users.FindOne(ctx, bson.M{"login": login}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Reset{}, false, nil
	} else if err != nil {
		return Reset{}, false, errs.Wrap(err, "find user")
	}
	if d.PasswordHash == "" || d.Role == Student {
		return Reset{}, false, nil
	}
	now := s.now()
	if d.ResetAskedAt != nil && now.Sub(*d.ResetAskedAt) < ResetEvery {
		return Reset{}, false, nil
	}
	if _, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "reset_asked_at", Value: now}}}}); err != nil {
		return Reset{}, false, errs.Wrap(err, "record reset request")
	}
	r, err = s.newReset(ctx, d, "")
	return r, err == nil, err
}

// IssueReset makes a reset link for a user, by an admin (the way back in
// when email is off): the admin passes it on. Returns Forbidden for a
// caller who is not an admin, NotFound for an unknown user, and Invalid for
// a student (who signs in with their teacher's link, not a password).
func (s *Service) IssueReset(ctx context.Context, caller User, userID string) (Reset, error) {
	if caller.Role != Admin {
		return Reset{}, errs.E(errs.Forbidden, "Only an admin issues password reset links.")
	}
	d, err := s.userDoc(ctx, userID)
	if err != nil {
		return Reset{}, err
	}
	if d.Role == Student {
		return Reset{}, errs.F(errs.Invalid, "user", "Students have no password: their teacher gives them a new access link.")
	}
	return s.newReset(ctx, d, caller.ID)
}

func (s *Service) newReset(ctx context.Context, d userDoc, by string) (Reset, error) {
	tok, now := NewToken(), s.now()
	rd := resetDoc{ID: HashToken(tok), UserID: d.ID, CreatedAt: now, ExpiresAt: now.Add(ResetTTL), Epoch: d.Epoch, By: by}
	if _, err := s.resets.InsertOne(ctx, rd); err != nil {
		return Reset{}, errs.Wrap(err, "insert password reset")
	}
	return Reset{Token: tok, User: d.user(), ExpiresAt: rd.ExpiresAt}, nil
}

// CheckReset returns the user a reset link is for, if it still works.
// Returns LinkExpired for a link that is unknown, used, expired or ended.
func (s *Service) CheckReset(ctx context.Context, token string) (User, error) {
	_, d, err := s.reset(ctx, token)
	return d.user(), err
}

func (s *Service) reset(ctx context.Context, token string) (resetDoc, userDoc, error) {
	gone := errs.E(errs.LinkExpired, "This password reset link no longer works; ask for a new one.")
	if token == "" || len(token) > 128 {
		return resetDoc{}, userDoc{}, gone
	}
	var rd resetDoc
	err := s.resets.FindOne(ctx, bson.M{"_id": HashToken(token)}).Decode(&rd)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return resetDoc{}, userDoc{}, gone
	} else if err != nil {
		return resetDoc{}, userDoc{}, errs.Wrap(err, "find password reset")
	}
	if rd.UsedAt != nil || !s.now().Before(rd.ExpiresAt) {
		return resetDoc{}, userDoc{}, gone
	}
	d, err := s.userDoc(ctx, rd.UserID)
	if errs.Is(err, errs.NotFound) || err == nil && d.Epoch != rd.Epoch {
		return resetDoc{}, userDoc{}, gone
	}
	return rd, d, err
}

// ResetPassword sets a new password with a reset link, once: the link is
// spent first (a second use, even at the same moment, is LinkExpired), and
// every session of the user ends, as do their other reset links. Returns
// LinkExpired as CheckReset does, and WeakPassword (the link stays good).
func (s *Service) ResetPassword(ctx context.Context, token, password string) (User, error) {
	rd, d, err := s.reset(ctx, token)
	if err != nil {
		return User{}, err
	}
	if err := CheckPasswordStrength(password, d.Email); err != nil {
		return User{}, err
	}
	hash := hashPassword(password)
	now := s.now()
	res, err := mongostore.UpdateIf(ctx, s.resets, bson.D{{Key: "_id", Value: rd.ID}, {Key: "used_at", Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "used_at", Value: now}}}})
	if err != nil {
		return User{}, errs.Wrap(err, "spend password reset")
	}
	if res.MatchedCount == 0 {
		return User{}, errs.E(errs.LinkExpired, "This password reset link no longer works; ask for a new one.")
	}
	// A crash here leaves the link spent and the password as it was: the
	// person asks for another link, and no link ever works twice.
	if _, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "password_hash", Value: hash}}},
		{Key: "$inc", Value: bson.D{{Key: "session_epoch", Value: 1}}},
	}); err != nil {
		return User{}, errs.Wrap(err, "set password")
	}
	s.cache.forgetUser(d.ID)
	return d.user(), nil
}

// IssueResetByEmail is IssueReset for the account with this email, as an
// admin types it. Returns InvalidEmail, NotFound ("No account has that
// email."), and IssueReset's errors.
func (s *Service) IssueResetByEmail(ctx context.Context, caller User, email string) (Reset, error) {
	if caller.Role != Admin {
		return Reset{}, errs.E(errs.Forbidden, "Only an admin issues password reset links.")
	}
	login, err := NormalizeEmail(email)
	if err != nil {
		return Reset{}, err
	}
	var d userDoc
	err = s.users.FindOne(ctx, bson.M{"login": login}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Reset{}, errs.F(errs.NotFound, "email", "No account has that email.")
	} else if err != nil {
		return Reset{}, errs.Wrap(err, "find user")
	}
	return s.IssueReset(ctx, caller, d.ID)
}
