package intake

import (
	"context"
	"crypto/rand"
	"hash/fnv"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// pseudonymAlphabet has no 0/O or 1/I, so a pseudonym reads unambiguously.
const pseudonymAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newPseudonym draws a pseudonym at random, e.g. "Student K7QF". Nothing
// about the student goes into it, so knowing the assignment and the roster
// tells a grader nothing about who has which pseudonym. (Pseudonyms given
// before they were drawn at random, from a hash of the assignment and
// student IDs, stay as they are.)
func newPseudonym() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	for i := range b {
		b[i] = pseudonymAlphabet[int(b[i])%len(pseudonymAlphabet)]
	}
	return "Student " + string(b[:])
}

// reservePseudonym reserves a new pseudonym for a student on an assignment,
// one no other student of the assignment has, drawing candidates from draw
// (newPseudonym): the reservation is an insert on a unique _id,
// "<assignment id>:<pseudonym>".
func (s *Service) reservePseudonym(ctx context.Context, assignmentID, studentID string, draw func() string) (string, error) {
	for range 50 {
		p := draw()
		_, err := s.c(colPseudonyms).InsertOne(ctx, bson.D{{Key: "_id", Value: assignmentID + ":" + p}, {Key: "student_id", Value: studentID}})
		if err == nil {
			return p, nil
		}
		if !mongostore.IsDuplicateKey(err) {
			return "", errs.Wrap(err, "reserve pseudonym")
		}
	}
	return "", errs.E(errs.Internal, "Could not find a free pseudonym.")
}

// identity is a student's submission ID and pseudonym on one assignment.
type identity struct {
	SubmissionID string `bson:"submission_id"`
	Pseudonym    string `bson:"pseudonym"`
}

// identityDoc holds every identity of an assignment's students, by
// mongostore.FieldKey(student ID), so that redaction reads them in one go.
// Each student's own document (studentIdentityDoc) is the record; this one
// gathers them, and an entry it lacks (one given out by an upload that
// stopped before saving its batch's entries) is read from the student's
// document when it is needed (see identity).
type identityDoc struct {
	ID       string              `bson:"_id"`
	Students map[string]identity `bson:"students"`
	// unsaved are the entries given out since the last saveIdentities.
	unsaved bson.D
}

// newSubmissionID is the opaque ID of a new submission to an assignment:
// "<assignment id>:sub_<16 random base32 letters and digits>". It holds
// nothing of the student, and only characters that need no escaping in a
// URL path.
func newSubmissionID(assignmentID string) string { return assignmentID + ":" + account.NewID("sub") }

// legacySubmissionID is the ID submissions had before their IDs were
// opaque: "<assignment id>:<student id>". Those submissions keep it.
func legacySubmissionID(assignmentID, studentID string) string {
	return assignmentID + ":" + studentID
}

// identities returns an assignment's identity document, empty when it has
// none yet.
func (s *Service) identities(ctx context.Context, assignmentID string) (identityDoc, error) {
	var d identityDoc
	err := s.findByID(ctx, colIdentities, assignmentID, "identities", &d)
	if errs.Is(err, errs.NotFound) {
		err = nil
	}
	if d.Students == nil {
		d.Students = map[string]identity{}
	}
	return identityDoc{ID: assignmentID, Students: d.Students}, err
}

// identity returns a student's submission ID and pseudonym on an
// assignment, giving them out on first use: a student who submitted before
// IDs were opaque keeps their submission's ID and pseudonym; anyone else
// gets a new opaque ID and a random pseudonym. The first use is an insert
// of the student's own small document (_id "<assignment id>:<student>"), so
// two first uses at once agree on one and the loser's pseudonym is given
// back; the assignment's identity document, which redaction reads whole,
// is then brought up to date by _id. known is the assignment's identities
// as last read, and is updated in place.
func (s *Service) identity(ctx context.Context, known *identityDoc, studentID string) (identity, error) {
	id, err := s.identityUnsaved(ctx, known, studentID)
	if err != nil {
		return identity{}, err
	}
	return id, s.saveIdentities(ctx, known)
}

// identityUnsaved is identity without bringing the assignment's identity
// document up to date: the entry waits in known for saveIdentities, so an
// upload writes that growing document once per batch of files, not once
// per file. The student's own document is written first either way.
func (s *Service) identityUnsaved(ctx context.Context, known *identityDoc, studentID string) (identity, error) {
	key := mongostore.FieldKey(studentID)
	if id, ok := known.Students[key]; ok {
		return id, nil
	}
	got, err := s.studentIdentity(ctx, known.ID, studentID)
	if errs.Is(err, errs.NotFound) {
		got, err = s.newIdentity(ctx, known.ID, studentID)
	}
	if err != nil {
		return identity{}, err
	}
	known.Students[key] = got
	known.unsaved = append(known.unsaved, bson.E{Key: "students." + key, Value: got})
	return got, nil
}

// saveIdentities writes the entries known has given out since it was last
// saved, in one update.
func (s *Service) saveIdentities(ctx context.Context, known *identityDoc) error {
	if len(known.unsaved) == 0 {
		return nil
	}
	if _, err := s.c(colIdentities).UpdateOne(ctx, bson.D{{Key: "_id", Value: known.ID}},
		bson.D{{Key: "$set", Value: known.unsaved}}, updateUpsert()); err != nil {
		return errs.Wrap(err, "save identities")
	}
	known.unsaved = nil
	return nil
}

// studentIdentityDoc is one student's identity on one assignment, under
// _id "<assignment id>:<mongostore.FieldKey(student id)>".
type studentIdentityDoc struct {
	ID           string `bson:"_id"`
	SubmissionID string `bson:"submission_id"`
	Pseudonym    string `bson:"pseudonym"`
}

func studentIdentityID(assignmentID, studentID string) string {
	return assignmentID + ":" + mongostore.FieldKey(studentID)
}

// studentIdentity reads one student's identity; not_found before its
// first use.
func (s *Service) studentIdentity(ctx context.Context, assignmentID, studentID string) (identity, error) {
	d, err := mongostore.Get[studentIdentityDoc](ctx, s.c(colStudentIdentities), studentIdentityID(assignmentID, studentID), "submission identity")
	return identity{SubmissionID: d.SubmissionID, Pseudonym: d.Pseudonym}, err
}

// newIdentity gives a student their identity on an assignment, or returns
// the one another upload gave them a moment earlier.
func (s *Service) newIdentity(ctx context.Context, assignmentID, studentID string) (identity, error) {
	var want identity
	reserved := false
	legacy, err := s.Submission(ctx, legacySubmissionID(assignmentID, studentID))
	switch {
	case err == nil && legacy.StudentID == studentID:
		want = identity{SubmissionID: legacy.ID, Pseudonym: legacy.Pseudonym}
	case err == nil || errs.Is(err, errs.NotFound):
		p, err := s.reservePseudonym(ctx, assignmentID, studentID, newPseudonym)
		if err != nil {
			return identity{}, err
		}
		want, reserved = identity{SubmissionID: newSubmissionID(assignmentID), Pseudonym: p}, true
	default:
		return identity{}, err
	}
	_, err = s.c(colStudentIdentities).InsertOne(ctx, studentIdentityDoc{ID: studentIdentityID(assignmentID, studentID), SubmissionID: want.SubmissionID, Pseudonym: want.Pseudonym})
	if err == nil {
		return want, nil
	}
	if !mongostore.IsDuplicateKey(err) {
		return identity{}, errs.Wrap(err, "save identity")
	}
	got, err := s.studentIdentity(ctx, assignmentID, studentID)
	if err != nil {
		return identity{}, err
	}
	if reserved && got.Pseudonym != want.Pseudonym {
		_, _ = s.c(colPseudonyms).DeleteOne(ctx, bson.D{{Key: "_id", Value: assignmentID + ":" + want.Pseudonym}})
	}
	return got, nil
}

// SubmissionOf returns a student's submission to an assignment, found
// through the student's identity on it (or, for a submission made before
// IDs were opaque, by its old ID). Returns not_found when the student has
// none.
func (s *Service) SubmissionOf(ctx context.Context, assignmentID, studentID string) (Submission, error) {
	id := legacySubmissionID(assignmentID, studentID)
	known, err := s.studentIdentity(ctx, assignmentID, studentID)
	switch {
	case err == nil:
		id = known.SubmissionID
	case !errs.Is(err, errs.NotFound):
		return Submission{}, err
	}
	sub, err := s.Submission(ctx, id)
	if err == nil && sub.StudentID != studentID {
		return Submission{}, errs.E(errs.NotFound, "No submission from student %q.", studentID)
	}
	return sub, err
}

// rosterNames remembers every name a class's roster has held: the names
// of a student the teacher renamed or removed keep being replaced in their
// classmates' texts.
type rosterNames struct {
	ID string `bson:"_id"` // the class ID
	// Complete is set once the document holds the whole roster (classes
	// from before it existed are filled in on first use).
	Complete bool                    `bson:"complete"`
	People   map[string]rosterPerson `bson:"people"` // by mongostore.FieldKey(student ID)
}

type rosterPerson struct {
	StudentID string       `bson:"student_id"`
	Names     []rosterName `bson:"names"`
}

type rosterName struct {
	Given  string `bson:"given"`
	Family string `bson:"family"`
	Email  string `bson:"email,omitempty"`
}

// rememberNames adds students' current names to their class's record.
func (s *Service) rememberNames(ctx context.Context, classID string, complete bool, sts ...Student) error {
	if len(sts) == 0 && !complete {
		return nil
	}
	set, add := bson.D{}, bson.D{}
	for _, st := range sts {
		k := "people." + mongostore.FieldKey(st.StudentID)
		set = append(set, bson.E{Key: k + ".student_id", Value: st.StudentID})
		add = append(add, bson.E{Key: k + ".names", Value: rosterName{Given: st.GivenName, Family: st.FamilyName, Email: st.Email}})
	}
	if complete {
		set = append(set, bson.E{Key: "complete", Value: true})
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(add) > 0 {
		update = append(update, bson.E{Key: "$addToSet", Value: add})
	}
	_, err := s.c(colRosterNames).UpdateOne(ctx, bson.D{{Key: "_id", Value: classID}}, update, updateUpsert())
	return errs.Wrap(err, "remember roster names")
}

// classNames returns every name a class's roster has held, filling the
// record in from the roster the first time.
func (s *Service) classNames(ctx context.Context, classID string) (rosterNames, error) {
	var d rosterNames
	err := s.findByID(ctx, colRosterNames, classID, "roster names", &d)
	if err != nil && !errs.Is(err, errs.NotFound) {
		return rosterNames{}, err
	}
	if d.Complete {
		return d, nil
	}
	sts, err := s.scanRoster(ctx, classID)
	if err != nil {
		return rosterNames{}, err
	}
	if err := s.rememberNames(ctx, classID, true, sts...); err != nil {
		return rosterNames{}, err
	}
	err = s.findByID(ctx, colRosterNames, classID, "roster names", &d)
	return d, err
}

// teacherPerson is a class's teacher as the redactor knows them: the name
// of their account, without a title ("Ms Rivera" is the family name
// Rivera), and their email.
func teacherPerson(u account.User) Person {
	var words []string
	for _, w := range strings.Fields(u.Name) {
		if len(words) == 0 && titleSet[foldKey(strings.TrimSuffix(w, "."))] {
			continue
		}
		words = append(words, w)
	}
	p := Person{Replacement: TheTeacher, Teacher: true}
	switch len(words) {
	case 0:
	case 1:
		p.Names = []PersonName{{Family: words[0]}}
	default:
		p.Names = []PersonName{{Given: words[0], Family: strings.Join(words[1:], " ")}}
	}
	if u.Email != "" {
		p.Emails = []string{u.Email}
	}
	return p
}

// redactorFor returns the redactor of an assignment's texts: every student
// ever on its class's roster, each replaced by their own pseudonym on the
// assignment (given out here to those who have none yet), and the
// teacher, replaced by "the teacher". It reports whether the student
// author is among them.
func (s *Service) redactorFor(ctx context.Context, a Assignment, author string) (*Redactor, bool, error) {
	names, err := s.classNames(ctx, a.ClassID)
	if err != nil {
		return nil, false, err
	}
	ids, err := s.identities(ctx, a.ID)
	if err != nil {
		return nil, false, err
	}
	keys := make([]string, 0, len(names.People))
	for k := range names.People {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	people := make([]Person, 0, len(keys)+1)
	found := false
	for _, k := range keys {
		rp := names.People[k]
		id, err := s.identity(ctx, &ids, rp.StudentID)
		if err != nil {
			return nil, false, err
		}
		p := Person{Replacement: id.Pseudonym}
		for _, n := range rp.Names {
			p.Names = append(p.Names, PersonName{Given: n.Given, Family: n.Family})
			if n.Email != "" {
				p.Emails = append(p.Emails, n.Email)
			}
		}
		people = append(people, p)
		found = found || rp.StudentID == author
	}
	if s.accounts != nil && a.TeacherID != "" {
		if u, err := s.accounts.User(ctx, a.TeacherID); err == nil {
			people = append(people, teacherPerson(u))
		} else if !errs.Is(err, errs.NotFound) {
			return nil, false, err
		}
	}
	return NewRedactor(people), found, nil
}

// Near-duplicate detection: a MinHash sketch of each text's 5-word
// shingles; the share of equal slots estimates the Jaccard similarity of two
// texts' shingle sets.
const (
	sketchSize = 64
	shingleLen = 5
)

func sketch(text string) []uint32 {
	// The words are read one at a time, lowercased, with a window of the
	// last shingleLen kept: memory stays flat whatever the text's size.
	var (
		window  [shingleLen][]byte // the last words, oldest first
		n       int                // words seen
		out     []uint32
		current []byte
	)
	add := func(words [][]byte) {
		if out == nil {
			out = make([]uint32, sketchSize)
			for i := range out {
				out[i] = ^uint32(0)
			}
		}
		h := fnv.New64a()
		for _, w := range words {
			h.Write(w)
			h.Write([]byte{0})
		}
		x := h.Sum64()
		for k := range out {
			// k-th hash function: a cheap independent mix of x.
			v := uint32(mix(x + uint64(k)*0x9E3779B97F4A7C15))
			if v < out[k] {
				out[k] = v
			}
		}
	}
	endWord := func() {
		if len(current) == 0 {
			return
		}
		if n < shingleLen {
			window[n] = append(window[n][:0], current...)
		} else {
			w0 := window[0]
			copy(window[:], window[1:])
			window[shingleLen-1] = append(w0[:0], current...)
		}
		if n++; n >= shingleLen {
			add(window[:])
		}
		current = current[:0]
	}
	for _, r := range text {
		if r = unicode.ToLower(r); unicode.IsLetter(r) || unicode.IsNumber(r) {
			current = utf8.AppendRune(current, r)
		} else {
			endWord()
		}
	}
	endWord()
	if n > 0 && n < shingleLen {
		add(window[:n]) // fewer words than a shingle: one shingle of them all
	}
	return out
}

func mix(z uint64) uint64 { // splitmix64 finaliser
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// similarity estimates the Jaccard similarity of the texts behind two
// sketches, 0 to 1.
func similarity(a, b []uint32) float64 {
	if len(a) != sketchSize || len(b) != sketchSize {
		return 0
	}
	same := 0
	for i := range a {
		if a[i] == b[i] {
			same++
		}
	}
	return float64(same) / sketchSize
}
