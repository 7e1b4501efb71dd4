package extract

import (
	"archive/zip"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
)

// XML namespaces read from DOCX (transitional and strict) and ODT.
const (
	nsW       = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
	nsWStrict = "http://purl.oclc.org/ooxml/wordprocessingml/main"
	nsMC      = "http://schemas.openxmlformats.org/markup-compatibility/2006"
	nsText    = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
	nsOffice  = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
)

// errXMLTooLarge is returned by capReader past maxXMLBytes.
var errXMLTooLarge = errors.New("decompressed XML over the limit")

// capReader fails once more than n bytes have been read, so that a small
// compressed part cannot expand without bound.
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errXMLTooLarge
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// officeDoc is an opened DOCX or ODT with the label used in messages.
type officeDoc struct {
	zr    *zip.Reader
	label string // "Word document", "OpenDocument file"
}

func openOffice(r io.ReaderAt, size int64, label string) (*officeDoc, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fail(ErrCorrupt, err, "This %s is damaged or incomplete and cannot be opened. Save it again and re-upload it, or upload it as a PDF.", label)
	}
	if len(zr.File) > maxZipEntries {
		return nil, fail(ErrTooLarge, nil, "The file holds %d archive entries, more than the %d a document may have.", len(zr.File), maxZipEntries)
	}
	return &officeDoc{zr: zr, label: label}, nil
}

// part opens a named entry behind the decompression cap; ok is false if the
// entry does not exist.
func (d *officeDoc) part(name string) (io.ReadCloser, bool, error) {
	for _, f := range d.zr.File {
		if f.Name != name {
			continue
		}
		if f.UncompressedSize64 > maxXMLBytes {
			return nil, true, d.tooLarge()
		}
		rc, err := f.Open()
		if err != nil {
			return nil, true, d.corrupt(err)
		}
		return struct {
			io.Reader
			io.Closer
		}{&capReader{r: rc, n: maxXMLBytes}, rc}, true, nil
	}
	return nil, false, nil
}

func (d *officeDoc) tooLarge() error {
	return fail(ErrTooLarge, errXMLTooLarge, "This %s expands to more than %d MB of text markup when unpacked; it is damaged or not a real essay.", d.label, maxXMLBytes>>20)
}

func (d *officeDoc) corrupt(err error) error {
	if errors.Is(err, errXMLTooLarge) {
		return d.tooLarge()
	}
	return fail(ErrCorrupt, err, "This %s is damaged and its text cannot be read. Save it again and re-upload it, or upload it as a PDF.", d.label)
}

// paragraphs collects paragraph text from a streaming XML walk. Paragraphs
// can nest (a text box or note inside a paragraph), so open paragraphs form a
// stack; each is emitted when it closes.
type paragraphs struct {
	open []*strings.Builder
	out  []string
}

func (p *paragraphs) start() { p.open = append(p.open, &strings.Builder{}) }

func (p *paragraphs) end() {
	if n := len(p.open); n > 0 {
		p.out = append(p.out, p.open[n-1].String())
		p.open = p.open[:n-1]
	}
}

func (p *paragraphs) write(s string) {
	if n := len(p.open); n > 0 {
		p.open[n-1].WriteString(s)
	}
}

func (p *paragraphs) text() string { return strings.Join(p.out, "\n\n") }

// extractDOCX reads word/document.xml, then footnotes and endnotes, which
// are appended after the body.
func extractDOCX(r io.ReaderAt, size int64) (string, []string, error) {
	d, err := openOffice(r, size, "Word document")
	if err != nil {
		return "", nil, err
	}
	var parts, warns []string
	for _, name := range []string{"word/document.xml", "word/footnotes.xml", "word/endnotes.xml"} {
		rc, ok, err := d.part(name)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			continue
		}
		text, w, err := walkDOCX(rc)
		rc.Close()
		if err != nil {
			return "", nil, d.corrupt(err)
		}
		warns = append(warns, w...)
		if strings.TrimSpace(text) == "" {
			continue
		}
		if name != "word/document.xml" {
			warns = append(warns, "Footnotes and endnotes were placed after the main text.")
		}
		parts = append(parts, text)
	}
	return strings.Join(parts, "\n\n"), dedupe(warns), nil
}

// walkDOCX extracts paragraphs from a WordprocessingML part. Runs keep their
// text, tabs and line breaks; deleted revisions, field instructions and the
// fallback copy of alternate content are skipped.
func walkDOCX(rd io.Reader) (string, []string, error) {
	dec := xml.NewDecoder(rd)
	var (
		p       paragraphs
		stack   []string // local names of open w: elements
		skip    int      // depth inside a skipped subtree
		inText  bool
		deleted bool
	)
	isW := func(n xml.Name) bool { return n.Space == nsW || n.Space == nsWStrict }
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if skip > 0 {
				skip++
				continue
			}
			if t.Name.Space == nsMC && t.Name.Local == "Fallback" {
				skip = 1
				continue
			}
			if !isW(t.Name) {
				stack = append(stack, "")
				continue
			}
			parent := ""
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			switch t.Name.Local {
			case "del", "moveFrom", "delText", "instrText", "delInstrText":
				if t.Name.Local != "instrText" {
					deleted = true
				}
				skip = 1
				continue
			case "p":
				p.start()
			case "t":
				inText = true
			case "tab":
				if parent == "r" {
					p.write("\t")
				}
			case "br", "cr":
				if parent == "r" {
					p.write("\n")
				}
			case "noBreakHyphen":
				p.write("-")
			}
			stack = append(stack, t.Name.Local)
		case xml.EndElement:
			if skip > 0 {
				skip--
				continue
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			if isW(t.Name) {
				switch t.Name.Local {
				case "p":
					p.end()
				case "t":
					inText = false
				}
			}
		case xml.CharData:
			if inText && skip == 0 {
				p.write(string(t))
			}
		}
	}
	var warns []string
	if deleted {
		warns = append(warns, "Tracked deletions in the document were left out.")
	}
	return p.text(), warns, nil
}

// extractODT reads content.xml. Footnote and endnote bodies are appended
// after the body text; comments and tracked deletions are skipped.
func extractODT(r io.ReaderAt, size int64) (string, []string, error) {
	d, err := openOffice(r, size, "OpenDocument file")
	if err != nil {
		return "", nil, err
	}
	if rc, ok, _ := d.part("META-INF/manifest.xml"); ok {
		b, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(b), "encryption-data") {
			return "", nil, fail(ErrEncrypted, nil, "This OpenDocument file is protected with a password, so its text cannot be read. Save a copy without the password and upload it again.")
		}
	}
	rc, ok, err := d.part("content.xml")
	if err != nil {
		return "", nil, err
	}
	if !ok {
		return "", nil, d.corrupt(errors.New("no content.xml"))
	}
	defer rc.Close()
	text, warns, err := walkODT(rc)
	if err != nil {
		return "", nil, d.corrupt(err)
	}
	return text, warns, nil
}

// skipODT are ODT elements whose text is not part of the student's text:
// comments, tracked-change records and footnote numbers.
var skipODT = map[xml.Name]bool{
	{Space: nsOffice, Local: "annotation"}:     true,
	{Space: nsOffice, Local: "annotation-end"}: true,
	{Space: nsText, Local: "tracked-changes"}:  true,
	{Space: nsText, Local: "note-citation"}:    true,
}

// walkODT extracts paragraphs and headings from ODF content.xml, applying
// ODF whitespace rules: runs of spaces, tabs and newlines in the XML collapse
// to one space, and text:s, text:tab and text:line-break are literal.
func walkODT(rd io.Reader) (string, []string, error) {
	dec := xml.NewDecoder(rd)
	var (
		body, notes paragraphs
		cur         = &body
		skip        int
		noteDepth   int // depth inside text:note-body
		inBody      bool
		space       = true // last output was collapsible space (or paragraph start)
		warns       []string
	)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if skip > 0 {
				skip++
				continue
			}
			if t.Name.Space == nsOffice && t.Name.Local == "text" {
				inBody = true
			}
			if inBody && skipODT[t.Name] {
				skip = 1
				if t.Name.Local == "tracked-changes" {
					warns = append(warns, "Tracked deletions in the document were left out.")
				}
				continue
			}
			if noteDepth > 0 {
				noteDepth++
			}
			if t.Name.Space != nsText || !inBody {
				continue
			}
			switch t.Name.Local {
			case "note-body":
				if noteDepth == 0 {
					noteDepth = 1
					cur = &notes
				}
			case "p", "h":
				cur.start()
				space = true
			case "s":
				n := 1
				for _, a := range t.Attr {
					if a.Name.Local == "c" {
						if c, err := strconv.Atoi(a.Value); err == nil {
							n = min(max(c, 1), 1000)
						}
					}
				}
				cur.write(strings.Repeat(" ", n))
				space = false
			case "tab":
				cur.write("\t")
				space = false
			case "line-break":
				cur.write("\n")
				space = true
			}
		case xml.EndElement:
			if skip > 0 {
				skip--
				continue
			}
			if noteDepth > 0 {
				if noteDepth--; noteDepth == 0 {
					cur = &body
				}
			}
			if t.Name.Space == nsText && (t.Name.Local == "p" || t.Name.Local == "h") {
				cur.end()
			}
		case xml.CharData:
			if skip > 0 || !inBody || len(cur.open) == 0 {
				continue
			}
			var b strings.Builder
			for _, r := range string(t) {
				if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
					if !space {
						b.WriteByte(' ')
						space = true
					}
					continue
				}
				b.WriteRune(r)
				space = false
			}
			cur.write(b.String())
		}
	}
	text := body.text()
	if len(notes.out) > 0 {
		text += "\n\n" + notes.text()
		warns = append(warns, "Footnotes and endnotes were placed after the main text.")
	}
	return text, dedupe(warns), nil
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
