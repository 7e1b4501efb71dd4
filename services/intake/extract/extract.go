// Package extract turns an uploaded student submission (PDF, DOCX, ODT, plain
// text or Markdown) into plain text with stable character offsets.
//
// The format is detected from the content, never trusted from the file name;
// the name only tells Markdown from plain text. The text is normalised the
// same way for every format (see Result), so the same bytes always give the
// same text and feedback quotes can point into it by offset.
//
// Nothing here panics on bad input or runs unbounded: PDF parsing runs behind
// recover, read and work budgets and a time limit; ZIP-based formats are read
// with caps on entries and decompressed size.
package extract

import (
	"context"
	"io"
)

// Format is a supported submission format.
type Format string

// The supported formats.
const (
	PDF      Format = "pdf"
	DOCX     Format = "docx"
	ODT      Format = "odt"
	TXT      Format = "txt"
	Markdown Format = "md"
)

// Limits. They are generous for essays and small against abuse.
const (
	// MaxFileSize is the largest file Detect and Extract accept.
	MaxFileSize = 100 << 20
	// maxXMLBytes caps the decompressed XML read from one DOCX/ODT part.
	maxXMLBytes = 50 << 20
	// maxZipEntries caps the number of entries in a DOCX/ODT archive.
	maxZipEntries = 5000
)

// Result is the text of one submission.
type Result struct {
	Format Format
	// Text is NFC-normalised UTF-8 with "\n" line endings, no trailing
	// spaces on any line, no leading or trailing blank lines, and paragraphs
	// separated by exactly one blank line ("\n\n"). Offsets into Text are
	// counted in Unicode code points (runes), not bytes.
	Text string
	// Warnings are human sentences about things that were dropped or
	// guessed (e.g. repeated page headers removed, tracked deletions
	// ignored). They never make the text unusable.
	Warnings []string
}

// Extract detects the format of the size bytes in r and returns their text.
// filename is used only to tell Markdown (.md, .markdown) from plain text.
//
// Errors (all *errs.Error, test with errors.Is): ErrEmpty, ErrTooLarge (file
// over MaxFileSize, a DOCX/ODT part over 50 MB decompressed, a PDF over its
// work budget or time limit), ErrUnsupported, ErrEncrypted, ErrCorrupt,
// ErrNotUTF8, ErrNoText. If ctx ends first, Extract returns ctx.Err().
func Extract(ctx context.Context, r io.ReaderAt, size int64, filename string) (Result, error) {
	format, err := Detect(r, size, filename)
	if err != nil {
		return Result{}, err
	}
	var (
		raw   string
		warns []string
	)
	switch format {
	case PDF:
		raw, warns, err = extractPDF(ctx, r, size)
	case DOCX:
		raw, warns, err = extractDOCX(r, size)
	case ODT:
		raw, warns, err = extractODT(r, size)
	default:
		raw, err = extractText(r, size)
	}
	if err != nil {
		return Result{}, err
	}
	text := normalize(raw)
	if text == "" {
		return Result{}, noText(format)
	}
	return Result{Format: format, Text: text, Warnings: warns}, nil
}

func noText(f Format) error {
	switch f {
	case PDF:
		return fail(ErrNoText, nil, "This PDF has no selectable text; it is probably a scan or a photo of pages. Upload the original document, or a PDF exported from it.")
	case DOCX, ODT:
		return fail(ErrNoText, nil, "This document contains no text. Check that you uploaded the right file.")
	default:
		return fail(ErrNoText, nil, "This file contains only blank space. Check that you uploaded the right file.")
	}
}
