package extract

import (
	"bytes"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// extractText reads a plain-text or Markdown file. Markdown is kept as
// written (markup included) so that quotes match what the student typed.
func extractText(r io.ReaderAt, size int64) (string, error) {
	b := make([]byte, size)
	if _, err := r.ReadAt(b, 0); err != nil && err != io.EOF {
		return "", fail(ErrCorrupt, err, "The file could not be read. Try uploading it again.")
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(b) {
		line, col, off := firstInvalid(b)
		return "", fail(ErrNotUTF8, nil, "The text is not valid UTF-8: the first bad byte is on line %d, column %d (byte %d). Save the file as UTF-8 (in most editors: Save As, Encoding: UTF-8) and upload it again.", line, col, off)
	}
	return string(b), nil
}

// firstInvalid locates the first byte that is not part of valid UTF-8, as a
// 1-based line and column (in characters) and a 0-based byte offset.
func firstInvalid(b []byte) (line, col, off int) {
	line, col = 1, 1
	for off < len(b) {
		r, n := utf8.DecodeRune(b[off:])
		if r == utf8.RuneError && n == 1 {
			return line, col, off
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		off += n
	}
	return line, col, off
}

// lineBreaks maps every line-ending convention and page/paragraph separator
// to "\n"; separators that end a paragraph become a blank line.
var lineBreaks = strings.NewReplacer(
	"\r\n", "\n", "\r", "\n", "\v", "\n", "\u0085", "\n", "\u2028", "\n",
	"\f", "\n\n", "\u2029", "\n\n",
)

// normalize applies the Result.Text contract: line endings to "\n", control
// characters dropped (tab and newline kept), NFC, trailing space trimmed on
// every line, runs of blank lines collapsed to one, and no leading or
// trailing blank lines. It is a pure function of its input.
func normalize(s string) string {
	s = strings.TrimPrefix(s, "\ufeff")
	s = lineBreaks.Replace(s)
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) || r == '\ufeff' {
			return -1
		}
		return r
	}, s)
	s = norm.NFC.String(s)

	var b strings.Builder
	b.Grow(len(s))
	blank := 0 // newlines owed before the next non-empty line
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if line == "" {
			if b.Len() > 0 {
				blank++
			}
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
			if blank > 0 {
				b.WriteString("\n")
			}
		}
		blank = 0
		b.WriteString(line)
	}
	return b.String()
}
