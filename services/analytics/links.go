package analytics

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/intake"
)

// ShareLink is a family's read-only link to one student's progress. The
// token is shown once, when the link is made; only its SHA-256 is stored.
type ShareLink struct {
	ID        string     `json:"id" bson:"_id"`
	SchoolID  string     `json:"school_id" bson:"school_id"`
	ClassID   string     `json:"class_id" bson:"class_id"`
	StudentID string     `json:"student_id" bson:"student_id"`
	Name      string     `json:"-" bson:"name"` // the student's name, shown to the family
	TokenHash string     `json:"-" bson:"token_hash"`
	CreatedBy string     `json:"created_by" bson:"created_by"`
	CreatedAt time.Time  `json:"created_at" bson:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty" bson:"revoked_at,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty" bson:"revoked_by,omitempty"`
	// Counted and RevokeCounted say the making and the revoking are in the
	// platform totals (see countLink).
	Counted       bool `json:"-" bson:"counted"`
	RevokeCounted bool `json:"-" bson:"revoke_counted,omitempty"`
}

// NewShareLink is a link just made, with its token: "<link id>.<secret>".
type NewShareLink struct {
	ShareLink
	Token string `json:"token"`
}

// authorizeStudent returns the class and roster entry if caller is the
// class's teacher, an admin, or that student's enrolment in this class;
// anyone else gets errs.NotFound.
func (s *Service) authorizeStudent(ctx context.Context, caller account.User, classID, studentID string) (intake.Class, intake.Student, error) {
	notFound := errs.E(errs.NotFound, "No student %q in class %q.", studentID, classID)
	c, err := s.intake.Class(ctx, classID)
	if err != nil {
		return intake.Class{}, intake.Student{}, notFound
	}
	ok := caller.Role == account.Admin || caller.Role == account.Teacher && caller.ID == c.TeacherID ||
		intake.IsStudentOf(caller, c.ID, studentID)
	if !ok {
		return intake.Class{}, intake.Student{}, notFound
	}
	st, err := s.intake.Student(ctx, classID, studentID)
	if err != nil {
		return intake.Class{}, intake.Student{}, notFound
	}
	return c, st, nil
}

// CreateShareLink makes a family link to a student's progress. The class's
// teacher, an admin or the student may make one; anyone else gets
// errs.NotFound.
func (s *Service) CreateShareLink(ctx context.Context, caller account.User, classID, studentID string) (NewShareLink, error) {
	c, st, err := s.authorizeStudent(ctx, caller, classID, studentID)
	if err != nil {
		return NewShareLink{}, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return NewShareLink{}, errs.Wrap(err, "share link token")
	}
	l := ShareLink{
		ID: account.NewID("shl"), SchoolID: c.SchoolID, ClassID: c.ID, StudentID: st.StudentID, Name: st.Name(),
		CreatedBy: caller.ID, CreatedAt: s.now().UTC().Truncate(time.Millisecond),
	}
	tok := base64.RawURLEncoding.EncodeToString(secret)
	l.TokenHash = hashToken(tok)
	if _, err := s.c(colLinks).InsertOne(ctx, l); err != nil {
		return NewShareLink{}, errs.Wrap(err, "save share link")
	}
	if err := s.countLink(ctx, l.ID, false); err != nil {
		return NewShareLink{}, err
	}
	return NewShareLink{ShareLink: l, Token: l.ID + "." + tok}, nil
}

func hashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// ShareLinks lists a student's family links, revoked ones included, for
// the same callers as CreateShareLink.
func (s *Service) ShareLinks(ctx context.Context, caller account.User, classID, studentID string) ([]ShareLink, error) {
	if _, _, err := s.authorizeStudent(ctx, caller, classID, studentID); err != nil {
		return nil, err
	}
	// Links are few (a handful per student), so this scan stays small.
	return mongostore.FindAll[ShareLink](ctx, s.c(colLinks), bson.D{{Key: "class_id", Value: classID}, {Key: "student_id", Value: studentID}})
}

// RevokeShareLink revokes a family link at once. The class's teacher, an
// admin or the student may revoke it; anyone else gets errs.NotFound.
// Revoking a revoked link is a no-op.
func (s *Service) RevokeShareLink(ctx context.Context, caller account.User, linkID string) (ShareLink, error) {
	var l ShareLink
	if err := s.findByID(ctx, colLinks, linkID, "share link", &l); err != nil {
		return ShareLink{}, err
	}
	if _, _, err := s.authorizeStudent(ctx, caller, l.ClassID, l.StudentID); err != nil {
		return ShareLink{}, errs.E(errs.NotFound, "No share link with ID %q.", linkID)
	}
	if l.RevokedAt != nil {
		return l, nil
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	l.RevokedAt, l.RevokedBy = &now, caller.ID
	_, err := s.c(colLinks).UpdateOne(ctx, bson.D{{Key: "_id", Value: linkID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "revoked_at", Value: now}, {Key: "revoked_by", Value: caller.ID}, {Key: "revoke_counted", Value: false}}}})
	if err != nil {
		return ShareLink{}, errs.Wrap(err, "revoke share link")
	}
	return l, s.countLink(ctx, linkID, true)
}

// redeem returns the live link a token names, or errs.NotFound for a
// malformed, unknown, wrong or revoked token (all alike).
func (s *Service) redeem(ctx context.Context, token string) (ShareLink, error) {
	notFound := errs.E(errs.NotFound, "This link does not work: it may have been revoked. Ask for a new one.")
	id, secret, ok := strings.Cut(token, ".")
	if !ok || id == "" || secret == "" {
		return ShareLink{}, notFound
	}
	var l ShareLink
	if err := s.findByID(ctx, colLinks, id, "share link", &l); err != nil {
		if errs.Is(err, errs.NotFound) {
			return ShareLink{}, notFound
		}
		return ShareLink{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(secret)), []byte(l.TokenHash)) != 1 || l.RevokedAt != nil {
		return ShareLink{}, notFound
	}
	return l, nil
}

// FamilyProgress is the progress a family link shows: its one student's in
// the class the link was made for, from released feedback only. A bad or
// revoked token is errs.NotFound.
func (s *Service) FamilyProgress(ctx context.Context, token string) (Progress, error) {
	l, err := s.redeem(ctx, token)
	if err != nil {
		return Progress{}, err
	}
	return s.progress(ctx, l.ClassID, l.StudentID, l.Name, released)
}
