package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"

	"github.com/ledongthuc/pdf"
)

// The PDF library (github.com/ledongthuc/pdf) trusts the file: a page tree
// that contains itself makes Reader.Page loop forever, a Parent chain that
// loops does the same for every resource lookup, an object stream stored in
// an object stream recurses until the process dies of a stack overflow, and
// a cross-reference table or a PNG predictor that claims billions of
// entries allocates them, which kills the process too. So readPDF never
// calls Reader.Page or NumPage; it checks the file before and after opening
// it (checkAllocations, checkObjectStreams), walks the page tree itself
// within limits (pageTree), reads through a budget that also stops at
// cancellation (budgetReader), and bounds the work of reading each page's
// text (work).
const (
	// maxPDFObjects bounds the object numbers a cross-reference section may
	// claim; the library allocates a table entry for each.
	maxPDFObjects = 1 << 20
	// maxPredictorColumns bounds a stream's PNG predictor row (the library
	// allocates two rows).
	maxPredictorColumns = 1 << 20
	// maxTreeDepth bounds the nesting of the page tree (real files have a
	// handful of levels) and of any page's Parent chain; a tree that loops
	// reaches it at once.
	maxTreeDepth = 32
	// maxTreeNodes bounds the page tree's entries.
	maxTreeNodes = 4 * maxPDFPages
	// maxContentBytes bounds one page's content, decompressed, and
	// maxTotalContent all pages'.
	maxContentBytes = 4 << 20
	maxTotalContent = 64 << 20
	// maxToUnicodeBytes bounds a font's character map, decompressed.
	maxToUnicodeBytes = 256 << 10
	// maxDifferences bounds a font encoding's Differences array.
	maxDifferences = 512
	// maxWork bounds the text decoding of one document, in character-times-
	// mapping-entries (about a nanosecond each).
	maxWork = 2_000_000_000
)

// pdfStop is raised (as a panic, the library's own way to abandon a parse)
// by budgetReader and work once the document is over a budget or the
// context has ended; extractPDF recovers it and returns err.
type pdfStop struct{ err error }

func (s pdfStop) Error() string { return s.err.Error() }

// stopErr returns the error carried by a pdfStop in v (a recovered panic
// value or an error from the library), if there is one.
func stopErr(v any) (error, bool) {
	var s pdfStop
	switch x := v.(type) {
	case pdfStop:
		return x.err, true
	case error:
		if errors.As(x, &s) {
			return s.err, true
		}
	}
	return nil, false
}

func tooComplex(what string) error {
	return fail(ErrTooLarge, nil, "This PDF is too complex to read (%s). Export it again from the original document, or upload it as Word or plain text.", what)
}

func damaged(what string) error {
	return fail(ErrCorrupt, errors.New(what), "This PDF is damaged (%s) and its text could not be read. Export it again from the original document and upload the new file.", what)
}

// budgetReader is the file as the library sees it: every read checks ctx
// and counts against a budget of bytes read (the library re-reads objects
// as it resolves them, so a loop in the file shows up as endless reads).
// Once either runs out, every read panics with a pdfStop.
type budgetReader struct {
	r    io.ReaderAt
	ctx  context.Context
	left int64
	stop error
}

// readBudget is how many bytes the library may read from a file of size
// bytes: many times the file, since it re-reads what it resolves. Each read
// counts as at least readCost bytes, so that a loop over a small object
// runs out as surely as one over a large one.
func readBudget(size int64) int64 { return 128<<20 + 16*size }

const readCost = 4 << 10

func (b *budgetReader) ReadAt(p []byte, off int64) (int, error) {
	if b.stop == nil {
		if err := b.ctx.Err(); err != nil {
			b.stop = err
		} else if b.left -= max(int64(len(p)), readCost); b.left < 0 {
			b.stop = tooComplex("it refers back to itself, or reading it takes far more work than its size")
		}
	}
	if b.stop != nil {
		panic(pdfStop{b.stop})
	}
	return b.r.ReadAt(p, off)
}

// work counts the cost of decoding a document's text and checks ctx.
type work struct {
	ctx     context.Context
	left    int64
	content int64 // content bytes left
}

func newWork(ctx context.Context) *work {
	return &work{ctx: ctx, left: maxWork, content: maxTotalContent}
}

// spend charges n units, raising pdfStop when the budget or ctx runs out.
func (w *work) spend(n int64) {
	if err := w.ctx.Err(); err != nil {
		panic(pdfStop{err})
	}
	if w.left -= n; w.left < 0 {
		panic(pdfStop{tooComplex("its text takes too long to decode")})
	}
}

// Patterns for checkAllocations. They look at the file's bytes as written:
// the numbers the library sizes allocations by are direct values in
// uncompressed places (cross-reference tables, trailers, the dictionaries
// of cross-reference and object streams).
var (
	sizeRe       = regexp.MustCompile(`/Size\s*(\d+)`)
	indexRe      = regexp.MustCompile(`/Index\s*\[([\d\s]*)\]`)
	wRe          = regexp.MustCompile(`/W\s*\[([\d\s]*)\]`)
	columnsRe    = regexp.MustCompile(`/Columns\s*(\d+)(\s+\d+\s+R)?`)
	indirectDPRe = regexp.MustCompile(`/DecodeParms\s*(\d+\s+\d+\s+R|\[[^\]]*\sR[\s\]])`)
	xrefRe       = regexp.MustCompile(`(?:^|[^a-z])xref\s+`)
	extendsRe    = regexp.MustCompile(`/Extends\s*(\d+)\s+\d+\s+R`)
)

// checkAllocations refuses a file whose cross-reference sections or stream
// predictors claim sizes the library would allocate without bound (a
// 150-byte file can otherwise take the process down with it).
func checkAllocations(data []byte) error {
	tooBig := func(what string) error { return damaged(what + " is impossibly large") }
	for _, m := range sizeRe.FindAllSubmatch(data, -1) {
		if n, err := strconv.ParseInt(string(m[1]), 10, 64); err != nil || n > maxPDFObjects {
			return tooBig("its object count")
		}
	}
	for _, m := range indexRe.FindAllSubmatch(data, -1) {
		nums := bytes.Fields(m[1])
		for i := 0; i+1 < len(nums); i += 2 {
			start, err1 := strconv.ParseInt(string(nums[i]), 10, 64)
			count, err2 := strconv.ParseInt(string(nums[i+1]), 10, 64)
			if err1 != nil || err2 != nil || start+count > maxPDFObjects {
				return tooBig("a cross-reference index")
			}
		}
	}
	for _, m := range wRe.FindAllSubmatch(data, -1) {
		for _, f := range bytes.Fields(m[1]) {
			if n, err := strconv.Atoi(string(f)); err != nil || n > 8 {
				return tooBig("a cross-reference field width")
			}
		}
	}
	for _, m := range columnsRe.FindAllSubmatch(data, -1) {
		if n, err := strconv.ParseInt(string(m[1]), 10, 64); err != nil || n > maxPredictorColumns || len(m[2]) > 0 {
			return tooBig("a stream's row width")
		}
	}
	if indirectDPRe.Match(data) {
		return damaged("a stream's decoding parameters are stored elsewhere")
	}
	for _, loc := range xrefRe.FindAllIndex(data, -1) {
		if err := checkXrefTable(data[loc[1]:]); err != nil {
			return err
		}
	}
	return nil
}

// checkXrefTable reads the subsection headers of a cross-reference table
// ("start count", then count entries of three tokens) up to "trailer".
func checkXrefTable(b []byte) error {
	next := func() []byte {
		i := 0
		for i < len(b) && isPDFSpace(b[i]) {
			i++
		}
		j := i
		for j < len(b) && !isPDFSpace(b[j]) {
			j++
		}
		tok := b[i:j]
		b = b[j:]
		return tok
	}
	for {
		first := next()
		if len(first) == 0 || string(first) == "trailer" {
			return nil
		}
		start, err1 := strconv.ParseInt(string(first), 10, 64)
		count, err2 := strconv.ParseInt(string(next()), 10, 64)
		if err1 != nil || err2 != nil {
			return nil // not a table; the library decides
		}
		if start < 0 || count < 0 || start+count > maxPDFObjects {
			return damaged("a cross-reference section is impossibly large")
		}
		for range 3 * count {
			if len(next()) == 0 {
				return nil
			}
		}
	}
}

func isPDFSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

// checkObjectStreams refuses an object stream stored in an object stream
// (the PDF format forbids it; the library recurses without end), and an
// object stream that extends one so stored. The library keeps its
// cross-reference table private, so this reads it by reflection; if the
// library's layout changes, every PDF is refused and the tests say so.
func checkObjectStreams(rd *pdf.Reader, data []byte) error {
	xr := reflect.ValueOf(rd).Elem().FieldByName("xref")
	if !xr.IsValid() || xr.Kind() != reflect.Slice {
		return fail(ErrCorrupt, errors.New("pdf library layout changed: no xref table"), "PDF files cannot be read at the moment; upload the essay as Word or plain text.")
	}
	n := xr.Len()
	inStream := func(id uint64) (bool, error) {
		if id >= uint64(n) {
			return false, nil
		}
		e := xr.Index(int(id))
		f := e.FieldByName("inStream")
		if !f.IsValid() || f.Kind() != reflect.Bool {
			return false, fmt.Errorf("pdf library layout changed: xref entry has no inStream")
		}
		return f.Bool(), nil
	}
	for i := 0; i < n; i++ {
		in, err := inStream(uint64(i))
		if err != nil {
			return fail(ErrCorrupt, err, "PDF files cannot be read at the moment; upload the essay as Word or plain text.")
		}
		if !in {
			continue
		}
		holder := xr.Index(i).FieldByName("stream").FieldByName("id")
		if !holder.IsValid() {
			return fail(ErrCorrupt, errors.New("pdf library layout changed: xref entry has no stream id"), "PDF files cannot be read at the moment; upload the essay as Word or plain text.")
		}
		if nested, _ := inStream(holder.Uint()); nested {
			return damaged("its object streams are stored inside each other")
		}
	}
	for _, m := range extendsRe.FindAllSubmatch(data, -1) {
		id, err := strconv.ParseUint(string(m[1]), 10, 32)
		if err != nil {
			return damaged("an object stream extends a missing one")
		}
		if nested, _ := inStream(id); nested {
			return damaged("its object streams are stored inside each other")
		}
	}
	return nil
}

// pageTree walks the page tree from the catalog, in order, and returns its
// pages, as Reader.Page would find them but within limits: at most
// maxPDFPages pages, maxTreeNodes entries and maxTreeDepth levels (a tree
// that contains itself goes past that at once), and every page's Parent
// chain must end within maxTreeDepth steps.
func pageTree(rd *pdf.Reader) ([]pdf.Page, error) {
	root := rd.Trailer().Key("Root").Key("Pages")
	if root.Key("Type").Name() != "Pages" {
		return nil, nil
	}
	var (
		pages []pdf.Page
		nodes int
		walk  func(node pdf.Value, depth int) error
	)
	walk = func(node pdf.Value, depth int) error {
		if depth > maxTreeDepth {
			return damaged("its page tree contains itself, or is nested too deeply")
		}
		kids := node.Key("Kids")
		for i := 0; i < kids.Len(); i++ {
			if nodes++; nodes > maxTreeNodes {
				return tooComplex(fmt.Sprintf("its page tree has more than %d entries", maxTreeNodes))
			}
			kid := kids.Index(i)
			switch kid.Key("Type").Name() {
			case "Pages":
				if err := walk(kid, depth+1); err != nil {
					return err
				}
			case "Page":
				if len(pages) == maxPDFPages {
					return fail(ErrTooLarge, nil, "This PDF has more than %d pages; Margin reads at most %d. Upload the essay on its own.", maxPDFPages, maxPDFPages)
				}
				p := kid
				for up := 0; !p.IsNull(); up++ {
					if up > maxTreeDepth {
						return damaged("a page's parents loop")
					}
					p = p.Key("Parent")
				}
				pages = append(pages, pdf.Page{V: kid})
			}
		}
		return nil
	}
	if err := walk(root, 0); err != nil {
		return nil, err
	}
	return pages, nil
}

// streamSize reads stream v (or each stream of an array) decompressed,
// counting the bytes up to limit+1, and refuses a predictor row over
// maxPredictorColumns before the library allocates it.
func streamSize(v pdf.Value, limit int64) int64 {
	streams := []pdf.Value{v}
	if v.Kind() == pdf.Array {
		streams = streams[:0]
		for i := 0; i < v.Len() && i < maxTreeNodes; i++ {
			streams = append(streams, v.Index(i))
		}
	}
	var total int64
	for _, s := range streams {
		checkColumns(s.Key("DecodeParms"))
		n, _ := io.Copy(io.Discard, io.LimitReader(s.Reader(), limit+1-total))
		if total += n; total > limit {
			break
		}
	}
	return total
}

func checkColumns(dp pdf.Value) {
	if dp.Kind() == pdf.Array {
		for i := 0; i < dp.Len() && i < 16; i++ {
			checkColumns(dp.Index(i))
		}
		return
	}
	if c := dp.Key("Columns"); c.Kind() != pdf.Null && (c.Kind() != pdf.Integer || c.Int64() > maxPredictorColumns || c.Int64() < 0) {
		panic(pdfStop{damaged("a stream's row width is impossibly large")})
	}
}
