package intake

import (
	_ "embed"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Person is someone a grader must not be able to name: a rostered student
// or a class's teacher.
type Person struct {
	// Names are every name the person is known by (a student keeps the
	// names of earlier roster imports).
	Names []PersonName
	// Emails are the person's email addresses.
	Emails []string
	// Replacement is what a grader reads instead of any of their names: a
	// student's pseudonym on the assignment, or "the teacher".
	Replacement string
	// Teacher marks a teacher: a title and a family name ("Ms Rivera")
	// shared by a teacher and a student is the teacher's.
	Teacher bool
}

// PersonName is one given and family name of a person. Either may hold
// several words ("Anne-Marie", "van der Berg").
type PersonName struct {
	Given  string
	Family string
}

// What a grader reads in place of the teacher's name, and of a name that
// several people share (see Redactor).
const (
	TheTeacher = "the teacher"
	AClassmate = "a classmate"
	SharedName = "[name]"
)

// minFormRune is the shortest name word replaced on its own.
const minFormRune = 2

// Span is one replacement made by a Redactor: the code points [Start, End)
// of the original text became [GraderStart, GraderEnd) of the grader text.
type Span struct {
	Start       int `json:"start" bson:"start"`
	End         int `json:"end" bson:"end"`
	GraderStart int `json:"grader_start" bson:"grader_start"`
	GraderEnd   int `json:"grader_end" bson:"grader_end"`
}

// Redaction is a text with every name replaced, and where each replacement
// is, in order.
type Redaction struct {
	Text  string
	Spans []Span
}

// ToOriginal maps the code points [start, end) of a grader text to the
// passage of the original text they came from. A boundary inside a
// replacement widens to the whole name it replaced, so a quote of part of a
// pseudonym maps to the whole name.
func ToOriginal(spans []Span, start, end int) (int, int) {
	return mapOffset(spans, start, false), mapOffset(spans, end, true)
}

func mapOffset(spans []Span, g int, isEnd bool) int {
	delta := 0
	for _, sp := range spans {
		switch {
		case g < sp.GraderStart || !isEnd && g == sp.GraderStart:
			return g + delta
		case isEnd && g == sp.GraderStart:
			return sp.Start
		case g < sp.GraderEnd || isEnd && g == sp.GraderEnd:
			if isEnd {
				return sp.End
			}
			return sp.Start
		}
		delta = sp.End - sp.GraderEnd
	}
	return g + delta
}

// Redactor replaces the names and emails of a set of people in texts. Build
// one with NewRedactor; it is safe for concurrent use.
//
// What it replaces, matching case-insensitively, accents ignored, on word
// boundaries (a word is a run of letters; digits, '_', '@', '.', '-' and
// apostrophes separate words):
//   - every email address, whole;
//   - the full name, in either order, with a comma ("Rivera, Maya"), across
//     a line break, or joined by '.', '_' or '-' as in a handle
//     ("@maya_rivera", "maya.rivera"), or run together ("mayarivera");
//   - an initial and the other name ("M. Rivera", "Maya R.");
//   - a title and a name ("Ms Rivera", "Mr. Okafor", "Coach Maya");
//   - each name alone, and each word of a name of several words (not a
//     one-letter word or a particle such as "van" or "de").
//
// A name word that is also an ordinary English word (see words/README.md),
// such as "Grace", "Will", "May" or "Brown", is replaced alone only where it
// reads as a name: written with a capital letter, not after a determiner
// ("the", "my", "a", …), not part of another proper noun ("Amazing Grace",
// "Mark Twain"), not a month in a date ("in May", "May 3") and not a verb
// before its subject ("Will you", "May I"). At the start of a sentence,
// where every word has a capital, it is replaced only when a name cue
// follows: a possessive ("Grace's"), "and"/"or" and another name or "I", a
// comma and a rostered name ("Hope, Priya and I"), a verb of saying or
// doing from a list ("said", "helped", …), or, when the text names that
// person for certain elsewhere, any word in lower case that is not a
// function word ("Stone is strict" after "Avery Stone"). Full names,
// handles, titles and emails are replaced in any case. docs/BENCHMARKS.md
// measures where this line falls.
//
// A replacement that starts in lower case ("the teacher") is capitalised at
// the start of a sentence. A name that several people share becomes the
// shared replacement if they have one, "a classmate" if they are all
// students, and "[name]" otherwise.
type Redactor struct {
	forms      map[string][]*form // by the key of their first word, longest first
	emailRepl  map[string]string  // lower-cased email → replacement
	nameWords  map[string]bool    // keys of every word of every name
	titleWords map[string]bool
	// hasOrdinary is set when some name is all ordinary words, which is
	// when the context matters.
	hasOrdinary bool
}

// form is one way of writing a name, as the keys of its words.
type form struct {
	keys     []string
	repl     string
	ordinary bool // every word of the name is an ordinary English word
	comma    bool // "Family, Given": a comma may follow the first word
	handle   bool // one word made of several names, or of an email's
	// initial is 1 when the first word is an initial ("M. Rivera") and 2
	// when the last is ("Maya R."); an initial is a capital letter.
	initial int
	people  map[int]bool
	// titledRepl is the replacement after a title ("Ms Rivera").
	titledRepl string
}

// titles are the words before a name that go with it ("Ms Rivera"). A
// title must be written with a capital ("I miss Grace" keeps its verb).
var titles = []string{"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "coach", "madame", "mme", "mlle",
	"sr", "sra", "srta", "senor", "senora", "senorita", "herr", "frau"}

var titleSet = wordSet(strings.Join(titles, " "))

// particles are words of family names never replaced alone.
var particles = wordSet("van von der den de del della di da dos das du la le bin binti ibn al el st ter ten af av zu y mac mc")

// NewRedactor prepares the names of people for Redact.
func NewRedactor(people []Person) *Redactor {
	r := &Redactor{forms: map[string][]*form{}, emailRepl: map[string]string{}, nameWords: map[string]bool{}, titleWords: titleSet}
	all := map[string]*form{}
	add := func(p int, keys []string, f form) {
		id := strings.Join(keys, " ")
		switch {
		case f.comma:
			id = "comma:" + id
		case f.initial > 0:
			id = "initial:" + id
		}
		g, ok := all[id]
		if !ok {
			f.keys, f.people, f.ordinary = keys, map[int]bool{}, true
			for j, k := range keys {
				neutral := f.initial == 1 && j == 0 || f.initial == 2 && j == len(keys)-1
				if !neutral && !isOrdinary(k) {
					f.ordinary = false
				}
			}
			g = &f
			all[id] = g
		}
		g.people[p] = true
	}
	emailPeople := map[string]map[int]bool{}
	for p, person := range people {
		for _, n := range person.Names {
			given, family := nameKeys(n.Given), nameKeys(n.Family)
			full := concat(given, family)
			for _, k := range full {
				r.nameWords[k] = true
			}
			if len(given) > 0 && len(family) > 0 {
				add(p, full, form{})
				add(p, concat(family, given), form{})
				add(p, concat(family, given), form{comma: true})
				add(p, []string{strings.Join(full, "")}, form{handle: true})
				add(p, []string{strings.Join(family, "") + strings.Join(given, "")}, form{handle: true})
				add(p, concat([]string{initial(given[0])}, family), form{initial: 1})
				add(p, concat(given, []string{initial(family[0])}), form{initial: 2})
			}
			for _, part := range [][]string{given, family} {
				if len(part) > 1 {
					add(p, part, form{})
				}
				for _, w := range part {
					if utf8.RuneCountInString(w) >= minFormRune && !particles[w] && !r.titleWords[w] {
						add(p, []string{w}, form{})
					}
				}
			}
		}
		for _, e := range person.Emails {
			e = strings.ToLower(strings.TrimSpace(e))
			if e == "" {
				continue
			}
			if emailPeople[e] == nil {
				emailPeople[e] = map[int]bool{}
			}
			emailPeople[e][p] = true
			local, _, _ := strings.Cut(e, "@")
			if ks := nameKeys(local); len(ks) > 1 || len(ks) == 1 && utf8.RuneCountInString(ks[0]) >= 4 && !isOrdinary(ks[0]) {
				add(p, ks, form{handle: len(ks) == 1})
			}
		}
	}
	for _, f := range all {
		f.repl, f.titledRepl = replacementFor(f.people, false, people), replacementFor(f.people, true, people)
		r.hasOrdinary = r.hasOrdinary || f.ordinary
		r.forms[f.keys[0]] = append(r.forms[f.keys[0]], f)
	}
	for _, fs := range r.forms {
		sort.Slice(fs, func(i, j int) bool {
			if len(fs[i].keys) != len(fs[j].keys) {
				return len(fs[i].keys) > len(fs[j].keys)
			}
			return !fs[i].ordinary && fs[j].ordinary
		})
	}
	for e, ps := range emailPeople {
		r.emailRepl[e] = replacementFor(ps, false, people)
	}
	return r
}

func concat(a, b []string) []string {
	return append(append(make([]string, 0, len(a)+len(b)), a...), b...)
}

// replacementFor is what a name of the given people becomes: their
// replacement if they share one, "a classmate" if they are all students,
// "[name]" otherwise. A titled name that a teacher has is the teacher's.
func replacementFor(ps map[int]bool, titled bool, people []Person) string {
	teacher := false
	for p := range ps {
		teacher = teacher || people[p].Teacher
	}
	repls := map[string]bool{}
	students := true
	for p := range ps {
		if titled && teacher && !people[p].Teacher {
			continue
		}
		repls[people[p].Replacement] = true
		students = students && !people[p].Teacher
	}
	if len(repls) == 1 {
		for s := range repls {
			return s
		}
	}
	if students {
		return AClassmate
	}
	return SharedName
}

func initial(key string) string {
	r, _ := utf8.DecodeRuneInString(key)
	return string(r)
}

// nameKeys splits a name into the keys of its words.
func nameKeys(name string) []string {
	var out []string
	for _, t := range tokenize(norm.NFC.String(name)) {
		out = append(out, t.key)
	}
	return out
}

// token is one word of a text: a run of letters (and the marks on them).
type token struct {
	start, end     int // bytes
	cpStart, cpEnd int // code points
	key            string
	text           string
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.Is(unicode.M, r) }

func tokenize(text string) []token {
	out := make([]token, 0, len(text)/6+1)
	cp, start, startCP := 0, -1, 0
	for i, r := range text {
		if isWordRune(r) {
			if start < 0 {
				start, startCP = i, cp
			}
		} else if start >= 0 {
			out = append(out, newToken(text, start, i, startCP, cp))
			start = -1
		}
		cp++
	}
	if start >= 0 {
		out = append(out, newToken(text, start, len(text), startCP, cp))
	}
	return out
}

func newToken(text string, start, end, cpStart, cpEnd int) token {
	return token{start: start, end: end, cpStart: cpStart, cpEnd: cpEnd, text: text[start:end], key: foldKey(text[start:end])}
}

// foldKey is the matching key of a word: lower case, without accents.
func foldKey(w string) string {
	ascii := true
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		for i := 0; i < len(w); i++ {
			if 'A' <= w[i] && w[i] <= 'Z' {
				return strings.ToLower(w)
			}
		}
		return w
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(w) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		if s, ok := foldSpecial[r]; ok {
			b.WriteString(s)
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// foldSpecial are letters that NFD does not take apart.
var foldSpecial = map[rune]string{'ß': "ss", 'ø': "o", 'Ø': "o", 'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ı': "i"}

//go:embed words/ordinary.txt
var ordinaryText string

var (
	ordinaryOnce  sync.Once
	ordinaryWords map[string]bool
)

// isOrdinary reports whether the key of a word is an ordinary English word.
func isOrdinary(key string) bool {
	ordinaryOnce.Do(func() {
		ordinaryWords = make(map[string]bool, 41000)
		for _, w := range strings.Split(ordinaryText, "\n") {
			if w = strings.TrimSpace(w); w != "" {
				ordinaryWords[foldKey(w)] = true
			}
		}
	})
	return ordinaryWords[key]
}

// Cues for names that are ordinary words.
var (
	determiners = wordSet("a an the my your his her its our their this that these those some any no every each such what which whose " +
		"free good last amazing")
	dateCues    = wordSet("in on since until till by from to during before after early late mid last next this every of through")
	months      = wordSet("january february march april may june july august september october november december")
	modals      = wordSet("will may can shall might must")
	subjectCues = wordSet("i you we they he she it there this that the these those not someone anyone everyone everybody somebody nobody all")
	nameVerbs   = wordSet("said says told tells asked asks helped helps wrote writes thinks thought believes believed showed shows " +
		"explained explains gave gives suggested suggests argued argues noticed notices laughed laughs smiled smiles wanted wants " +
		"likes liked loves loved knows knew went goes came comes reminded reminds taught teaches agreed agrees disagreed disagrees " +
		"mentioned mentions replied replies answered answers pointed points added adds sat sits worked works studied studies lent lends " +
		"shared shares sent sends made makes took takes found finds felt feels left leaves got gets chose chooses decided decides " +
		"tried tries used uses played plays read drew ran did began brought built bought caught spoke won joined moved opened " +
		"started finished presented scored called walked wondered forgot remembered needed needs missed offered insisted admitted claimed")
	functionWords = wordSet("in on at of for to from with by about as into onto over under than and or but nor so yet " +
		"a an the this that these those")
)

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// Redact returns text with every name and email of the Redactor's people
// replaced, and where.
func (r *Redactor) Redact(text string) Redaction {
	type repl struct {
		start, end int // bytes
		with       string
	}
	var out []repl
	var emailSpans [][]int
	for at := 0; len(r.emailRepl) > 0; {
		j := strings.IndexByte(text[at:], '@')
		if j < 0 {
			break
		}
		start, end := emailAround(text, at+j)
		at += j + 1
		if with, ok := r.emailRepl[strings.ToLower(text[start:end])]; ok {
			emailSpans = append(emailSpans, []int{start, end})
			out = append(out, repl{start, end, capitalize(with, sentenceStart(text, start))})
			at = end
		}
	}
	// Two passes: the first finds who the text names for certain, so that
	// the second can tell their ordinary-word names at the start of a
	// sentence ("Stone is strict" after "Avery Stone").
	sc := &scan{text: text, toks: tokenize(text)}
	var names []repl
	for pass := range 2 {
		names = names[:0]
		seen := map[int]bool{}
		e := 0
		for i := 0; i < len(sc.toks); {
			t := sc.toks[i]
			for e < len(emailSpans) && emailSpans[e][1] <= t.start {
				e++
			}
			if e < len(emailSpans) && t.end > emailSpans[e][0] {
				i++
				continue
			}
			with, start := "", t.start
			n, f := 0, (*form)(nil)
			if r.titleWords[t.key] && (capitalized(t.text) || isUpper(t.text)) && i+1 < len(sc.toks) {
				// A title goes with the name after it: "Ms. Rivera".
				if g := gapKind(text[t.end:sc.toks[i+1].start]); g == gapSpace || g == gapDot {
					if n, f = r.match(sc, i+1, true); n > 0 {
						with, i = f.titledRepl, i+1
					}
				}
			}
			if n == 0 {
				n, f = r.match(sc, i, false)
				if n == 0 {
					i++
					continue
				}
				with = f.repl
			}
			if len(f.people) == 1 {
				for p := range f.people {
					seen[p] = true
				}
			}
			end := sc.toks[i+n-1].end
			if f.initial == 2 && initialDotInside(text[end:]) {
				end++ // "Maya R. said": the initial's full stop goes with it
			}
			names = append(names, repl{start, end, capitalize(with, sentenceStart(text, start))})
			i += n
		}
		if pass == 0 && !r.hasOrdinary || len(seen) == len(sc.named) {
			break
		}
		sc.named = seen
	}
	out = append(out, names...)
	if len(out) == 0 {
		return Redaction{Text: text}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	var b strings.Builder
	b.Grow(len(text))
	spans := make([]Span, 0, len(out))
	at, cp, gcp := 0, 0, 0
	for _, o := range out {
		n := utf8.RuneCountInString(text[at:o.start])
		cp, gcp = cp+n, gcp+n
		b.WriteString(text[at:o.start])
		sp := Span{Start: cp, GraderStart: gcp}
		cp += utf8.RuneCountInString(text[o.start:o.end])
		gcp += utf8.RuneCountInString(o.with)
		sp.End, sp.GraderEnd = cp, gcp
		b.WriteString(o.with)
		spans = append(spans, sp)
		at = o.end
	}
	b.WriteString(text[at:])
	return Redaction{Text: b.String(), Spans: spans}
}

// scan is a text being redacted.
type scan struct {
	text string
	toks []token
	// named are the people a first pass found named for certain.
	named map[int]bool
}

// match returns how many tokens from i a name takes, and its form; 0 for
// none.
func (r *Redactor) match(sc *scan, i int, titled bool) (int, *form) {
	text, toks := sc.text, sc.toks
	for _, f := range r.forms[toks[i].key] {
		n := len(f.keys)
		if i+n > len(toks) {
			continue
		}
		ok, handle := true, f.handle
		for k := 1; k < n && ok; k++ {
			if toks[i+k].key != f.keys[k] {
				ok = false
				break
			}
			switch gapKind(text[toks[i+k-1].end:toks[i+k].start]) {
			case gapSpace:
			case gapJoin:
				handle = true
			case gapDot:
				ok = k == 1 && f.initial == 1
			case gapComma:
				ok = k == 1 && f.comma
			default:
				ok = false
			}
		}
		switch {
		case !ok:
			continue
		case titled && f.ordinary && !capitalized(toks[i].text) && !isUpper(toks[i].text):
			continue
		case f.initial == 1 && !isUpper(toks[i].text):
			continue
		case f.initial == 2 && (!isUpper(toks[i+n-1].text) || !strings.HasPrefix(text[toks[i+n-1].end:], ".")):
			continue
		case f.ordinary && !handle && !titled && !r.readsAsName(sc, i, n, f):
			continue
		}
		return n, f
	}
	return 0, nil
}

const (
	gapOther = iota
	gapSpace
	gapJoin  // one of . _ - ' ’ as in a handle or a hyphenated name
	gapDot   // ". " after an initial or a title
	gapComma // ", " in "Family, Given"
)

func gapKind(g string) int {
	switch {
	case g == "":
		return gapOther
	case strings.TrimFunc(g, unicode.IsSpace) == "":
		if utf8.RuneCountInString(g) <= 4 {
			return gapSpace
		}
	case g == "." || g == "_" || g == "-" || g == "'" || g == "’" || g == "‐" || g == "‑":
		return gapJoin
	case g[0] == '.' && len(g) <= 3 && strings.TrimFunc(g[1:], unicode.IsSpace) == "":
		return gapDot
	case g[0] == ',' && len(g) <= 3 && strings.TrimFunc(g[1:], unicode.IsSpace) == "":
		return gapComma
	}
	return gapOther
}

// readsAsName decides whether toks[i:i+n], whose words are all ordinary
// English words, is used as a name here (see Redactor).
func (r *Redactor) readsAsName(sc *scan, i, n int, f *form) bool {
	text, toks := sc.text, sc.toks
	if strings.HasSuffix(text[:toks[i].start], "@") {
		return true // a handle
	}
	for j, t := range toks[i : i+n] {
		neutral := j == 0 && f.initial == 1 || j == n-1 && f.initial == 2
		if !neutral && !capitalized(t.text) && !(n > 1 && isUpper(t.text)) {
			return false
		}
	}
	if n > 1 {
		return true // "Grace Brown": two capitalised names together
	}
	t := toks[i]
	initialPos := sentenceStart(text, t.start)
	var prev, next *token
	if i > 0 && strings.TrimFunc(text[toks[i-1].end:t.start], unicode.IsSpace) == "" {
		prev = &toks[i-1]
	}
	if i+1 < len(toks) {
		next = &toks[i+1]
	}
	nextGap := ""
	if next != nil {
		nextGap = text[t.end:next.start]
	}
	nextWord := next != nil && strings.TrimFunc(nextGap, unicode.IsSpace) == "" && nextGap != ""
	if prev != nil && !initialPos {
		if determiners[prev.key] || months[t.key] && dateCues[prev.key] {
			return false
		}
		if capitalized(prev.text) && !sentenceStart(text, prev.start) && !r.nameWords[prev.key] && !r.titleWords[prev.key] && prev.key != "i" {
			return false // part of another proper noun: "Amazing Grace"
		}
	}
	if months[t.key] && followedByNumber(text[t.end:]) {
		return false
	}
	if modals[t.key] && nextWord && subjectCues[next.key] {
		return false
	}
	if nextWord && capitalized(next.text) && !r.nameWords[next.key] && next.key != "i" && !sentenceStart(text, next.start) {
		return false // "Mark Twain", "Hope Diamond"
	}
	if !initialPos {
		return true
	}
	// At the start of a sentence only a cue after it tells a name.
	switch {
	case next == nil:
		return false
	case (nextGap == "'" || nextGap == "’") && next.key == "s":
		return true
	case nextWord && (next.key == "and" || next.key == "or"):
		if i+2 < len(toks) {
			after := toks[i+2]
			return strings.TrimFunc(text[next.end:after.start], unicode.IsSpace) == "" && (capitalized(after.text) || after.key == "i" || after.key == "me")
		}
		return false
	case nextWord && nameVerbs[next.key]:
		return true
	case strings.HasPrefix(nextGap, ",") && strings.TrimFunc(nextGap[1:], unicode.IsSpace) == "" && capitalized(next.text) && r.nameWords[next.key]:
		return true // a list of names: "Hope, Priya and I"
	case nextWord && unicode.IsLower([]rune(next.text)[0]) && !functionWords[next.key]:
		for p := range f.people {
			if sc.named[p] {
				return true // someone the text names elsewhere: "Stone is strict"
			}
		}
	}
	return false
}

// initialDotInside reports whether rest starts with the full stop of an
// initial inside a sentence: ". " and a word in lower case.
func initialDotInside(rest string) bool {
	if !strings.HasPrefix(rest, ".") {
		return false
	}
	rest = strings.TrimLeft(rest[1:], " ")
	r, _ := utf8.DecodeRuneInString(rest)
	return unicode.IsLower(r)
}

func followedByNumber(rest string) bool {
	rest = strings.TrimLeft(rest, " \t")
	return rest != "" && rest[0] >= '0' && rest[0] <= '9'
}

// capitalized reports whether a word is written as a name: a capital first
// letter and not all capitals (a one-letter word needs only the capital).
func capitalized(w string) bool {
	r, size := utf8.DecodeRuneInString(w)
	if !unicode.IsUpper(r) && !unicode.IsTitle(r) {
		return false
	}
	rest := w[size:]
	return rest == "" || strings.IndexFunc(rest, unicode.IsLower) >= 0
}

func isUpper(w string) bool {
	return strings.IndexFunc(w, unicode.IsLower) < 0 && strings.IndexFunc(w, unicode.IsUpper) >= 0
}

// sentenceStart reports whether byte offset at starts a sentence: only
// opening quotes, brackets, list marks and spaces lie between it and the
// start of the text, the end of an earlier sentence, a blank line, or a line
// that ends in punctuation (a single line break with a word before it is a
// line wrapped inside a sentence).
func sentenceStart(text string, at int) bool {
	marker := false
	for i := at; i > 0; {
		r, size := utf8.DecodeLastRuneInString(text[:i])
		i -= size
		switch {
		case r == '.' || r == '!' || r == '?' || r == '…':
			return true
		case r == '\n':
			if marker || i == 0 {
				return true
			}
			prev, _ := utf8.DecodeLastRuneInString(text[:i])
			return prev == '\n' || strings.ContainsRune(".!?…:;,", prev) || unicode.IsSpace(prev)
		case r == '•' || r == '*' || r == '-' || r == '–' || r == '—':
			marker = true
		case unicode.IsSpace(r) || strings.ContainsRune("\"'“‘«([{", r):
		default:
			return false
		}
	}
	return true
}

// capitalize gives a replacement that starts in lower case a capital at the
// start of a sentence.
func capitalize(s string, start bool) string {
	r, size := utf8.DecodeRuneInString(s)
	if !start || !unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

// emailAround returns the address around the '@' at byte offset at: the
// characters an address may hold on either side, without a full stop at
// its end.
func emailAround(text string, at int) (int, int) {
	start := at
	for start > 0 {
		r, size := utf8.DecodeLastRuneInString(text[:start])
		if !isEmailRune(r) && r != '.' {
			break
		}
		start -= size
	}
	end := at + 1
	for end < len(text) {
		r, size := utf8.DecodeRuneInString(text[end:])
		if !isEmailRune(r) && r != '.' {
			break
		}
		end += size
	}
	for end > at+1 && text[end-1] == '.' {
		end--
	}
	return start, end
}

func isEmailRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_%+-", r)
}
