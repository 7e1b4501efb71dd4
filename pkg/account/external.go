package account

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Accounts of people and schools that another system vouches for (an LMS
// through LTI). They have deterministic IDs, so that finding or creating
// one is a single insert that a retry or a concurrent launch cannot
// double, and no password: they sign in only through that system.

// ExternalUserID is the user ID of the account that issuer's subject owns:
// deterministic per (issuer, subject), and never derived from an email.
func ExternalUserID(issuer, subject string) string {
	return "usr_ext_" + hashParts(issuer, subject)
}

// ExternalSchoolID is the ID of the school of one external system.
func ExternalSchoolID(issuer string) string { return "sch_ext_" + hashParts(issuer) }

func hashParts(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:12])
}

// EnsureSchool returns the school with id (ExternalSchoolID), creating it
// with name on first use. Returns Invalid for an empty name.
func (s *Service) EnsureSchool(ctx context.Context, id, name string) (School, error) {
	name, err := normalizeName(name)
	if err != nil {
		return School{}, err
	}
	if sc, err := s.School(ctx, id); err == nil || !errs.Is(err, errs.NotFound) {
		return sc, err
	}
	for range 5 {
		d := schoolDoc{ID: id, Name: name, InviteCode: inviteCode(), CreatedAt: s.now()}
		_, err := s.schools.InsertOne(ctx, d)
		if err == nil {
			return School(d), nil
		}
		if !mongostore.IsDuplicateKey(err) {
			return School{}, errs.Wrap(err, "insert school")
		}
		if sc, err := s.School(ctx, id); err == nil { // a concurrent first use won
			return sc, nil
		}
		// else the invite code clashed: draw another
	}
	return School{}, errs.E(errs.Internal, "Could not pick a unique invite code.")
}

// EnsureExternalTeacher returns the teacher account of (issuer, subject)
// in schoolID, creating it on first use and otherwise updating its name and
// email. The email is kept for display only: it is never a login, so an
// address an external system asserts cannot reach an account that signs in
// with a password. The name is made one line of at most 200 characters; a
// missing one becomes "Teacher". Returns an internal error if the store
// fails.
func (s *Service) EnsureExternalTeacher(ctx context.Context, issuer, subject, schoolID, name, email string) (User, error) {
	name = strings.Join(strings.Fields(name), " ") // one line, as a name must be
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200])
	}
	if name == "" {
		name = "Teacher"
	}
	name, err := normalizeName(name)
	if err != nil {
		return User{}, err
	}
	if e, err := NormalizeEmail(email); err == nil {
		email = e
	} else {
		email = ""
	}
	id := ExternalUserID(issuer, subject)
	d := userDoc{ID: id, Login: "ext:" + id, Email: email, Name: name, Role: Teacher, SchoolID: schoolID, CreatedAt: s.now()}
	if _, err := s.users.InsertOne(ctx, d); err == nil {
		return d.user(), nil
	} else if !mongostore.IsDuplicateKey(err) {
		return User{}, errs.Wrap(err, "insert teacher")
	}
	if _, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "name", Value: name}, {Key: "email", Value: email}}}}); err != nil {
		return User{}, errs.Wrap(err, "update teacher")
	}
	s.cache.forgetUser(id)
	return s.User(ctx, id)
}
