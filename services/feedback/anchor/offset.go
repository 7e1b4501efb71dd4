package anchor

import "unicode/utf8"

// ByteOffset returns the byte offset in s of code point cp, which may be
// utf8.RuneCountInString(s) for the end of s. It reports false when cp is
// out of range. It walks s; a Doc answers in constant time.
func ByteOffset(s string, cp int) (int, bool) {
	if cp < 0 {
		return 0, false
	}
	for b := range s {
		if cp == 0 {
			return b, true
		}
		cp--
	}
	if cp == 0 {
		return len(s), true
	}
	return 0, false
}

// RuneOffset returns the code-point offset in s of byte offset b. It
// reports false when b is out of range or inside a character's encoding.
// It walks s; a Doc answers in logarithmic time.
func RuneOffset(s string, b int) (int, bool) {
	if b < 0 || b > len(s) || (b < len(s) && !utf8.RuneStart(s[b])) {
		return 0, false
	}
	return utf8.RuneCountInString(s[:b]), true
}

// Context returns up to n code points of s on each side of the code points
// [start, end): the prefix and suffix of a TextQuoteSelector built on the
// server. Offsets are clamped to s, an inverted range is treated as empty at
// start, and a negative n as 0.
func Context(s string, start, end, n int) (prefix, suffix string) {
	total := utf8.RuneCountInString(s)
	start = clamp(start, 0, total)
	end = clamp(end, start, total)
	n = max(n, 0)
	from, _ := ByteOffset(s, max(start-n, 0))
	bs, _ := ByteOffset(s, start)
	be, _ := ByteOffset(s, end)
	to, _ := ByteOffset(s, min(end+n, total))
	return s[from:bs], s[be:to]
}

func clamp(v, lo, hi int) int {
	return min(max(v, lo), hi)
}
