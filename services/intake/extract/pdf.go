package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
)

// PDF budgets: a student essay is a few pages; these stop a hostile or
// broken file from holding a worker (see also pdfguard.go).
const (
	maxPDFPages = 500
	pdfTimeout  = 10 * time.Second
)

// glyph is one run of decoded text at a position on the page.
type glyph struct {
	x, y, w float64
	s       string
}

// line is a row of text on a page, left to right.
type line struct {
	y, left, right float64
	text           string
}

// extractPDF reads the text layer of a PDF.
//
// It walks each page's content stream with the library's interpreter (the
// library's own Content() appends a stray glyph after every TJ array), builds
// lines by baseline, and then rebuilds paragraphs: a line joins the one
// before it unless the gap above it is clearly larger than the page's line
// spacing or the line before it stopped well short of the right margin. A
// hyphen at the end of a full line is kept and joined without a space, so
// "re-" + "assessed" reads "re-assessed" (dropping it would turn real
// compounds into wrong words).
func extractPDF(parent context.Context, r io.ReaderAt, size int64) (string, []string, error) {
	ctx, cancel := context.WithTimeout(parent, pdfTimeout)
	defer cancel()
	type result struct {
		text  string
		warns []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			if p := recover(); p != nil {
				if err, ok := stopErr(p); ok {
					res = result{err: err}
				} else {
					res = result{err: fail(ErrCorrupt, fmt.Errorf("pdf: %v", p), "This PDF is damaged and its text could not be read. Export it again from the original document and upload the new file.")}
				}
			}
			done <- res
		}()
		res.text, res.warns, res.err = readPDF(ctx, r, size)
	}()
	select {
	case res := <-done:
		return res.text, res.warns, res.err
	case <-ctx.Done():
		if parent.Err() == nil {
			// Our time limit, not the caller's. The parse goroutine stops
			// at its next read or operator (budgetReader, work).
			return "", nil, fail(ErrTooLarge, ctx.Err(), "This PDF took too long to read (over %s). Export it again from the original document, or upload it as Word or plain text.", pdfTimeout)
		}
		return "", nil, ctx.Err()
	}
}

// readPDF checks the file (checkAllocations, checkObjectStreams), walks its
// page tree within limits and reads each page's text within the work
// budget. It panics with a pdfStop when a budget or ctx runs out.
func readPDF(ctx context.Context, r io.ReaderAt, size int64) (string, []string, error) {
	data := make([]byte, size)
	if _, err := r.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", nil, fail(ErrCorrupt, err, "This PDF could not be read to its end. Upload it again.")
	}
	if err := checkAllocations(data); err != nil {
		return "", nil, err
	}
	rd, err := pdf.NewReader(&budgetReader{r: bytes.NewReader(data), ctx: ctx, left: readBudget(size)}, size)
	if err != nil {
		if stop, ok := stopErr(err); ok {
			return "", nil, stop
		}
		if errors.Is(err, pdf.ErrInvalidPassword) || strings.Contains(err.Error(), "encrypt") {
			return "", nil, fail(ErrEncrypted, err, "This PDF is password-protected. Remove the password (or export an unprotected copy) and upload it again.")
		}
		return "", nil, fail(ErrCorrupt, err, "This PDF is damaged and its text could not be read. Export it again from the original document and upload the new file.")
	}
	if err := checkObjectStreams(rd, data); err != nil {
		return "", nil, err
	}
	all, err := pageTree(rd)
	if err != nil {
		return "", nil, err
	}
	var (
		pages []string
		warns []string
		wk    = newWork(ctx)
	)
	for _, p := range all {
		if err := ctx.Err(); err != nil {
			return "", nil, err
		}
		pages = append(pages, joinLines(pageLines(p, wk)))
	}
	pages, dropped := dropPageNumbers(pages)
	if dropped > 0 {
		warns = append(warns, fmt.Sprintf("Removed %d page numbers from the PDF text.", dropped))
	}
	return strings.Join(pages, "\n\n"), warns, nil
}

// pageFont is a font as a page uses it: its encoder, parsed once, and the
// cost of decoding one byte with it (its mapping's size).
type pageFont struct {
	font pdf.Font
	enc  pdf.TextEncoding
	cost int64
}

// loadFont opens a page's font, refusing one whose encoding would make
// decoding slow (see maxDifferences, maxToUnicodeBytes).
func loadFont(p pdf.Page, name string) *pageFont {
	f := &pageFont{font: p.Font(name), cost: 1}
	if enc := f.font.V.Key("Encoding"); enc.Kind() == pdf.Dict {
		n := enc.Key("Differences").Len()
		if n > maxDifferences {
			panic(pdfStop{tooComplex("a font's encoding lists too many characters")})
		}
		f.cost += int64(n)
	}
	if tu := f.font.V.Key("ToUnicode"); tu.Kind() == pdf.Stream {
		n := streamSize(tu, maxToUnicodeBytes)
		if n > maxToUnicodeBytes {
			panic(pdfStop{tooComplex("a font's character map is too large")})
		}
		f.cost += n / 8
	}
	f.enc = f.font.Encoder()
	return f
}

// pageLines interprets a page's content stream and returns its text lines
// top to bottom.
func pageLines(p pdf.Page, wk *work) []line {
	strm := p.V.Key("Contents")
	if strm.Kind() == pdf.Null {
		return nil
	}
	n := streamSize(strm, maxContentBytes)
	if n > maxContentBytes {
		panic(pdfStop{tooComplex("a page's content is too large")})
	}
	if wk.content -= n; wk.content < 0 {
		panic(pdfStop{tooComplex("its pages' content is too large")})
	}
	type state struct {
		tm, lm      [6]float64 // text and line matrices: a b c d e f
		tfs, tl, th float64
		tc, tw      float64
		font        *pageFont
	}
	ident := [6]float64{1, 0, 0, 1, 0, 0}
	st := state{tm: ident, lm: ident, th: 1}
	var glyphs []glyph
	fonts := map[string]*pageFont{}

	show := func(raw string) {
		if st.font == nil || st.font.enc == nil {
			return
		}
		wk.spend(int64(len(raw)) * st.font.cost)
		s := st.font.enc.Decode(raw)
		// Width in text space: monospaced estimate from the font's widths.
		var w float64
		for i := 0; i < len(raw); i++ {
			cw := st.font.font.Width(int(raw[i]))
			if cw == 0 {
				cw = 500
			}
			w += (cw/1000*st.tfs + st.tc) * st.th
			if raw[i] == ' ' {
				w += st.tw * st.th
			}
		}
		if strings.TrimSpace(s) != "" || s == " " {
			glyphs = append(glyphs, glyph{x: st.tm[4], y: st.tm[5], w: w * st.tm[0], s: s})
		}
		st.tm[4] += w * st.tm[0]
	}
	newline := func(tx, ty float64) {
		st.lm[4] += tx*st.lm[0] + ty*st.lm[2]
		st.lm[5] += tx*st.lm[1] + ty*st.lm[3]
		st.tm = st.lm
	}
	pdf.Interpret(strm, func(stk *pdf.Stack, op string) {
		wk.spend(1)
		n := stk.Len()
		args := make([]pdf.Value, n)
		for i := n - 1; i >= 0; i-- {
			args[i] = stk.Pop()
		}
		num := func(i int) float64 {
			if i < len(args) {
				return args[i].Float64()
			}
			return 0
		}
		switch op {
		case "BT":
			st.tm, st.lm = ident, ident
		case "Tf":
			if len(args) == 2 {
				name := args[0].Name()
				f, ok := fonts[name]
				if !ok {
					f = loadFont(p, name)
					fonts[name] = f
				}
				st.font = f
				st.tfs = num(1)
			}
		case "Tc":
			st.tc = num(0)
		case "Tw":
			st.tw = num(0)
		case "Tz":
			st.th = num(0) / 100
		case "TL":
			st.tl = num(0)
		case "Td":
			newline(num(0), num(1))
		case "TD":
			st.tl = -num(1)
			newline(num(0), num(1))
		case "Tm":
			if len(args) == 6 {
				for i := range 6 {
					st.lm[i] = num(i)
				}
				st.tm = st.lm
			}
		case "T*":
			newline(0, -st.tl)
		case "Tj":
			if len(args) == 1 {
				show(args[0].RawString())
			}
		case "'":
			newline(0, -st.tl)
			if len(args) == 1 {
				show(args[0].RawString())
			}
		case "\"":
			if len(args) == 3 {
				st.tw, st.tc = num(0), num(1)
				newline(0, -st.tl)
				show(args[2].RawString())
			}
		case "TJ":
			if len(args) != 1 {
				return
			}
			v := args[0]
			for i := 0; i < v.Len(); i++ {
				x := v.Index(i)
				if x.Kind() == pdf.String {
					show(x.RawString())
					continue
				}
				adj := -x.Float64() / 1000 * st.tfs * st.th * st.tm[0]
				// A large negative adjustment is how many PDFs write a space.
				if adj > st.tfs*0.2 && len(glyphs) > 0 {
					glyphs = append(glyphs, glyph{x: st.tm[4], y: st.tm[5], s: " "})
				}
				st.tm[4] += adj
			}
		}
	})
	return buildLines(glyphs)
}

// buildLines groups glyphs by baseline (within a third of the font height)
// and orders them top to bottom, left to right. Content streams usually draw
// text in reading order; the stable sort keeps it where positions tie.
func buildLines(gs []glyph) []line {
	if len(gs) == 0 {
		return nil
	}
	type row struct {
		y  float64
		gs []glyph
	}
	// A glyph joins the earliest row within 2 units of its baseline. Rows
	// are indexed by 2-unit band, so only three bands are searched (a page
	// of scattered glyphs would otherwise cost rows × glyphs).
	var rows []*row
	bands := map[int64][]int{} // band → indices into rows, in order
	for _, g := range gs {
		band := int64(math.Floor(g.y / 2))
		hit := -1
		for b := band - 1; b <= band+1; b++ {
			for _, i := range bands[b] {
				if math.Abs(rows[i].y-g.y) < 2 && (hit < 0 || i < hit) {
					hit = i
					break
				}
			}
		}
		if hit < 0 {
			hit = len(rows)
			rows = append(rows, &row{y: g.y})
			bands[band] = append(bands[band], hit)
		}
		rows[hit].gs = append(rows[hit].gs, g)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].y > rows[j].y })
	out := make([]line, 0, len(rows))
	for _, r := range rows {
		sort.SliceStable(r.gs, func(i, j int) bool { return r.gs[i].x < r.gs[j].x-0.01 })
		var b strings.Builder
		var end float64
		for i, g := range r.gs {
			if i > 0 && g.x-end > 2.5 && !strings.HasSuffix(b.String(), " ") && !strings.HasPrefix(g.s, " ") {
				b.WriteByte(' ') // a visible gap with no space glyph
			}
			b.WriteString(g.s)
			end = math.Max(end, g.x+g.w)
		}
		text := strings.Join(strings.FieldsFunc(b.String(), func(r rune) bool { return r == '\n' || r == '\r' }), " ")
		text = strings.TrimRightFunc(text, unicode.IsSpace)
		if strings.TrimSpace(text) == "" {
			continue
		}
		out = append(out, line{y: r.y, left: r.gs[0].x, right: end, text: text})
	}
	return out
}

// joinLines joins a page's lines into paragraphs separated by "\n\n".
func joinLines(lines []line) string {
	if len(lines) == 0 {
		return ""
	}
	var gaps []float64
	maxRight, minLeft := 0.0, math.Inf(1)
	for i, l := range lines {
		maxRight = math.Max(maxRight, l.right)
		minLeft = math.Min(minLeft, l.left)
		if i > 0 {
			gaps = append(gaps, lines[i-1].y-l.y)
		}
	}
	leading := 0.0
	if len(gaps) > 0 {
		s := slices.Clone(gaps)
		slices.Sort(s)
		leading = s[(len(s)-1)/2] // lower median: paragraph gaps are the outliers
	}
	var b strings.Builder
	for i, l := range lines {
		if i == 0 {
			b.WriteString(l.text)
			continue
		}
		prev := lines[i-1]
		gap := prev.y - l.y
		fill := 1.0
		if maxRight > minLeft {
			fill = (prev.right - minLeft) / (maxRight - minLeft)
		}
		breakPara := gap > leading*1.4 || endsParagraph(prev.text, l.text, fill)
		switch {
		case breakPara:
			b.WriteString("\n\n")
		case strings.HasSuffix(prev.text, "-") && endsInLetterHyphen(prev.text):
			// joined without a space; the hyphen stays
		default:
			b.WriteByte(' ')
		}
		b.WriteString(l.text)
	}
	return b.String()
}

// endsParagraph reports whether the line after prev starts a new paragraph,
// given how far across the text column prev reached (fill, 0 to 1): a line
// that stops short ended its paragraph (a shorter stop counts when it ends
// a sentence), and a list item always starts one.
func endsParagraph(prev, next string, fill float64) bool {
	last, _ := utf8.DecodeLastRuneInString(prev)
	if fill < 0.8 || fill < 0.9 && strings.ContainsRune(".?!:\"”", last) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(next)
	return (r == '-' || r == '•' || r == '*') && strings.HasPrefix(next[utf8.RuneLen(r):], " ")
}

func endsInLetterHyphen(s string) bool {
	s = strings.TrimSuffix(s, "-")
	r, _ := utf8.DecodeLastRuneInString(s)
	return unicode.IsLetter(r)
}

// dropPageNumbers removes a final paragraph on each page that is only a page
// number ("3", "Page 3", "3 of 7", "- 3 -").
func dropPageNumbers(pages []string) ([]string, int) {
	dropped := 0
	out := pages[:0]
	for _, p := range pages {
		i := strings.LastIndex(p, "\n\n")
		last := p[i+2:]
		if i >= 0 && isPageNumber(last) {
			p = p[:i]
			dropped++
		} else if i < 0 && isPageNumber(p) {
			p = ""
			dropped++
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return out, dropped
}

func isPageNumber(s string) bool {
	s = strings.ToLower(strings.Trim(strings.TrimSpace(s), "-– "))
	s = strings.TrimSpace(strings.TrimPrefix(s, "page"))
	if s == "" || len(s) > 12 {
		return false
	}
	digits := 0
	for _, f := range strings.Fields(s) {
		if f == "of" || f == "/" {
			continue
		}
		for _, r := range f {
			if !unicode.IsDigit(r) {
				return false
			}
		}
		digits++
	}
	return digits >= 1 && digits <= 2
}
