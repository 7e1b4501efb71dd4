package intake

import (
	"context"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// ClassInput is what a teacher gives to create a class.
type ClassInput struct {
	Name       string `json:"name"`
	Subject    string `json:"subject"`
	GradeLevel *int   `json:"grade_level"`
}

func (in ClassInput) validate() error {
	var l errs.List
	requireText(&l, "name", "A class", in.Name, 200)
	requireText(&l, "subject", "A class", in.Subject, 100)
	checkGrade(&l, "grade_level", in.GradeLevel)
	return l.Err()
}

// requireText adds an error to l unless s has 1 to max characters.
func requireText(l *errs.List, field, what, s string, max int) {
	s = strings.TrimSpace(s)
	if s == "" {
		*l = append(*l, errs.F(errs.Invalid, field, "%s needs a %s.", what, strings.ReplaceAll(field, "_", " ")))
	} else if utf8.RuneCountInString(s) > max {
		*l = append(*l, errs.F(errs.Invalid, field, "The %s is longer than %d characters.", strings.ReplaceAll(field, "_", " "), max))
	}
}

func checkGrade(l *errs.List, field string, g *int) {
	if g == nil {
		*l = append(*l, errs.F(errs.Invalid, field, "Give the grade level: 0 for kindergarten, or 1 to 12."))
	} else if *g < 0 || *g > 12 {
		*l = append(*l, errs.F(errs.Invalid, field, "The grade level must be 0 (kindergarten) to 12; got %d.", *g))
	}
}

// CreateClass creates a class owned by the calling teacher.
func (s *Service) CreateClass(ctx context.Context, caller account.User, in ClassInput) (Class, error) {
	if caller.Role != account.Teacher {
		return Class{}, errs.E(errs.Forbidden, "Only teachers create classes.")
	}
	if err := in.validate(); err != nil {
		return Class{}, err
	}
	c := Class{
		ID: account.NewID("cls"), SchoolID: caller.SchoolID, TeacherID: caller.ID,
		Name: strings.TrimSpace(in.Name), Subject: strings.TrimSpace(in.Subject), GradeLevel: *in.GradeLevel,
		CreatedAt: s.stamp(),
	}
	if _, err := s.c(colClasses).InsertOne(ctx, c); err != nil {
		return Class{}, errs.Wrap(err, "insert class")
	}
	// Its students' read model starts empty and complete (a crash before
	// this write leaves it to be built on first read).
	if _, err := s.c(colWork).InsertOne(ctx, classWork{ID: c.ID, Built: true, Assignments: map[string]workAssignment{}}); err != nil {
		return Class{}, errs.Wrap(err, "insert class work")
	}
	return c, nil
}

// Classes lists the caller's classes (every class, for an admin), newest
// first.
func (s *Service) Classes(ctx context.Context, caller account.User) ([]Class, error) {
	filter := bson.D{{Key: "teacher_id", Value: caller.ID}}
	if caller.Role == account.Admin {
		filter = bson.D{}
	}
	cur, err := s.c(colClasses).Find(ctx, filter)
	if err != nil {
		return nil, errs.Wrap(err, "find classes")
	}
	out := []Class{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, errs.Wrap(err, "read classes")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// RosterResult reports a roster import: how many students were added,
// updated or already up to date, and each bad row's error. Good rows go in
// even when others are bad.
type RosterResult struct {
	Created   int       `json:"created"`
	Updated   int       `json:"updated"`
	Unchanged int       `json:"unchanged"`
	Errors    errs.List `json:"errors"`
	Students  []Student `json:"students"`
}

// ImportRoster reads a roster CSV (see ParseRoster) into the class. It is
// idempotent by student_id: importing again updates names and emails and
// never duplicates a student. Students missing from the file stay. Each
// student gets the account of their enrolment in this class
// (account.EnsureStudent); the same student ID in another class is another
// account, which this import neither reaches nor renames.
func (s *Service) ImportRoster(ctx context.Context, caller account.User, classID string, r io.Reader) (RosterResult, error) {
	c, err := s.AuthorizeClass(ctx, caller, classID)
	if err != nil {
		return RosterResult{}, err
	}
	rows, rowErrs, err := ParseRoster(r)
	if err != nil {
		return RosterResult{}, err
	}
	res := RosterResult{Errors: rowErrs}
	if res.Errors == nil {
		res.Errors = errs.List{}
	}
	for _, row := range rows {
		st := Student{ClassID: c.ID, StudentID: row.StudentID, GivenName: row.GivenName, FamilyName: row.FamilyName, Email: row.Email}
		old, err := s.Student(ctx, c.ID, row.StudentID)
		switch {
		case err == nil && old.GivenName == st.GivenName && old.FamilyName == st.FamilyName && old.Email == st.Email:
			res.Unchanged++
			continue
		case err == nil:
			res.Updated++
			st.Seat = old.Seat
		case errs.Is(err, errs.NotFound):
			res.Created++
		default:
			return RosterResult{}, err
		}
		if _, err := s.saveStudent(ctx, c, st); err != nil {
			return RosterResult{}, err
		}
	}
	res.Students, err = s.Roster(ctx, caller, classID)
	return res, err
}

// saveStudent writes a student's roster entry (keeping st.Seat, or taking
// the next seat), with the account of their enrolment, and remembers their
// names for redaction. It returns the entry as saved.
func (s *Service) saveStudent(ctx context.Context, c Class, st Student) (Student, error) {
	var err error
	if st.Seat == 0 {
		if st.Seat, err = s.takeSeat(ctx, c.ID); err != nil {
			return Student{}, err
		}
	}
	u, err := s.accounts.EnsureStudent(ctx, c.SchoolID, c.ID, st.StudentID, st.Name())
	if err != nil {
		return Student{}, err
	}
	st.UserID = u.ID
	st.UpdatedAt = s.stamp()
	// The names first: graders' texts hide every name the student has had,
	// and the class's roster is read through this record, so a crash
	// between the two writes leaves a name remembered without an entry
	// (skipped), never an entry whose name is not hidden or not listed.
	if err := s.rememberNames(ctx, c.ID, false, st); err != nil {
		return Student{}, err
	}
	if _, err := s.c(colStudents).ReplaceOne(ctx, bson.D{{Key: "_id", Value: studentDocID(c.ID, st.StudentID)}}, studentDoc{ID: studentDocID(c.ID, st.StudentID), Student: st}, upsert()); err != nil {
		return Student{}, errs.Wrap(err, "save student")
	}
	return st, nil
}

// takeSeat hands out the next seat of a class.
func (s *Service) takeSeat(ctx context.Context, classID string) (int, error) {
	var c struct {
		Seats int `bson:"seats"`
	}
	err := s.c(colClasses).FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: classID}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "seats", Value: 1}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&c)
	return c.Seats, errs.Wrap(err, "take a seat in the class")
}

// seat returns a student's seat in the class, giving a student rostered
// before seats (or no longer rostered) the next one.
func (s *Service) seat(ctx context.Context, classID, studentID string) (int, error) {
	st, err := s.Student(ctx, classID, studentID)
	if err == nil && st.Seat > 0 {
		return st.Seat, nil
	}
	if err != nil && !errs.Is(err, errs.NotFound) {
		return 0, err
	}
	rostered := err == nil
	n, err := s.takeSeat(ctx, classID)
	if err != nil || !rostered {
		return n, err
	}
	_, err = s.c(colStudents).UpdateOne(ctx, bson.D{{Key: "_id", Value: studentDocID(classID, studentID)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "seat", Value: n}}}})
	return n, errs.Wrap(err, "give a seat")
}

// studentDocID is the _id of a student's roster entry in colStudents.
func studentDocID(classID, studentID string) string { return classID + ":" + studentID }

type studentDoc struct {
	ID      string `bson:"_id"`
	Student `bson:",inline"`
}

// Roster lists a class's students, ordered by family then given name.
func (s *Service) Roster(ctx context.Context, caller account.User, classID string) ([]Student, error) {
	if _, err := s.AuthorizeClass(ctx, caller, classID); err != nil {
		return nil, err
	}
	return s.roster(ctx, classID)
}

// roster returns the class's students, sorted by name: read by _id through
// the class's record of names (classNames), which lists every student the
// roster has held; one whose entry is gone is skipped.
func (s *Service) roster(ctx context.Context, classID string) ([]Student, error) {
	names, err := s.classNames(ctx, classID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(names.People))
	for _, p := range names.People {
		ids = append(ids, studentDocID(classID, p.StudentID))
	}
	byID, err := mongostore.GetMany(ctx, s.c(colStudents), ids, func(st Student) string { return studentDocID(st.ClassID, st.StudentID) })
	if err != nil {
		return nil, errs.Wrap(err, "read students")
	}
	out := make([]Student, 0, len(byID))
	for _, st := range byID {
		out = append(out, st)
	}
	return sortRoster(out), nil
}

// scanRoster returns the class's students by scanning the students (the
// embedded store reads the whole collection): only to fill in the record of
// names of a class from before it existed.
func (s *Service) scanRoster(ctx context.Context, classID string) ([]Student, error) {
	cur, err := s.c(colStudents).Find(ctx, bson.D{{Key: "class_id", Value: classID}})
	if err != nil {
		return nil, errs.Wrap(err, "find students")
	}
	out := []Student{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, errs.Wrap(err, "read students")
	}
	return sortRoster(out), nil
}

// sortRoster sorts students by family name, then given name.
func sortRoster(out []Student) []Student {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.FamilyName != b.FamilyName {
			return a.FamilyName < b.FamilyName
		}
		return a.GivenName < b.GivenName
	})
	return out
}

type linkDoc struct {
	ID        string    `bson:"_id"` // SHA-256 of the token
	ClassID   string    `bson:"class_id"`
	StudentID string    `bson:"student_id"`
	UserID    string    `bson:"user_id"`
	CreatedAt time.Time `bson:"created_at,omitempty"`
	// ExpiresAt is when the link stops working (Config.AccessLinkTTL after
	// it was made). A link without one is refused.
	ExpiresAt time.Time `bson:"expires_at,omitempty"`
}

// errLinkDead is what a rotated, expired, unknown or removed student's
// access link gets.
func errLinkDead() error {
	return errs.E(errs.LinkExpired, "This link no longer works; ask your teacher for a new one.")
}

// RotateAccessLink issues a new personal access token for a student of the
// caller's class, revokes the previous one and ends every session opened
// with it. The link opens this enrolment only: the student's work in this
// class. The token is returned once; only its hash is stored. The link is
// /s/<token> and works until the time returned (Config.AccessLinkTTL).
// Returns NotFound unless the caller manages the class and the student is
// on its roster.
func (s *Service) RotateAccessLink(ctx context.Context, caller account.User, classID, studentID string) (string, time.Time, error) {
	if _, err := s.AuthorizeClass(ctx, caller, classID); err != nil {
		return "", time.Time{}, err
	}
	st, err := s.Student(ctx, classID, studentID)
	if err != nil {
		return "", time.Time{}, err
	}
	tok := account.NewToken()
	hash := account.HashToken(tok)
	now := s.stamp()
	l := linkDoc{ID: hash, ClassID: classID, StudentID: studentID, UserID: st.UserID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.AccessLinkTTL)}
	if _, err := s.c(colLinks).InsertOne(ctx, l); err != nil {
		return "", time.Time{}, errs.Wrap(err, "insert access link")
	}
	// Revoke the old link only after the new one is stored, then end the
	// sessions: a redemption of the old link racing with this either sees
	// it gone or opens a session that the new epoch ends (see
	// RedeemAccessLink).
	id := studentDocID(classID, studentID)
	var old struct {
		Hash string `bson:"link_hash"`
	}
	_ = s.c(colStudents).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&old)
	if _, err := s.c(colStudents).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "link_hash", Value: hash}}}}); err != nil {
		return "", time.Time{}, errs.Wrap(err, "save access link")
	}
	if old.Hash != "" {
		if _, err := s.c(colLinks).DeleteOne(ctx, bson.D{{Key: "_id", Value: old.Hash}}); err != nil {
			return "", time.Time{}, errs.Wrap(err, "revoke access link")
		}
	}
	if err := s.accounts.EndSessions(ctx, st.UserID); err != nil {
		return "", time.Time{}, err
	}
	return tok, l.ExpiresAt, nil
}

// RemoveStudent takes a student off the caller's class: their access link
// stops working and their sessions end at once. Their submissions and
// feedback stay with the class's assignments. Importing them again puts
// them back with the same account, to be given a new link. Returns NotFound
// unless the caller manages the class and the student is on its roster.
func (s *Service) RemoveStudent(ctx context.Context, caller account.User, classID, studentID string) error {
	if _, err := s.AuthorizeClass(ctx, caller, classID); err != nil {
		return err
	}
	st, err := s.Student(ctx, classID, studentID)
	if err != nil {
		return err
	}
	// Sessions end first, so a crash part-way leaves the student still
	// rostered (to be removed again) but never signed in.
	if err := s.accounts.EndSessions(ctx, st.UserID); err != nil {
		return err
	}
	id := studentDocID(classID, studentID)
	var link struct {
		Hash string `bson:"link_hash"`
	}
	_ = s.c(colStudents).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&link)
	if link.Hash != "" {
		if _, err := s.c(colLinks).DeleteOne(ctx, bson.D{{Key: "_id", Value: link.Hash}}); err != nil {
			return errs.Wrap(err, "revoke access link")
		}
	}
	_, err = s.c(colStudents).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	return errs.Wrap(err, "remove student")
}

// RedeemAccessLink signs a student in with their access link: it returns a
// new session token and the account of the link's enrolment. A link that
// was rotated, has expired, or whose student was removed is
// errs.LinkExpired.
func (s *Service) RedeemAccessLink(ctx context.Context, token string) (string, account.User, error) {
	if token == "" || len(token) > 128 {
		return "", account.User{}, errLinkDead()
	}
	hash := account.HashToken(token)
	l, err := s.link(ctx, hash)
	if err != nil {
		return "", account.User{}, err
	}
	u, err := s.accounts.User(ctx, account.EnrolmentUserID(l.ClassID, l.StudentID))
	if errs.Is(err, errs.NotFound) {
		return "", account.User{}, errLinkDead()
	} else if err != nil {
		return "", account.User{}, err
	}
	tok, err := s.accounts.StartSession(ctx, u.ID)
	if err != nil {
		return "", account.User{}, err
	}
	// The session took the account's epoch before this second look: if
	// the link was rotated in between, either the look fails or the
	// rotation's new epoch ends the session.
	if _, err := s.link(ctx, hash); err != nil {
		_ = s.accounts.Logout(context.WithoutCancel(ctx), tok)
		return "", account.User{}, err
	}
	return tok, u, nil
}

// CheckAccessLink reports whether an access link still works: nil, or
// errs.LinkExpired. It signs no one in.
func (s *Service) CheckAccessLink(ctx context.Context, token string) error {
	if token == "" || len(token) > 128 {
		return errLinkDead()
	}
	_, err := s.link(ctx, account.HashToken(token))
	return err
}

// link returns the live link with the given hash, or errLinkDead.
func (s *Service) link(ctx context.Context, hash string) (linkDoc, error) {
	var l linkDoc
	if err := s.findByID(ctx, colLinks, hash, "link", &l); err != nil {
		if errs.Is(err, errs.NotFound) {
			return linkDoc{}, errLinkDead()
		}
		return linkDoc{}, err
	}
	if !s.now().Before(l.ExpiresAt) {
		return linkDoc{}, errLinkDead()
	}
	return l, nil
}
