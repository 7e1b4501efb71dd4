package matching

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/intake"
)

// Anchor is an anchor paper: a submission the teacher scored on every
// criterion, used to calibrate graders blind. Only its teacher sees it.
type Anchor struct {
	SubmissionID string            `json:"submission_id" bson:"submission_id"`
	VersionID    string            `json:"version_id" bson:"version_id"`
	StudentID    string            `json:"student_id" bson:"student_id,omitempty"`
	Levels       map[string]string `json:"levels" bson:"levels"` // criterion key → level key
}

// Anchors are an assignment's anchor papers.
type Anchors struct {
	AssignmentID string    `json:"assignment_id" bson:"_id"`
	Anchors      []Anchor  `json:"anchors" bson:"anchors"`
	UpdatedAt    time.Time `json:"updated_at" bson:"updated_at"`
	// Rev counts the document's writes, for compare-and-set (absent on
	// documents written before it: zero).
	Rev int64 `json:"-" bson:"rev"`
}

// AnchorInput names a submission (by student ID) and its reference levels.
type AnchorInput struct {
	StudentID string            `json:"student_id"`
	Levels    map[string]string `json:"levels"`
}

// Attempt is one calibration attempt by a grader.
type Attempt struct {
	ID           string            `json:"id" bson:"_id"` // "<assignment id>:<grader id>:<n>"
	AssignmentID string            `json:"assignment_id" bson:"assignment_id"`
	GraderID     string            `json:"grader_id" bson:"grader_id"`
	N            int               `json:"n" bson:"n"`
	Anchor       int               `json:"anchor" bson:"anchor"`
	Levels       map[string]string `json:"levels" bson:"levels"`
	// SubmissionID is the anchor paper scored and Reference its levels
	// then, so the outcome stays what the grader was scored against when
	// the teacher later changes the anchors.
	SubmissionID string            `json:"submission_id" bson:"submission_id,omitempty"`
	Reference    map[string]string `json:"-" bson:"reference,omitempty"`
	Passed       bool              `json:"passed" bson:"passed"`
	Exact        int               `json:"exact" bson:"exact"`
	Criteria     int               `json:"criteria" bson:"criteria"`
	At           time.Time         `json:"at" bson:"at"`
}

// maxAttempts is one attempt and one retry on a different anchor.
const maxAttempts = 2

func (s *Service) anchors(ctx context.Context, assignmentID string) (Anchors, error) {
	var a Anchors
	err := s.findByID(ctx, colAnchors, assignmentID, "anchors", &a)
	if errs.Is(err, errs.NotFound) {
		return Anchors{AssignmentID: assignmentID, Anchors: []Anchor{}}, nil
	}
	return a, err
}

// SetAnchors replaces an assignment's anchor papers, for its teacher or an
// admin. Every criterion of every anchor must have a level of the rubric's
// scale. Returns not_found for someone else's assignment and an errs.List of
// invalid fields.
func (s *Service) SetAnchors(ctx context.Context, caller account.User, assignmentID string, in []AnchorInput) (Anchors, error) {
	return s.changeAnchors(ctx, caller, assignmentID, func([]AnchorInput) []AnchorInput { return in })
}

// PutAnchor adds a student's submission to the assignment's anchor papers
// with the given levels, or gives that student's anchor the new levels in
// its place; the other anchors stay as they are, whatever another request
// changes at the same moment. Errors as SetAnchors.
func (s *Service) PutAnchor(ctx context.Context, caller account.User, assignmentID string, in AnchorInput) (Anchors, error) {
	return s.changeAnchors(ctx, caller, assignmentID, func(cur []AnchorInput) []AnchorInput {
		i := slices.IndexFunc(cur, func(x AnchorInput) bool { return x.StudentID == in.StudentID })
		if i < 0 {
			return append(cur, in)
		}
		cur[i] = in
		return cur
	})
}

// RemoveAnchor takes a student's submission off the assignment's anchor
// papers (nothing happens when it is not one), leaving the others as they
// are. Returns not_found for someone else's assignment.
func (s *Service) RemoveAnchor(ctx context.Context, caller account.User, assignmentID, studentID string) (Anchors, error) {
	return s.changeAnchors(ctx, caller, assignmentID, func(cur []AnchorInput) []AnchorInput {
		return slices.DeleteFunc(cur, func(x AnchorInput) bool { return x.StudentID == studentID })
	})
}

// changeAnchors replaces the assignment's anchors by edit(the current
// ones) as a compare-and-set on the anchors document, reading again and
// retrying when another writer changed it in between, so that two
// teachers' edits never lose one another.
func (s *Service) changeAnchors(ctx context.Context, caller account.User, assignmentID string, edit func([]AnchorInput) []AnchorInput) (Anchors, error) {
	a, err := s.intake.AuthorizeAssignment(ctx, caller, assignmentID)
	if err != nil {
		return Anchors{}, err
	}
	for range 20 {
		cur, found, err := s.storedAnchors(ctx, a.ID)
		if err != nil {
			return Anchors{}, err
		}
		inputs := make([]AnchorInput, 0, len(cur.Anchors))
		for _, x := range cur.Anchors {
			inputs = append(inputs, AnchorInput{StudentID: x.StudentID, Levels: x.Levels})
		}
		next := edit(inputs)
		if !found && len(next) == 0 {
			return cur, nil // nothing to remove
		}
		out, err := s.checkAnchors(ctx, a, next)
		if err != nil {
			return Anchors{}, err
		}
		out.Rev = cur.Rev + 1
		if !found {
			_, err = s.c(colAnchors).InsertOne(ctx, out)
			if mongostore.IsDuplicateKey(err) {
				continue
			}
			return out, errs.Wrap(err, "save anchors")
		}
		err = mongostore.Swap(ctx, s.c(colAnchors), a.ID, "rev", cur.Rev, out)
		if !errors.Is(err, mongostore.ErrStale) {
			return out, err
		}
	}
	return Anchors{}, errs.E(errs.Conflict, "The anchor papers kept changing while you saved; try again.")
}

// checkAnchors builds the anchors of assignment a from in: every student
// must have a submission, and every criterion a level of the scale.
func (s *Service) checkAnchors(ctx context.Context, a intake.Assignment, in []AnchorInput) (Anchors, error) {
	var l errs.List
	out := Anchors{AssignmentID: a.ID, Anchors: []Anchor{}, UpdatedAt: s.stamp()}
	for i, ai := range in {
		sub, err := s.intake.SubmissionOf(ctx, a.ID, ai.StudentID)
		if err != nil {
			l = append(l, errs.F(errs.Invalid, fieldf("anchors", i)+".student_id", "No submission from student %q.", ai.StudentID))
			continue
		}
		for _, c := range a.Rubric.Criteria {
			if _, ok := a.Rubric.LevelIndex(ai.Levels[c.Key]); !ok {
				l = append(l, errs.F(errs.Invalid, fieldf("anchors", i)+".levels."+c.Key, "Give a level of the scale for %q.", c.Title))
			}
		}
		out.Anchors = append(out.Anchors, Anchor{SubmissionID: sub.ID, VersionID: intake.VersionID(sub.ID, sub.Current().N), StudentID: sub.StudentID, Levels: ai.Levels})
	}
	return out, l.Err()
}

// CalibrationTask is what a grader sees to score an anchor blind: the
// pseudonymised text, the prompt and the rubric, never the reference or
// the paper's submission.
type CalibrationTask struct {
	AssignmentID string        `json:"assignment_id"`
	Anchor       int           `json:"anchor"`
	Prompt       string        `json:"prompt"`
	Rubric       intake.Rubric `json:"rubric"`
	Text         string        `json:"text"`
	Attempts     []AttemptView `json:"attempts"`
}

// AttemptView is a calibration attempt as its grader sees it: their levels
// and how they did, not which paper it was.
type AttemptView struct {
	AssignmentID string            `json:"assignment_id"`
	N            int               `json:"n"`
	Anchor       int               `json:"anchor"`
	Levels       map[string]string `json:"levels"`
	Passed       bool              `json:"passed"`
	Exact        int               `json:"exact"`
	Criteria     int               `json:"criteria"`
	At           time.Time         `json:"at"`
}

func (at Attempt) view() AttemptView {
	return AttemptView{AssignmentID: at.AssignmentID, N: at.N, Anchor: at.Anchor, Levels: at.Levels, Passed: at.Passed,
		Exact: at.Exact, Criteria: at.Criteria, At: at.At}
}

func attemptViews(ats []Attempt) []AttemptView {
	out := make([]AttemptView, 0, len(ats))
	for _, at := range ats {
		out = append(out, at.view())
	}
	return out
}

// attempts lists a grader's attempts on an assignment (at most two reads by
// _id).
func (s *Service) attempts(ctx context.Context, assignmentID, graderID string) ([]Attempt, error) {
	var out []Attempt
	for n := 1; n <= maxAttempts; n++ {
		var at Attempt
		err := s.findByID(ctx, colAttempts, assignmentID+":"+graderID+":"+itoa(n), "attempt", &at)
		if errs.Is(err, errs.NotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, at)
	}
	return out, nil
}

// Calibration returns the anchor the calling grader should score next on an
// assignment. Returns forbidden for non-graders, not_found when the
// assignment has no anchors or is not open, and conflict when the grader
// already passed or used both attempts.
func (s *Service) Calibration(ctx context.Context, caller account.User, assignmentID string) (CalibrationTask, error) {
	if caller.Role != account.Grader {
		return CalibrationTask{}, errs.E(errs.Forbidden, "Only graders calibrate.")
	}
	a, anchors, done, err := s.calibrationFor(ctx, caller, assignmentID)
	if err != nil {
		return CalibrationTask{}, err
	}
	next, err := nextAnchor(done, anchors.Anchors)
	if err != nil {
		return CalibrationTask{}, err
	}
	txt, err := s.intake.Text(ctx, anchors.Anchors[next].VersionID)
	if err != nil {
		return CalibrationTask{}, err
	}
	return CalibrationTask{AssignmentID: a.ID, Anchor: next, Prompt: a.Prompt, Rubric: a.Rubric, Text: txt.GraderText, Attempts: attemptViews(done)}, nil
}

// nextAnchor picks the anchor for the next attempt: the first, in the
// teacher's order, that the grader has not scored yet (so a retry is always
// on a paper whose reference they have not seen).
func nextAnchor(done []Attempt, anchors []Anchor) (int, error) {
	if slices.ContainsFunc(done, func(a Attempt) bool { return a.Passed }) {
		return 0, errs.E(errs.Conflict, "You have already passed calibration on this assignment.")
	}
	if len(done) >= maxAttempts {
		return 0, errs.E(errs.Conflict, "You have used your calibration attempts on this assignment.")
	}
	seen := map[string]bool{}
	for _, at := range done {
		id := at.SubmissionID
		if id == "" && at.Anchor < len(anchors) { // recorded before attempts named their paper
			id = anchors[at.Anchor].SubmissionID
		}
		seen[id] = true
	}
	for i, an := range anchors {
		if !seen[an.SubmissionID] {
			return i, nil
		}
	}
	return 0, errs.E(errs.Conflict, "You have scored every anchor paper of this assignment.")
}

// calibrationFor returns an open anchored assignment, its anchors and the
// grader's attempts, if caller may calibrate on it: a grader who has
// attempted it already, or one whose profile fits its work (vetted,
// subject, grade band, no conflict or block; availability and capacity
// change week to week and do not count). Returns forbidden for others.
func (s *Service) calibrationFor(ctx context.Context, caller account.User, assignmentID string) (intake.Assignment, Anchors, []Attempt, error) {
	if caller.Role != account.Grader {
		return intake.Assignment{}, Anchors{}, nil, errs.E(errs.Forbidden, "Only graders calibrate.")
	}
	a, anchors, err := s.anchoredAssignment(ctx, assignmentID)
	if err != nil {
		return a, anchors, nil, err
	}
	done, err := s.attempts(ctx, assignmentID, caller.ID)
	if err != nil || len(done) > 0 {
		return a, anchors, done, err
	}
	doc, err := s.profileDoc(ctx, caller.ID)
	if errs.Is(err, errs.NotFound) {
		return a, anchors, nil, errs.E(errs.Forbidden, "Fill in your grader profile before you calibrate.")
	}
	if err != nil {
		return a, anchors, nil, err
	}
	if r, err := s.fits(ctx, doc, a); err != nil {
		return a, anchors, nil, err
	} else if r != eligible {
		return a, anchors, nil, errs.E(errs.Forbidden, "This assignment's work is not open to you (%s), so there is nothing to calibrate.", reasonPhrases[r])
	}
	return a, anchors, done, nil
}

// fits reports the first rule that keeps a grader with profile doc from
// assignment a's work whatever their calibration, availability and
// capacity, or eligible.
func (s *Service) fits(ctx context.Context, doc profileDoc, a intake.Assignment) (reason, error) {
	b := Batch{SchoolID: a.SchoolID, TeacherID: a.TeacherID, Subject: normSubject(a.Subject), GradeLevel: a.GradeLevel, DueAt: a.DueAt}
	prefs, err := s.prefs(ctx, a.TeacherID)
	if err != nil {
		return eligible, err
	}
	g := candidate{profileDoc: doc, Free: math.MaxInt32, Calibrated: true}
	if r := check(b, g, s.schoolOf(ctx, b), prefs, true, s.stamp()); r != unavailable {
		return r, nil
	}
	return eligible, nil
}

// openForGrading reports whether graders may still take on a's work (and
// so calibrate for it): published, or in grading.
func openForGrading(a intake.Assignment) bool {
	return a.State == intake.Published || a.State == intake.InGrading
}

func (s *Service) anchoredAssignment(ctx context.Context, assignmentID string) (intake.Assignment, Anchors, error) {
	a, err := s.intake.Assignment(ctx, assignmentID)
	if err != nil || !openForGrading(a) {
		return intake.Assignment{}, Anchors{}, errs.E(errs.NotFound, "No open assignment with ID %q.", assignmentID)
	}
	anchors, err := s.anchors(ctx, assignmentID)
	if err != nil {
		return intake.Assignment{}, Anchors{}, err
	}
	if len(anchors.Anchors) == 0 {
		return intake.Assignment{}, Anchors{}, errs.E(errs.NotFound, "Assignment %q has no anchor papers.", assignmentID)
	}
	return a, anchors, nil
}

// AttemptResult is the outcome of an attempt; on a fail it shows the
// reference levels with their descriptors.
type AttemptResult struct {
	Attempt   AttemptView      `json:"attempt"`
	Reference []ReferenceLevel `json:"reference,omitempty"`
	Retry     bool             `json:"may_retry"`
}

// ReferenceLevel is the anchor's level on one criterion, with its
// descriptor.
type ReferenceLevel struct {
	Criterion  string `json:"criterion"`
	Level      string `json:"level"`
	Descriptor string `json:"descriptor"`
	Yours      string `json:"yours"`
}

// Calibrate records the calling grader's scores for the anchor Calibration
// gave them. They pass when every criterion is within CalibrationWithin
// levels of the reference and at least CalibrationExact of the criteria
// match exactly. Every attempt is recorded; concurrent submissions of one
// attempt record it once (conflict for the other). Errors are as for
// Calibration, plus invalid when a criterion lacks a level of the scale.
func (s *Service) Calibrate(ctx context.Context, caller account.User, assignmentID string, levels map[string]string) (AttemptResult, error) {
	a, anchors, done, err := s.calibrationFor(ctx, caller, assignmentID)
	if err != nil {
		return AttemptResult{}, err
	}
	next, err := nextAnchor(done, anchors.Anchors)
	if err != nil {
		return AttemptResult{}, err
	}
	ref := anchors.Anchors[next].Levels
	exact, passed, err := s.scoreAttempt(a.Rubric, ref, levels)
	if err != nil {
		return AttemptResult{}, err
	}
	at := Attempt{ID: assignmentID + ":" + caller.ID + ":" + itoa(len(done)+1), AssignmentID: assignmentID, GraderID: caller.ID,
		N: len(done) + 1, Anchor: next, SubmissionID: anchors.Anchors[next].SubmissionID, Reference: ref, Levels: levels,
		Passed: passed, Exact: exact, Criteria: len(a.Rubric.Criteria), At: s.stamp()}
	if _, err := s.c(colAttempts).InsertOne(ctx, at); err != nil {
		if mongostore.IsDuplicateKey(err) {
			return AttemptResult{}, errs.E(errs.Conflict, "This attempt was already submitted.")
		}
		return AttemptResult{}, errs.Wrap(err, "record attempt")
	}
	inc := bson.D{{Key: "stats.cal_attempts", Value: 1}, {Key: "stats.cal_exact", Value: exact}, {Key: "stats.cal_criteria", Value: at.Criteria}}
	if passed {
		inc = append(inc, bson.E{Key: "stats.cal_passed", Value: 1})
	}
	if _, err := s.c(colProfiles).UpdateOne(ctx, bson.D{{Key: "_id", Value: caller.ID}}, bson.D{{Key: "$inc", Value: inc}}); err != nil {
		return AttemptResult{}, errs.Wrap(err, "count attempt")
	}
	s.notifyCalibration(ctx, at, a.Title)
	return outcome(a.Rubric, anchors.Anchors, append(done, at)), nil
}

// outcome is the result of the last of attempts: on a fail, the reference
// it was scored against beside the grader's levels, and whether a retry is
// left.
func outcome(r intake.Rubric, anchors []Anchor, attempts []Attempt) AttemptResult {
	at := attempts[len(attempts)-1]
	res := AttemptResult{Attempt: at.view()}
	if at.Passed {
		return res
	}
	ref := at.Reference
	if ref == nil && at.Anchor < len(anchors) { // recorded before attempts kept their reference
		ref = anchors[at.Anchor].Levels
	}
	_, err := nextAnchor(attempts, anchors)
	res.Retry = err == nil
	for _, c := range r.Criteria {
		res.Reference = append(res.Reference, ReferenceLevel{Criterion: c.Key, Level: ref[c.Key], Descriptor: c.Descriptors[ref[c.Key]], Yours: at.Levels[c.Key]})
	}
	return res
}

// Outcome returns the calling grader's attempt n (from 1) on an assignment
// and its result, as Calibrate returned it. Returns not_found for an
// attempt that does not exist (or is another grader's).
func (s *Service) Outcome(ctx context.Context, caller account.User, assignmentID string, n int) (AttemptResult, error) {
	a, anchors, done, err := s.calibrationFor(ctx, caller, assignmentID)
	if err != nil {
		return AttemptResult{}, err
	}
	if n < 1 || n > len(done) {
		return AttemptResult{}, errs.E(errs.NotFound, "You have no calibration attempt %d on this assignment.", n)
	}
	return outcome(a.Rubric, anchors.Anchors, done[:n]), nil
}

// scoreAttempt compares levels with the reference on every criterion.
func (s *Service) scoreAttempt(r intake.Rubric, ref, levels map[string]string) (exact int, passed bool, err error) {
	return scoreAttempt(r, ref, levels, s.cfg.CalibrationWithin, s.cfg.CalibrationExact)
}

func scoreAttempt(r intake.Rubric, ref, levels map[string]string, within int, exactShare float64) (int, bool, error) {
	var l errs.List
	exact, ok := 0, true
	for _, c := range r.Criteria {
		got, okGot := r.LevelIndex(levels[c.Key])
		want, okWant := r.LevelIndex(ref[c.Key])
		if !okGot {
			l = append(l, errs.F(errs.Invalid, "levels."+c.Key, "Give a level of the scale for %q.", c.Title))
			continue
		}
		if !okWant {
			continue
		}
		d := got - want
		if d == 0 {
			exact++
		}
		if d > within || -d > within {
			ok = false
		}
	}
	if err := l.Err(); err != nil {
		return 0, false, err
	}
	need := int(math.Ceil(exactShare * float64(len(r.Criteria))))
	return exact, ok && exact >= need, nil
}

// passedGraders lists the graders who passed calibration on an assignment.
func (s *Service) passedGraders(ctx context.Context, assignmentID string) ([]string, error) {
	var ats []Attempt
	if err := s.findAll(ctx, colAttempts, bson.D{{Key: "assignment_id", Value: assignmentID}, {Key: "passed", Value: true}}, &ats); err != nil {
		return nil, err
	}
	out := make([]string, len(ats))
	for i, a := range ats {
		out[i] = a.GraderID
	}
	return out, nil
}

// AnchorsFor returns an assignment's anchor papers with their reference
// levels and students, for its teacher or an admin. Returns not_found for
// anyone else.
func (s *Service) AnchorsFor(ctx context.Context, caller account.User, assignmentID string) (Anchors, error) {
	if _, err := s.intake.AuthorizeAssignment(ctx, caller, assignmentID); err != nil {
		return Anchors{}, err
	}
	an, _, err := s.storedAnchors(ctx, assignmentID)
	return an, err
}

// storedAnchors reads an assignment's anchors document (found is false
// when it has none), each anchor naming its student.
func (s *Service) storedAnchors(ctx context.Context, assignmentID string) (an Anchors, found bool, err error) {
	an, err = mongostore.Get[Anchors](ctx, s.c(colAnchors), assignmentID, "anchors")
	if errs.Is(err, errs.NotFound) {
		return Anchors{AssignmentID: assignmentID, Anchors: []Anchor{}}, false, nil
	}
	if err != nil {
		return Anchors{}, false, err
	}
	for i, x := range an.Anchors {
		if x.StudentID == "" { // saved before anchors named their student
			sub, err := s.intake.Submission(ctx, x.SubmissionID)
			if err != nil {
				return Anchors{}, false, err
			}
			an.Anchors[i].StudentID = sub.StudentID
		}
	}
	return an, true, nil
}

// CalibrationOpening is an assignment a grader may calibrate on, or has:
// it is open for grading, has anchor papers, and the grader's profile
// fits its work (vetted, subject, grade band, no conflict of interest), so
// calibration is what stands between them and an offer.
type CalibrationOpening struct {
	AssignmentID string    `json:"assignment_id"`
	Title        string    `json:"title"`
	Subject      string    `json:"subject"`
	GradeLevel   int       `json:"grade_level"`
	DueAt        time.Time `json:"due_at"`
	Attempts     int       `json:"attempts"`    // made so far
	Passed       bool      `json:"passed"`      // an attempt passed
	MayAttempt   bool      `json:"may_attempt"` // not passed, attempts left
}

// Calibrations lists the calling grader's calibration openings, soonest due
// first: those they may still attempt, and those they attempted (passed or
// not) while the assignment is open. A grader without a profile has none.
// It reads every anchors document (one per anchored assignment, platform
// wide) and each one's assignment: cheap while anchored assignments number
// in the hundreds. Returns forbidden for non-graders.
func (s *Service) Calibrations(ctx context.Context, caller account.User) ([]CalibrationOpening, error) {
	if caller.Role != account.Grader {
		return nil, errs.E(errs.Forbidden, "Only graders calibrate.")
	}
	out := []CalibrationOpening{}
	doc, err := s.profileDoc(ctx, caller.ID)
	if errs.Is(err, errs.NotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	var all []Anchors
	if err := s.findAll(ctx, colAnchors, bson.D{}, &all); err != nil {
		return nil, err
	}
	var mine []Attempt
	if err := s.findAll(ctx, colAttempts, bson.D{{Key: "grader_id", Value: caller.ID}}, &mine); err != nil {
		return nil, err
	}
	tried := map[string][]Attempt{}
	for _, at := range mine {
		tried[at.AssignmentID] = append(tried[at.AssignmentID], at)
	}
	for _, an := range all {
		if len(an.Anchors) == 0 {
			continue
		}
		a, err := s.intake.Assignment(ctx, an.AssignmentID)
		if err != nil || !openForGrading(a) {
			continue
		}
		done := tried[a.ID]
		if len(done) == 0 {
			if r, err := s.fits(ctx, doc, a); err != nil {
				return nil, err
			} else if r != eligible {
				continue
			}
		}
		_, nextErr := nextAnchor(done, an.Anchors)
		out = append(out, CalibrationOpening{
			AssignmentID: a.ID, Title: a.Title, Subject: a.Subject, GradeLevel: a.GradeLevel, DueAt: a.DueAt,
			Attempts: len(done), Passed: slices.ContainsFunc(done, func(at Attempt) bool { return at.Passed }), MayAttempt: nextErr == nil,
		})
	}
	slices.SortFunc(out, func(x, y CalibrationOpening) int { return x.DueAt.Compare(y.DueAt) })
	return out, nil
}
