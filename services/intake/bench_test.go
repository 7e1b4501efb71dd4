package intake

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/services/intake/extract"
)

// The benchmarks run only under -bench; results are in docs/bench/intake.md.
//
//	go test ./services/intake/ -run '^$' -bench 'IngestClass' -benchtime 3x
//	go test ./services/intake/ -run '^$' -bench 'Zip200MB' -benchtime 1x   (alone: it reads ru_maxrss)
//	go test ./services/intake/ -run '^$' -bench 'ListSubmissions5000'

const classSize = 150

// benchWorld is a world whose class has students 1..n (the fixtures' five
// names, numbered on).
func benchWorld(b *testing.B, n int) *world {
	b.Helper()
	w := newWorld(b)
	var csv strings.Builder
	csv.WriteString("student_id,given_name,family_name,email\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&csv, "%d,Given%d,Family%d,s%d@example.org\n", i, i, i, i)
	}
	res, err := w.s.ImportRoster(w.ctx, w.teacher, w.class.ID, strings.NewReader(csv.String()))
	if err != nil || len(res.Errors) != 0 {
		b.Fatalf("roster: %v %v", err, res.Errors)
	}
	return w
}

// classFiles replicates the five fixtures to n submissions for students
// 1..n, in Canvas-style names, each with different bytes: a word of the
// text changes in TXT, DOCX and ODT; a PDF's trailer ID changes.
func classFiles(b *testing.B, n int) []namedFile {
	b.Helper()
	var out []namedFile
	for i := 1; i <= n; i++ {
		src := fixtureFiles[(i-1)%len(fixtureFiles)]
		data := fixtureBytes(b, "submissions/"+src)
		ext := filepath.Ext(src)
		tag := fmt.Sprintf("variant%d", i)
		switch ext {
		case ".txt":
			data = bytes.Replace(data, []byte("learning"), []byte(tag), 1)
		case ".docx", ".odt":
			data = rewordZip(b, data, tag)
		case ".pdf":
			data = retagPDF(b, data, i)
		}
		out = append(out, namedFile{name: fmt.Sprintf("student%d_%d_%d_essay%s", i, i, 9000+i, ext), data: data})
	}
	return out
}

// rewordZip rewrites a DOCX or ODT with the first "learning" of its main
// part changed to tag, keeping the entries' order and methods.
func rewordZip(b *testing.B, data []byte, tag string) []byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if f.Name == "word/document.xml" || f.Name == "content.xml" {
			body = bytes.Replace(body, []byte("learning"), []byte(tag), 1)
		}
		h := f.FileHeader
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: h.Name, Method: h.Method, Modified: h.Modified})
		if err != nil {
			b.Fatal(err)
		}
		fw.Write(body)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// retagPDF overwrites the last four hex digits of the trailer's file ID
// with i, keeping every byte offset.
func retagPDF(b *testing.B, data []byte, i int) []byte {
	id := bytes.LastIndex(data, []byte("/ID"))
	end := -1
	if id >= 0 {
		end = id + bytes.IndexByte(data[id:], '>') // the end of the ID's first hex string
	}
	if end < id+8 {
		b.Fatal("PDF has no trailer ID")
	}
	out := bytes.Clone(data)
	copy(out[end-4:end], fmt.Sprintf("%04X", i&0xFFFF))
	return out
}

// BenchmarkIngestClass ingests a class of 150 submissions in the fixtures'
// mix of formats as one ZIP and as 150 single uploads, each iteration into
// a fresh assignment; "raw" is the same work without intake: storing each
// file under a new key with PutVerified (write, then read back and hash, as
// intake does) plus extract.Extract.
func BenchmarkIngestClass(b *testing.B) {
	w := benchWorld(b, classSize)
	files := classFiles(b, classSize)
	var total int64
	for _, f := range files {
		total += int64(len(f.data))
	}
	b.Logf("%d files, %.1f MB", len(files), float64(total)/(1<<20))
	check := func(b *testing.B, up Upload) {
		if up.Counts.Created != classSize {
			for _, o := range up.Outcomes {
				if o.Status == StatusRejected {
					b.Fatalf("%s: %v", o.File, o.Error)
				}
			}
			b.Fatalf("counts %+v", up.Counts)
		}
	}
	perSub := func(b *testing.B, d time.Duration) {
		b.ReportMetric(float64(d.Microseconds())/1000/float64(b.N*classSize), "ms/submission")
	}

	b.Run("zip", func(b *testing.B) {
		z := zipOf(b, files...)
		var spent time.Duration
		for b.Loop() {
			b.StopTimer()
			w.asg = w.newAssignment(b, w.teacher, w.class.ID)
			f, n := spoolBytes(b, z)
			b.StartTimer()
			start := time.Now()
			batch, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "")
			if err != nil {
				b.Fatal(err)
			}
			if err := batch.Add(w.ctx, "class.zip", "", f, n); err != nil {
				b.Fatal(err)
			}
			spent += time.Since(start)
			b.StopTimer()
			check(b, batch.Upload())
			f.Close()
			b.StartTimer()
		}
		perSub(b, spent)
	})

	b.Run("single", func(b *testing.B) {
		var spent time.Duration
		for b.Loop() {
			b.StopTimer()
			w.asg = w.newAssignment(b, w.teacher, w.class.ID)
			b.StartTimer()
			start := time.Now()
			var up Upload
			for _, f := range files { // one request, one batch per file
				batch, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "")
				if err != nil {
					b.Fatal(err)
				}
				if err := batch.Add(w.ctx, f.name, "", bytes.NewReader(f.data), int64(len(f.data))); err != nil {
					b.Fatal(err)
				}
				up.Counts.Created += batch.Upload().Counts.Created
			}
			spent += time.Since(start)
			b.StopTimer()
			check(b, up)
			b.StartTimer()
		}
		perSub(b, spent)
	})

	b.Run("raw", func(b *testing.B) {
		var spent time.Duration
		run := 0
		for b.Loop() {
			run++
			start := time.Now()
			for i, f := range files {
				sum := sha256.Sum256(f.data)
				key := fmt.Sprintf("raw/%d/%d/%s", run, i, hex.EncodeToString(sum[:]))
				if err := w.s.blobs.PutVerified(w.ctx, key, bytes.NewReader(f.data), int64(len(f.data)), hex.EncodeToString(sum[:]), "application/octet-stream"); err != nil {
					b.Fatal(err)
				}
				if _, err := extract.Extract(w.ctx, bytes.NewReader(f.data), int64(len(f.data)), f.name); err != nil {
					b.Fatal(err)
				}
			}
			spent += time.Since(start)
		}
		perSub(b, spent)
	})
}

// spoolBytes writes data to a temporary file, as the HTTP edge spools an
// upload, and returns it open.
func spoolBytes(b *testing.B, data []byte) (*os.File, int64) {
	f, n, err := Spool(bytes.NewReader(data), "class.zip", int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.Remove(f.Name()) })
	return f, n
}

// BenchmarkZip200MB uploads a 200 MB ZIP (50 stored text entries of 4 MB
// of random words, so the ZIP is as large as its content) through a Batch
// from a spooled file, and reports the growth of the process's peak RSS
// (ru_maxrss). Run it alone: the peak is per process.
func BenchmarkZip200MB(b *testing.B) {
	const entries, entrySize = 50, 4 << 20
	w := benchWorld(b, entries)
	path := filepath.Join(b.TempDir(), "big.zip")
	writeBigZip(b, path, entries, entrySize)
	st, _ := os.Stat(path)
	b.Logf("ZIP: %.1f MB", float64(st.Size())/(1<<20))

	for b.Loop() {
		b.StopTimer()
		w.asg = w.newAssignment(b, w.teacher, w.class.ID)
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		before := maxRSS()
		b.StartTimer()
		batch, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "")
		if err != nil {
			b.Fatal(err)
		}
		if err := batch.Add(w.ctx, "big.zip", "", f, st.Size()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.Close()
		if c := batch.Upload().Counts; c.Created != entries {
			b.Fatalf("counts %+v: %+v", c, batch.Upload().Outcomes[0])
		}
		growth := maxRSS() - before
		b.ReportMetric(float64(growth)/(1<<20), "MB-peak-RSS-growth")
		b.ReportMetric(float64(before)/(1<<20), "MB-peak-RSS-before")
		b.ReportMetric(float64(st.Size())/(1<<20), "MB-zip")
		b.StartTimer()
	}
}

// writeBigZip streams a ZIP of n stored text entries of about size bytes
// of random lowercase words to path, for students 1..n.
func writeBigZip(b *testing.B, path string, n, size int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 1; i <= n; i++ {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("student%d_%d_1_essay.txt", i, i), Method: zip.Store})
		if err != nil {
			b.Fatal(err)
		}
		ew := bufio.NewWriterSize(fw, 64<<10)
		written, words := 0, 0
		for written < size {
			l := 2 + rng.IntN(8)
			for range l {
				ew.WriteByte(byte('a' + rng.IntN(26)))
			}
			words++
			sep := byte(' ')
			if words%15 == 0 {
				sep = '\n'
			}
			ew.WriteByte(sep)
			written += l + 1
		}
		if err := ew.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
}

// maxRSS is the process's peak resident set size in bytes.
func maxRSS() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss << 10 // KB on Linux
}

// BenchmarkListSubmissions5000 pages through an assignment of 5,000
// submissions, 100 a page; it reports the time per page.
func BenchmarkListSubmissions5000(b *testing.B) {
	n, pageSize := benchRows(), 100
	w := newWorld(b)
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make(map[string]Row, n)
	for i := range n {
		id := fmt.Sprintf("%06d", i)
		_ = rng.Uint32()
		rows[id] = Row{StudentID: id, Pseudonym: newPseudonym(), Version: 1, Filename: "essay.docx", Format: "docx",
			Chars: 5000, UploadedAt: time.Now().UTC().Truncate(time.Millisecond), Duplicates: []Duplicate{}}
	}
	start := time.Now()
	if _, err := w.s.c(colBuckets).ReplaceOne(w.ctx, bson.D{{Key: "_id", Value: w.asg.ID}}, bucketDoc{ID: w.asg.ID, Rows: rows}, upsert()); err != nil {
		b.Fatal(err)
	}
	b.Logf("writing the bucket of %d rows took %s", n, time.Since(start))
	pages := 0
	for b.Loop() {
		after, seen := "", 0
		for {
			p, err := w.s.ListSubmissions(w.ctx, w.teacher, w.asg.ID, after, pageSize)
			if err != nil {
				b.Fatal(err)
			}
			pages++
			seen += len(p.Rows)
			if p.Next == "" {
				break
			}
			after = p.Next
		}
		if seen != n {
			b.Fatalf("paged through %d rows, want %d", seen, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(pages), "ms/page")
}

// benchRows is the size of the listing benchmark's assignment: 5,000, or
// MARGIN_BENCH_ROWS.
func benchRows() int {
	if v, err := strconv.Atoi(os.Getenv("MARGIN_BENCH_ROWS")); err == nil && v > 0 {
		return v
	}
	return 5000
}
