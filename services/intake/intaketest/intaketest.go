// Package intaketest seeds intake for other services' tests through
// intake's own API, as a teacher would: a class with its roster, an
// assignment, each student's text uploaded, the assignment published. A
// test that seeds this way keeps working when intake changes how it stores
// things.
package intaketest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/services/intake"
)

// Student is a student on a roster.
type Student struct{ ID, Given, Family string }

// Class creates a grade-10 English class of the teacher's with the
// students on its roster.
func Class(t testing.TB, in *intake.Service, teacher account.User, name string, students ...Student) intake.Class {
	t.Helper()
	ctx := context.Background()
	ten := 10
	c, err := in.CreateClass(ctx, teacher, intake.ClassInput{Name: name, Subject: "english", GradeLevel: &ten})
	if err != nil {
		t.Fatalf("intaketest: class: %v", err)
	}
	Enrol(t, in, teacher, c.ID, students...)
	return c
}

// Enrol adds students to the class's roster.
func Enrol(t testing.TB, in *intake.Service, teacher account.User, classID string, students ...Student) {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("student_id,given_name,family_name,email\n")
	for _, s := range students {
		fmt.Fprintf(&csv, "%s,%s,%s,\n", s.ID, s.Given, s.Family)
	}
	res, err := in.ImportRoster(context.Background(), teacher, classID, strings.NewReader(csv.String()))
	if err == nil {
		err = res.Errors.Err()
	}
	if err != nil {
		t.Fatalf("intaketest: roster: %v", err)
	}
}

// Assignment creates a draft assignment from in in the class, due in two
// weeks unless in.DueAt is set.
func Assignment(t testing.TB, in *intake.Service, teacher account.User, classID string, a intake.AssignmentInput) intake.Assignment {
	t.Helper()
	a.ClassID = classID
	if a.DueAt.IsZero() {
		a.DueAt = time.Now().Add(14 * 24 * time.Hour)
	}
	out, err := in.CreateAssignment(context.Background(), teacher, a)
	if err != nil {
		t.Fatalf("intaketest: assignment: %v", err)
	}
	return out
}

// Submit uploads text as the student's next version of the assignment (a
// teacher's upload of <student>.txt) and returns the submission.
func Submit(t testing.TB, in *intake.Service, teacher account.User, assignmentID, studentID, text string) intake.Submission {
	t.Helper()
	ctx := context.Background()
	b, err := in.StartUpload(ctx, teacher, assignmentID, "")
	if err != nil {
		t.Fatalf("intaketest: upload: %v", err)
	}
	if err := b.Add(ctx, studentID+".txt", studentID, strings.NewReader(text), int64(len(text))); err != nil {
		t.Fatalf("intaketest: upload: %v", err)
	}
	up, err := b.Finish(ctx, "")
	if err != nil {
		t.Fatalf("intaketest: upload: %v", err)
	}
	for _, o := range up.Outcomes {
		if o.Status == "rejected" || o.Flag != nil {
			t.Fatalf("intaketest: %s's text was not taken: %+v", studentID, o)
		}
	}
	sub, err := in.SubmissionOf(ctx, assignmentID, studentID)
	if err != nil {
		t.Fatalf("intaketest: submission: %v", err)
	}
	return sub
}

// Publish publishes the assignment, for matching to find graders.
func Publish(t testing.TB, in *intake.Service, teacher account.User, assignmentID string) intake.Assignment {
	t.Helper()
	a, err := in.Publish(context.Background(), teacher, assignmentID)
	if err != nil {
		t.Fatalf("intaketest: publish: %v", err)
	}
	return a
}
