package anchor

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// fold returns the matching form of s, in which characters a browser or a
// grader's keyboard may change are made one:
//   - a run of whitespace (any unicode.IsSpace, so also no-break and thin
//     spaces) becomes one ' ';
//   - quote marks and primes (‘ ’ ‚ ‛ ′ ‵ ` ´ ʼ, and “ ” „ ‟ ″ ‶) become ' or ";
//   - hyphens and dashes (‐ ‑ ‒ – — ― −) become '-';
//   - the ellipsis … becomes "...";
//   - invisible characters (soft hyphen, zero-width space, word joiner,
//     byte-order mark) are dropped.
//
// Letters are left alone: no case folding, so a quote keeps the student's
// spelling.
//
// When mapped is true, fold also returns where each byte of the folded form
// came from, in code points of s: byte k of the result belongs to a folded
// character made from s's code points [starts[k], ends[k+1]). A whitespace
// run's ' ' spans the whole run. starts has a sentinel at len(result) and
// ends[0] is 0, so a match [i, j) of the folded form maps to the code points
// [starts[i], ends[j]) of s.
func fold(s string, mapped bool) (out string, starts, ends []int32) {
	var b strings.Builder
	b.Grow(len(s)) // folding never lengthens: every replacement is no longer in UTF-8
	if mapped {
		starts = make([]int32, 0, len(s)+1)
		ends = make([]int32, 1, len(s)+1)
	}
	var cp int32
	space := false
	emit := func(r rune) {
		if r < utf8.RuneSelf {
			b.WriteByte(byte(r))
			if mapped {
				starts = append(starts, cp)
				ends = append(ends, cp+1)
			}
			return
		}
		n, _ := b.WriteRune(r)
		if mapped {
			for range n {
				starts = append(starts, cp)
				ends = append(ends, cp+1)
			}
		}
	}
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && r > ' ' && r != '`': // the common case
			space = false
			emit(r)
		case unicode.IsSpace(r):
			if space {
				if mapped {
					ends[len(ends)-1] = cp + 1
				}
			} else {
				space = true
				emit(' ')
			}
		case r == '\u00AD', r == '\u200B', r == '\u2060', r == '\uFEFF':
			// invisible: dropped, and a whitespace run goes on across it
		case r == '\u2026':
			space = false
			emit('.')
			emit('.')
			emit('.')
		default:
			space = false
			emit(foldRune(r))
		}
		cp++
	}
	if mapped {
		starts = append(starts, cp)
	}
	return b.String(), starts, ends
}

// foldRune maps one quote mark or dash to its plain ASCII form.
func foldRune(r rune) rune {
	switch r {
	case '\u2018', '\u2019', '\u201A', '\u201B', '\u2032', '\u2035', '`', '\u00B4', '\u02BC':
		return '\''
	case '\u201C', '\u201D', '\u201E', '\u201F', '\u2033', '\u2036':
		return '"'
	case '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212':
		return '-'
	}
	return r
}
