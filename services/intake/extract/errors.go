package extract

import (
	"errors"
	"fmt"

	"github.com/marginschool/margin/pkg/errs"
)

// Sentinel errors. Detect and Extract never return them bare: they return an
// *errs.Error whose Message is a sentence a teacher can act on and whose
// chain contains exactly one of these, so callers test with errors.Is and the
// HTTP edge maps errs.CodeOf as usual.
var (
	// ErrEmpty: the file has no bytes at all (errs.Invalid).
	ErrEmpty = errors.New("empty file")
	// ErrUnsupported: the content is not PDF, DOCX, ODT or UTF-8 text; the
	// message says what the file looks like (errs.UnsupportedType).
	ErrUnsupported = errors.New("unsupported file type")
	// ErrEncrypted: the document is password-protected (errs.Unprocessable).
	ErrEncrypted = errors.New("encrypted document")
	// ErrCorrupt: a PDF, DOCX or ODT that cannot be parsed (errs.Unprocessable).
	ErrCorrupt = errors.New("corrupt document")
	// ErrNotUTF8: a text file that is not valid UTF-8; the message gives the
	// line and column of the first bad byte (errs.Unprocessable).
	ErrNotUTF8 = errors.New("text is not valid UTF-8")
	// ErrNoText: the document parsed but holds no readable text, e.g. a
	// scanned PDF (errs.Unprocessable).
	ErrNoText = errors.New("no text")
	// ErrTooLarge: the file, or what it decompresses to, is over a limit
	// (errs.TooLarge).
	ErrTooLarge = errors.New("document too large")
)

// codes maps each sentinel to its errs code.
var codes = map[error]errs.Code{
	ErrEmpty:       errs.Invalid,
	ErrUnsupported: errs.UnsupportedType,
	ErrEncrypted:   errs.Unprocessable,
	ErrCorrupt:     errs.Unprocessable,
	ErrNotUTF8:     errs.Unprocessable,
	ErrNoText:      errs.Unprocessable,
	ErrTooLarge:    errs.TooLarge,
}

// fail builds the error returned to callers: kind is a sentinel, msg the
// human sentence, cause (may be nil) the library error kept for logs.
func fail(kind error, cause error, msg string, args ...any) error {
	err := kind
	if cause != nil {
		err = fmt.Errorf("%w: %w", kind, cause)
	}
	return &errs.Error{Code: codes[kind], Message: fmt.Sprintf(msg, args...), Err: err}
}

// uploadHint ends every unsupported-type message.
const uploadHint = "Upload a PDF, Word (.docx), OpenDocument (.odt), plain-text (.txt) or Markdown (.md) file."
