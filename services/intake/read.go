package intake

import (
	"context"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// The reads in this file have no access check: they are for other services,
// which read intake's collections only through them and never write them.
// The HTTP edge uses the checked methods (Authorize*, and those taking a
// caller).

// Assignment returns an assignment by ID.
func (s *Service) Assignment(ctx context.Context, id string) (Assignment, error) {
	return mongostore.Get[Assignment](ctx, s.c(colAssignments), id, "assignment")
}

// Class returns a class by ID.
func (s *Service) Class(ctx context.Context, id string) (Class, error) {
	return mongostore.Get[Class](ctx, s.c(colClasses), id, "class")
}

// Student returns a rostered student.
func (s *Service) Student(ctx context.Context, classID, studentID string) (Student, error) {
	return mongostore.Get[Student](ctx, s.c(colStudents), studentDocID(classID, studentID), "student")
}

// Submission returns a submission by ID. One whose only version its
// teacher moved to another student is not found.
func (s *Service) Submission(ctx context.Context, id string) (Submission, error) {
	sub, exists, err := s.storedSubmission(ctx, id)
	if err == nil && (!exists || len(sub.Versions) == 0) {
		err = errs.E(errs.NotFound, "No submission with ID %q.", id)
	}
	return sub, err
}

// textDoc is a stored text. Texts stored before grader texts were made on
// reading hold the grader text of their time.
type textDoc struct {
	ID         string `bson:"_id"`
	Text       string `bson:"text"`
	GraderText string `bson:"grader_text,omitempty"`
}

// Text returns the extracted text of a submission version (see VersionID),
// with its grader text made now from the class's roster (see Text).
func (s *Service) Text(ctx context.Context, versionID string) (Text, error) {
	var d textDoc
	if err := s.findByID(ctx, colTexts, versionID, "submission text", &d); err != nil {
		return Text{}, err
	}
	i := strings.LastIndex(versionID, ":v")
	if i < 0 {
		return Text{}, errs.E(errs.NotFound, "No submission text %q.", versionID)
	}
	sub, err := s.Submission(ctx, versionID[:i])
	if err != nil {
		return Text{}, err
	}
	a, err := s.Assignment(ctx, sub.AssignmentID)
	if err != nil {
		return Text{}, err
	}
	r, knowsAuthor, err := s.redactorFor(ctx, a, sub.StudentID)
	if err != nil {
		return Text{}, err
	}
	if !knowsAuthor && d.GraderText != "" {
		// The author left the roster before it was remembered: keep the
		// grader text of the upload, which has their name replaced.
		return Text{VersionID: d.ID, Text: d.Text, GraderText: r.Redact(d.GraderText).Text}, nil
	}
	red := r.Redact(d.Text)
	return Text{VersionID: d.ID, Text: d.Text, GraderText: red.Text, Spans: red.Spans}, nil
}

// OpenAssignments returns the assignments matching works on: those
// published or in grading, and graded or released ones that take revisions
// (a student's revised version needs grading after release) or to which
// their teacher has uploaded a revision since (ReopenedAt); never a closed
// one.
func (s *Service) OpenAssignments(ctx context.Context) ([]Assignment, error) {
	cur, err := s.c(colAssignments).Find(ctx, bson.D{{Key: "state", Value: bson.D{{Key: "$in", Value: bson.A{Published, InGrading, Graded, Released}}}}})
	if err != nil {
		return nil, errs.Wrap(err, "find open assignments")
	}
	var all []Assignment
	if err := cur.All(ctx, &all); err != nil {
		return nil, errs.Wrap(err, "read open assignments")
	}
	out := all[:0]
	for _, a := range all {
		if closed(a) {
			continue
		}
		if a.State == Published || a.State == InGrading || a.AllowResubmission || a.ReopenedAt != nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// Advance moves an assignment forward to state to (never backward; a move to
// the state it is already in is a no-op). Matching calls it with InGrading,
// feedback with Graded and Released.
func (s *Service) Advance(ctx context.Context, assignmentID string, to State) error {
	a, err := s.Assignment(ctx, assignmentID)
	if err != nil {
		return err
	}
	if stateOrder[a.State] >= stateOrder[to] {
		return nil
	}
	set := bson.D{{Key: "state", Value: to}}
	if to == Released {
		set = append(set, bson.E{Key: "released_at", Value: s.now().UTC()})
	}
	return s.changeAssignment(ctx, assignmentID, func() error {
		_, err := mongostore.UpdateIf(ctx, s.c(colAssignments), bson.D{{Key: "_id", Value: assignmentID}, {Key: "state", Value: a.State}}, bson.D{{Key: "$set", Value: set}})
		return errs.Wrap(err, "advance assignment")
	})
}

// StudentClasses returns the class of a student's enrolment: a student
// account belongs to one class (account.EnrolmentUserID). It is empty for
// any other user, for a student no longer on the class's roster, and for
// one who has left the class's LMS course.
func (s *Service) StudentClasses(ctx context.Context, u account.User) ([]Class, error) {
	if u.Role != account.Student || u.ClassID == "" {
		return nil, nil
	}
	st, err := s.Student(ctx, u.ClassID, u.StudentID)
	if errs.Is(err, errs.NotFound) || err == nil && (st.UserID != u.ID || st.Left) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	c, err := s.Class(ctx, u.ClassID)
	if err != nil {
		return nil, err
	}
	return []Class{c}, nil
}

// AuthorizeClass returns the class if caller may manage it: its teacher, or
// an admin. Anyone else gets not_found, so IDs reveal nothing.
func (s *Service) AuthorizeClass(ctx context.Context, caller account.User, classID string) (Class, error) {
	c, err := s.Class(ctx, classID)
	if err != nil {
		return Class{}, err
	}
	if caller.Role == account.Admin || caller.Role == account.Teacher && caller.ID == c.TeacherID {
		return c, nil
	}
	return Class{}, errs.E(errs.NotFound, "No class with ID %q.", classID)
}

// AuthorizeAssignment returns the assignment if caller may manage it: the
// class's teacher, or an admin.
func (s *Service) AuthorizeAssignment(ctx context.Context, caller account.User, assignmentID string) (Assignment, error) {
	a, err := s.Assignment(ctx, assignmentID)
	if err != nil {
		return Assignment{}, err
	}
	if caller.Role == account.Admin || caller.Role == account.Teacher && caller.ID == a.TeacherID {
		return a, nil
	}
	return Assignment{}, errs.E(errs.NotFound, "No assignment with ID %q.", assignmentID)
}

// IsStudentOf reports whether caller is the student of the given roster
// entry: signed in with the account of that enrolment (this class, this
// student ID). The same student ID in another class, or in the same
// school, is not enough. It reads nothing: a removed student's sessions are
// ended by RemoveStudent.
func IsStudentOf(caller account.User, classID, studentID string) bool {
	return caller.Role == account.Student && caller.ClassID == classID && caller.StudentID == studentID &&
		caller.ID == account.EnrolmentUserID(classID, studentID)
}

func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Millisecond) }
