package extract

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ODF mimetype values.
const (
	odtMime = "application/vnd.oasis.opendocument.text"
	odfMime = "application/vnd.oasis.opendocument."
)

// Detect tells the format of the size bytes in r from their content: PDF by
// its %PDF- header, DOCX and ODT by their ZIP entries, and text by being
// free of NULs and mostly printable. The file name is used only to tell
// Markdown from plain text. Detect reads the start of the file and, for ZIP
// files, the ZIP directory; it does not validate the whole document, so a
// text file is only checked for UTF-8 by Extract.
//
// Errors (all *errs.Error): ErrEmpty for a zero-byte file; ErrTooLarge over
// MaxFileSize; ErrUnsupported, saying what the file looks like (an image, a
// spreadsheet, an older .doc, a plain ZIP archive, ...); ErrEncrypted for a
// password-protected Office document; ErrCorrupt for a damaged ZIP whose name
// claims it is a .docx or .odt.
func Detect(r io.ReaderAt, size int64, filename string) (Format, error) {
	switch {
	case size <= 0:
		return "", fail(ErrEmpty, nil, "The file is empty (0 bytes). Check that you uploaded the right file.")
	case size > MaxFileSize:
		return "", fail(ErrTooLarge, nil, "The file is %s, over the %s limit.", humanBytes(size), humanBytes(MaxFileSize))
	}
	head := make([]byte, min(size, 8192))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return "", fail(ErrCorrupt, err, "The file could not be read. Try uploading it again.")
	}
	ext := strings.ToLower(path.Ext(filename))
	switch {
	case pdfHeaderAt(head) >= 0:
		return PDF, nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return detectZip(r, size, ext)
	case bytes.HasPrefix(head, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
		return "", detectOLE(r, size)
	case bytes.HasPrefix(head, []byte(`{\rtf`)):
		return "", unsupported("a Rich Text Format (.rtf) document")
	}
	if what := binaryKind(head); what != "" {
		return "", unsupported(what)
	}
	if ext == ".md" || ext == ".markdown" {
		return Markdown, nil
	}
	return TXT, nil
}

// pdfHeaderAt is the offset of %PDF- within the first 1024 bytes (where
// readers accept it), or -1.
func pdfHeaderAt(head []byte) int {
	return bytes.Index(head[:min(len(head), 1024)], []byte("%PDF-"))
}

func unsupported(what string) error {
	return fail(ErrUnsupported, nil, "This file looks like %s, which Margin cannot read. %s", what, uploadHint)
}

// detectZip tells DOCX and ODT from other ZIP-based files.
func detectZip(r io.ReaderAt, size int64, ext string) (Format, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		switch ext {
		case ".docx":
			return "", fail(ErrCorrupt, err, "This Word document is damaged or incomplete and cannot be opened. Save it again and re-upload it, or upload it as a PDF.")
		case ".odt":
			return "", fail(ErrCorrupt, err, "This OpenDocument file is damaged or incomplete and cannot be opened. Save it again and re-upload it, or upload it as a PDF.")
		}
		return "", unsupported("a damaged ZIP archive")
	}
	if len(zr.File) > maxZipEntries {
		return "", fail(ErrTooLarge, nil, "The file holds %d archive entries, more than the %d a document may have.", len(zr.File), maxZipEntries)
	}
	has := func(name string) bool {
		for _, f := range zr.File {
			if f.Name == name {
				return true
			}
		}
		return false
	}
	mime := zipMimetype(zr)
	switch {
	case has("[Content_Types].xml") && has("word/document.xml"):
		return DOCX, nil
	case mime == odtMime:
		return ODT, nil
	case has("xl/workbook.xml"):
		return "", unsupported("an Excel spreadsheet (.xlsx)")
	case has("ppt/presentation.xml"):
		return "", unsupported("a PowerPoint presentation (.pptx)")
	case mime == "application/epub+zip":
		return "", unsupported("an e-book (.epub)")
	case strings.HasPrefix(mime, odfMime):
		return "", unsupported("an OpenDocument file of type " + strings.TrimPrefix(mime, odfMime) + " rather than a text document")
	case has("Index/Document.iwa"):
		return "", unsupported("an Apple Pages document (export it as PDF or Word first)")
	}
	return "", unsupported("a ZIP archive rather than a single document (upload each document on its own)")
}

// zipMimetype returns the content of an ODF/EPUB "mimetype" entry, or "".
func zipMimetype(zr *zip.Reader) string {
	for _, f := range zr.File {
		if f.Name != "mimetype" || f.UncompressedSize64 > 200 {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return ""
		}
		defer rc.Close()
		b, _ := io.ReadAll(io.LimitReader(rc, 200))
		return strings.TrimSpace(string(b))
	}
	return ""
}

// detectOLE handles OLE2 compound files: old Office formats, and modern
// Office documents saved with a password (which Office wraps in OLE2 with an
// "EncryptedPackage" stream).
func detectOLE(r io.ReaderAt, size int64) error {
	b := make([]byte, size)
	if _, err := r.ReadAt(b, 0); err != nil && err != io.EOF {
		return fail(ErrCorrupt, err, "The file could not be read. Try uploading it again.")
	}
	if bytes.Contains(b, utf16le("EncryptedPackage")) {
		return fail(ErrEncrypted, nil, "This Office document is protected with a password, so its text cannot be read. Remove the password (File > Info > Protect Document) and upload it again.")
	}
	return unsupported("an older Microsoft Office file (.doc, .xls or .ppt); save it as .docx or PDF first")
}

func utf16le(s string) []byte {
	var b []byte
	for _, c := range []byte(s) {
		b = append(b, c, 0)
	}
	return b
}

// binaryKind returns a description when head is not text, or "".
func binaryKind(head []byte) string {
	if bytes.HasPrefix(head, []byte("\xff\xfe")) || bytes.HasPrefix(head, []byte("\xfe\xff")) {
		return "a UTF-16 text file (save it as UTF-8 first)"
	}
	mime := http.DetectContentType(head)
	if lower := bytes.ToLower(bytes.TrimSpace(head[:min(len(head), 512)])); bytes.HasPrefix(lower, []byte("<!doctype html")) || bytes.HasPrefix(lower, []byte("<html")) {
		return "a web page (HTML); save it as PDF or copy its text into a document"
	}
	if !strings.HasPrefix(mime, "text/") || looksBinary(head) {
		return describeMIME(mime)
	}
	return ""
}

// looksBinary reports whether head has NULs, many control bytes, or many
// bytes that are not UTF-8 (legacy 8-bit text still passes, so that Extract
// can say where it breaks).
func looksBinary(head []byte) bool {
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	var ctrl, bad int
	for i := 0; i < len(head); {
		c := head[i]
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b {
			ctrl++
		}
		r, n := utf8.DecodeRune(head[i:])
		if r == utf8.RuneError && n == 1 && len(head)-i >= utf8.UTFMax {
			bad++
		}
		i += n
	}
	return ctrl*100 > len(head) || bad*10 > len(head)
}

func describeMIME(mime string) string {
	mime, _, _ = strings.Cut(mime, ";")
	switch {
	case strings.HasPrefix(mime, "image/"):
		return "an image (" + strings.ToUpper(strings.TrimPrefix(mime, "image/")) + "); a photo or scan of work has no text to read"
	case strings.HasPrefix(mime, "audio/"), strings.HasPrefix(mime, "video/"):
		return "an audio or video file"
	case mime == "application/x-gzip", mime == "application/x-rar-compressed", mime == "application/x-7z-compressed":
		return "a compressed archive"
	case mime == "application/wasm", mime == "application/vnd.ms-fontobject", strings.HasPrefix(mime, "font/"):
		return "a program or font file"
	}
	return "a binary file of an unknown type"
}

func humanBytes(n int64) string {
	if n >= 1<<20 {
		return strings.TrimSuffix(strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64), ".0") + " MB"
	}
	return strings.TrimSuffix(strconv.FormatFloat(float64(n)/1024, 'f', 1, 64), ".0") + " KB"
}
