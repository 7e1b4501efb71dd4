package intake

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// SubmissionName is what a Canvas bulk-download file name says about a
// submission. Canvas names each file
//
//	<slug>_<student id>_<submission number>_<original name>
//	<slug>_LATE_<student id>_<submission number>_<original name>
//
// for example riveraavery_1001_5001_personalized-learning-primary.docx, and
// leaves out "_<original name>" when it has none (riveraavery_1001_5001.docx).
type SubmissionName struct {
	Slug      string // family and given name run together and lowercased, e.g. "riveraavery"
	StudentID string // Canvas's ID of the student, all digits
	Number    string // Canvas's submission number, all digits; an opaque ID, not a count
	Original  string // the name the student uploaded, e.g. "essay_v2.docx"; "" if Canvas left it out
	Ext       string // the extension of the file name with its dot, e.g. ".docx"; "" if none
	Late      bool   // Canvas marked the submission late
}

const (
	maxSubmissionNameLen = 1024 // bytes
	maxIDDigits          = 20
	maxBareExtLen        = 10 // of the extension when the original name is left out, without the dot
)

// ParseSubmissionName parses a Canvas bulk-download file name. name may be
// a path, with '/' or '\' separators as ZIPs made on Windows have; only its
// last element is parsed. The name is put in Unicode NFC first (macOS
// decomposes accents in file names).
//
// It returns false, and never a guess, unless the name has exactly the shape
// described on SubmissionName: a slug of lowercase letters and digits with at
// least one letter, the literal LATE marker if any, a student ID and a
// submission number of 1 to 20 digits each, and then either "_" and a
// non-empty original name, a single extension of up to 10 letters and
// digits, or nothing. Names over 1024 bytes, not UTF-8, or with control
// characters are refused.
//
// For a parsed name n, n.String() is the NFC form of the parsed element.
func ParseSubmissionName(name string) (SubmissionName, bool) {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if len(name) > maxSubmissionNameLen || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return SubmissionName{}, false
	}
	name = norm.NFC.String(name)

	var s SubmissionName
	slug, rest, ok := strings.Cut(name, "_")
	if !ok || !isNameSlug(slug) {
		return SubmissionName{}, false
	}
	s.Slug = slug
	rest, s.Late = strings.CutPrefix(rest, "LATE_")
	id, rest, ok := strings.Cut(rest, "_")
	if !ok || !isID(id) {
		return SubmissionName{}, false
	}
	s.StudentID = id
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	s.Number, rest = rest[:end], rest[end:]
	if !isID(s.Number) {
		return SubmissionName{}, false
	}
	switch {
	case rest == "":
	case rest[0] == '_':
		s.Original = rest[1:]
		if s.Original == "" || s.Original == "." || s.Original == ".." {
			return SubmissionName{}, false
		}
	case rest[0] == '.' && isBareExt(rest[1:]):
	default:
		return SubmissionName{}, false
	}
	s.Ext = path.Ext(name) // the slug, ID and number have no dots
	return s, true
}

// String is the Canvas file name that n describes.
func (n SubmissionName) String() string {
	var b strings.Builder
	b.WriteString(n.Slug)
	if n.Late {
		b.WriteString("_LATE")
	}
	b.WriteString("_" + n.StudentID + "_" + n.Number)
	if n.Original != "" {
		b.WriteString("_" + n.Original)
	} else {
		b.WriteString(n.Ext)
	}
	return b.String()
}

// isNameSlug reports whether s is a Canvas name slug: letters, marks and
// digits, none upper case, at least one letter. Upper case is excluded so
// that the LATE marker can never be read as a slug.
func isNameSlug(s string) bool {
	letter := false
	for _, r := range s {
		switch {
		case unicode.IsUpper(r) || unicode.IsTitle(r):
			return false
		case unicode.IsLetter(r):
			letter = true
		case unicode.IsDigit(r) || unicode.IsMark(r):
		default:
			return false
		}
	}
	return letter
}

func isID(s string) bool {
	if s == "" || len(s) > maxIDDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isBareExt(s string) bool {
	if s == "" || len(s) > maxBareExtLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
