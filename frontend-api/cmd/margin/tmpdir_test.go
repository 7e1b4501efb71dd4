package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTempDirSweep: a start removes the run directory a killed process
// left (and logs it), never a live process's, and a process removes its
// own when it stops; a second sweep finds nothing to do.
func TestTempDirSweep(t *testing.T) {
	t.Setenv("TMPDIR", os.Getenv("TMPDIR")) // restored after the test
	root := t.TempDir()
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))

	// A killed process's directory: a lock file nobody holds, and a spool.
	dead := filepath.Join(root, "run-dead")
	if err := os.MkdirAll(dead, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"LOCK": "", "margin-upload-1": "half an essay"} {
		if err := os.WriteFile(filepath.Join(dead, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Not Margin's: no lock file.
	foreign := filepath.Join(root, "run-foreign")
	if err := os.MkdirAll(foreign, 0o700); err != nil {
		t.Fatal(err)
	}

	stopLive, err := useTempDir(root, logger)
	if err != nil {
		t.Fatal(err)
	}
	live := os.Getenv("TMPDIR")
	if filepath.Dir(live) != root || !strings.HasPrefix(filepath.Base(live), "run-") {
		t.Fatalf("TMPDIR = %s, want a run-* directory under %s", live, root)
	}
	if f, err := os.CreateTemp("", "margin-upload-*"); err != nil || filepath.Dir(f.Name()) != live {
		t.Fatalf("a temporary file went to %v (%v), want %s", f, err, live)
	} else {
		f.Close()
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("the killed run's directory is still there: %v", err)
	}
	if !strings.Contains(log.String(), "run-dead") || !strings.Contains(log.String(), "files=1 bytes=13") {
		t.Fatalf("the removal was not logged: %s", log.String())
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Fatalf("a directory without a lock file was removed: %v", err)
	}

	// A second process on the same root leaves the live one alone.
	log.Reset()
	stopSecond, err := useTempDir(root, logger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live); err != nil || log.Len() != 0 {
		t.Fatalf("a second start touched the live run's directory: %v; log: %s", err, log.String())
	}
	stopSecond()
	stopLive()
	if runs, _ := filepath.Glob(filepath.Join(root, "run-*")); len(runs) != 1 || runs[0] != foreign {
		t.Fatalf("after both stopped: %v, want only %s", runs, foreign)
	}
}

// TestTempDirDefault: temporary files live in the data directory unless
// both MongoDB and S3 are configured (then the data directory is unused).
func TestTempDirDefault(t *testing.T) {
	data := t.TempDir()
	t.Setenv("TMPDIR", "/var/tmp")
	for _, tc := range []struct {
		mongo, s3, tmp, want string
	}{
		{"", "", "", filepath.Join(data, "tmp")},
		{"mongodb://db", "", "", filepath.Join(data, "tmp")},
		{"", "http://s3", "", filepath.Join(data, "tmp")},
		{"mongodb://db", "http://s3", "", "/var/tmp/margin"},
		{"mongodb://db", "http://s3", "/srv/margin-tmp", "/srv/margin-tmp"},
	} {
		t.Setenv("MARGIN_DATA_DIR", data)
		t.Setenv("MARGIN_MONGODB_URI", tc.mongo)
		t.Setenv("MARGIN_S3_ENDPOINT", tc.s3)
		t.Setenv("MARGIN_TMP_DIR", tc.tmp)
		cfg, err := loadConfig()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.TmpDir != tc.want {
			t.Errorf("mongo %q, s3 %q, MARGIN_TMP_DIR %q: TmpDir = %s, want %s", tc.mongo, tc.s3, tc.tmp, cfg.TmpDir, tc.want)
		}
	}
}

// MARGIN_PUBLIC_URL turns LTI on; a value that is not an absolute http(s)
// URL stops the start with an error that names the variable.
func TestLoadConfigPublicURL(t *testing.T) {
	t.Setenv("MARGIN_DATA_DIR", t.TempDir())
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"", true}, {"https://margin.example.edu", true}, {"http://127.0.0.1:8080/", true},
		{"margin.example.edu", false}, {"ftp://margin.example.edu", false}, {"https://margin.example.edu/?x=1", false},
	} {
		t.Setenv("MARGIN_PUBLIC_URL", tc.url)
		_, err := loadConfig()
		if tc.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "MARGIN_PUBLIC_URL") {
			t.Errorf("MARGIN_PUBLIC_URL=%q: %v", tc.url, err)
		}
	}
}
