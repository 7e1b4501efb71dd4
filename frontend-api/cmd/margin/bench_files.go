package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"html"
	"math/rand/v2"
	"strings"

	"codeberg.org/go-pdf/fpdf"
)

// essayWords is the vocabulary of the bench's essays: enough words that
// no two essays are near-duplicates, all ASCII (the PDFs use a core font).
var essayWords = strings.Fields(`
learning students school teachers classroom research evidence argument claim
source data study reading writing history science community policy technology
personalized instruction feedback practice attention motivation assessment goal
progress curriculum lesson project question answer analysis reason example
experience memory habit skill knowledge understanding difference pattern change
history century society culture economy government law right freedom vote
energy climate water river forest city village family parent child friend
library book article author chapter paragraph sentence word language meaning
because although therefore however while whereas since unless despite before
after during often rarely usually clearly strongly quickly carefully slowly
shows suggests argues explains describes compares measures finds reports claims
important different difficult possible useful common recent local national
public private early modern careful simple complex strong weak large small
`)

// essay writes a student's essay of about size bytes: a title line with the
// author's name (which intake pseudonymises for graders), then paragraphs of
// sentences of 8 to 24 words, each ending with a full stop.
func essay(r *rand.Rand, author string, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Essay by %s\n\n", author)
	for b.Len() < size {
		for range 4 + r.IntN(5) {
			n := 8 + r.IntN(17)
			for i := range n {
				w := essayWords[r.IntN(len(essayWords))]
				if i == 0 {
					w = strings.ToUpper(w[:1]) + w[1:]
				} else {
					b.WriteByte(' ')
				}
				b.WriteString(w)
			}
			b.WriteString(". ")
		}
		b.WriteString("\n\n")
	}
	return b.String()
}

// essayFile renders text as a file of the given extension: .txt, .docx,
// .odt or .pdf.
func essayFile(ext, text string) ([]byte, error) {
	paras := strings.Split(strings.TrimSpace(text), "\n\n")
	switch ext {
	case ".txt":
		return []byte(text), nil
	case ".docx":
		var body strings.Builder
		for _, p := range paras {
			fmt.Fprintf(&body, `<w:p><w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p>`, html.EscapeString(p))
		}
		return zipOf([][2]string{
			{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`},
			{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`},
			{"word/document.xml", `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body.String() + `</w:body></w:document>`},
		})
	case ".odt":
		var body strings.Builder
		for _, p := range paras {
			fmt.Fprintf(&body, `<text:p>%s</text:p>`, html.EscapeString(p))
		}
		return zipOf([][2]string{
			{"mimetype", "application/vnd.oasis.opendocument.text"},
			{"META-INF/manifest.xml", `<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>`},
			{"content.xml", `<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>` + body.String() + `</office:text></office:body></office:document-content>`},
		})
	case ".pdf":
		pdf := fpdf.New("P", "mm", "A4", "")
		pdf.SetFont("Helvetica", "", 11)
		pdf.AddPage()
		for _, p := range paras {
			pdf.MultiCell(0, 5, p, "", "L", false)
			pdf.Ln(3)
		}
		var buf bytes.Buffer
		err := pdf.Output(&buf)
		return buf.Bytes(), err
	}
	return nil, fmt.Errorf("bench: no essay format %q", ext)
}

// zipOf builds a ZIP of the named entries, stored in order (an ODT's
// mimetype must come first).
func zipOf(entries [][2]string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		method := zip.Deflate
		if e[0] == "mimetype" {
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: method})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(e[1])); err != nil {
			return nil, err
		}
	}
	err := zw.Close()
	return buf.Bytes(), err
}

// essayExts is the mix of formats students hand in: mostly Word, then
// PDF, plain text and OpenDocument.
var essayExts = []string{".docx", ".docx", ".docx", ".docx", ".pdf", ".pdf", ".pdf", ".txt", ".txt", ".odt"}
