package anchor

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/marginschool/margin/pkg/errs"
)

// MaxQuote is the longest quote Resolve accepts, in code points after NFC.
const MaxQuote = 2000

// ContextLen is how many code points of prefix and suffix Resolve puts in
// the targets it returns (Hypothesis uses the same).
const ContextLen = 32

// maxContextUsed caps how much of a given prefix or suffix is compared:
// the nearest code points decide, and a huge one costs no more.
const maxContextUsed = 256

// Doc is a student's stored text prepared for anchoring many quotes: it
// holds a code-point index and the folded form of the text with its map
// back to code points. Build it once per text with NewDoc. A Doc is never
// changed after NewDoc, so it is safe for concurrent use.
type Doc struct {
	text   string
	runes  int
	cpByte []int32 // byte offset of every code point, then len(text); nil when text is ASCII

	folded       string  // fold(text)
	starts, ends []int32 // fold's map from folded bytes to code points of text
}

// NewDoc prepares text, which must be valid UTF-8 in NFC (as the extractor
// stores it; a quote in NFD still anchors, but text in NFD does not anchor
// NFC quotes). It costs a pass over the text and about 9 bytes of memory per
// byte of text.
func NewDoc(text string) *Doc {
	d := &Doc{text: text}
	ascii := true
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		d.runes = len(text)
	} else {
		d.cpByte = make([]int32, 0, len(text)+1)
		for b := range text {
			d.cpByte = append(d.cpByte, int32(b))
		}
		d.runes = len(d.cpByte)
		d.cpByte = append(d.cpByte, int32(len(text)))
	}
	d.folded, d.starts, d.ends = fold(text, true)
	return d
}

// Text returns the text the Doc was built from.
func (d *Doc) Text() string { return d.text }

// Len returns the length of the text in code points.
func (d *Doc) Len() int { return d.runes }

// ByteOffset returns the byte offset of code point cp, which may be Len()
// for the end of the text; it reports false when cp is out of range.
func (d *Doc) ByteOffset(cp int) (int, bool) {
	if cp < 0 || cp > d.runes {
		return 0, false
	}
	return d.byteOf(cp), true
}

// RuneOffset returns the code-point offset of byte offset b; it reports
// false when b is out of range or inside a character's encoding.
func (d *Doc) RuneOffset(b int) (int, bool) {
	if b < 0 || b > len(d.text) {
		return 0, false
	}
	if d.cpByte == nil {
		return b, true
	}
	return slices.BinarySearch(d.cpByte, int32(b))
}

// byteOf is ByteOffset for a cp known to be in range.
func (d *Doc) byteOf(cp int) int {
	if d.cpByte == nil {
		return cp
	}
	return int(d.cpByte[cp])
}

// Resolve anchors a grader's quote in the text and returns the target to
// store: its Exact, Prefix (ContextLen code points) and Suffix are taken
// from the stored text, and its Position gives their code-point offsets.
//
// The quote's exact, prefix and suffix are first brought to NFC. Then:
//   - if the offsets hold the exact text and the prefix and suffix agree
//     with the text around it, the outcome is Exact;
//   - otherwise the quote is searched for with whitespace runs, quote
//     marks and dashes treated as equal (see the package doc) and with
//     whitespace at its ends ignored. When it occurs more than once, the
//     occurrence with the most of the prefix just before it plus the most
//     of the suffix just after it wins; on a tie the one starting nearest
//     to Position.Start wins (an empty or inverted position is no hint).
//     The outcome is Exact if that is the given position with the given
//     exact text, otherwise Repaired.
//
// Errors are *errs.Error with code errs.Invalid and an empty Field, which
// the caller sets to the quote's path: the quote is empty or only
// whitespace; it is longer than MaxQuote code points; it is not in the text;
// or it occurs more than once and neither its context nor its position
// says which occurrence is meant.
func (d *Doc) Resolve(t Target) (Target, Outcome, error) {
	q := t.Quote
	if len(q.Exact) > 4*utf8.UTFMax*MaxQuote { // spare NFC a megabyte; the exact check is below
		return Target{}, 0, tooLong(utf8.RuneCountInString(q.Exact))
	}
	exact := norm.NFC.String(q.Exact)
	if strings.TrimFunc(exact, unicode.IsSpace) == "" {
		return Target{}, 0, errs.E(errs.Invalid, "The quote is empty.")
	}
	if n := utf8.RuneCountInString(exact); n > MaxQuote {
		return Target{}, 0, tooLong(n)
	}
	prefix := norm.NFC.String(lastRunes(q.Prefix, maxContextUsed))
	suffix := norm.NFC.String(firstRunes(q.Suffix, maxContextUsed))

	p := t.Position
	if 0 <= p.Start && p.Start <= p.End && p.End <= d.runes {
		bs, be := d.byteOf(p.Start), d.byteOf(p.End)
		if d.text[bs:be] == exact &&
			strings.HasSuffix(d.text[:bs], prefix) && strings.HasPrefix(d.text[be:], suffix) {
			return d.target(p.Start, p.End), Exact, nil
		}
	}

	fq, _, _ := fold(exact, false)
	lead, trail := strings.HasPrefix(fq, " "), strings.HasSuffix(fq, " ")
	fq = strings.TrimSpace(fq)
	if fq == "" { // only invisible characters and whitespace
		return Target{}, 0, errs.E(errs.Invalid, "The quote is empty.")
	}
	// The whitespace trimmed off the quote now lies between it and its context.
	fp, _, _ := fold(prefix, false)
	if lead && !strings.HasSuffix(fp, " ") {
		fp += " "
	}
	fs, _, _ := fold(suffix, false)
	if trail && !strings.HasPrefix(fs, " ") {
		fs = " " + fs
	}

	hint := 0 <= p.Start && p.Start < p.End
	found, best, ties := 0, -1, 0
	var bestScore, bestDist int
	for i := 0; ; {
		j := strings.Index(d.folded[i:], fq)
		if j < 0 {
			break
		}
		at := i + j
		i = at + 1
		found++
		score := commonSuffix(fp, d.folded[:at]) + commonPrefix(fs, d.folded[at+len(fq):])
		dist := 0
		if hint {
			dist = abs(int(d.starts[at]) - p.Start)
		}
		switch {
		case best < 0 || score > bestScore || score == bestScore && dist < bestDist:
			best, bestScore, bestDist, ties = at, score, dist, 1
		case score == bestScore && dist == bestDist:
			ties++
		}
	}
	switch {
	case found == 0:
		return Target{}, 0, errs.E(errs.Invalid, "The quote \"%s\" is not in the student's text.", snippet(exact))
	case ties > 1:
		return Target{}, 0, errs.E(errs.Invalid,
			"The quote \"%s\" appears %d times in the student's text, and the words around it do not tell which one is meant; quote a longer passage.",
			snippet(exact), found)
	}
	start, end := int(d.starts[best]), int(d.ends[best+len(fq)])
	out := d.target(start, end)
	if start == p.Start && end == p.End && out.Quote.Exact == exact {
		return out, Exact, nil
	}
	return out, Repaired, nil
}

// target builds the stored target for the code points [start, end).
func (d *Doc) target(start, end int) Target {
	bs, be := d.byteOf(start), d.byteOf(end)
	return Target{
		Quote: TextQuoteSelector{
			Type:   quoteType,
			Exact:  d.text[bs:be],
			Prefix: d.text[d.byteOf(max(start-ContextLen, 0)):bs],
			Suffix: d.text[be:d.byteOf(min(end+ContextLen, d.runes))],
		},
		Position: TextPositionSelector{Type: positionType, Start: start, End: end},
	}
}

func tooLong(n int) error {
	return errs.E(errs.Invalid, "The quote is %d characters long; the limit is %d.", n, MaxQuote)
}

// commonSuffix is the length in bytes of the longest common suffix of a and
// b that starts on a character boundary.
func commonSuffix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[len(a)-1-n] == b[len(b)-1-n] {
		n++
	}
	for n > 0 && !utf8.RuneStart(a[len(a)-n]) {
		n--
	}
	return n
}

// commonPrefix is the length in bytes of the longest common prefix of a and
// b that ends on a character boundary.
func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	for n > 0 && n < len(a) && !utf8.RuneStart(a[n]) {
		n--
	}
	return n
}

// lastRunes returns the last n code points of s.
func lastRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s)
	for ; n > 0 && i > 0; n-- {
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	return s[i:]
}

// firstRunes returns the first n code points of s.
func firstRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for ; n > 0 && i < len(s); n-- {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// snippet shortens a quote for an error message.
func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return firstRunes(s, 39) + "…"
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
