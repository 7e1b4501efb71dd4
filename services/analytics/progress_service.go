package analytics

import (
	"context"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
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
	// Only this class's feedback: not the student's other classes.
	keep := func(f feedback.Feedback) bool { return released(f) && f.ClassID == classID }
	if teacher {
		keep = func(f feedback.Feedback) bool { return approved(f) && f.ClassID == classID }
	}
	return s.progress(ctx, c.SchoolID, studentID, st.Name(), keep)
}

// MyProgress is a signed-in student's own progress in the class of their
// enrolment, from released feedback only. Any other role gets
// errs.Forbidden.
func (s *Service) MyProgress(ctx context.Context, caller account.User) (Progress, error) {
	if caller.Role != account.Student || caller.StudentID == "" || caller.ClassID == "" {
		return Progress{}, errs.E(errs.Forbidden, "Only students have their own progress.")
	}
	return s.progress(ctx, caller.SchoolID, caller.StudentID, caller.Name, func(f feedback.Feedback) bool {
		return released(f) && f.ClassID == caller.ClassID
	})
}

func approved(f feedback.Feedback) bool { return f.State.Final() }
func released(f feedback.Feedback) bool { return f.State == feedback.Released }

func (s *Service) progress(ctx context.Context, schoolID, studentID, name string, keep func(feedback.Feedback) bool) (Progress, error) {
	fr, err := s.reads()
	if err != nil {
		return Progress{}, err
	}
	fbs, err := fr.ForStudent(ctx, schoolID, studentID)
	if err != nil {
		return Progress{}, err
	}
	graded, err := s.gradedOf(ctx, fbs, keep)
	if err != nil {
		return Progress{}, err
	}
	return LearnerProgress(studentID, name, graded), nil
}

// ClassWall returns a class's data wall (see DataWall) from the approved
// feedback of all its assignments. Only the class's teacher or an admin may
// see it; anyone else gets errs.NotFound.
func (s *Service) ClassWall(ctx context.Context, caller account.User, classID string) (Wall, error) {
	roster, err := s.intake.Roster(ctx, caller, classID)
	if err != nil {
		return Wall{}, err
	}
	asgs, err := s.intake.Assignments(ctx, caller, classID)
	if err != nil {
		return Wall{}, err
	}
	students := make([]WallStudent, len(roster))
	for i, st := range roster {
		students[i] = WallStudent{StudentID: st.StudentID, Name: st.Name()}
	}
	ids := make([]string, len(asgs))
	for i, a := range asgs {
		ids[i] = a.ID
	}
	return s.Wall(ctx, caller, students, ids)
}

// Wall builds the data wall of the given students from the approved
// feedback of the given assignments, which caller must manage (others get
// errs.NotFound). It reads one list document per assignment from feedback
// (whose rows carry each feedback's state and counted levels) and the
// assignment itself, never the feedback documents.
func (s *Service) Wall(ctx context.Context, caller account.User, students []WallStudent, assignmentIDs []string) (Wall, error) {
	fr, err := s.reads()
	if err != nil {
		return Wall{}, err
	}
	var graded []Graded
	for _, id := range assignmentIDs {
		a, err := s.intake.AuthorizeAssignment(ctx, caller, id)
		if err != nil {
			return Wall{}, err
		}
		rows, err := fr.List(ctx, caller, id)
		if err != nil {
			return Wall{}, err
		}
		for _, r := range rows {
			if r.Reader != feedback.First || !r.State.Final() {
				continue
			}
			graded = append(graded, Graded{AssignmentID: a.ID, Title: a.Title, StudentID: r.StudentID, Version: r.Version, At: assignmentTime(a), Rubric: a.Rubric, Levels: r.Levels})
		}
	}
	return DataWall(students, graded), nil
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
