package intake

import (
	"context"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Classes that come from an LMS course (LTI). The LMS vouches for who is
// who, so these calls have no caller: the LTI wiring calls them after it
// has validated a launch, or with the roster the LMS sent.

// lmsClassPrefix starts the ID of a class made from an LMS course.
const lmsClassPrefix = "cls_lms_"

// LMSClassID is the class ID of the LMS course with key (lti.ContextKey):
// deterministic, so that creating it twice makes one class.
func LMSClassID(courseKey string) string { return lmsClassPrefix + courseKey }

// LMSCourseKey is the course key of a class made by EnsureLMSClass, and
// false for any other class.
func LMSCourseKey(classID string) (string, bool) {
	k, ok := strings.CutPrefix(classID, lmsClassPrefix)
	return k, ok && k != ""
}

// EnsureLMSClass returns the class of an LMS course, creating it in
// schoolID with no teacher on first use (ClaimLMSClass gives it one), and
// keeping its name in step with the course's title. Returns Invalid for an
// empty key.
func (s *Service) EnsureLMSClass(ctx context.Context, courseKey, schoolID, title, label string) (Class, error) {
	if courseKey == "" {
		return Class{}, errs.E(errs.Invalid, "An LMS course needs a key.")
	}
	name := clip(firstOf(title, label, "LMS course"), 200)
	subject := clip(firstOf(label, "LMS course"), 100)
	id := LMSClassID(courseKey)
	c, err := s.Class(ctx, id)
	switch {
	case err == nil:
		if c.Name != name {
			if _, err := s.c(colClasses).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: name}}}}); err != nil {
				return Class{}, errs.Wrap(err, "rename class")
			}
			c.Name = name
		}
	case errs.Is(err, errs.NotFound):
		c = Class{ID: id, SchoolID: schoolID, Name: name, Subject: subject, CreatedAt: s.stamp()}
		if _, err := s.c(colClasses).InsertOne(ctx, c); err != nil && !mongostore.IsDuplicateKey(err) {
			return Class{}, errs.Wrap(err, "insert class")
		}
	default:
		return Class{}, err
	}
	// Its students' read model (a crash before this write leaves it to be
	// built on first read).
	if _, err := s.c(colWork).InsertOne(ctx, classWork{ID: id, Built: true, Assignments: map[string]workAssignment{}}); err != nil && !mongostore.IsDuplicateKey(err) {
		return Class{}, errs.Wrap(err, "insert class work")
	}
	return s.Class(ctx, id)
}

// ClaimLMSClass makes teacherID the teacher of an LMS class that has none
// yet (the first instructor to launch), and returns the class. A class has
// one teacher: another instructor's claim leaves it as it is (compare
// TeacherID). Returns NotFound for a class not made by EnsureLMSClass.
func (s *Service) ClaimLMSClass(ctx context.Context, classID, teacherID string) (Class, error) {
	if _, ok := LMSCourseKey(classID); !ok {
		return Class{}, errs.E(errs.NotFound, "No LMS class with ID %q.", classID)
	}
	c, err := s.Class(ctx, classID)
	if err != nil || c.TeacherID != "" {
		return c, err
	}
	// Conditional on the class having no teacher still, so that of two
	// first launches at once one claims it; both read the winner back.
	if _, err := mongostore.UpdateIf(ctx, s.c(colClasses), bson.D{{Key: "_id", Value: classID}, {Key: "teacher_id", Value: ""}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "teacher_id", Value: teacherID}}}}); err != nil {
		return Class{}, errs.Wrap(err, "claim class")
	}
	return s.Class(ctx, classID)
}

// LMSStudent is a student as the LMS shares them: their ID in the class
// and, only when the LMS shares them, their names and email.
type LMSStudent struct {
	StudentID, GivenName, FamilyName, Name, Email string
}

// EnrolLMSStudent enrols a student in an LMS class under their student ID,
// or updates their names and email, and clears Left. A student whose LMS
// shares no name is shown by their student ID. It returns the account of
// the enrolment (account.EnrolmentUserID). Returns NotFound for a class not
// made by EnsureLMSClass, or Invalid for an empty or overlong student ID.
func (s *Service) EnrolLMSStudent(ctx context.Context, classID string, in LMSStudent) (string, error) {
	if in.StudentID == "" || utf8.RuneCountInString(in.StudentID) > 200 {
		return "", errs.E(errs.Invalid, "An LMS student needs an ID of 1 to 200 characters.")
	}
	c, err := s.lmsClass(ctx, classID)
	if err != nil {
		return "", err
	}
	given, family := in.GivenName, in.FamilyName
	if given == "" && family == "" {
		given, family, _ = strings.Cut(strings.TrimSpace(in.Name), " ")
	}
	if given == "" && family == "" {
		family = in.StudentID
	}
	st := Student{ClassID: c.ID, StudentID: in.StudentID, GivenName: clip(given, 100), FamilyName: clip(family, 100)}
	if e, err := account.NormalizeEmail(in.Email); err == nil {
		st.Email = e
	}
	old, err := s.Student(ctx, c.ID, in.StudentID)
	switch {
	case err == nil && !old.Left && old.UserID != "" && old.GivenName == st.GivenName && old.FamilyName == st.FamilyName && old.Email == st.Email:
		return old.UserID, nil // nothing to change: a roster sync's usual case
	case err == nil:
		st.Seat = old.Seat
	case !errs.Is(err, errs.NotFound):
		return "", err
	}
	saved, err := s.saveStudent(ctx, c, st)
	return saved.UserID, err
}

// MarkLMSStudentLeft marks a student of an LMS class as having left the
// course and ends their sessions. Their work and feedback stay, and
// enrolling them again brings them back. Marking an unknown student is
// not an error.
func (s *Service) MarkLMSStudentLeft(ctx context.Context, classID, studentID string) error {
	if _, err := s.lmsClass(ctx, classID); err != nil {
		return err
	}
	if _, err := s.c(colStudents).UpdateOne(ctx, bson.D{{Key: "_id", Value: studentDocID(classID, studentID)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "left", Value: true}}}}); err != nil {
		return errs.Wrap(err, "mark student left")
	}
	return s.accounts.EndSessions(ctx, account.EnrolmentUserID(classID, studentID))
}

func (s *Service) lmsClass(ctx context.Context, classID string) (Class, error) {
	if _, ok := LMSCourseKey(classID); !ok {
		return Class{}, errs.E(errs.NotFound, "No LMS class with ID %q.", classID)
	}
	return s.Class(ctx, classID)
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
