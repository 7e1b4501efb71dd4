// Package bulk reads a ZIP of many submissions, such as a Canvas bulk
// download, without trusting it.
//
// Open reads the ZIP's directory and decides about every entry up front:
// folders, macOS metadata and hidden files are skipped; entries with unsafe
// paths, nested ZIPs, links, encrypted or oddly compressed data, or declared
// sizes over the limits are rejected one by one; the rest can be read. Reads
// are capped on the bytes actually decompressed, per entry and for the whole
// archive, so a ZIP bomb costs at most the limits. Nothing is ever written to
// disk, and nested ZIPs are never opened.
//
// Telling a DOCX or ODT (themselves ZIPs) from a plain ZIP is left to the
// content detection of single uploads, which every entry goes through
// anyway: bulk rejects an entry as a nested ZIP by its ".zip" name alone.
// The same detection must treat a plain ZIP renamed to ".docx" as
// unsupported, and must read DOCX and ODT files with limits of its own
// (Open with Limits serves for that too).
package bulk

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"

	"github.com/marginschool/margin/pkg/errs"
)

// Default limits, used for the zero fields of Limits.
const (
	DefaultMaxEntries   = 2000
	DefaultMaxEntrySize = 25 << 20 // the single-upload limit
	DefaultMaxTotalSize = 1 << 30
)

// Limits caps what reading one ZIP may cost. A zero field takes its default.
type Limits struct {
	// MaxEntries caps the entries of the ZIP's directory, counting folders
	// and skipped files too, since each costs memory before it can be
	// skipped.
	MaxEntries int
	// MaxEntrySize caps the uncompressed bytes of one entry.
	MaxEntrySize int64
	// MaxTotalSize caps the uncompressed bytes of all entries together,
	// counting every read: an entry opened twice counts twice.
	MaxTotalSize int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxEntrySize <= 0 {
		l.MaxEntrySize = DefaultMaxEntrySize
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultMaxTotalSize
	}
	return l
}

// The causes of bulk's errors, for errors.Is on the *errs.Error that
// carries them. Users see the *errs.Error's message, never these.
var (
	ErrNotZip        = errors.New("bulk: not a ZIP")                   // errs.Invalid, whole archive
	ErrTooMany       = errors.New("bulk: too many entries")            // errs.TooLarge, whole archive
	ErrTotalTooLarge = errors.New("bulk: archive too large")           // errs.TooLarge, whole archive or a read
	ErrEntryTooLarge = errors.New("bulk: entry too large")             // errs.TooLarge
	ErrUnsafePath    = errors.New("bulk: unsafe path")                 // errs.Invalid
	ErrBadName       = errors.New("bulk: unusable name")               // errs.Invalid
	ErrDuplicate     = errors.New("bulk: duplicate name")              // errs.Invalid
	ErrNestedZip     = errors.New("bulk: nested ZIP")                  // errs.UnsupportedType
	ErrNotFile       = errors.New("bulk: not a regular file")          // errs.UnsupportedType
	ErrEncrypted     = errors.New("bulk: encrypted")                   // errs.UnsupportedType
	ErrMethod        = errors.New("bulk: unsupported compression")     // errs.UnsupportedType
	ErrDamaged       = errors.New("bulk: damaged entry")               // errs.Invalid
	errDirBudget     = errors.New("bulk: central directory too large") // becomes ErrTooMany
)

// Archive is an opened ZIP. Its entries may be opened in any order, again
// and concurrently; the total limit is shared by all of them.
type Archive struct {
	entries []Entry
	lim     Limits
	total   atomic.Int64 // uncompressed bytes handed out so far
}

// Entry is one file of an Archive that was not skipped.
type Entry struct {
	// Name is the entry's path in the ZIP: '/'-separated, without "." or
	// empty elements, in Unicode NFC, decoded from CP437 if it was not UTF-8.
	// For an entry rejected for its name, it is the raw name made printable.
	Name string
	// Size is the uncompressed size the ZIP declares. Reading never yields
	// more, nor more than the limits.
	Size     int64
	Modified time.Time
	// Err is non-nil, always an *errs.Error naming the entry, if the entry
	// was rejected; Open then returns it.
	Err error

	f *zip.File
	a *Archive
}

// Open reads the directory of the ZIP in r, size bytes long, and classifies
// its entries under lim.
//
// The ZIP as a whole is refused with an *errs.Error of code errs.Invalid
// (cause ErrNotZip) if it is not a ZIP or its directory is corrupt, and of
// code errs.TooLarge if it has more than lim.MaxEntries entries (ErrTooMany)
// or its entries declare more than lim.MaxTotalSize bytes in all
// (ErrTotalTooLarge). A failure of r is an internal error.
func Open(r io.ReaderAt, size int64, lim Limits) (*Archive, error) {
	lim = lim.withDefaults()
	if size < 0 {
		return nil, notZip(fmt.Errorf("negative size %d", size))
	}
	// archive/zip reads the whole directory before we see an entry, and a
	// directory of tiny records can hold millions. Cap the bytes it may read
	// to what MaxEntries honest records need: 1 KiB each, plus the largest
	// archive comment.
	ra := &readerAt{r: r, budget: 128<<10 + int64(lim.MaxEntries)<<10}
	zr, err := zip.NewReader(ra, size)
	ra.budget = -1 // entry reads are capped by entryReader
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		var ioErr readError
		switch {
		case errors.Is(err, errDirBudget):
			return nil, tooMany(lim)
		case errors.As(err, &ioErr):
			return nil, errs.Wrap(ioErr.err, "read ZIP directory")
		}
		return nil, notZip(err)
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, tooMany(lim)
	}

	a := &Archive{lim: lim, entries: make([]Entry, 0, len(zr.File))}
	seen := make(map[string]bool, len(zr.File))
	var declared uint64
	for _, f := range zr.File {
		e, skip := a.classify(f)
		if skip {
			continue
		}
		if e.Err == nil {
			if seen[e.Name] {
				e.Err = entryError(errs.Invalid, ErrDuplicate, e.Name, "appears twice in the ZIP; only the first copy is used")
			} else {
				seen[e.Name] = true
				if declared += f.UncompressedSize64; declared < f.UncompressedSize64 {
					declared = math.MaxUint64 // overflowed
				}
			}
		}
		a.entries = append(a.entries, e)
	}
	if declared > uint64(lim.MaxTotalSize) {
		return nil, &errs.Error{
			Code:    errs.TooLarge,
			Message: fmt.Sprintf("The ZIP's files add up to %s, more than the %s one upload may hold.", human(declared), human(uint64(lim.MaxTotalSize))),
			Err:     ErrTotalTooLarge,
		}
	}
	return a, nil
}

// Entries returns the entries that were not skipped, in the ZIP's order,
// rejected ones included with Err set. Skipped silently are folders,
// anything in __MACOSX, hidden files and folders (a name element starting
// with '.', such as .DS_Store), Office lock files (~$…) and Thumbs.db and
// desktop.ini.
//
// Rejected, each with an *errs.Error that names the entry:
//   - errs.Invalid: a path that is absolute, has a drive letter or a ".."
//     element (ErrUnsafePath); a name with control characters or over 1024
//     bytes (ErrBadName); a name already used by an earlier entry
//     (ErrDuplicate);
//   - errs.UnsupportedType: a name ending in .zip (ErrNestedZip); a link or
//     other non-regular file (ErrNotFile); an encrypted entry
//     (ErrEncrypted); compression other than stored or deflate (ErrMethod);
//   - errs.TooLarge: a declared size over MaxEntrySize (ErrEntryTooLarge).
//
// Backslashes are read as path separators, since some Windows tools write
// them; "folder\essay.docx" is "folder/essay.docx", "..\x" is unsafe.
func (a *Archive) Entries() []Entry { return a.entries }

// classify turns a directory record into an Entry, or says to skip it.
func (a *Archive) classify(f *zip.File) (e Entry, skip bool) {
	e = Entry{Size: int64(min(f.UncompressedSize64, math.MaxInt64)), Modified: f.Modified, f: f, a: a}
	raw := f.Name
	if !utf8.ValidString(raw) {
		// Without the UTF-8 flag, ZIP names are CP437, which Windows tools
		// still write; every byte string is valid CP437.
		raw, _ = charmap.CodePage437.NewDecoder().String(raw)
	}
	raw = norm.NFC.String(raw)

	name, problem := cleanPath(raw)
	if problem != nil {
		e.Name = printable(raw)
		e.Err = entryError(errs.Invalid, problem, e.Name, "has a name that cannot be used")
		if problem == ErrUnsafePath {
			e.Err = entryError(errs.Invalid, problem, e.Name, "has a path that points outside the ZIP")
		}
		return e, false
	}
	e.Name = name
	elems := strings.Split(name, "/")
	base := elems[len(elems)-1]
	switch {
	case name == "" || strings.HasSuffix(f.Name, "/") || strings.HasSuffix(f.Name, `\`) || f.Mode().IsDir():
		return e, true
	case base == "Thumbs.db" || base == "desktop.ini" || strings.HasPrefix(base, "~$"):
		return e, true
	}
	for _, el := range elems {
		if el == "__MACOSX" || strings.HasPrefix(el, ".") {
			return e, true
		}
	}

	switch {
	case strings.EqualFold(path.Ext(base), ".zip"):
		e.Err = entryError(errs.UnsupportedType, ErrNestedZip, name, "is itself a ZIP; upload its files in this ZIP instead")
	case !f.Mode().IsRegular():
		e.Err = entryError(errs.UnsupportedType, ErrNotFile, name, "is a link or special file, not a document")
	case f.Flags&0x1 != 0:
		e.Err = entryError(errs.UnsupportedType, ErrEncrypted, name, "is password-protected")
	case f.Method != zip.Store && f.Method != zip.Deflate:
		e.Err = entryError(errs.UnsupportedType, ErrMethod, name, fmt.Sprintf("is compressed with a method (%d) we cannot read; make the ZIP again with your system's standard tool", f.Method))
	case f.UncompressedSize64 > uint64(a.lim.MaxEntrySize):
		e.Err = entryTooLarge(name, a.lim)
	}
	return e, false
}

// cleanPath turns a ZIP name into a clean relative path, or says why it
// cannot be one.
func cleanPath(raw string) (string, error) {
	if len(raw) > 1024 || strings.ContainsFunc(raw, unicode.IsControl) {
		return "", ErrBadName
	}
	p := strings.ReplaceAll(raw, `\`, "/")
	if strings.HasPrefix(p, "/") || len(p) >= 2 && p[1] == ':' && ('a' <= p[0]|0x20 && p[0]|0x20 <= 'z') {
		return "", ErrUnsafePath
	}
	var elems []string
	for el := range strings.SplitSeq(p, "/") {
		switch el {
		case "", ".":
		case "..":
			return "", ErrUnsafePath
		default:
			elems = append(elems, el)
		}
	}
	return strings.Join(elems, "/"), nil
}

// printable makes a rejected name safe to show: control characters become
// U+FFFD and it is cut to 200 bytes.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// Open returns a reader of the entry's uncompressed content, or e.Err for a
// rejected entry. Several entries may be read at once.
//
// Open and Read return an *errs.Error naming the entry: errs.TooLarge once
// the entry passes MaxEntrySize (ErrEntryTooLarge) or the archive's reads
// together pass MaxTotalSize (ErrTotalTooLarge), after which every Open
// fails too; errs.Invalid (ErrDamaged) if the data is corrupt, truncated,
// longer than declared, or fails its checksum — which Read can only tell at
// the end, so discard what was read of an entry whose Read fails. A failure
// of the underlying reader is an internal error. Read never yields bytes
// beyond the limits.
func (e Entry) Open() (io.ReadCloser, error) {
	if e.Err != nil {
		return nil, e.Err
	}
	if e.a == nil {
		return nil, errs.Wrap(errors.New("zero Entry"), "open ZIP entry")
	}
	if e.a.total.Load() > e.a.lim.MaxTotalSize {
		return nil, totalTooLarge(e.Name, e.a.lim)
	}
	rc, err := e.f.Open()
	if err != nil {
		return nil, readErr(e.Name, err)
	}
	return &entryReader{rc: rc, e: e, left: e.a.lim.MaxEntrySize}, nil
}

// entryReader enforces the limits on the bytes a decompressor yields,
// whatever the ZIP declares.
type entryReader struct {
	rc   io.ReadCloser
	e    Entry
	left int64 // bytes this entry may still yield
	err  error // sticky
}

func (r *entryReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left < int64(len(p))-1 {
		p = p[:r.left+1] // one byte more than allowed shows the entry is over
	}
	n, err := r.rc.Read(p)

	lim := r.e.a.lim
	if int64(n) > r.left {
		n, r.err = int(r.left), entryTooLarge(r.e.Name, lim)
	}
	r.left -= int64(n)
	// The reads of all entries take consecutive ranges of the total; the
	// part of this range past MaxTotalSize is withheld.
	after := r.e.a.total.Add(int64(n))
	if after > lim.MaxTotalSize {
		n -= int(min(after-lim.MaxTotalSize, int64(n)))
		r.err = totalTooLarge(r.e.Name, lim)
	}
	switch {
	case r.err != nil:
	case err == io.EOF:
		r.err = io.EOF
	case err != nil:
		r.err = readErr(r.e.Name, err)
	}
	return n, r.err
}

// Close releases the decompressor. Its error, if any, is Read's.
func (r *entryReader) Close() error {
	if err := r.rc.Close(); err != nil {
		return readErr(r.e.Name, err)
	}
	return nil
}

// readErr describes a failure to read an entry.
func readErr(name string, err error) error {
	var ioErr readError
	switch {
	case errors.As(err, &ioErr):
		return errs.Wrap(ioErr.err, "read ZIP entry %q", name)
	case errors.Is(err, zip.ErrAlgorithm):
		return entryError(errs.UnsupportedType, ErrMethod, name, "is compressed with a method we cannot read")
	case errors.Is(err, zip.ErrChecksum):
		return entryError(errs.Invalid, fmt.Errorf("%w: %w", ErrDamaged, err), name, "is damaged: its checksum does not match its content")
	}
	// zip.ErrFormat, io.ErrUnexpectedEOF, flate.CorruptInputError and the like.
	return entryError(errs.Invalid, fmt.Errorf("%w: %w", ErrDamaged, err), name, "is damaged and cannot be read")
}

func entryError(code errs.Code, cause error, name, what string) *errs.Error {
	return &errs.Error{Code: code, Message: fmt.Sprintf("The file %q in the ZIP %s.", name, what), Err: cause}
}

func entryTooLarge(name string, lim Limits) *errs.Error {
	return entryError(errs.TooLarge, ErrEntryTooLarge, name, "is larger than the "+human(uint64(lim.MaxEntrySize))+" allowed for one file")
}

func totalTooLarge(name string, lim Limits) *errs.Error {
	return entryError(errs.TooLarge, ErrTotalTooLarge, name,
		"was not read: the ZIP's files add up to more than the "+human(uint64(lim.MaxTotalSize))+" one upload may hold")
}

func tooMany(lim Limits) *errs.Error {
	return &errs.Error{
		Code:    errs.TooLarge,
		Message: fmt.Sprintf("The ZIP has more than %d entries; split it into smaller ZIPs.", lim.MaxEntries),
		Err:     ErrTooMany,
	}
}

func notZip(err error) *errs.Error {
	return &errs.Error{
		Code:    errs.Invalid,
		Message: "The upload is not a ZIP file, or it is damaged; make the ZIP again and upload it once more.",
		Err:     fmt.Errorf("%w: %w", ErrNotZip, err),
	}
}

// human formats a byte count for a message, e.g. "25 MB" or "1 GB" (binary
// units, as file managers on Windows show them).
func human(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MB", (n+(1<<20)-1)>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", (n+(1<<10)-1)>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// readerAt passes reads through, tags their failures as the reader's (not
// the ZIP's), and, while budget is not negative, fails once more than
// budget bytes have been asked for.
type readerAt struct {
	r      io.ReaderAt
	budget int64
}

type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

func (r *readerAt) ReadAt(p []byte, off int64) (int, error) {
	if r.budget >= 0 {
		if int64(len(p)) > r.budget {
			return 0, errDirBudget
		}
		r.budget -= int64(len(p))
	}
	n, err := r.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = readError{err}
	}
	return n, err
}
