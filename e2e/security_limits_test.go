package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// part is one part of an ordered multipart body: a value field (Value) or
// a file (Name and Data).
type part struct {
	Field, Value, Name string
	Data               []byte
}

// orderedMultipart writes the parts in the order given (multipartBody puts
// every field before every file, which hides an ordering bug).
func orderedMultipart(t *testing.T, parts ...part) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		if p.Name == "" {
			if err := w.WriteField(p.Field, p.Value); err != nil {
				t.Fatal(err)
			}
			continue
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+p.Field+`"; filename="`+p.Name+`"`)
		h.Set("Content-Type", "application/octet-stream")
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.Data)
	}
	w.Close()
	return &buf, w.FormDataContentType()
}

// rawRequest opens a connection and writes a request head (and body, if
// any); the caller reads the answer with readStatus.
func (in *instance) rawRequest(head string, body []byte) net.Conn {
	in.t.Helper()
	conn, err := net.Dial("tcp", in.addr)
	if err != nil {
		in.t.Fatal(err)
	}
	in.t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		in.t.Fatal(err)
	}
	if len(body) > 0 {
		if _, err := conn.Write(body); err != nil {
			in.t.Fatal(err)
		}
	}
	return conn
}

// readStatus reads the status code of the response on conn, within 10 s.
func readStatus(t *testing.T, conn net.Conn) int {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// peakRSS is the process's peak resident set (VmHWM), in MB.
func (in *instance) peakRSS() int {
	in.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", in.cmd.Process.Pid))
	if err != nil {
		in.t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return kb / 1024
		}
	}
	in.t.Fatal("no VmHWM")
	return 0
}

// securityClass signs up a teacher and creates a class with the fixture
// roster and an assignment that takes revisions.
func securityClass(t testing.TB, in *instance) (token, classID, assignmentID string) {
	t.Helper()
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{
		"email": "limits@lincoln.example.org", "password": teacherPassword, "name": "Ms Limits", "role": "teacher", "school": "Lincoln High",
	})
	token = in.login("limits@lincoln.example.org", teacherPassword)
	classID = in.must(201, "POST", "/api/v1/classes", token, map[string]any{"name": "Limits", "subject": "english", "grade_level": 10})["id"].(string)
	if r := in.call("POST", "/api/v1/classes/"+classID+"/roster", token, bytes.NewReader(readFixture(t, "roster.csv")), "Content-Type", "text/csv"); r.Status != 200 {
		t.Fatalf("roster: %d %s", r.Status, r.Body)
	}
	var rubric map[string]any
	mustUnmarshal(t, readFixture(t, "rubric.json"), &rubric)
	assignmentID = in.must(201, "POST", "/api/v1/assignments", token, map[string]any{
		"class_id": classID, "title": "Limits essay", "prompt": "Write.", "rubric": rubric,
		"due_at": time.Now().Add(14 * 24 * time.Hour).UTC().Format(time.RFC3339), "price_cents": 800, "allow_resubmission": true,
	})["id"].(string)
	return token, classID, assignmentID
}

func essay(who string) []byte {
	return []byte(strings.Repeat("This essay was written by student "+who+" and by nobody else in the class. ", 20))
}

// selfReferencingPDF is a 200-byte PDF whose page tree contains itself.
func selfReferencingPDF() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	o1 := b.Len()
	b.WriteString("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	o2 := b.Len()
	b.WriteString("2 0 obj\n<< /Type /Pages /Kids [2 0 R] /Count 1 >>\nendobj\n")
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 3\n0000000000 65535 f \n%010d 00000 n \n%010d 00000 n \ntrailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", o1, o2, x)
	return b.Bytes()
}

// TestE2ESecurityLimits reproduces the attacks of issue 15 (items 2 to 4)
// against the real binary: each now fails.
func TestE2ESecurityLimits(t *testing.T) {
	in := start(t, "MARGIN_TMP_DIR="+t.TempDir())
	tmp := in.env[0][len("MARGIN_TMP_DIR="):]
	tok, classID, asg := securityClass(t, in)
	uploadPath := "/api/v1/assignments/" + asg + "/submissions"

	t.Run("each file takes the student_id before it", func(t *testing.T) {
		body, ctype := orderedMultipart(t,
			part{Field: "student_id", Value: "1001"}, part{Field: "file", Name: "a.txt", Data: essay("1001")},
			part{Field: "student_id", Value: "1002"}, part{Field: "file", Name: "b.txt", Data: essay("1002")})
		up := in.call("POST", uploadPath, tok, body, "Content-Type", ctype)
		if up.Status != 201 {
			t.Fatalf("upload: %d %s", up.Status, up.Body)
		}
		owner, subOf := map[string]string{}, map[string]string{}
		for _, o := range up.JSON(t)["outcomes"].([]any) {
			o := o.(map[string]any)
			owner[o["file"].(string)], _ = o["student_id"].(string)
			subOf[o["file"].(string)], _ = o["submission_id"].(string)
		}
		if owner["a.txt"] != "1001" || owner["b.txt"] != "1002" {
			t.Fatalf("owners = %v, want a.txt 1001 and b.txt 1002", owner)
		}
		// A file before any student_id is matched by its Canvas-style name.
		body, ctype = orderedMultipart(t,
			part{Field: "file", Name: "natarajanpriya_1004_5004_essay.txt", Data: essay("1004")},
			part{Field: "student_id", Value: "1005"}, part{Field: "file", Name: "c.txt", Data: essay("1005")})
		up = in.call("POST", uploadPath, tok, body, "Content-Type", ctype)
		got := []string{}
		for _, o := range up.JSON(t)["outcomes"].([]any) {
			s, _ := o.(map[string]any)["student_id"].(string)
			got = append(got, s)
		}
		if up.Status != 201 || strings.Join(got, ",") != "1004,1005" {
			t.Fatalf("upload: %d, owners %v, want 1004,1005: %s", up.Status, got, up.Body)
		}
		// 1002's submission holds 1002's essay, not 1001's.
		sub := in.must(200, "GET", "/api/v1/submissions/"+subOf["b.txt"], tok, nil)
		if !strings.Contains(sub["text"].(string), "student 1002") {
			t.Fatalf("1002's submission reads %.80q", sub["text"])
		}
	})

	t.Run("bodies are refused before they are read", func(t *testing.T) {
		before := in.peakRSS()
		// Declared over the limit: 413 once the first 16 KB have arrived
		// (the server reads up to 8 KB with the head).
		for _, path := range []string{"/signin", "/api/v1/sessions", "/api/v1/classes"} {
			conn := in.rawRequest("POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 300000000\r\n\r\n", bytes.Repeat([]byte("a"), 16<<10))
			if st := readStatus(t, conn); st != 413 {
				t.Errorf("POST %s declaring 300 MB: %d, want 413", path, st)
			}
		}
		// Chunked (no length): 300 MB of form sent to the sign-in page is
		// cut off at its 16 KB limit.
		conn := in.rawRequest("POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n", nil)
		chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", 1<<20, bytes.Repeat([]byte("a"), 1<<20)))
		go func() {
			for range 300 {
				if _, err := conn.Write(chunk); err != nil {
					return
				}
			}
		}()
		if st := readStatus(t, conn); st != 413 {
			t.Errorf("chunked 300 MB sign-in form: %d, want 413", st)
		}
		// A multipart body to a route that takes none is not spooled.
		conn = in.rawRequest("POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 1200000000\r\n\r\n--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big\"\r\n\r\n", bytes.Repeat([]byte("z"), 1<<20))
		if st := readStatus(t, conn); st != 400 { // a wrong method is the API's invalid (400)
			t.Errorf("POST /readyz with 1.2 GB: %d, want 400", st)
		}
		if files, _ := filepath.Glob(filepath.Join(tmp, "run-*", "*")); len(files) > 1 || len(files) == 1 && filepath.Base(files[0]) != "LOCK" {
			t.Errorf("temporary files written: %v", files)
		}
		// A teacher's upload over its own limit, and a compressed body.
		conn = in.rawRequest("POST "+uploadPath+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 600000000\r\n\r\n", bytes.Repeat([]byte("z"), 16<<10))
		if st := readStatus(t, conn); st != 413 {
			t.Errorf("600 MB upload: %d, want 413", st)
		}
		if r := in.call("POST", "/api/v1/classes", tok, strings.NewReader("x"), "Content-Type", "application/json", "Content-Encoding", "gzip"); r.Status != 415 {
			t.Errorf("gzip body: %d, want 415", r.Status)
		}
		if grown := in.peakRSS() - before; grown > 100 {
			t.Errorf("peak RSS grew by %d MB", grown)
		}
	})

	t.Run("a self-referencing PDF is refused as damaged", func(t *testing.T) {
		body, ctype := orderedMultipart(t, part{Field: "student_id", Value: "1003"}, part{Field: "file", Name: "loop.pdf", Data: selfReferencingPDF()})
		up := in.call("POST", uploadPath, tok, body, "Content-Type", ctype)
		outs := up.JSON(t)["outcomes"].([]any)
		o := outs[0].(map[string]any)
		e, _ := o["error"].(map[string]any)
		if up.Status != 201 || o["status"] != "rejected" || e["code"] != "unprocessable" || !strings.Contains(e["message"].(string), "damaged") {
			t.Fatalf("got %d %s, want the file rejected as damaged (not timed out)", up.Status, up.Body)
		}
	})

	t.Run("a ZIP stops when its client leaves; uploads per user are limited", func(t *testing.T) {
		var zb bytes.Buffer
		zw := zip.NewWriter(&zb)
		students := []string{"riveraavery_1001", "okaforjordan_1002", "lindqvistsam_1003", "natarajanpriya_1004", "alvarezmateo_1005"}
		for i := range 1500 {
			w, _ := zw.Create(fmt.Sprintf("%s_%d_v%d.txt", students[i%5], 6000+i, i))
			w.Write(essay(fmt.Sprintf("%s draft %d", students[i%5], i)))
		}
		zw.Close()
		body, ctype := orderedMultipart(t, part{Field: "files", Name: "drafts.zip", Data: zb.Bytes()})
		head := "POST " + uploadPath + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nContent-Type: " + ctype + "\r\nContent-Length: " + strconv.Itoa(body.Len()) + "\r\n\r\n"
		conns := []net.Conn{in.rawRequest(head, body.Bytes()), in.rawRequest(head, body.Bytes())}

		versions := func() int {
			n := 0
			for _, r := range in.must(200, "GET", uploadPath, tok, nil)["rows"].([]any) {
				n += int(r.(map[string]any)["version"].(float64))
			}
			return n
		}
		start := versions()
		deadline := time.Now().Add(60 * time.Second)
		for versions() < start+10 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		// Two uploads are being read: a third is refused.
		if r := in.call("POST", uploadPath, tok, bytes.NewReader(body.Bytes()), "Content-Type", ctype); r.Status != 429 || r.ErrorCode(t) != "rate_limited" {
			t.Fatalf("third concurrent upload: %d %s, want 429", r.Status, r.Body)
		}
		for _, c := range conns {
			c.Close()
		}
		time.Sleep(3 * time.Second)
		after := versions()
		time.Sleep(3 * time.Second)
		if later := versions(); later != after || after >= start+2*1500 {
			t.Fatalf("versions went on growing after the clients left: %d, then %d (of %d)", after, later, start+2*1500)
		}
		// The slots are free again.
		up := in.postMultipart(uploadPath, tok, []string{"student_id", "1001"}, upload{Field: "file", Name: "again.txt", Data: essay("1001 again")})
		if up.Status != 201 {
			t.Fatalf("upload after the others stopped: %d %s", up.Status, up.Body)
		}
	})
	_ = classID
}

// BenchmarkE2EUploadRSS measures the server's peak RSS (VmHWM) while a
// teacher uploads MARGIN_BENCH_MB (default 500) MB in one request, as 5 MB
// files of an unsupported type (each is received, spooled and refused, so
// the run measures the body path, not extraction), and while an anonymous
// client sends a 286 MB form to the sign-in page. Run alone:
//
//	go test ./e2e -run '^$' -bench E2EUploadRSS -benchtime 1x
//
// Results are in docs/BENCHMARKS.md ("Security limits").
func BenchmarkE2EUploadRSS(b *testing.B) {
	mb := 500
	if v, err := strconv.Atoi(os.Getenv("MARGIN_BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	in := start(b)
	tok, _, asg := securityClass(b, in)

	// The body is written to a file first, so that the client's memory is
	// not in question and the request has a Content-Length.
	f, err := os.CreateTemp(b.TempDir(), "upload-*")
	if err != nil {
		b.Fatal(err)
	}
	w := multipart.NewWriter(f)
	file := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 5<<20-8)...)
	for i := range mb / 5 {
		pw, _ := w.CreateFormFile("files", fmt.Sprintf("riveraavery_1001_%d_scan.png", 7000+i))
		pw.Write(file)
	}
	w.Close()
	size, _ := f.Seek(0, io.SeekCurrent)

	for b.Loop() {
		before := in.peakRSS()
		f.Seek(0, io.SeekStart)
		req, _ := http.NewRequest("POST", in.url("/api/v1/assignments/"+asg+"/submissions"), io.NopCloser(f))
		req.ContentLength = size
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+tok)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			b.Fatalf("upload: %d", resp.StatusCode)
		}
		b.ReportMetric(float64(size>>20), "MB-sent")
		b.ReportMetric(time.Since(t0).Seconds(), "s-upload")
		b.ReportMetric(float64(before), "MB-peak-before")
		b.ReportMetric(float64(in.peakRSS()), "MB-peak-after-upload")

		// An anonymous 286 MB form to the sign-in page.
		form := bytes.Repeat([]byte("a"), 286<<20)
		req, _ = http.NewRequest("POST", in.url("/signin"), bytes.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		b.ReportMetric(float64(in.peakRSS()), "MB-peak-after-signin-form")
	}
}
