package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// loadOptions are the flags of `margin bench load` beyond the school's.
type loadOptions struct {
	Duration  time.Duration
	Timeout   time.Duration // a request slower than this is a timeout, as a browser would give up
	Students  int           // users of each kind
	Graders   int
	Teachers  int
	Uploaders int
}

// loadResult is one line of the load report: one kind of request, or the
// whole run (Kind "total").
type loadResult struct {
	Measure  string  `json:"measure"`
	Kind     string  `json:"kind"`
	Count    int     `json:"count"`
	Errors   int     `json:"errors"`
	Timeouts int     `json:"timeouts"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	PeakRSS  int64   `json:"peak_rss_bytes,omitempty"` // the server's, on the total line
	Note     string  `json:"note,omitempty"`
	Error    string  `json:"first_error,omitempty"`
}

// benchLoadCmd is `margin bench load`: it builds a school (or finds the one
// --dir holds, such as a `bench school` directory), starts a real `margin
// serve` process on it, and runs a mix of users against it over HTTP for
// --duration: students reading their home, feedback and progress; graders
// opening their workspace and autosaving every 2–5 s; teachers on the
// assignment page, the class summary and the data wall; teachers uploading
// small files. Each user waits 1–3 s before each request, as a person reading
// a page would (graders: their autosave interval), the first included. It reports, per kind of
// request, the count, errors, timeouts and p50/p95/p99, and the server's
// peak RSS. It fails if any request failed or timed out.
func benchLoadCmd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	var o benchOptions
	var lo loadOptions
	// The server's log is copied into stderr by another goroutine while the
	// bench writes its own lines there.
	stderr = &lockedWriter{w: stderr}
	fs := flag.NewFlagSet("bench load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schoolFlags(fs, &o, 200, 4)
	fs.DurationVar(&lo.Duration, "duration", 60*time.Second, "how long the users work")
	fs.DurationVar(&lo.Timeout, "timeout", 10*time.Second, "a request slower than this counts as a timeout")
	fs.IntVar(&lo.Students, "student-users", 40, "students reading home, feedback and progress")
	fs.IntVar(&lo.Graders, "grader-users", 12, "graders opening the workspace and autosaving")
	fs.IntVar(&lo.Teachers, "teacher-users", 8, "teachers on the assignment page, summary and data wall")
	fs.IntVar(&lo.Uploaders, "uploaders", 4, "teachers uploading small files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Students < 1 || o.Assignments < 1 || o.Workers < 1 || lo.Duration <= 0 || lo.Timeout <= 0 ||
		lo.Students < 0 || lo.Graders < 0 || lo.Teachers < 0 || lo.Uploaders < 0 {
		return errors.New("bench: --students, --assignments, --workers, --duration and --timeout must be positive, and user counts not negative")
	}
	b, _, done, err := openBench(ctx, cfg, o, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	users, err := b.loadUsers(ctx, lo)
	if err != nil {
		return err
	}
	// The server is its own process on the same data directory, which it
	// locks: the bench lets go of the store first.
	b.d.close(context.WithoutCancel(ctx))
	srv, err := startServer(ctx, b.o.Dir, stderr)
	if err != nil {
		return err
	}
	defer srv.stop()
	b.base = srv.base
	b.client = &http.Client{Timeout: lo.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

	b.logf("%d users for %s against %s (pid %d)", len(users), lo.Duration, srv.base, srv.cmd.Process.Pid)
	rec := &loadRecorder{kinds: map[string]*loadKind{}}
	deadline := time.Now().Add(lo.Duration)
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(o.Seed, uint64(i)))
			u.run(ctx, b, rec, r, deadline)
		}()
	}
	wg.Wait()
	peak := srv.peakRSS()

	total := loadResult{Measure: "all_requests", Kind: "total", PeakRSS: peak,
		Note: fmt.Sprintf("%d students, %d graders, %d teachers, %d uploaders for %s; server peak RSS", lo.Students, len(users)-lo.Students-lo.Teachers-lo.Uploaders, lo.Teachers, lo.Uploaders, lo.Duration)}
	var all []time.Duration
	for _, name := range rec.names() {
		k := rec.kinds[name]
		b.reportLoad(k.result(name))
		total.Count += len(k.took)
		total.Errors += k.errors
		total.Timeouts += k.timeouts
		all = append(all, k.took...)
		if total.Error == "" {
			total.Error = k.first
		}
	}
	total.P50, total.P95, total.P99, total.Max = percentile(all, 50), percentile(all, 95), percentile(all, 99), percentile(all, 100)
	b.reportLoad(total)
	if total.Errors > 0 || total.Timeouts > 0 {
		return fmt.Errorf("bench load: %d errors and %d timeouts in %d requests; first: %s", total.Errors, total.Timeouts, total.Count, total.Error)
	}
	return nil
}

// reportLoad prints one load result, as JSON or as a line of text.
func (b *bench) reportLoad(r loadResult) {
	if b.o.JSON {
		line, _ := json.Marshal(r)
		fmt.Fprintln(b.out, string(line))
		return
	}
	fmt.Fprintf(b.out, "%-28s %6d req  %3d err  %3d timeouts  p50 %7.1f ms  p95 %7.1f ms  p99 %7.1f ms  max %7.1f ms",
		r.Measure, r.Count, r.Errors, r.Timeouts, r.P50, r.P95, r.P99, r.Max)
	if r.PeakRSS > 0 {
		fmt.Fprintf(b.out, "  server peak RSS %s", bytesText(r.PeakRSS))
	}
	if r.Error != "" {
		fmt.Fprintf(b.out, "\n    first error: %s", r.Error)
	}
	fmt.Fprintln(b.out)
}

// loadUser is one simulated person: run makes requests until the deadline.
type loadUser struct {
	run func(ctx context.Context, b *bench, rec *loadRecorder, r *rand.Rand, deadline time.Time)
}

// loadUsers picks the users from the school and starts their sessions (in
// the store, before the server starts): students spread over the classes,
// each reading one released assignment; graders each on their own open
// task; teachers each on one class; uploaders each with a new class and
// assignment of their own to upload into.
func (b *bench) loadUsers(ctx context.Context, lo loadOptions) ([]loadUser, error) {
	var users []loadUser
	cs := b.sc.classes
	for k := range lo.Students {
		c := cs[k%len(cs)]
		st := c.students[(k/len(cs)*7+k)%len(c.students)]
		a := c.assignments[k%min(b.o.Assignments, len(c.assignments))]
		tok, err := b.token(ctx, st.UserID)
		if err != nil {
			return nil, err
		}
		sub := c.subs[a][st.StudentID]
		users = append(users, loadUser{func(ctx context.Context, b *bench, rec *loadRecorder, r *rand.Rand, deadline time.Time) {
			for i := 0; until(ctx, deadline, r, time.Second, 3*time.Second, true); i++ {
				switch (i + k) % 3 { // users start on different pages
				case 0:
					rec.do("student_home_page", func() error { return b.call(ctx, http.MethodGet, "/student", tok, nil, nil) })
				case 1:
					rec.do("student_feedback_read", func() error {
						return b.call(ctx, http.MethodGet, "/api/v1/submissions/"+sub+"/feedback", tok, nil, nil)
					})
				case 2:
					rec.do("student_progress", func() error { return b.call(ctx, http.MethodGet, "/api/v1/analytics/me/progress", tok, nil, nil) })
				}
			}
		}})
	}
	if lo.Graders > len(b.sc.open) {
		return nil, fmt.Errorf("bench load: %d grader users but only %d open tasks in the school; ask for fewer", lo.Graders, len(b.sc.open))
	}
	for k := range lo.Graders {
		t := b.sc.open[k]
		tok, err := b.token(ctx, t.grader.ID)
		if err != nil {
			return nil, err
		}
		users = append(users, loadUser{func(ctx context.Context, b *bench, rec *loadRecorder, r *rand.Rand, deadline time.Time) {
			var w feedback.Workspace
			for i := 0; until(ctx, deadline, r, 2*time.Second, 5*time.Second, true); i++ {
				if i%10 == 0 { // opens the task again now and then, as after a break
					rec.do("grader_workspace_open", func() error {
						return b.call(ctx, http.MethodGet, "/api/v1/grader/tasks/"+t.id+"/workspace", tok, nil, &w)
					})
				}
				draft := struct {
					Rev int `json:"rev"`
					feedback.Content
				}{w.Feedback.Rev, demoContent(w, func(_, n int) int { return r.IntN(n) })}
				var saved struct {
					Rev int `json:"rev"`
				}
				rec.do("grader_autosave", func() error {
					return b.call(ctx, http.MethodPut, "/api/v1/grader/tasks/"+t.id+"/feedback", tok, draft, &saved)
				})
				if saved.Rev > 0 {
					w.Feedback.Rev = saved.Rev
				}
			}
		}})
	}
	for k := range lo.Teachers {
		c := cs[k%len(cs)]
		a := c.assignments[k%min(b.o.Assignments, len(c.assignments))]
		tok, err := b.token(ctx, c.teacher.ID)
		if err != nil {
			return nil, err
		}
		users = append(users, loadUser{func(ctx context.Context, b *bench, rec *loadRecorder, r *rand.Rand, deadline time.Time) {
			for i := 0; until(ctx, deadline, r, time.Second, 3*time.Second, true); i++ {
				switch (i + k) % 3 { // users start on different pages
				case 0:
					rec.do("teacher_assignment_page", func() error { return b.call(ctx, http.MethodGet, "/teacher/assignments/"+a, tok, nil, nil) })
				case 1:
					rec.do("class_summary", func() error {
						return b.call(ctx, http.MethodGet, "/api/v1/analytics/assignments/"+a+"/summary", tok, nil, nil)
					})
				case 2:
					rec.do("class_data_wall", func() error {
						return b.call(ctx, http.MethodGet, "/api/v1/analytics/classes/"+c.ID+"/data-wall", tok, nil, nil)
					})
				}
			}
		}})
	}
	s := &seeder{d: b.d, o: b.o, sc: b.sc, rec: b.rec}
	for k := range lo.Uploaders {
		teacher := b.sc.teachers[k%len(b.sc.teachers)]
		grade := 10
		cl, err := b.d.intake.CreateClass(ctx, teacher, intake.ClassInput{Name: fmt.Sprintf("%s %d", benchLoadClass, k+1), Subject: "english", GradeLevel: &grade})
		if err != nil {
			return nil, err
		}
		from := 800000 + k*benchClassSize
		res, err := b.d.intake.ImportRoster(ctx, teacher, cl.ID, strings.NewReader(benchRoster(from, from+benchClassSize)))
		if err != nil {
			return nil, fmt.Errorf("bench load: uploaders' roster: %w", err)
		}
		c := &benchClass{Class: cl, teacher: teacher, students: res.Students}
		a, err := s.createAssignment(ctx, c, 1, 0)
		if err != nil {
			return nil, err
		}
		tok, err := b.token(ctx, teacher.ID)
		if err != nil {
			return nil, err
		}
		users = append(users, loadUser{func(ctx context.Context, b *bench, rec *loadRecorder, r *rand.Rand, deadline time.Time) {
			for i := 0; until(ctx, deadline, r, time.Second, 3*time.Second, true); i++ {
				st := c.students[i%len(c.students)]
				text := essay(r, st.Name(), 1000+r.IntN(3000))
				rec.do("upload_small_file", func() error { return b.uploadOne(ctx, tok, a, st, text) })
			}
		}})
	}
	return users, nil
}

// uploadOne uploads one text file for the student, as the teacher's upload
// form does.
func (b *bench) uploadOne(ctx context.Context, token, assignmentID string, st intake.Student, text string) error {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if err := w.WriteField("student_id", st.StudentID); err != nil {
		return err
	}
	part, err := w.CreateFormFile("files", strings.ReplaceAll(st.Name(), " ", "_")+".txt")
	if err != nil {
		return err
	}
	if _, err := part.Write([]byte(text)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/api/v1/assignments/"+assignmentID+"/submissions", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upload: %s: %.300s", resp.Status, data)
	}
	return nil
}

// until waits a random time in [lo, hi) when wait is set (a person reading
// the page; before the first request too, so that users arrive spread over
// the first seconds rather than all in one instant) and reports whether
// the user should make another request: the deadline has not passed and
// ctx is live.
func until(ctx context.Context, deadline time.Time, r *rand.Rand, lo, hi time.Duration, wait bool) bool {
	if wait {
		t := time.NewTimer(lo + time.Duration(r.Int64N(int64(hi-lo))))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return ctx.Err() == nil && time.Now().Before(deadline)
}

// loadRecorder collects every request's latency and outcome by kind.
type loadRecorder struct {
	mu    sync.Mutex
	kinds map[string]*loadKind
}

type loadKind struct {
	took             []time.Duration
	errors, timeouts int
	first            string
}

// do times f as a request of the kind and records its outcome.
func (r *loadRecorder) do(kind string, f func() error) {
	start := time.Now()
	err := f()
	took := time.Since(start)
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.kinds[kind]
	if k == nil {
		k = &loadKind{}
		r.kinds[kind] = k
	}
	k.took = append(k.took, took)
	var ue *url.Error
	switch {
	case err == nil:
		return
	case errors.As(err, &ue) && ue.Timeout():
		k.timeouts++
	default:
		k.errors++
	}
	if k.first == "" {
		k.first = err.Error()
	}
}

// names are the kinds seen, in a stable order.
func (r *loadRecorder) names() []string {
	var ns []string
	for n := range r.kinds {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

func (k *loadKind) result(name string) loadResult {
	return loadResult{Measure: name, Kind: "load", Count: len(k.took), Errors: k.errors, Timeouts: k.timeouts,
		P50: percentile(k.took, 50), P95: percentile(k.took, 95), P99: percentile(k.took, 99), Max: percentile(k.took, 100), Error: k.first}
}

// server is a `margin serve` child process on a data directory.
type server struct {
	cmd  *exec.Cmd
	base string
	exit chan error
}

// startServer starts this binary's `serve` on dir and a free port, with
// the environment's MARGIN_* settings but payouts off, the embedded store
// and warnings only in its log (to stderr), and waits until it is ready.
func startServer(ctx context.Context, dir string, stderr io.Writer) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(exe, "serve")
	// The environment's settings (MARGIN_MATCHING_INTERVAL, say) apply,
	// except where the server must be the bench's: its data, its address,
	// warnings only, no scheduled payout run, the embedded store and S3.
	cmd.Env = append(os.Environ(), "MARGIN_DATA_DIR="+dir, "MARGIN_TMP_DIR="+filepath.Join(dir, "tmp"), "MARGIN_ADDR="+addr,
		"MARGIN_LOG_LEVEL=warn", "MARGIN_PAYOUTS_SCHEDULE=off", "MARGIN_MONGODB_URI=", "MARGIN_S3_ENDPOINT=")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr, exit: make(chan error, 1)}
	go func() { s.exit <- cmd.Wait() }()
	for start := time.Now(); ; {
		select {
		case err := <-s.exit:
			return nil, fmt.Errorf("bench load: margin serve exited before it was ready: %v", err)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if healthcheck(ctx, addr) == nil {
			return s, nil
		}
		if time.Since(start) > 2*time.Minute {
			s.stop()
			return nil, errors.New("bench load: margin serve was not ready within 2 minutes")
		}
	}
}

// peakRSS is the server's peak resident set size so far (VmHWM), in bytes.
func (s *server) peakRSS() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// stop ends the server with SIGTERM (its ordered shutdown), and kills it if
// it has not exited within a minute.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exit:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.exit
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
