package intake

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"go.mongodb.org/mongo-driver/bson"
	"golang.org/x/text/unicode/norm"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// student resolves which rostered student a file belongs to: the student
// whose revision this is, the explicit student ID, or the one in a
// Canvas-style file name. It never guesses. When the name part of a
// Canvas-style name does not name the student of its ID, the file is
// still theirs but comes with a Flag for the teacher.
func (b *Batch) student(ctx context.Context, name, explicit string) (Student, *Flag, error) {
	if b.own != "" {
		explicit = b.own
	}
	id := strings.TrimSpace(explicit)
	var parsed SubmissionName
	if id == "" {
		n, ok := ParseSubmissionName(name)
		if !ok {
			return Student{}, nil, errs.F(errs.Invalid, "student_id", "%s does not say whose work it is: name it like Canvas does (familygiven_<student id>_<n>_<name>.ext) or send a student_id with it.", printableName(name))
		}
		id, parsed = n.StudentID, n
	}
	st, ok, err := b.rostered(ctx, id)
	if err != nil {
		return Student{}, nil, err
	}
	if !ok {
		return Student{}, nil, errs.F(errs.Invalid, "student_id", "%s is for student ID %s, who is not on this class's roster. Import the roster first, or check the ID.", printableName(name), id)
	}
	if parsed.Slug == "" || nameMatches(parsed.Slug, st) {
		return st, nil, nil
	}
	if err := b.readRoster(ctx); err != nil {
		return Student{}, nil, err
	}
	var named []Student
	for _, o := range b.students {
		if o.StudentID != st.StudentID && nameMatches(parsed.Slug, o) {
			named = append(named, o)
		}
	}
	slices.SortFunc(named, func(x, y Student) int { return strings.Compare(x.StudentID, y.StudentID) })
	f := &Flag{Reason: FlagUnknownName, NamePart: parsed.Slug}
	if len(named) > 0 {
		o := named[0]
		f.Reason, f.NamedStudentID = FlagNameMismatch, o.StudentID
		f.Message = fmt.Sprintf("%s is named for %s (ID %s) but carries the ID %s of %s. It is filed under %s and held back from graders until you confirm it or move it to %s.",
			printableName(name), o.Name(), o.StudentID, st.StudentID, st.Name(), st.Name(), o.Name())
	} else {
		f.Message = fmt.Sprintf("%s is named “%s”, which names no student on this class's roster, but carries the ID %s of %s. It is filed under %s and held back from graders until you confirm it or move it to the right student.",
			printableName(name), parsed.Slug, st.StudentID, st.Name(), st.Name())
	}
	return st, f, nil
}

// rostered returns the class's student with the given ID, if there is one.
// The batch keeps the students it has read.
func (b *Batch) rostered(ctx context.Context, id string) (Student, bool, error) {
	if st, ok := b.students[id]; ok || b.roster {
		return st, ok, nil
	}
	st, err := b.s.Student(ctx, b.a.ClassID, id)
	if errs.Is(err, errs.NotFound) {
		return Student{}, false, nil
	} else if err != nil {
		return Student{}, false, err
	}
	b.students[id] = st
	return st, true, nil
}

// readRoster reads the class's whole roster into the batch, once: only a
// mismatched name needs it.
func (b *Batch) readRoster(ctx context.Context) error {
	if b.roster {
		return nil
	}
	sts, err := b.s.roster(ctx, b.a.ClassID)
	if err != nil {
		return err
	}
	for _, st := range sts {
		b.students[st.StudentID] = st
	}
	b.roster = true
	return nil
}

// nameMatches reports whether a Canvas name part (family and given name
// run together, lowercased) names the student, in either order, ignoring
// case, accents, spaces and punctuation.
func nameMatches(part string, st Student) bool {
	k, f, g := nameKey(part), nameKey(st.FamilyName), nameKey(st.GivenName)
	return k != "" && (k == f+g || k == g+f)
}

// nameKey folds a name for comparison: letters and digits only, lowercase,
// without accents.
func nameKey(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// teacherVersion returns a submission and its assignment if caller manages
// the assignment and the submission has version n.
func (s *Service) teacherVersion(ctx context.Context, caller account.User, submissionID string, n int) (Submission, Assignment, error) {
	notFound := errs.E(errs.NotFound, "No submission with ID %q.", submissionID)
	sub, exists, err := s.storedSubmission(ctx, submissionID)
	if err != nil {
		return Submission{}, Assignment{}, err
	}
	if !exists {
		return Submission{}, Assignment{}, notFound
	}
	a, err := s.AuthorizeAssignment(ctx, caller, sub.AssignmentID)
	if err != nil {
		return Submission{}, Assignment{}, notFound
	}
	if _, ok := sub.Version(n); !ok {
		return Submission{}, Assignment{}, errs.E(errs.NotFound, "Submission %q has no version %d.", submissionID, n)
	}
	return sub, a, nil
}

// ConfirmVersion closes the flag of version n of a submission: its teacher
// says the file is this student's after all. The version then goes to
// graders (and to the student) like any other. Confirming again is a
// no-op that brings the list up to date. Returns NotFound unless the
// caller manages the assignment and the version exists, Conflict if the
// version was never flagged or another change came first.
func (s *Service) ConfirmVersion(ctx context.Context, caller account.User, submissionID string, n int) (Submission, error) {
	sub, a, err := s.teacherVersion(ctx, caller, submissionID, n)
	if err != nil {
		return Submission{}, err
	}
	v := sub.Versions[n-1]
	if v.Flag == nil {
		return Submission{}, errs.E(errs.Conflict, "Version %d of this submission is not flagged; there is nothing to confirm.", n)
	}
	if v.Flag.Open() {
		next := sub
		next.Versions = slices.Clone(sub.Versions)
		f, now := *v.Flag, s.stamp()
		f.ConfirmedBy, f.ConfirmedAt = caller.ID, &now
		next.Versions[n-1].Flag = &f
		if err := mongostore.Swap(ctx, s.c(colSubmissions), sub.ID, "n", int64(sub.N), next); err != nil {
			return Submission{}, swapErr(err)
		}
		sub = next
	}
	l, err := s.openList(ctx, a.ID)
	if err != nil {
		return Submission{}, err
	}
	if err := l.place(ctx, sub, nil, false); err != nil {
		return Submission{}, err
	}
	return sub, l.flush(ctx, false)
}

// ReassignVersion moves version n of a submission, flagged as perhaps
// another student's, to the rostered student studentID: it becomes that
// student's next version (graded like any other, unflagged, its grader
// text naming the right student), and it is taken off the first
// student's submission, whose list row goes back to their previous
// version (or away, if it was their only one). The move is an upload
// batch of one file, returned with its outcome. Only the submission's
// latest version can move. Retrying after a failure part-way completes
// the move. Returns NotFound unless the caller manages the assignment and
// the version exists; Invalid for a student not on the roster; Conflict
// for a version that is not flagged or not the latest.
func (s *Service) ReassignVersion(ctx context.Context, caller account.User, submissionID string, n int, studentID string) (Upload, error) {
	sub, a, err := s.teacherVersion(ctx, caller, submissionID, n)
	if err != nil {
		return Upload{}, err
	}
	v := sub.Versions[n-1]
	switch studentID = strings.TrimSpace(studentID); {
	case !v.Flag.Open():
		return Upload{}, errs.E(errs.Conflict, "Only a flagged version can move to another student; version %d of this submission is not flagged.", n)
	case n != len(sub.Versions):
		return Upload{}, errs.E(errs.Conflict, "Only the latest version can move to another student; this submission has a version %d now.", len(sub.Versions))
	case studentID == "" || studentID == sub.StudentID:
		return Upload{}, errs.F(errs.Invalid, "student_id", "Say which other student of the class the file belongs to (student_id).")
	}
	b, err := s.startBatch(ctx, caller, a, "", "")
	if err != nil {
		return Upload{}, err
	}
	st, ok, err := b.rostered(ctx, studentID)
	if err == nil && !ok {
		err = errs.F(errs.Invalid, "student_id", "Student ID %s is not on this class's roster.", studentID)
	}
	if err != nil {
		_, _ = b.Finish(ctx, "")
		return Upload{}, err
	}
	fctx, cancel := fileContext(ctx)
	defer cancel()
	if err := b.move(fctx, sub, v, st); err != nil {
		_, _ = b.Finish(ctx, "")
		return Upload{}, err
	}
	return b.Finish(ctx, "")
}

// move stores version v of sub as st's next version, then takes it off
// sub. The second step is marked in flight (until Finish), so that Recover
// lists sub as it is stored whatever a crash interrupts.
func (b *Batch) move(ctx context.Context, sub Submission, v Version, st Student) error {
	s := b.s
	t, err := s.Text(ctx, VersionID(sub.ID, v.N))
	if err != nil {
		return err
	}
	o, err := b.store(ctx, incoming{name: v.Filename, st: st, sha256: v.SHA256, size: v.Size, format: v.Format, text: t.Text, warnings: v.Warnings})
	if err != nil {
		return err
	}
	if err := b.record(ctx, o); err != nil {
		return err
	}
	if o.Error != nil {
		return o.Error
	}
	if err := b.mark(ctx, pendingVersion{File: v.Filename, SubmissionID: sub.ID, N: v.N, SHA256: v.SHA256, Remove: true}); err != nil {
		return err
	}
	next := sub
	next.Versions = slices.Clone(sub.Versions[:v.N-1])
	next.N = len(next.Versions)
	if err := mongostore.Swap(ctx, s.c(colSubmissions), sub.ID, "n", int64(sub.N), next); err != nil {
		return swapErr(err)
	}
	// Its grader text named the wrong student; nothing refers to it now.
	if _, err := s.c(colTexts).DeleteOne(ctx, bson.D{{Key: "_id", Value: VersionID(sub.ID, v.N)}}); err != nil {
		return errs.Wrap(err, "remove moved text")
	}
	if err := b.list.place(ctx, next, nil, false); err != nil {
		b.broken = true
		return err
	}
	return nil // Finish clears the mark
}

// swapErr is the user's error for a failed compare-and-set on a submission.
func swapErr(err error) error {
	if err == mongostore.ErrStale {
		return errs.E(errs.Conflict, "The submission changed at the same moment (another upload?); reload and try again.")
	}
	return err
}
