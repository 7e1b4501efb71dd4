package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/services/payouts/stripeclient/stripemock"
)

// benchOptions are the flags of `margin bench school`.
type benchOptions struct {
	Students    int
	Assignments int // per class
	Seed        uint64
	Workers     int // seeding goroutines
	Samples     int // per interactive request
	Reads       int // per client, in the concurrent feedback reads
	IngestFiles int // in the class ingest job
	CPUProfile  string
	JSON        bool
	Profile     bool
	Verify      bool
	Dir         string
	StripeMock  string // a stripe-mock binary
	StripeURL   string // a running stripe-mock
}

// measureResult is one line of the bench's report. For a "request", P50 and
// P95 are its latency. For a "job", they are the job's time (or, for the
// concurrent reads, each read's latency), RawMS is the same work done
// directly (raw driver, raw S3 put and extraction, bare Stripe calls), and
// Ratio is ours over raw (for the concurrent reads: raw throughput over
// ours).
type measureResult struct {
	Measure string   `json:"measure"`
	Kind    string   `json:"kind"`
	P50     float64  `json:"p50_ms"`
	P95     float64  `json:"p95_ms"`
	RawMS   *float64 `json:"raw_ms"`
	Ratio   *float64 `json:"ratio"`
	Samples int      `json:"samples,omitempty"`
	// What a job measured besides time.
	PerSecond    float64  `json:"per_s,omitempty"`
	RawPerSecond float64  `json:"raw_per_s,omitempty"`
	Graders      int      `json:"graders,omitempty"`
	StripeCalls  int      `json:"stripe_calls,omitempty"`
	DataBytes    int64    `json:"data_dir_bytes,omitempty"`
	PeakRSS      int64    `json:"peak_rss_bytes,omitempty"`
	CPUMS        float64  `json:"cpu_ms,omitempty"` // the process's CPU time, which a busy machine inflates less than wall time
	RawFindMS    *float64 `json:"raw_find_ms,omitempty"`
	Note         string   `json:"note,omitempty"`
	Failed       string   `json:"failed,omitempty"` // why the measure stopped early
	// Store is what one request does to the store (with --profile), and
	// Phases what each step of the seeding did.
	Store  *storeProfile  `json:"store,omitempty"`
	Phases []phaseProfile `json:"phases,omitempty"`
}

// benchUsage is the bench command's synopsis.
const benchUsage = "usage: margin bench school [--students N] [--json] [--dir D] [--profile] [--verify]\n       margin bench load [--duration 60s] [--students N] [--json] [--dir D]"

// benchCmd is `margin bench school` and `margin bench load`.
func benchCmd(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(benchUsage)
	}
	switch args[0] {
	case "school":
		return benchSchoolCmd(ctx, cfg, args[1:], stdout, stderr)
	case "load":
		return benchLoadCmd(ctx, cfg, args[1:], stdout, stderr)
	}
	return errors.New(benchUsage)
}

// schoolFlags registers the flags that say which school to build (or find)
// and how to report, shared by both bench commands.
func schoolFlags(fs *flag.FlagSet, o *benchOptions, students, assignments int) {
	fs.IntVar(&o.Students, "students", students, "students in the school (25 per class)")
	fs.IntVar(&o.Assignments, "assignments", assignments, "assignments per class")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the school's texts and levels")
	fs.IntVar(&o.Workers, "workers", 4, "goroutines seeding classes at once")
	fs.BoolVar(&o.JSON, "json", false, "print one JSON object per measure")
	fs.StringVar(&o.Dir, "dir", "", "data directory to build the school in (kept; a school already there is measured again without seeding); default: a temporary one, removed")
	fs.StringVar(&o.StripeMock, "stripe-mock", "", "stripe-mock binary (default: $STRIPE_MOCK_BIN, the PATH, or built from the module)")
	fs.StringVar(&o.StripeURL, "stripe-url", "", "a running stripe-mock to use instead of starting one")
}

// benchSchoolCmd is `margin bench school`: it builds a school year on the
// embedded store in a temporary (or the given) directory through the
// services' own write paths, then measures the interactive requests over
// HTTP and the heavy jobs against their raw equivalents.
func benchSchoolCmd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	var o benchOptions
	fs := flag.NewFlagSet("bench school", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schoolFlags(fs, &o, 2000, 20)
	fs.IntVar(&o.Samples, "samples", 20, "samples of each interactive request")
	fs.IntVar(&o.Reads, "reads", 10, "feedback reads per client in the 32-client run")
	fs.IntVar(&o.IngestFiles, "ingest-files", 150, "files in the class ingest job")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run (seeding included) to this file")
	fs.BoolVar(&o.Profile, "profile", false, "profile each measure's store round trips")
	fs.BoolVar(&o.Verify, "verify", false, "check every list and summary against a recomputation from the raw documents")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Students < 1 || o.Assignments < 1 || o.Workers < 1 || o.Samples < 1 || o.Reads < 1 || o.IngestFiles < 1 {
		return errors.New("bench: --students, --assignments, --workers, --samples, --reads and --ingest-files must be positive")
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	b, logger, done, err := openBench(ctx, cfg, o, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	d, logf := b.d, b.logf
	measuring := time.Now()

	srv := d.server(api.Config{}, nil, logger)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = srv.App().Listener(ln) }()
	defer srv.App().Shutdown()
	b.base = "http://" + ln.Addr().String()
	b.client = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	for _, step := range []func(context.Context) error{b.requests, b.jobs} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	logf("measured in %s", time.Since(measuring).Round(time.Second))
	if o.Verify {
		if err := b.verify(ctx); err != nil {
			return err
		}
		logf("verified: every list is complete and every summary, data wall and total equals its recomputation")
	}
	dataBytes, _ := dirSize(b.o.Dir)
	total := time.Since(start)
	b.report(measureResult{Measure: "whole_run", Kind: "job", P50: ms(total), P95: ms(total), DataBytes: dataBytes, PeakRSS: peakRSS(), CPUMS: ms(cpuTime()),
		Note: "seeding and measuring; data directory and peak RSS at the end"})
	return nil
}

// openBench opens the embedded store and S3 in o.Dir (a new temporary
// directory if empty) with stripe-mock for payouts, and finds the school a
// previous run built there, or seeds one (reporting the seeding). It
// returns the bench, the logger of the services (warnings only) and the
// function that closes everything, which the caller must call.
func openBench(ctx context.Context, cfg Config, o benchOptions, stdout, stderr io.Writer) (_ *bench, _ *slog.Logger, done func(), err error) {
	var closers []func()
	closeAll := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	defer func() {
		if err != nil {
			closeAll() // not done: a failed return has set it to nil
		}
	}()
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", args...)
	}
	// Every request would be logged at Info; the bench reports warnings only.
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "margin-bench-")
		if err != nil {
			return nil, nil, nil, err
		}
		closers = append(closers, func() { os.RemoveAll(dir) })
		o.Dir = dir
	}
	cfg.DataDir, cfg.TmpDir, cfg.MongoURI, cfg.S3Endpoint = o.Dir, filepath.Join(o.Dir, "tmp"), "", ""
	cfg.Payouts.Schedule, cfg.Payouts.StripeSecretKey, cfg.Payouts.StripeAPIBase, cfg.Payouts.StripeWebhookSecret = "off", "", "", benchWebhookSecret
	mock, closeMock, err := startStripeMock(ctx, o.StripeMock, o.StripeURL, logf)
	if err != nil {
		return nil, nil, nil, err
	}
	if mock != nil && closeMock != nil {
		closers = append(closers, closeMock)
		cfg.Payouts.StripeSecretKey, cfg.Payouts.StripeAPIBase = "sk_test_bench", mock.URL
	}

	rec := newStoreRecorder()
	d, err := openMonitored(ctx, cfg, logger, rec.monitor())
	if err != nil {
		return nil, nil, nil, err
	}
	closers = append(closers, func() { d.close(context.WithoutCancel(ctx)) })

	b := &bench{o: o, d: d, rec: rec, mock: mock, logf: logf, out: stdout}
	start := time.Now()
	if b.sc, err = loadSchool(ctx, d, &b.o); err != nil {
		return nil, nil, nil, err
	}
	if b.sc != nil {
		logf("measuring the school already in %s (%d students, %d assignments released per class); not seeding", o.Dir, b.o.Students, b.o.Assignments)
	} else {
		logf("seeding %d students × %d assignments in %s", o.Students, o.Assignments, o.Dir)
		if b.sc, err = seedSchool(ctx, d, o, rec, logf); err != nil {
			return nil, nil, nil, err
		}
		seeded := time.Since(start)
		dataBytes, _ := dirSize(o.Dir)
		seeding := measureResult{Measure: "seeding", Kind: "job", P50: ms(seeded), P95: ms(seeded), DataBytes: dataBytes, PeakRSS: peakRSS(), CPUMS: ms(cpuTime()),
			Note: fmt.Sprintf("%d students, %d classes, %d assignments each, %d graders", o.Students, len(b.sc.classes), o.Assignments, len(b.sc.graders))}
		submissions := o.Students * o.Assignments
		if o.Profile {
			seeding.Phases = rec.phaseProfiles(submissions)
		}
		b.report(seeding)
		if o.Profile && !o.JSON {
			printPhases(stdout, seeding.Phases, submissions)
		}
	}
	if err := b.sc.submissionIDs(ctx, d.intake); err != nil {
		return nil, nil, nil, err
	}
	return b, logger, closeAll, nil
}

// bench holds what the measurements share.
type bench struct {
	o      benchOptions
	d      *deps
	sc     *benchSchool
	rec    *storeRecorder
	mock   *stripemock.Mock // nil without stripe-mock
	logf   func(string, ...any)
	out    io.Writer
	base   string
	client *http.Client
	tokens map[string]string // user ID -> session token
}

// report prints one result, as JSON or as a line of text.
func (b *bench) report(r measureResult) {
	if b.o.JSON {
		line, _ := json.Marshal(r)
		fmt.Fprintln(b.out, string(line))
		return
	}
	opt := func(v *float64, unit string) string {
		if v == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f%s", *v, unit)
	}
	fmt.Fprintf(b.out, "%-34s %-7s p50 %9.1f ms  p95 %9.1f ms  raw %10s  ratio %6s", r.Measure, r.Kind, r.P50, r.P95, opt(r.RawMS, " ms"), opt(r.Ratio, "×"))
	if r.PerSecond > 0 {
		fmt.Fprintf(b.out, "  %.1f/s (raw %.1f/s)", r.PerSecond, r.RawPerSecond)
	}
	if r.Graders > 0 {
		fmt.Fprintf(b.out, "  %d graders, %d Stripe calls", r.Graders, r.StripeCalls)
	}
	if r.DataBytes > 0 {
		fmt.Fprintf(b.out, "  data %s, peak RSS %s, %.0f s of CPU", bytesText(r.DataBytes), bytesText(r.PeakRSS), r.CPUMS/1000)
	}
	if r.RawFindMS != nil {
		fmt.Fprintf(b.out, "  raw Find %.1f ms", *r.RawFindMS)
	}
	if r.Note != "" {
		fmt.Fprintf(b.out, "  (%s)", r.Note)
	}
	if r.Failed != "" {
		fmt.Fprintf(b.out, "  FAILED: %s", r.Failed)
	}
	fmt.Fprintln(b.out)
	if r.Store != nil {
		r.Store.print(b.out)
	}
}

// call makes one API request as the user with the session token, sending in
// as JSON (if not nil) and decoding the answer into out (if not nil). Any
// status but 2xx is an error.
func (b *bench) call(ctx context.Context, method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %.300s", method, path, resp.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// ms is a duration in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank p-th percentile of ds, in milliseconds.
func percentile(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100
	return ms(s[max(0, min(len(s)-1, i-1))])
}

// ptr is a pointer to v, for the report's optional figures.
func ptr(v float64) *float64 { return &v }

// peakRSS is the process's peak resident set size (the embedded store and
// S3 run in it), in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}

// cpuTime is the CPU time the process has used (user and system), which
// a busy machine inflates less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dirSize is the total size of the files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, err
}
