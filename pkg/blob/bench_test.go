package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// benchStore serves backend over HTTP, as StartEmbedded does, and returns a
// client for a new bucket on it.
func benchStore(b *testing.B, backend gofakes3.Backend) *Store {
	b.Helper()
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithAutoBucket(false)).Server())
	b.Cleanup(srv.Close)
	ctx := context.Background()
	s, err := New(ctx, Config{Endpoint: srv.URL, Bucket: "bench", AccessKey: "k", SecretKey: "s", PathStyle: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		b.Fatal(err)
	}
	return s
}

func benchBackends(b *testing.B) map[string]func() gofakes3.Backend {
	return map[string]func() gofakes3.Backend{
		// What StartEmbedded used before: gofakes3's s3afero, not atomic.
		"s3afero": func() gofakes3.Backend {
			be, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			return be
		},
		"atomic": func() gofakes3.Backend {
			be, err := openDisk(b.TempDir(), slog.Default(), "")
			if err != nil {
				b.Fatal(err)
			}
			return be
		},
	}
}

var benchSizes = []int{16 << 10, 1 << 20, 16 << 20}

func benchBody(size int) ([]byte, string) {
	body := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range body {
		body[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(body)
	return body, hex.EncodeToString(sum[:])
}

// BenchmarkEmbeddedPut: Store.Put (hash, PUT, HEAD) of a new key through
// the embedded S3's HTTP API, on the old backend and the atomic one.
//
//	go test ./pkg/blob -run '^$' -bench EmbeddedPut
func BenchmarkEmbeddedPut(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"s3afero", "atomic"} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%dKiB", name, size>>10), func(b *testing.B) {
				s := benchStore(b, benchBackends(b)[name]())
				body, _ := benchBody(size)
				b.SetBytes(int64(size))
				i := 0
				for b.Loop() {
					i++
					if _, err := s.Put(ctx, fmt.Sprintf("k/%d", i), bytes.NewReader(body), ""); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPutVerified: what intake does per original on the atomic
// embedded S3: a new key (GET finds nothing, PUT, GET and hash) and a key
// already stored (GET and hash only).
//
//	go test ./pkg/blob -run '^$' -bench PutVerified
func BenchmarkPutVerified(b *testing.B) {
	ctx := context.Background()
	for _, size := range benchSizes {
		body, sum := benchBody(size)
		b.Run(fmt.Sprintf("new/%dKiB", size>>10), func(b *testing.B) {
			s := benchStore(b, benchBackends(b)["atomic"]())
			b.SetBytes(int64(size))
			i := 0
			for b.Loop() {
				i++
				if err := s.PutVerified(ctx, fmt.Sprintf("k/%d/%s", i, sum), bytes.NewReader(body), int64(size), sum, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("stored/%dKiB", size>>10), func(b *testing.B) {
			s := benchStore(b, benchBackends(b)["atomic"]())
			key := filepath.ToSlash("k/" + sum)
			if err := s.PutVerified(ctx, key, bytes.NewReader(body), int64(size), sum, ""); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := s.PutVerified(ctx, key, bytes.NewReader(body), int64(size), sum, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSync: what the atomic backend's syncs cost on this disk, one
// new 16 KiB file and one directory.
//
//	go test ./pkg/blob -run '^$' -bench Sync
func BenchmarkSync(b *testing.B) {
	body, _ := benchBody(16 << 10)
	b.Run("file16KiB", func(b *testing.B) {
		dir := b.TempDir()
		for b.Loop() {
			f, err := os.CreateTemp(dir, "f")
			if err != nil {
				b.Fatal(err)
			}
			f.Write(body)
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("dir", func(b *testing.B) {
		dir := b.TempDir()
		for b.Loop() {
			f, err := os.CreateTemp(dir, "f")
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			if err := syncDir(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
}
