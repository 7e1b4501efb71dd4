// Package blobtest gives tests a fresh bucket on a real S3-compatible server:
// the embedded one (one per test binary), or the S3 at
// MARGIN_TEST_S3_ENDPOINT (with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) when
// that is set.
package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/blob"
)

var (
	once    sync.Once
	base    blob.Config
	errOpen error
)

// Store returns a client for a new, empty bucket.
func Store(t testing.TB) *blob.Store {
	t.Helper()
	once.Do(func() {
		if ep := os.Getenv("MARGIN_TEST_S3_ENDPOINT"); ep != "" {
			base = blob.Config{Endpoint: ep, AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), PathStyle: true}
			return
		}
		dir, err := os.MkdirTemp("", "margin-blobtest-")
		if err != nil {
			errOpen = err
			return
		}
		e, err := blob.StartEmbedded(dir, blob.EmbeddedOptions{})
		if err != nil {
			errOpen = err
			return
		}
		base = e.Config("")
	})
	if errOpen != nil {
		t.Fatalf("blobtest: %v", errOpen)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg := base
	cfg.Bucket = "t-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := blob.New(ctx, cfg)
	if err != nil {
		t.Fatalf("blobtest: client: %v", err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		t.Fatalf("blobtest: bucket: %v", err)
	}
	return s
}
