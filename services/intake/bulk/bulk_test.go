package bulk

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/marginschool/margin/pkg/errs"
)

// file is one entry to put in a test ZIP.
type file struct {
	name    string
	body    string
	mode    os.FileMode // 0 for a regular file
	flags   uint16      // extra general-purpose flags, e.g. 0x1 (encrypted)
	nonUTF8 bool        // name is raw CP437 bytes
}

// makeZip builds a ZIP in memory.
func makeZip(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Flags: f.flags, NonUTF8: f.nonUTF8}
		if f.mode != 0 {
			h.SetMode(f.mode)
		}
		fw, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(fw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawZip builds a ZIP with one entry whose data is already compressed and
// whose header says what the caller wants, true or not.
func rawZip(t testing.TB, h *zip.FileHeader, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	fw, err := w.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflate(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func open(t testing.TB, z []byte, lim Limits) (*Archive, error) {
	t.Helper()
	return Open(bytes.NewReader(z), int64(len(z)), lim)
}

// outcome is what a test expects of one entry: its cleaned name and the
// cause of its rejection (nil if readable).
type outcome struct {
	name  string
	cause error
}

func outcomes(a *Archive) []outcome {
	var out []outcome
	for _, e := range a.Entries() {
		var cause error
		if e.Err != nil {
			for _, c := range []error{ErrUnsafePath, ErrBadName, ErrDuplicate, ErrNestedZip, ErrNotFile, ErrEncrypted, ErrMethod, ErrEntryTooLarge} {
				if errors.Is(e.Err, c) {
					cause = c
				}
			}
			if cause == nil {
				cause = e.Err
			}
		}
		out = append(out, outcome{e.Name, cause})
	}
	return out
}

func TestEntries(t *testing.T) {
	tests := []struct {
		name  string
		files []file
		want  []outcome
	}{
		{"good entries, folders kept in the name",
			[]file{{name: "a.txt", body: "A"}, {name: "sub/", mode: os.ModeDir | 0o755}, {name: "sub/b.pdf", body: "B"}},
			[]outcome{{"a.txt", nil}, {"sub/b.pdf", nil}}},
		{"dot and empty elements cleaned",
			[]file{{name: "./x//y.txt", body: "y"}},
			[]outcome{{"x/y.txt", nil}}},
		{"dot-dot and absolute paths rejected",
			[]file{
				{name: "../evil.txt", body: "x"},
				{name: "a/../../evil.txt", body: "x"},
				{name: "/etc/passwd", body: "x"},
				{name: `..\win.txt`, body: "x"},
				{name: `C:\Windows\x.txt`, body: "x"},
				{name: "c:x.txt", body: "x"},
				{name: "ok.txt", body: "fine"},
			},
			[]outcome{
				{"../evil.txt", ErrUnsafePath}, {"a/../../evil.txt", ErrUnsafePath}, {"/etc/passwd", ErrUnsafePath},
				{`..\win.txt`, ErrUnsafePath}, {`C:\Windows\x.txt`, ErrUnsafePath}, {"c:x.txt", ErrUnsafePath}, {"ok.txt", nil},
			}},
		{"backslashes are separators",
			[]file{{name: `folder\essay.docx`, body: "x"}},
			[]outcome{{"folder/essay.docx", nil}}},
		{"nested ZIP rejected by name",
			[]file{{name: "inner.zip", body: "PK\x03\x04"}, {name: "more/INNER.ZIP", body: "x"}},
			[]outcome{{"inner.zip", ErrNestedZip}, {"more/INNER.ZIP", ErrNestedZip}}},
		{"symlink rejected",
			[]file{{name: "link.txt", body: "/etc/passwd", mode: os.ModeSymlink | 0o777}},
			[]outcome{{"link.txt", ErrNotFile}}},
		{"encrypted flag rejected",
			[]file{{name: "secret.docx", body: "x", flags: 0x1}},
			[]outcome{{"secret.docx", ErrEncrypted}}},
		{"CP437 names decoded",
			[]file{{name: "r\x82sum\x82 \x94.txt", body: "x", nonUTF8: true}},
			[]outcome{{"résumé ö.txt", nil}}},
		{"names normalised to NFC",
			[]file{{name: "cafe\u0301.txt", body: "x"}},
			[]outcome{{"caf\u00e9.txt", nil}}},
		{"control characters rejected",
			[]file{{name: "bad\x01name.txt", body: "x"}, {name: "tab\tname.txt", body: "x"}},
			[]outcome{{"bad\ufffdname.txt", ErrBadName}, {"tab\ufffdname.txt", ErrBadName}}},
		{"over-long name rejected",
			[]file{{name: strings.Repeat("n", 1100) + ".txt", body: "x"}},
			[]outcome{{strings.Repeat("n", 200) + "…", ErrBadName}}},
		{"duplicates: the first copy wins",
			[]file{{name: "a.txt", body: "1"}, {name: "a.txt", body: "2"}, {name: "./a.txt", body: "3"}},
			[]outcome{{"a.txt", nil}, {"a.txt", ErrDuplicate}, {"a.txt", ErrDuplicate}}},
		{"macOS metadata, hidden and Office/Windows litter skipped",
			[]file{
				{name: "__MACOSX/._essay.docx", body: "x"},
				{name: "class/__MACOSX/x.txt", body: "x"},
				{name: ".DS_Store", body: "x"},
				{name: "class/.hidden/essay.txt", body: "x"},
				{name: "~$essay.docx", body: "x"},
				{name: "Thumbs.db", body: "x"},
				{name: "desktop.ini", body: "x"},
				{name: "essay.txt", body: "kept"},
			},
			[]outcome{{"essay.txt", nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := open(t, makeZip(t, tt.files...), Limits{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			got := outcomes(a)
			if len(got) != len(tt.want) {
				t.Fatalf("entries\ngot  %v\nwant %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("entry %d: got %v, want %v", i, got[i], tt.want[i])
				}
			}
			for _, e := range a.Entries() {
				if e.Err != nil {
					var ee *errs.Error
					if !errors.As(e.Err, &ee) || ee.Code == errs.Internal || !strings.Contains(ee.Message, "in the ZIP") {
						t.Errorf("%q: rejection %v is not a user-facing *errs.Error naming the entry", e.Name, e.Err)
					}
					if _, err := e.Open(); err != e.Err {
						t.Errorf("%q: Open = %v, want its rejection", e.Name, err)
					}
				}
			}
		})
	}
}

func TestReadGoodEntries(t *testing.T) {
	z := makeZip(t, file{name: "a.txt", body: "alpha"}, file{name: "b/c.md", body: strings.Repeat("beta ", 1000)})
	a, err := open(t, z, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a.txt": "alpha", "b/c.md": strings.Repeat("beta ", 1000)}
	for _, e := range a.Entries() {
		if got := readAll(t, e); got != want[e.Name] {
			t.Errorf("%s: read %d bytes, want %d", e.Name, len(got), len(want[e.Name]))
		}
		if e.Size != int64(len(want[e.Name])) {
			t.Errorf("%s: Size %d", e.Name, e.Size)
		}
	}
}

func readAll(t *testing.T, e Entry) string {
	t.Helper()
	rc, err := e.Open()
	if err != nil {
		t.Fatalf("%s: Open: %v", e.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: read: %v", e.Name, err)
	}
	return string(b)
}

func TestUnsupportedMethod(t *testing.T) {
	z := rawZip(t, &zip.FileHeader{Name: "x.txt", Method: 12 /* bzip2 */, CompressedSize64: 3, UncompressedSize64: 3}, []byte("abc"))
	a, err := open(t, z, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(a); len(got) != 1 || got[0].cause != ErrMethod {
		t.Fatalf("got %v, want ErrMethod", got)
	}
}

// TestZipBomb: a ZIP of a few KB that inflates far past the limits costs at
// most the limits.
func TestZipBomb(t *testing.T) {
	zeros := make([]byte, 8<<20)
	bomb := deflate(t, zeros) // 8 MB of zeros in about 8 KB
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb is %d bytes, not a bomb", len(bomb))
	}
	crc := crc32.ChecksumIEEE(zeros)
	lim := Limits{MaxEntries: 10, MaxEntrySize: 1 << 20, MaxTotalSize: 4 << 20}

	t.Run("honest size over the entry limit is rejected up front", func(t *testing.T) {
		z := rawZip(t, &zip.FileHeader{Name: "bomb.txt", Method: zip.Deflate, CRC32: crc, CompressedSize64: uint64(len(bomb)), UncompressedSize64: uint64(len(zeros))}, bomb)
		a, err := open(t, z, Limits{MaxEntrySize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		e := a.Entries()[0]
		if !errors.Is(e.Err, ErrEntryTooLarge) || errs.CodeOf(e.Err) != errs.TooLarge {
			t.Fatalf("Err = %v, want ErrEntryTooLarge", e.Err)
		}
	})

	t.Run("declared sizes over the total refuse the archive", func(t *testing.T) {
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		for i := range 6 { // 6 × 1 MB > 4 MB
			fw, _ := w.CreateRaw(&zip.FileHeader{Name: "part" + string(rune('a'+i)) + ".txt", Method: zip.Deflate,
				CRC32: crc32.ChecksumIEEE(zeros[:1<<20]), CompressedSize64: uint64(len(deflate(t, zeros[:1<<20]))), UncompressedSize64: 1 << 20})
			fw.Write(deflate(t, zeros[:1<<20]))
		}
		w.Close()
		_, err := open(t, buf.Bytes(), lim)
		if !errors.Is(err, ErrTotalTooLarge) || errs.CodeOf(err) != errs.TooLarge {
			t.Fatalf("Open = %v, want ErrTotalTooLarge", err)
		}
	})

	t.Run("a size that lies small is cut off at the declared size", func(t *testing.T) {
		z := rawZip(t, &zip.FileHeader{Name: "liar.txt", Method: zip.Deflate, CRC32: crc, CompressedSize64: uint64(len(bomb)), UncompressedSize64: 1000}, bomb)
		a, err := open(t, z, lim)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := a.Entries()[0].Open()
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		if n > 1000 {
			t.Errorf("read %d bytes, more than declared", n)
		}
		if !errors.Is(err, ErrDamaged) || errs.CodeOf(err) != errs.Invalid {
			t.Errorf("err = %v, want ErrDamaged", err)
		}
	})

	t.Run("reads are cut off at the total limit", func(t *testing.T) {
		body := zeros[:1<<20] // exactly MaxEntrySize
		z := makeZip(t, file{name: "one.txt", body: string(body)})
		a, err := open(t, z, lim)
		if err != nil {
			t.Fatal(err)
		}
		e := a.Entries()[0]
		var total int64
		var last error
		for range 10 { // each read of the entry counts again
			rc, err := e.Open()
			if err != nil {
				last = err
				break
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			total += n
			if err != nil {
				last = err
			}
		}
		if total != lim.MaxTotalSize {
			t.Errorf("read %d bytes in all, want exactly the limit %d", total, lim.MaxTotalSize)
		}
		if !errors.Is(last, ErrTotalTooLarge) {
			t.Errorf("last error %v, want ErrTotalTooLarge", last)
		}
	})

	t.Run("too many entries refused", func(t *testing.T) {
		files := make([]file, 11)
		for i := range files {
			files[i] = file{name: "f" + string(rune('a'+i)) + ".txt", body: "x"}
		}
		_, err := open(t, makeZip(t, files...), lim)
		if !errors.Is(err, ErrTooMany) || errs.CodeOf(err) != errs.TooLarge {
			t.Fatalf("Open = %v, want ErrTooMany", err)
		}
		if _, err := open(t, makeZip(t, files[:10]...), lim); err != nil {
			t.Fatalf("10 entries: %v", err)
		}
	})

	t.Run("skipped entries count toward the entry cap", func(t *testing.T) {
		files := make([]file, 11)
		for i := range files {
			files[i] = file{name: "__MACOSX/f" + string(rune('a'+i)), body: "x"}
		}
		if _, err := open(t, makeZip(t, files...), lim); !errors.Is(err, ErrTooMany) {
			t.Fatalf("Open = %v, want ErrTooMany", err)
		}
	})
}

func TestOpenRefusesNonZip(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("hello"), []byte("PK\x05\x06" + strings.Repeat("\x00", 18))[:10], []byte("%PDF-1.7\n")} {
		_, err := open(t, in, Limits{})
		if !errors.Is(err, ErrNotZip) || errs.CodeOf(err) != errs.Invalid {
			t.Errorf("Open(%q) = %v, want ErrNotZip", in, err)
		}
	}
	// An empty ZIP is a ZIP with nothing in it.
	a, err := open(t, makeZip(t), Limits{})
	if err != nil || len(a.Entries()) != 0 {
		t.Errorf("empty ZIP: %v, %d entries", err, len(a.Entries()))
	}
}

func TestCorruptData(t *testing.T) {
	z := makeZip(t, file{name: "a.txt", body: strings.Repeat("corrupt me ", 500)})
	// Flip a byte in the compressed data (just after the local header).
	off := 30 + len("a.txt") + 5
	z[off] ^= 0xff
	a, err := open(t, z, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.Entries()[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("err = %v, want ErrDamaged", err)
	}
}

// FuzzOpen: no input panics, every rejection is a user-facing error, and
// no read yields more than the limits.
func FuzzOpen(f *testing.F) {
	f.Add(makeZip(f, file{name: "a.txt", body: "alpha"}, file{name: "../b.txt", body: "b"}, file{name: "c.zip", body: "PK"}))
	f.Add(makeZip(f, file{name: "r\x82sum\x82.txt", body: "x", nonUTF8: true}, file{name: "l", body: "t", mode: os.ModeSymlink | 0o777}))
	f.Add(makeZip(f, file{name: "a.txt", body: strings.Repeat("z", 5000)}, file{name: "a.txt", body: "dup"}))
	f.Add(rawZip(f, &zip.FileHeader{Name: "liar", Method: zip.Deflate, UncompressedSize64: 10, CompressedSize64: 20}, deflate(f, make([]byte, 100000))[:20]))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Add([]byte{})

	lim := Limits{MaxEntries: 20, MaxEntrySize: 4 << 10, MaxTotalSize: 16 << 10}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := Open(bytes.NewReader(in), int64(len(in)), lim)
		if err != nil {
			if c := errs.CodeOf(err); c != errs.Invalid && c != errs.TooLarge {
				t.Fatalf("Open error code %q: %v", c, err)
			}
			return
		}
		if len(a.Entries()) > lim.MaxEntries {
			t.Fatalf("%d entries over the cap", len(a.Entries()))
		}
		var total int64
		for pass := range 2 { // reading twice counts twice
			for _, e := range a.Entries() {
				if !utf8.ValidString(e.Name) {
					t.Fatalf("name %q is not UTF-8", e.Name)
				}
				if e.Err != nil {
					if errs.CodeOf(e.Err) == errs.Internal {
						t.Fatalf("%q: internal rejection %v", e.Name, e.Err)
					}
					continue
				}
				if pass == 0 && (strings.HasPrefix(e.Name, "/") || strings.Contains("/"+e.Name+"/", "/../") || strings.ContainsFunc(e.Name, func(r rune) bool { return r < 0x20 })) {
					t.Fatalf("unsafe name %q accepted", e.Name)
				}
				rc, err := e.Open()
				if err != nil {
					continue
				}
				n, _ := io.Copy(io.Discard, rc)
				rc.Close()
				if n > lim.MaxEntrySize {
					t.Fatalf("%q yielded %d bytes, over the entry limit", e.Name, n)
				}
				total += n
				if total > lim.MaxTotalSize {
					t.Fatalf("reads yielded %d bytes, over the total limit", total)
				}
			}
		}
	})
}
