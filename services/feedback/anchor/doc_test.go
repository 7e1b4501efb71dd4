package anchor

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/marginschool/margin/pkg/errs"
)

const essay = "My grandmother’s house was small.\nIt smelled of bread.\n\n" +
	"Every summer we said “see you soon” and left — always too early.\n\n" +
	"Her dog's name was \"Rex\". The cat sat. The dog sat on the mat. The cat sat again.\n\n" +
	"I think so. I think so.\n\n" +
	"Zoë’s café 😀 is naïve 👍🏽 indeed…\n\n" +
	"Co\u00ADoperation matters."

// span returns the code-point range of the nth (from 0) occurrence of sub in
// s; the tests use it to state expectations without counting by hand.
func span(t *testing.T, s, sub string, nth int) (int, int) {
	t.Helper()
	from := 0
	for ; ; nth-- {
		i := strings.Index(s[from:], sub)
		if i < 0 {
			t.Fatalf("test setup: %q has no occurrence %d in the text", sub, nth)
		}
		if nth == 0 {
			start := utf8.RuneCountInString(s[:from+i])
			return start, start + utf8.RuneCountInString(sub)
		}
		from += i + 1
	}
}

func sel(exact, prefix, suffix string, start, end int) Target {
	return Target{
		Quote:    TextQuoteSelector{Type: quoteType, Exact: exact, Prefix: prefix, Suffix: suffix},
		Position: TextPositionSelector{Type: positionType, Start: start, End: end},
	}
}

func TestResolve(t *testing.T) {
	d := NewDoc(essay)
	// the selectors a browser would send for the nth occurrence of sub
	browser := func(sub string, nth int) Target {
		s, e := span(t, essay, sub, nth)
		p, x := Context(essay, s, e, ContextLen)
		return sel(sub, p, x, s, e)
	}
	shift := func(tg Target, by int) Target {
		tg.Position.Start += by
		tg.Position.End += by
		return tg
	}
	with := func(tg Target, f func(*Target)) Target { f(&tg); return tg }

	s, e := span(t, essay, "smelled of bread", 0)
	cat1, cat1e := span(t, essay, "The cat sat", 0)
	think1, think1e := span(t, essay, "I think so.", 0)
	think2, _ := span(t, essay, "I think so.", 1)
	zoe, _ := span(t, essay, "Zoë", 0)

	tests := []struct {
		name    string
		in      Target
		want    string // the student's characters the stored quote must hold
		nth     int    // which occurrence of want
		outcome Outcome
	}{
		{"exact", browser("smelled of bread", 0), "smelled of bread", 0, Exact},
		{"exact without context", sel("smelled of bread", "", "", s, e), "smelled of bread", 0, Exact},
		{"exact, context differs in whitespace only",
			sel("smelled of bread", "small. It ", ". Every", s, e), "smelled of bread", 0, Exact},
		{"offsets 3 too far", shift(browser("smelled of bread", 0), 3), "smelled of bread", 0, Repaired},
		{"offsets 4 too early", shift(browser("smelled of bread", 0), -4), "smelled of bread", 0, Repaired},
		{"offsets negative", shift(browser("My grandmother", 0), -5), "My grandmother", 0, Repaired},
		{"offsets past the end", shift(browser("matters.", 0), 50), "matters.", 0, Repaired},
		{"offsets inverted", with(browser("was small", 0), func(t *Target) { t.Position.Start, t.Position.End = t.Position.End, t.Position.Start }),
			"was small", 0, Repaired},
		{"line break given as a space", sel("was small. It smelled", "", "", 0, 0),
			"was small.\nIt smelled", 0, Repaired},
		{"paragraph break given as a space", with(browser("bread.\n\nEvery summer", 0), func(t *Target) { t.Quote.Exact = "bread. Every summer" }),
			"bread.\n\nEvery summer", 0, Repaired},
		{"paragraph break given as one newline", with(browser("bread.\n\nEvery summer", 0), func(t *Target) { t.Quote.Exact = "bread.\nEvery summer" }),
			"bread.\n\nEvery summer", 0, Repaired},
		{"edge whitespace trimmed", sel(" \nsmelled of bread\n", "", "", 0, 0), "smelled of bread", 0, Repaired},
		{"straight quotes for curly", with(browser("said “see you soon” and", 0), func(t *Target) { t.Quote.Exact = `said "see you soon" and` }),
			"said “see you soon” and", 0, Repaired},
		{"straight apostrophe for curly", sel("grandmother's house", "", "", 0, 0), "grandmother’s house", 0, Repaired},
		{"curly quotes for straight", sel("dog’s name was “Rex”.", "", "", 0, 0), "dog's name was \"Rex\".", 0, Repaired},
		{"backtick and prime for apostrophe", sel("grandmother`s house", "", "", 0, 0), "grandmother’s house", 0, Repaired},
		{"hyphen for em dash", sel("left - always", "", "", 0, 0), "left — always", 0, Repaired},
		{"three dots for ellipsis", sel("indeed...", "", "", 0, 0), "indeed…", 0, Repaired},
		{"soft hyphen in the text only", sel("Cooperation", "", "", 0, 0), "Co\u00ADoperation", 0, Repaired},
		{"context picks the second repeat although offsets point at the first",
			sel("The cat sat", "on the mat. ", " again.", cat1, cat1e), "The cat sat", 1, Repaired},
		{"context picks the first repeat with no position",
			sel("The cat sat", "\"Rex\". ", ". The dog", 0, 0), "The cat sat", 0, Repaired},
		{"suffix alone picks the second repeat", sel("The cat sat", "", " again", 0, 0), "The cat sat", 1, Repaired},
		{"repeat with equal context: the given offsets win", sel("I think so.", "", "", think1, think1e), "I think so.", 0, Exact},
		{"repeat with equal context: the nearer offsets win", sel("I think so.", "", "", think2+2, think2+13), "I think so.", 1, Repaired},
		// Zoë’s café 😀 is naïve 👍🏽 indeed…: code points, not bytes or UTF-16 units
		{"non-ASCII exact", sel("naïve 👍🏽 indeed", "", "", zoe+cp(t, "Zoë’s café 😀 is "), zoe+cp(t, "Zoë’s café 😀 is ")+15),
			"naïve 👍🏽 indeed", 0, Exact},
		{"non-ASCII offsets given in UTF-16 units", sel("indeed", "", "", zoe+cp(t, "Zoë’s café 😀 is naïve 👍🏽 ")+3, zoe+cp(t, "Zoë’s café 😀 is naïve 👍🏽 ")+9),
			"indeed", 0, Repaired},
		{"NFD quote at the right offsets", with(browser("café", 0), func(t *Target) { t.Quote.Exact = "cafe\u0301" }), "café", 0, Exact},
		{"NFD quote and context elsewhere", sel("Zoe\u0308’s cafe\u0301", "", " 😀", 0, 0), "Zoë’s café", 0, Repaired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, outcome, err := d.Resolve(tt.in)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			ws, we := span(t, essay, tt.want, tt.nth)
			wp, wx := Context(essay, ws, we, ContextLen)
			want := sel(tt.want, wp, wx, ws, we)
			if got != want {
				t.Errorf("Resolve =\n  %+v\nwant\n  %+v", got, want)
			}
			if outcome != tt.outcome {
				t.Errorf("outcome = %v, want %v", outcome, tt.outcome)
			}
		})
	}
}

// cp is the code-point length of s, checked against a count by hand so the
// non-ASCII cases do not only test utf8.RuneCountInString against itself.
func cp(t *testing.T, s string) int {
	t.Helper()
	byHand := map[string]int{
		"Zoë’s café 😀 is ":          16, // Z o ë ’ s _ c a f é _ 😀 _ i s _
		"Zoë’s café 😀 is naïve 👍🏽 ": 25, // ... n a ï v e _ 👍 🏽 _
	}
	n, ok := byHand[s]
	if !ok || n != utf8.RuneCountInString(s) {
		t.Fatalf("test setup: %q has %d code points, by hand %d", s, utf8.RuneCountInString(s), n)
	}
	return n
}

func TestResolveRejects(t *testing.T) {
	d := NewDoc(essay)
	think1, _ := span(t, essay, "I think so.", 0)
	think2, _ := span(t, essay, "I think so.", 1)
	mid := (think1 + think2) / 2
	tests := []struct {
		name string
		in   Target
		msg  string
	}{
		{"empty", sel("", "", "", 0, 0), "The quote is empty."},
		{"whitespace only", sel(" \n\n\t", "", "", 0, 4), "The quote is empty."},
		{"invisible characters only", sel("\u00AD\u200B", "", "", 0, 0), "The quote is empty."},
		{"too long", sel(strings.Repeat("é", MaxQuote+1), "", "", 0, 0), "The quote is 2001 characters long; the limit is 2000."},
		{"far too long", sel(strings.Repeat("x", 1<<20), "", "", 0, 0), "The quote is 1048576 characters long"},
		{"not found", sel("smelled of toast", "", "", 0, 16), `The quote "smelled of toast" is not in the student's text.`},
		{"not found, offsets out of range", sel("burnt toast", "", "", 5000, 5011), `The quote "burnt toast" is not in the student's text.`},
		{"not found, offsets inverted", sel("burnt toast", "", "", 11, 0), "is not in the student's text."},
		{"long quote shortened in the message", sel(strings.Repeat("abcdefghij", 10), "", "", 0, 0),
			`The quote "abcdefghijabcdefghijabcdefghijabcdefghi…" is not`},
		{"ambiguous repeat with no position", sel("I think so.", "", "", 0, 0),
			`The quote "I think so." appears 2 times in the student's text, and the words around it do not tell which one is meant; quote a longer passage.`},
		{"ambiguous repeat, position halfway", sel("I think so.", "", "", mid, mid+11), "appears 2 times"},
		{"ambiguous repeat, equal partial context", sel("I think so.", "XX ", " YY", 0, 0), "appears 2 times"},
		{"ambiguous repeat, context matches both", sel("think", "I ", " so.", 0, 0), "appears 2 times"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, outcome, err := d.Resolve(tt.in)
			if err == nil {
				t.Fatalf("Resolve = %+v, %v; want an error", got, outcome)
			}
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid || e.Field != "" {
				t.Fatalf("error = %#v; want an *errs.Error with code invalid and no field", err)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message = %q; want it to contain %q", e.Message, tt.msg)
			}
		})
	}
}

func TestOffsets(t *testing.T) {
	for _, text := range []string{"", "plain ascii", essay, "😀", "e\u0301"} {
		d := NewDoc(text)
		if d.Len() != utf8.RuneCountInString(text) {
			t.Errorf("%q: Len = %d", text, d.Len())
		}
		cp := 0
		for b := 0; b <= len(text); b++ {
			boundary := b == len(text) || utf8.RuneStart(text[b])
			for _, got := range [][2]any{pair(RuneOffset(text, b)), pair(d.RuneOffset(b))} {
				if want := (pair(cp, boundary)); boundary && got != want || !boundary && got[1] != false {
					t.Errorf("%q: RuneOffset(%d) = %v, want %v", text, b, got, want)
				}
			}
			if boundary {
				for _, got := range [][2]any{pair(ByteOffset(text, cp)), pair(d.ByteOffset(cp))} {
					if got != pair(b, true) {
						t.Errorf("%q: ByteOffset(%d) = %v, want %d", text, cp, got, b)
					}
				}
				cp++
			}
		}
		for _, bad := range []int{-1, cp} { // cp is now Len()+1
			if _, ok := ByteOffset(text, bad); ok {
				t.Errorf("%q: ByteOffset(%d) reported ok", text, bad)
			}
			if _, ok := d.ByteOffset(bad); ok {
				t.Errorf("%q: Doc.ByteOffset(%d) reported ok", text, bad)
			}
		}
		for _, bad := range []int{-1, len(text) + 1} {
			if _, ok := RuneOffset(text, bad); ok {
				t.Errorf("%q: RuneOffset(%d) reported ok", text, bad)
			}
			if _, ok := d.RuneOffset(bad); ok {
				t.Errorf("%q: Doc.RuneOffset(%d) reported ok", text, bad)
			}
		}
	}
}

func pair(a any, b bool) [2]any { return [2]any{a, b} }

func TestContext(t *testing.T) {
	const s = "ab😀cdé fg"
	tests := []struct {
		start, end, n  int
		prefix, suffix string
	}{
		{3, 5, 2, "b😀", "é "},
		{3, 5, 0, "", ""},
		{0, 1, 3, "", "b😀c"},
		{8, 9, 5, "cdé f", ""},
		{-4, 2, 1, "", "😀"},
		{5, 3, 2, "cd", "é "}, // inverted: empty at start
		{3, 99, 2, "b😀", ""},
		{3, 5, -1, "", ""},
	}
	for _, tt := range tests {
		p, x := Context(s, tt.start, tt.end, tt.n)
		if p != tt.prefix || x != tt.suffix {
			t.Errorf("Context(%d, %d, %d) = %q, %q; want %q, %q", tt.start, tt.end, tt.n, p, x, tt.prefix, tt.suffix)
		}
	}
}

func TestFoldMap(t *testing.T) {
	const s = "a \n\t“b”\u00AD—c…  é"
	got, starts, ends := fold(s, true)
	if want := "a \"b\"-c... é"; got != want {
		t.Fatalf("fold = %q, want %q", got, want)
	}
	// each folded byte's source, as code points of s: [start, end)
	want := [][2]int32{{0, 1}, {1, 4}, {4, 5}, {5, 6}, {6, 7}, {8, 9}, {9, 10}, {10, 11}, {10, 11}, {10, 11}, {11, 13}, {13, 14}, {13, 14}}
	if len(starts) != len(got)+1 || len(ends) != len(got)+1 {
		t.Fatalf("map lengths %d, %d for %d bytes", len(starts), len(ends), len(got))
	}
	for k := range got {
		if g := [2]int32{starts[k], ends[k+1]}; g != want[k] {
			t.Errorf("byte %d (%q): source %v, want %v", k, got[k], g, want[k])
		}
	}
}
