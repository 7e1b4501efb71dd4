package extract

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pdfFile builds a PDF from numbered objects (objs[0] is object 1) with a
// classic cross-reference table. trailer is the trailer dictionary's body;
// "/Size n" is added unless it already says one.
func pdfFile(trailer string, objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	if !strings.Contains(trailer, "/Size") {
		trailer += fmt.Sprintf(" /Size %d", len(objs)+1)
	}
	fmt.Fprintf(&b, "trailer\n<< %s >>\nstartxref\n%d\n%%%%EOF\n", trailer, x)
	return b.Bytes()
}

// xrefEntry is one entry of a cross-reference stream: type 1 (at an offset,
// filled in by pdfWithXrefStream) or type 2 (object index idx of object
// stream in).
type xrefEntry struct{ typ, in, idx int }

// pdfWithXrefStream builds a PDF whose cross-reference is a stream, so that
// objects can be declared as stored in object streams. objs[i] is object
// i+1 (empty for one that only lives in an object stream); entries gives
// each object's entry; the stream itself is the last object.
func pdfWithXrefStream(objs []string, entries []xrefEntry) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n")
	offs := make([]int, len(objs)+1)
	for i, o := range objs {
		if o == "" {
			continue
		}
		offs[i+1] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	self := len(objs) + 1
	x := b.Len()
	var data bytes.Buffer
	data.Write([]byte{0, 0, 0, 0xff})
	for i := 1; i <= len(objs); i++ {
		e := entries[i-1]
		if e.typ == 1 {
			data.Write([]byte{1, byte(offs[i] >> 8), byte(offs[i]), 0})
		} else {
			data.Write([]byte{2, byte(e.in >> 8), byte(e.in), byte(e.idx)})
		}
	}
	data.Write([]byte{1, byte(x >> 8), byte(x), 0})
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 2 1] /Root 1 0 R /Length %d >>\nstream\n", self, self+1, data.Len())
	b.Write(data.Bytes())
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", x)
	return b.Bytes()
}

func deflate(s string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func stream(dict, data string) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

const (
	catalog = "<< /Type /Catalog /Pages 2 0 R >>"
	font    = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
	text    = "BT /F1 12 Tf 72 720 Td (An essay about cycles.) Tj ET"
)

func page(parent, contents string) string {
	return "<< /Type /Page /Parent " + parent + " /Resources << /Font << /F1 3 0 R >> >> /Contents " + contents + " >>"
}

// TestHostilePDFs: each file attacks the PDF library's reader (an endless
// loop, unbounded recursion or allocation, or a decompression bomb); each is
// refused with the error a teacher can act on, well before the time limit.
func TestHostilePDFs(t *testing.T) {
	zeros := deflate(strings.Repeat("0 ", 3<<20))
	deep := []string{catalog, "<< /Type /Pages /Kids [4 0 R] /Count 1 >>", font}
	for i := 4; i < 4+40; i++ {
		deep = append(deep, fmt.Sprintf("<< /Type /Pages /Parent %d 0 R /Kids [%d 0 R] /Count 1 >>", i-1, i+1))
	}
	deep = append(deep, page(fmt.Sprintf("%d 0 R", 4+39), "4 0 R"))
	many := []string{catalog, "<< /Type /Pages /Kids [" + strings.Repeat("4 0 R ", maxPDFPages+1) + "] /Count 501 >>", font, page("2 0 R", "5 0 R"), stream("", text)}

	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"page tree contains itself", pdfFile("/Root 1 0 R", catalog, "<< /Type /Pages /Kids [2 0 R] /Count 1 >>"), ErrCorrupt},
		{"cyclic kids", pdfFile("/Root 1 0 R", catalog, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", "<< /Type /Pages /Kids [2 0 R] /Count 1 >>"), ErrCorrupt},
		{"page tree 40 levels deep", pdfFile("/Root 1 0 R", deep...), ErrCorrupt},
		{"501 pages", pdfFile("/Root 1 0 R", many...), ErrTooLarge},
		{"page is its own parent", pdfFile("/Root 1 0 R", catalog, "<< /Type /Pages /Kids [4 0 R] /Count 1 >>", font, page("4 0 R", "5 0 R"), stream("", text)), ErrCorrupt},
		{"object streams inside each other", pdfWithXrefStream(
			[]string{"<< /Type /Catalog /Pages 2 0 R >>", "", ""},
			[]xrefEntry{{typ: 1}, {typ: 2, in: 3}, {typ: 2, in: 2}}), ErrCorrupt},
		{"object stream extends itself", pdfWithXrefStream(
			[]string{"<< /Type /Catalog /Pages 2 0 R >>", "", stream("/Type /ObjStm /N 0 /First 1 /Extends 3 0 R", " ")},
			[]xrefEntry{{typ: 1}, {typ: 2, in: 3}, {typ: 1}}), ErrTooLarge},
		{"cross-reference section of a billion objects", []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\nxref\n0 1\n0000000000 65535 f \n1000000000 1\n0000000009 00000 n \ntrailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n44\n%%EOF\n"), ErrCorrupt},
		{"trailer claims a billion objects", pdfFile("/Root 1 0 R /Size 1000000000", catalog), ErrCorrupt},
		{"predictor row of 100 GB", pdfFile("/Root 1 0 R", catalog, "<< /Type /Pages /Kids [4 0 R] /Count 1 >>", font, page("2 0 R", "5 0 R"),
			stream("/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 100000000000 >>", deflate(text))), ErrCorrupt},
		{"page content inflates to 6 MB", pdfFile("/Root 1 0 R", catalog, "<< /Type /Pages /Kids [4 0 R] /Count 1 >>", font, page("2 0 R", "5 0 R"),
			stream("/Filter /FlateDecode", zeros)), ErrTooLarge},
		{"font encoding with 100,000 differences", pdfFile("/Root 1 0 R", catalog, "<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
			"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Differences [0"+strings.Repeat(" /a", 100000)+"] >> >>",
			page("2 0 R", "5 0 R"), stream("", text)), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A loop would end at the time limit with ErrTooLarge; the
			// deadline here is only a backstop for a loop that ignores it.
			ctx, cancel := context.WithTimeout(context.Background(), pdfTimeout+5*time.Second)
			defer cancel()
			_, err := Extract(ctx, bytes.NewReader(tt.data), int64(len(tt.data)), tt.name+".pdf")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "took too long") {
				t.Fatalf("refused only by the time limit: %v", err)
			}
		})
	}
}

// TestPDFStopsWhenCancelled: extraction ends with the context's error.
func TestPDFStopsWhenCancelled(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtures, "natarajanpriya_1004_5004_what-is-pl.pdf"))
	if err != nil {
		t.Skipf("fixtures not available: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Extract(ctx, bytes.NewReader(b), int64(len(b)), "essay.pdf"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestPDFGuardsKeepGoodFiles: a plain page with text still reads, through a
// page tree that is not the simplest.
func TestPDFGuardsKeepGoodFiles(t *testing.T) {
	data := pdfFile("/Root 1 0 R", catalog, "<< /Type /Pages /Kids [6 0 R] /Count 1 >>", font, page("6 0 R", "5 0 R"), stream("", text),
		"<< /Type /Pages /Parent 2 0 R /Kids [4 0 R] /Count 1 >>")
	res, err := Extract(context.Background(), bytes.NewReader(data), int64(len(data)), "ok.pdf")
	if err != nil || res.Text != "An essay about cycles." {
		t.Fatalf("Extract = %q, %v", res.Text, err)
	}
}

// BenchmarkHostilePDF measures how long refusing each hostile file takes
// (docs/BENCHMARKS.md, "Security limits").
func BenchmarkHostilePDF(b *testing.B) {
	files := map[string][]byte{
		"self-referencing page tree": pdfFile("/Root 1 0 R", catalog, "<< /Type /Pages /Kids [2 0 R] /Count 1 >>"),
		"object stream extends itself": pdfWithXrefStream(
			[]string{"<< /Type /Catalog /Pages 2 0 R >>", "", stream("/Type /ObjStm /N 0 /First 1 /Extends 3 0 R", " ")},
			[]xrefEntry{{typ: 1}, {typ: 2, in: 3}, {typ: 1}}),
	}
	for name, data := range files {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Extract(context.Background(), bytes.NewReader(data), int64(len(data)), "x.pdf"); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// FuzzExtractPDF: no PDF makes Extract panic, hang past its time limit, or
// return an error that is not one of the package's.
func FuzzExtractPDF(f *testing.F) {
	for _, name := range []string{"natarajanpriya_1004_5004_what-is-pl.pdf", "okaforjordan_1002_5002_genetic-testing-nutrition.pdf"} {
		if b, err := os.ReadFile(filepath.Join(fixtures, name)); err == nil {
			f.Add(b)
		}
	}
	f.Add(pdfFile("/Root 1 0 R", catalog, "<< /Type /Pages /Kids [2 0 R] /Count 1 >>"))
	f.Add(pdfFile("/Root 1 0 R", catalog, "<< /Type /Pages /Kids [4 0 R] /Count 1 >>", font, page("2 0 R", "5 0 R"), stream("", text)))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Extract(context.Background(), bytes.NewReader(data), int64(len(data)), "f.pdf")
		if err == nil {
			return
		}
		for _, want := range []error{ErrEmpty, ErrUnsupported, ErrEncrypted, ErrCorrupt, ErrNotUTF8, ErrNoText, ErrTooLarge} {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("unexpected error: %v", err)
	})
}
