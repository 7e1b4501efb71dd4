package analytics

import (
	"context"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// StudentProgress returns a rostered student's progress in a class (see
// LearnerProgress): approved feedback for the class's teacher or an admin,
// released feedback for the student's own enrolment. Anyone else, or a
// student not on the class's roster, gets errs.NotFound.
func (s *Service) StudentProgress(ctx context.Context, caller account.User, classID, studentID string) (Progress, error) {
	c, err := s.intake.Class(ctx, classID)
	if err != nil {
		return Progress{}, err
	}
	teacher := caller.Role == account.Admin || caller.Role == account.Teacher && caller.ID == c.TeacherID
	if !teacher && !intake.IsStudentOf(caller, c.ID, studentID) {
		return Progress{}, errs.E(errs.NotFound, "No student %q in class %q.", studentID, classID)
	}
	st, err := s.intake.Student(ctx, classID, studentID)
	if err != nil {
		return Progress{}, err
	}
	keep := released
	if teacher {
		keep = approved
	}
	return s.progress(ctx, c.ID, studentID, st.Name(), keep)
}

// MyProgress is a signed-in student's own progress in the class of their
// enrolment, from released feedback only. Any other role gets
// errs.Forbidden.
func (s *Service) MyProgress(ctx context.Context, caller account.User) (Progress, error) {
	if caller.Role != account.Student || caller.StudentID == "" || caller.ClassID == "" {
		return Progress{}, errs.E(errs.Forbidden, "Only students have their own progress.")
	}
	return s.progress(ctx, caller.ClassID, caller.StudentID, caller.Name, released)
}

func approved(w feedback.WorkRecord) bool { return w.State.Final() }
func released(w feedback.WorkRecord) bool { return w.State == feedback.Released }

// progress is one student's progress in one class: two reads by _id, the
// student's record and the class's (feedback's read models).
func (s *Service) progress(ctx context.Context, classID, studentID, name string, keep func(feedback.WorkRecord) bool) (Progress, error) {
	fr := s.feedback
	rec, err := fr.Student(ctx, classID, studentID)
	if err != nil {
		return Progress{}, err
	}
	cls, err := fr.Class(ctx, classID)
	if err != nil {
		return Progress{}, err
	}
	return LearnerProgress(studentID, name, gradedOf(cls, []feedback.StudentRecord{rec}, keep)), nil
}

// gradedOf turns students' records into Graded versions: the work keep
// accepts, on its assignment's rubric as the class record keeps it.
func gradedOf(cls feedback.ClassRecord, recs []feedback.StudentRecord, keep func(feedback.WorkRecord) bool) []Graded {
	var out []Graded
	for _, rec := range recs {
		for _, w := range rec.Work {
			a, ok := cls.Assignments[mongostore.FieldKey(w.AssignmentID)]
			if !ok || !keep(w) {
				continue
			}
			out = append(out, Graded{AssignmentID: a.ID, Title: a.Title, StudentID: rec.StudentID, Version: w.Version,
				At: infoTime(a), Rubric: a.Rubric, Levels: w.Levels})
		}
	}
	return out
}

// ClassWall returns a class's data wall (see DataWall) from the approved
// feedback of all its assignments. Only the class's teacher or an admin may
// see it; anyone else gets errs.NotFound. It reads the roster, the class's
// record and each rostered student's record (by _id), never the feedback
// documents or a whole assignment's list.
func (s *Service) ClassWall(ctx context.Context, caller account.User, classID string) (Wall, error) {
	roster, err := s.intake.Roster(ctx, caller, classID)
	if err != nil {
		return Wall{}, err
	}
	fr := s.feedback
	cls, err := fr.Class(ctx, classID)
	if err != nil {
		return Wall{}, err
	}
	students := make([]WallStudent, len(roster))
	ids := make([]string, len(roster))
	for i, st := range roster {
		students[i] = WallStudent{StudentID: st.StudentID, Name: st.Name()}
		ids[i] = st.StudentID
	}
	byStudent, err := fr.Students(ctx, classID, ids)
	if err != nil {
		return Wall{}, err
	}
	recs := make([]feedback.StudentRecord, 0, len(byStudent))
	for _, id := range ids {
		recs = append(recs, byStudent[id])
	}
	return DataWall(students, gradedOf(cls, recs, approved)), nil
}

// infoTime is assignmentTime for a class record's copy of an assignment.
func infoTime(a feedback.AssignmentInfo) time.Time {
	if a.PublishedAt != nil {
		return *a.PublishedAt
	}
	return a.CreatedAt
}

// assignmentTime places an assignment on the time axis of progress and the
// data wall: when it was published, or else created. Revisions of one
// assignment are then ordered by version.
func assignmentTime(a intake.Assignment) time.Time {
	if a.PublishedAt != nil {
		return *a.PublishedAt
	}
	return a.CreatedAt
}
