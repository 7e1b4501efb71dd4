// Package account owns who is who: users and their roles, schools, and
// sign-in sessions. Every service and the HTTP API identify people through
// it.
//
// Collections (owned here, read by no one else):
//   - users:    one document per person; a unique index on login
//   - schools:  one per school; a unique index on invite_code
//   - sessions: _id is the SHA-256 of the bearer token; the token itself is
//     never stored
//   - password_resets: _id is the SHA-256 of a reset link's token, as for
//     sessions
//
// A student's account belongs to one enrolment: one class and the school's
// student ID in it (EnrolmentUserID). Two classes that roster the same
// student ID have two accounts, so a teacher can never reach another
// teacher's class through a student of their own.
package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"golang.org/x/text/unicode/norm"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Role is what a user may do.
type Role string

// The four roles.
const (
	Teacher Role = "teacher"
	Grader  Role = "grader"
	Student Role = "student"
	Admin   Role = "admin"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	return r == Teacher || r == Grader || r == Student || r == Admin
}

// User is a person with one role. Teachers and students belong to a school;
// graders and admins to none.
type User struct {
	ID       string `json:"id"`
	Email    string `json:"email,omitempty"`
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	SchoolID string `json:"school_id,omitempty"`
	// ClassID and StudentID are a student's enrolment: the one class the
	// account belongs to and the school's identifier of the student in its
	// roster. Both are empty for other roles.
	ClassID   string    `json:"class_id,omitempty"`
	StudentID string    `json:"student_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// DisplayName is how u is named to other people: a grader by their first
// name only (to teachers and students alike), anyone else by their name;
// "" when u has no name. It is the one place that decides it.
func (u User) DisplayName() string {
	f := strings.Fields(u.Name)
	switch {
	case len(f) == 0:
		return ""
	case u.Role == Grader:
		return f[0]
	}
	return strings.Join(f, " ")
}

// School groups teachers; rubric libraries and conflict-of-interest rules
// are per school.
type School struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	InviteCode string    `json:"invite_code,omitempty"` // shown to its teachers only
	CreatedAt  time.Time `json:"created_at"`
}

type userDoc struct {
	ID           string    `bson:"_id"`
	Login        string    `bson:"login"` // lowercased email; "student:<class>:<student id>" for students
	Email        string    `bson:"email,omitempty"`
	PasswordHash string    `bson:"password_hash,omitempty"`
	Name         string    `bson:"name"`
	Role         Role      `bson:"role"`
	SchoolID     string    `bson:"school_id,omitempty"`
	ClassID      string    `bson:"class_id,omitempty"`
	StudentID    string    `bson:"student_id,omitempty"`
	CreatedAt    time.Time `bson:"created_at"`
	// Epoch is the user's session generation: sessions started at an
	// earlier one are ended (see EndSessions).
	Epoch int `bson:"session_epoch,omitempty"`
	// ResetAskedAt is when a reset link was last asked for by email.
	ResetAskedAt *time.Time `bson:"reset_asked_at,omitempty"`
}

func (d userDoc) user() User {
	return User{ID: d.ID, Email: d.Email, Name: d.Name, Role: d.Role, SchoolID: d.SchoolID, ClassID: d.ClassID,
		StudentID: d.StudentID, CreatedAt: d.CreatedAt}
}

type schoolDoc struct {
	ID         string    `bson:"_id"`
	Name       string    `bson:"name"`
	InviteCode string    `bson:"invite_code"`
	CreatedAt  time.Time `bson:"created_at"`
}

// Service manages accounts.
type Service struct {
	users, schools, sessions, resets *mongo.Collection
	now                              func() time.Time
	cache                            *sessionCache
}

// New returns a Service on db. Call EnsureIndexes once at start-up.
func New(db *mongo.Database) *Service {
	return &Service{
		users:    db.Collection("users"),
		schools:  db.Collection("schools"),
		sessions: db.Collection("sessions"),
		resets:   db.Collection("password_resets"),
		now:      func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }, // the store keeps milliseconds
		cache:    newSessionCache(),
	}
}

// EnsureIndexes creates the unique indexes the contracts above rely on.
func (s *Service) EnsureIndexes(ctx context.Context) error {
	if _, err := s.users.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "login", Value: 1}}, Options: options.Index().SetUnique(true).SetName("login_unique"),
	}); err != nil {
		return err
	}
	_, err := s.schools.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "invite_code", Value: 1}}, Options: options.Index().SetUnique(true).SetName("invite_unique"),
	})
	return err
}

// SignUp is a self-service registration.
type SignUp struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	Name       string `json:"name"`
	Role       Role   `json:"role"`
	School     string `json:"school,omitempty"`      // a teacher founding a new school names it
	InviteCode string `json:"invite_code,omitempty"` // a teacher joining a school gives its code
}

// SignUp registers a teacher or a grader. A teacher either founds a school
// (School) or joins one (InviteCode). Returns InvalidEmail, WeakPassword,
// Invalid (with the field), or EmailTaken. The password is hashed before
// anything is looked up, so that an existing email answers in the same time
// as a new one.
func (s *Service) SignUp(ctx context.Context, in SignUp) (User, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return User{}, err
	}
	name, err := normalizeName(in.Name)
	if err != nil {
		return User{}, err
	}
	if err := CheckPasswordStrength(in.Password, email); err != nil {
		return User{}, err
	}
	hash := hashPassword(in.Password)
	var schoolID string
	switch in.Role {
	case Teacher:
		school, code := strings.TrimSpace(in.School), strings.TrimSpace(in.InviteCode)
		switch {
		case school != "" && code != "":
			return User{}, errs.F(errs.Invalid, "invite_code", "Give either a new school's name or an invite code, not both.")
		case code != "":
			var sd schoolDoc
			err := s.schools.FindOne(ctx, bson.M{"invite_code": strings.ToUpper(code)}).Decode(&sd)
			if errors.Is(err, mongo.ErrNoDocuments) {
				return User{}, errs.F(errs.Invalid, "invite_code", "No school has that invite code; ask a colleague for the current one.")
			} else if err != nil {
				return User{}, errs.Wrap(err, "find school by invite")
			}
			schoolID = sd.ID
		case school != "":
			if utf8.RuneCountInString(school) > 200 {
				return User{}, errs.F(errs.Invalid, "school", "A school's name must be at most 200 characters.")
			}
			// No look-up of the email first: a taken one costs the same
			// writes as a new one (the school is removed again).
			sd, err := s.createSchool(ctx, norm.NFC.String(school))
			if err != nil {
				return User{}, err
			}
			schoolID = sd.ID
			u, err := s.insertUser(ctx, userDoc{Login: email, Email: email, PasswordHash: hash, Name: name, Role: Teacher, SchoolID: schoolID})
			if err != nil {
				_, _ = s.schools.DeleteOne(context.WithoutCancel(ctx), bson.M{"_id": sd.ID}) // don't leave a school nobody founded
			}
			return u, err
		default:
			return User{}, errs.F(errs.Invalid, "school", "A teacher founds a school (give its name in \"school\") or joins one (give its \"invite_code\").")
		}
	case Grader:
		if in.School != "" || in.InviteCode != "" {
			return User{}, errs.F(errs.Invalid, "school", "Graders are independent and belong to no school; declare affiliations in your grader profile instead.")
		}
	case Student:
		return User{}, errs.F(errs.Invalid, "role", "Students do not sign up: their teacher's roster creates them and gives each an access link.")
	case Admin:
		return User{}, errs.F(errs.Invalid, "role", "Admins are created from the command line (margin admin create).")
	default:
		return User{}, errs.F(errs.Invalid, "role", "The role must be \"teacher\" or \"grader\".")
	}
	return s.insertUser(ctx, userDoc{Login: email, Email: email, PasswordHash: hash, Name: name, Role: in.Role, SchoolID: schoolID})
}

// Create makes a user of any password-bearing role without the sign-up
// rules on schools (for the command line and the demo school). Returns the
// same errors as SignUp.
func (s *Service) Create(ctx context.Context, email, password, name string, role Role, schoolID string) (User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	if name, err = normalizeName(name); err != nil {
		return User{}, err
	}
	if err := CheckPasswordStrength(password, email); err != nil {
		return User{}, err
	}
	if !role.Valid() || role == Student {
		return User{}, errs.F(errs.Invalid, "role", "The role must be teacher, grader or admin.")
	}
	return s.insertUser(ctx, userDoc{Login: email, Email: email, PasswordHash: hashPassword(password), Name: name, Role: role, SchoolID: schoolID})
}

// EnrolmentUserID is the user ID of a student's account in one class:
// deterministic, so that importing a roster twice finds the same account,
// and distinct per class, so that no two classes share one.
func EnrolmentUserID(classID, studentID string) string {
	sum := sha256.Sum256([]byte(classID + "\x00" + studentID))
	return "usr_enr_" + hex.EncodeToString(sum[:12])
}

// EnsureStudent returns the account of a student's enrolment in a class,
// creating it on first use and updating its name otherwise (the name of
// this enrolment only: the same student ID in another class is another
// account). Students have no password; they sign in through their class's
// access link (StartSession).
func (s *Service) EnsureStudent(ctx context.Context, schoolID, classID, studentID, name string) (User, error) {
	id := EnrolmentUserID(classID, studentID)
	d := userDoc{ID: id, Login: "student:" + classID + ":" + studentID, Name: name, Role: Student, SchoolID: schoolID,
		ClassID: classID, StudentID: studentID, CreatedAt: s.now()}
	if _, err := s.users.InsertOne(ctx, d); err != nil {
		if !mongostore.IsDuplicateKey(err) {
			return User{}, errs.Wrap(err, "insert student")
		}
		if _, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: name}}}}); err != nil {
			return User{}, errs.Wrap(err, "update student")
		}
		s.cache.forgetUser(id)
		return s.User(ctx, id)
	}
	return d.user(), nil
}

// CreateSchool founds a school and returns it with its invite code.
func (s *Service) CreateSchool(ctx context.Context, name string) (School, error) {
	name = strings.TrimSpace(norm.NFC.String(name))
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return School{}, errs.F(errs.Invalid, "school", "A school needs a name of 1 to 200 characters.")
	}
	d, err := s.createSchool(ctx, name)
	if err != nil {
		return School{}, err
	}
	return School(d), nil
}

func (s *Service) createSchool(ctx context.Context, name string) (schoolDoc, error) {
	for range 5 {
		d := schoolDoc{ID: NewID("sch"), Name: name, InviteCode: inviteCode(), CreatedAt: s.now()}
		_, err := s.schools.InsertOne(ctx, d)
		if err == nil {
			return d, nil
		}
		if !mongostore.IsDuplicateKey(err) {
			return schoolDoc{}, errs.Wrap(err, "insert school")
		}
	}
	return schoolDoc{}, errs.E(errs.Internal, "Could not pick a unique invite code.")
}

func (s *Service) insertUser(ctx context.Context, d userDoc) (User, error) {
	d.ID = NewID("usr")
	d.CreatedAt = s.now()
	if _, err := s.users.InsertOne(ctx, d); err != nil {
		if mongostore.IsDuplicateKey(err) {
			return User{}, errs.F(errs.EmailTaken, "email", "An account with that email already exists; sign in instead.")
		}
		return User{}, errs.Wrap(err, "insert user")
	}
	return d.user(), nil
}

// dummyHash is checked against when no user has the email, so that a
// login's timing does not reveal which emails have accounts.
var dummyHash = hashPassword("margin-timing-equaliser")

// Login checks an email and password and starts a session. It returns the
// bearer token (shown once, stored only as a hash) and the user. Returns
// Unauthenticated, with the same message, for an unknown email and for a
// wrong password.
func (s *Service) Login(ctx context.Context, email, password string) (string, User, error) {
	bad := errs.E(errs.Unauthenticated, "The email or password is not right.")
	login := strings.ToLower(strings.TrimSpace(email))
	if login == "" || len(password) > MaxPasswordLen {
		return "", User{}, bad
	}
	var d userDoc
	err := s.users.FindOne(ctx, bson.M{"login": login}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		checkPassword(dummyHash, password)
		return "", User{}, bad
	} else if err != nil {
		return "", User{}, errs.Wrap(err, "find user")
	}
	if d.PasswordHash == "" || !checkPassword(d.PasswordHash, password) {
		return "", User{}, bad
	}
	tok, err := s.startSession(ctx, d)
	if err != nil {
		return "", User{}, err
	}
	return tok, d.user(), nil
}

// User returns a user by ID. Returns NotFound.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	d, err := s.userDoc(ctx, id)
	return d.user(), err
}

// School returns a school by ID. Returns NotFound.
func (s *Service) School(ctx context.Context, id string) (School, error) {
	var d schoolDoc
	err := s.schools.FindOne(ctx, bson.M{"_id": id}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return School{}, errs.E(errs.NotFound, "No such school.")
	} else if err != nil {
		return School{}, errs.Wrap(err, "find school")
	}
	return School(d), nil
}

// NormalizeEmail checks that s is a bare email address (no display name) and
// returns it trimmed and lowercased. Returns InvalidEmail.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := errs.F(errs.InvalidEmail, "email", "%q is not an email address.", truncate(s, 80))
	if s == "" {
		return "", errs.F(errs.InvalidEmail, "email", "An email address is required.")
	}
	if len(s) > 254 {
		return "", bad
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", bad
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at+1:], ".") || strings.HasSuffix(s, ".") {
		return "", bad
	}
	return strings.ToLower(s), nil
}

func normalizeName(s string) (string, error) {
	s = strings.TrimSpace(norm.NFC.String(s))
	if s == "" {
		return "", errs.F(errs.Invalid, "name", "A name is required.")
	}
	if utf8.RuneCountInString(s) > 200 || strings.ContainsAny(s, "\x00\r\n") {
		return "", errs.F(errs.Invalid, "name", "A name must be one line of at most 200 characters.")
	}
	return s, nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// NewToken returns 256 random bits, URL-safe: a bearer token or access link.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is how tokens are stored: their SHA-256, hex. Tokens carry 256
// random bits, so a fast hash is enough (no dictionary to attack).
func HashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// NewID returns a random, prefixed identifier such as "usr_3f9k2m…".
func NewID(prefix string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return prefix + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func inviteCode() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b) // 8 characters, A-Z2-7
}

// Schools lists every school, oldest first (for admins).
func (s *Service) Schools(ctx context.Context) ([]School, error) {
	cur, err := s.schools.Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, errs.Wrap(err, "list schools")
	}
	var docs []schoolDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, errs.Wrap(err, "list schools")
	}
	out := make([]School, len(docs))
	for i, d := range docs {
		out[i] = School(d)
	}
	return out, nil
}
