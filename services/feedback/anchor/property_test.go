package anchor

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/marginschool/margin/pkg/errs"
)

var (
	words = []string{"the", "a", "cat", "sat", "on", "mat", "café", "naïve", "Zoë", "😀", "👍🏽", "日本語",
		"don’t", "“quoted”", "'straight'", "—", "-", "…", ",", ".", "x", "ab"}
	gaps = []string{" ", " ", " ", "\n", "\n\n", "  ", "\t", "\u00A0"}
)

// randomText joins n random words with random whitespace; the small
// vocabulary makes repeats common, so both unique and repeated quotes occur.
func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(gaps[r.IntN(len(gaps))])
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.String()
}

// browserish rewrites a quote the way a browser or a keyboard may: any
// whitespace run becomes one space, curly quotes straight, dashes hyphens.
func browserish(s string) string {
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	return strings.NewReplacer("’", "'", "“", `"`, "”", `"`, "—", "-", "…", "...").Replace(s)
}

// occurrences counts, overlaps included, where quote matches the text once
// both are folded: what Resolve can tell apart by the quote alone.
func occurrences(d *Doc, quote string) int {
	fq, _, _ := fold(quote, false)
	fq = strings.TrimSpace(fq)
	n := 0
	for i := 0; ; n++ {
		j := strings.Index(d.folded[i:], fq)
		if j < 0 {
			return n
		}
		i += j + 1
	}
}

func TestResolveProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 26))
	var unique, repeated int
	for range 300 {
		text := randomText(r, 5+r.IntN(150))
		d := NewDoc(text)
		runes := []rune(text)
		for range 20 {
			// a random passage that starts and ends with a visible character
			// short passages half the time, so that repeats are common too
			s := r.IntN(len(runes))
			e := s + 1 + r.IntN([]int{6, len(runes)}[r.IntN(2)])
			if e > len(runes) || unicode.IsSpace(runes[s]) || unicode.IsSpace(runes[e-1]) || e-s > MaxQuote {
				continue
			}
			sub := string(runes[s:e])
			prefix, suffix := Context(text, s, e, ContextLen)
			want := sel(sub, prefix, suffix, s, e)

			got, outcome, err := d.Resolve(want)
			if err != nil || got != want || outcome != Exact {
				t.Fatalf("text %q, correct selectors %+v:\ngot  %+v, %v, %v", text, want, got, outcome, err)
			}

			shifted := want
			by := r.IntN(17) - 8
			shifted.Position.Start += by
			shifted.Position.End += by
			variant := sel(browserish(sub), "", "", 0, 0)

			if occurrences(d, sub) == 1 {
				unique++
				for _, in := range []Target{shifted, variant} {
					got, outcome, err := d.Resolve(in)
					wantOutcome := Repaired
					if in == shifted && by == 0 {
						wantOutcome = Exact
					}
					if err != nil || got != want || outcome != wantOutcome {
						t.Fatalf("text %q, selectors %+v:\ngot  %+v, %v, %v\nwant %+v, %v", text, in, got, outcome, err, want, wantOutcome)
					}
				}
				continue
			}
			repeated++
			// a repeat: either some occurrence of the quote or a clear refusal
			got, _, err = d.Resolve(shifted)
			if err != nil {
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != errs.Invalid || !strings.Contains(e.Message, "appears") {
					t.Fatalf("text %q, selectors %+v: error %v", text, shifted, err)
				}
				continue
			}
			checkTarget(t, d, got)
			if !holds(got.Quote.Exact, sub) {
				t.Fatalf("text %q, selectors %+v: anchored %q", text, shifted, got.Quote.Exact)
			}
		}
	}
	t.Logf("%d unique and %d repeated passages", unique, repeated)
	if unique < 1000 || repeated < 100 {
		t.Errorf("too few cases: %d unique, %d repeated", unique, repeated)
	}
}

// holds reports whether anchored, folded, contains quote, folded; it is
// usually equal, but a quote may match only part of an ellipsis.
func holds(anchored, quote string) bool {
	fa, _, _ := fold(anchored, false)
	fq, _, _ := fold(norm.NFC.String(quote), false)
	return strings.Contains(fa, strings.TrimSpace(fq))
}

// checkTarget verifies that a returned target is the stored text's own
// characters at its own offsets.
func checkTarget(t *testing.T, d *Doc, got Target) {
	t.Helper()
	p := got.Position
	bs, ok1 := d.ByteOffset(p.Start)
	be, ok2 := d.ByteOffset(p.End)
	if !ok1 || !ok2 || bs > be {
		t.Fatalf("target %+v is out of range for a text of %d code points", got, d.Len())
	}
	prefix, suffix := Context(d.Text(), p.Start, p.End, ContextLen)
	if got != sel(d.Text()[bs:be], prefix, suffix, p.Start, p.End) {
		t.Fatalf("target %+v is not the text at its offsets", got)
	}
}

func FuzzResolve(f *testing.F) {
	f.Add(essay, "smelled of bread", "", "", 40, 56)
	f.Add(essay, "I think so.", "", "", 0, 0)
	f.Add(essay, "naïve 👍🏽 indeed...", "is ", "\n\n", 3, 1)
	f.Add("a…b", ".b", "", "", 0, 0)
	f.Add("x\u00AD y", "x y", "", "", -1, 99)
	f.Add("\xff\xfe ab", "\xffab", "", "", 0, 0)
	f.Fuzz(func(t *testing.T, text, exact, prefix, suffix string, start, end int) {
		d := NewDoc(text)
		got, outcome, err := d.Resolve(sel(exact, prefix, suffix, start, end))
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		checkTarget(t, d, got)
		if outcome == Exact {
			return
		}
		if !holds(got.Quote.Exact, exact) {
			t.Fatalf("anchored %q for quote %q", got.Quote.Exact, exact)
		}
	})
}
