package intake

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"hash/fnv"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// pseudonymAlphabet has no 0/O or 1/I, so a pseudonym reads unambiguously.
const pseudonymAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// candidatePseudonym is the attempt-th candidate pseudonym of a student on
// an assignment, e.g. "Student K7QF". The sequence is deterministic, so a
// retried upload finds the pseudonym its first try reserved.
func candidatePseudonym(assignmentID, studentID string, attempt int) string {
	sum := sha256.Sum256([]byte(assignmentID + "\x00" + studentID + "\x00" + itoa(attempt)))
	n := binary.BigEndian.Uint32(sum[:4])
	var b [4]byte
	for i := range b {
		b[i] = pseudonymAlphabet[n%uint32(len(pseudonymAlphabet))]
		n /= uint32(len(pseudonymAlphabet))
	}
	return "Student " + string(b[:])
}

// pseudonym returns the student's stable pseudonym on the assignment,
// reserving it on first use. Pseudonyms are unique per assignment: the
// reservation is an insert on a unique _id.
func (s *Service) pseudonym(ctx context.Context, assignmentID, studentID string) (string, error) {
	for attempt := range 50 {
		p := candidatePseudonym(assignmentID, studentID, attempt)
		id := assignmentID + ":" + p
		_, err := s.c(colPseudonyms).InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "student_id", Value: studentID}})
		if err == nil {
			return p, nil
		}
		if !mongostore.IsDuplicateKey(err) {
			return "", errs.Wrap(err, "reserve pseudonym")
		}
		var got struct {
			StudentID string `bson:"student_id"`
		}
		if err := s.findByID(ctx, colPseudonyms, id, "pseudonym", &got); err != nil {
			return "", err
		}
		if got.StudentID == studentID {
			return p, nil // reserved by an earlier try of this upload
		}
	}
	return "", errs.E(errs.Internal, "Could not find a free pseudonym.")
}

// Pseudonymize replaces a student's rostered names and email in text with
// their pseudonym: the email, then the full name in either order ("Avery
// Rivera", "Rivera, Avery"), then each name alone, matched case-insensitively
// on word boundaries. Names shorter than two letters are left alone, since
// they would match ordinary words.
func Pseudonymize(text string, st Student, pseudonym string) string {
	var terms []string
	if st.Email != "" {
		terms = append(terms, st.Email)
	}
	g, f := strings.TrimSpace(st.GivenName), strings.TrimSpace(st.FamilyName)
	if g != "" && f != "" {
		terms = append(terms, g+" "+f, f+", "+g, f+" "+g)
	}
	for _, n := range []string{g, f} {
		for _, part := range strings.FieldsFunc(n, func(r rune) bool { return unicode.IsSpace(r) || r == '-' }) {
			if len([]rune(part)) >= 2 {
				terms = append(terms, part)
			}
		}
		if len([]rune(n)) >= 2 {
			terms = append(terms, n)
		}
	}
	if len(terms) == 0 {
		return text
	}
	sort.SliceStable(terms, func(i, j int) bool { return len(terms[i]) > len(terms[j]) }) // longest first
	quoted := make([]string, len(terms))
	for i, t := range terms {
		q := regexp.QuoteMeta(t)
		q = strings.ReplaceAll(q, " ", `\s+`)
		quoted[i] = q
	}
	re := regexp.MustCompile(`(?i)(^|[^\p{L}\p{N}_])(` + strings.Join(quoted, "|") + `)([^\p{L}\p{N}_]|$)`)
	// ReplaceAll cannot overlap matches that share a boundary character, so
	// repeat until nothing changes (each pass strictly removes a name).
	for range 10 {
		next := re.ReplaceAllString(text, "${1}"+strings.ReplaceAll(pseudonym, "$", "$$")+"${3}")
		if next == text {
			break
		}
		text = next
	}
	return text
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
