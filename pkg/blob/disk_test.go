package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"

	"github.com/marginschool/margin/pkg/blob"
)

// logBuffer collects an embedded server's log, safe to read while it writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// embedded starts the embedded S3 on dir and returns a client for bucket
// "margin" on it and the server's log.
func embedded(t *testing.T, dir, pause string) (*blob.Store, *blob.Embedded, *logBuffer) {
	t.Helper()
	log := &logBuffer{}
	e, err := blob.StartEmbedded(dir, blob.EmbeddedOptions{Logger: slog.New(slog.NewTextHandler(log, nil)), TestPause: pause})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	ctx := context.Background()
	s, err := blob.New(ctx, e.Config("margin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	return s, e, log
}

func original(text string) ([]byte, string, string) {
	body := []byte(strings.Repeat(text, 500))
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	return body, h, "submissions/" + h
}

func mustRead(t *testing.T, s *blob.Store, key string) []byte {
	t.Helper()
	rc, _, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// onlyFile is the one regular file under dir.
func onlyFile(t *testing.T, dir string) string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			found = append(found, p)
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("files under %s: %v, want exactly one", dir, found)
	}
	return found[0]
}

// TestTornObjectsAreReplaced: whatever is under a content key that is not
// the original (left by an old version's crash, or foreign) reads as
// missing or fails verification, never as a server error, and PutVerified
// replaces it with the original.
func TestTornObjectsAreReplaced(t *testing.T) {
	body, sum, key := original("The essay, in full. ")
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, s *blob.Store, object, meta string)
		missing bool // a HEAD says not found
	}{
		{"object without metadata", func(t *testing.T, _ *blob.Store, _, meta string) {
			must(t, os.Remove(meta))
		}, true},
		{"truncated object with its metadata", func(t *testing.T, _ *blob.Store, object, _ string) {
			must(t, os.Truncate(object, int64(len(body)/2)))
		}, true},
		{"metadata without object", func(t *testing.T, _ *blob.Store, object, _ string) {
			must(t, os.Remove(object))
		}, true},
		{"empty metadata", func(t *testing.T, _ *blob.Store, _, meta string) {
			must(t, os.WriteFile(meta, nil, 0o600))
		}, true},
		{"foreign bytes stored properly under the key", func(t *testing.T, s *blob.Store, _, _ string) {
			if _, err := s.Put(context.Background(), key, strings.NewReader("not the essay"), ""); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"same-size foreign bytes behind intact metadata", func(t *testing.T, _ *blob.Store, object, _ string) {
			must(t, os.WriteFile(object, bytes.Repeat([]byte("x"), len(body)), 0o600))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s, _, _ := embedded(t, dir, "")
			if err := s.PutVerified(ctx, key, bytes.NewReader(body), int64(len(body)), sum, "text/plain"); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, s, filepath.Join(dir, "buckets", "margin", filepath.FromSlash(key)), onlyFile(t, filepath.Join(dir, "metadata")))

			_, err := s.Head(ctx, key)
			if tc.missing && !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("HEAD of the torn object: %v, want ErrNotFound", err)
			}
			if !tc.missing && err != nil {
				t.Fatalf("HEAD: %v", err)
			}
			if _, err := s.List(ctx, "submissions/", "", 10); err != nil {
				t.Fatalf("listing past the torn object: %v", err)
			}
			if err := s.PutVerified(ctx, key, bytes.NewReader(body), int64(len(body)), sum, "text/plain"); err != nil {
				t.Fatalf("PutVerified over the torn object: %v", err)
			}
			if got := mustRead(t, s, key); !bytes.Equal(got, body) {
				t.Fatalf("after PutVerified the object is %d bytes, not the original's %d", len(got), len(body))
			}
			if info, err := s.Head(ctx, key); err != nil || info.SHA256 != sum || info.ContentType != "text/plain" {
				t.Fatalf("HEAD after repair: %+v, %v", info, err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestPutVerifiedChecksTheHash: a sum that is not the body's is caught by
// the read-back, not recorded as verified.
func TestPutVerifiedChecksTheHash(t *testing.T) {
	s, _, _ := embedded(t, t.TempDir(), "")
	body, _, _ := original("one ")
	_, otherSum, _ := original("two ")
	err := s.PutVerified(context.Background(), "submissions/"+otherSum, bytes.NewReader(body), int64(len(body)), otherSum, "")
	if !errors.Is(err, blob.ErrCorrupt) {
		t.Fatalf("PutVerified with another file's hash: %v, want ErrCorrupt", err)
	}
}

// TestCutOffPutStoresNothing: a PUT whose body stops short (the client died)
// leaves no object, and no staged file, behind.
func TestCutOffPutStoresNothing(t *testing.T) {
	dir := t.TempDir()
	s, e, _ := embedded(t, dir, "")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.Endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /margin/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n%s", strings.Repeat("a", 50000))
	conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, _ := os.ReadDir(filepath.Join(dir, "staging"))
		if len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staged files left after a cut-off put: %v", entries)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.Head(context.Background(), "cut"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("HEAD after a cut-off put: %v, want ErrNotFound", err)
	}
}

// TestRecoveryAfterCrash freezes a put at each pause point over an existing
// object, copies the data directory as a kill would leave it, and starts
// the embedded S3 on the copy: a put stopped mid-write is discarded (the
// old object is intact), a put stopped between its two renames is
// completed, the staging area is emptied, recovery is logged, and a second
// start finds nothing to do.
func TestRecoveryAfterCrash(t *testing.T) {
	oldBody := []byte("version one")
	newBody := bytes.Repeat([]byte("version two, longer. "), 1000)
	for _, tc := range []struct {
		pause string
		want  []byte
	}{
		{blob.PauseMidWrite, oldBody},
		{blob.PausePublished, newBody},
	} {
		t.Run(tc.pause, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s0, e0, _ := embedded(t, dir, "")
			if _, err := s0.Put(ctx, "k", bytes.NewReader(oldBody), "text/plain"); err != nil {
				t.Fatal(err)
			}
			e0.Close(ctx)
			s, e, log := embedded(t, dir, tc.pause)
			go s.Put(ctx, "k", bytes.NewReader(newBody), "text/plain")
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(log.String(), "paused for a crash test") {
				if time.Now().After(deadline) {
					t.Fatalf("the put never reached %s; log: %s", tc.pause, log)
				}
				time.Sleep(5 * time.Millisecond)
			}
			crashed := t.TempDir()
			copyTree(t, dir, crashed)
			e.Close(ctx)

			s2, e2, log2 := embedded(t, crashed, "")
			if got := mustRead(t, s2, "k"); !bytes.Equal(got, tc.want) {
				t.Fatalf("after recovery k is %q…, want %q…", got[:min(20, len(got))], tc.want[:20])
			}
			if info, err := s2.Head(ctx, "k"); err != nil || info.Size != int64(len(tc.want)) || info.ContentType != "text/plain" {
				t.Fatalf("HEAD after recovery: %+v, %v", info, err)
			}
			if entries, _ := os.ReadDir(filepath.Join(crashed, "staging")); len(entries) != 0 {
				t.Fatalf("staging after recovery: %v", entries)
			}
			if !strings.Contains(log2.String(), "recovered from an interrupted run") {
				t.Fatalf("recovery was not logged: %s", log2)
			}
			e2.Close(ctx)
			_, _, log3 := embedded(t, crashed, "")
			if strings.Contains(log3.String(), "recovered") {
				t.Fatalf("a second start repaired something again: %s", log3)
			}
		})
	}
}

// copyTree copies src to dst as a crash leaves it: files with their bytes
// and modification times.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			return err
		}
		return os.Chtimes(to, info.ModTime(), info.ModTime())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadsS3aferoData: a data directory written by the embedded S3 of
// earlier versions (gofakes3's s3afero backend) reads the same.
func TestReadsS3aferoData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), dir))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(old, gofakes3.WithAutoBucket(false)).Server())
	s0, err := blob.New(ctx, blob.Config{Endpoint: srv.URL, Bucket: "margin", AccessKey: "k", SecretKey: "s", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	must(t, s0.EnsureBucket(ctx))
	body, sum, key := original("Written before the upgrade. ")
	if _, err := s0.Put(ctx, key, bytes.NewReader(body), "application/pdf"); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	s, _, _ := embedded(t, dir, "")
	if info, err := s.Head(ctx, key); err != nil || info.SHA256 != sum || info.Size != int64(len(body)) || info.ContentType != "application/pdf" {
		t.Fatalf("HEAD of an s3afero object: %+v, %v", info, err)
	}
	if got := mustRead(t, s, key); !bytes.Equal(got, body) {
		t.Fatalf("GET of an s3afero object: %d bytes, want %d", len(got), len(body))
	}
	if p, err := s.List(ctx, "submissions/", "", 10); err != nil || len(p.Keys) != 1 || p.Keys[0] != key {
		t.Fatalf("list = %+v, %v", p, err)
	}
}
