package blob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// Embedded is an S3-compatible server (gofakes3's HTTP API over Margin's
// own file-system backend) running in this process on 127.0.0.1, keeping
// objects under a directory. A put is atomic: an object is stored whole,
// with its metadata, or not at all, even across a kill. The server is
// reachable only from this machine and checks no signatures: it is the
// single-user default, not a production store.
type Embedded struct {
	Endpoint string // http://127.0.0.1:PORT
	srv      *http.Server
	disk     *diskBackend
}

// EmbeddedOptions tunes StartEmbedded.
type EmbeddedOptions struct {
	// Logger receives what recovery at start repaired; nil means
	// slog.Default().
	Logger *slog.Logger
	// TestPause, for crash tests only, holds every put at that point
	// (PauseMidWrite or PausePublished) until the process is killed or the
	// server closed. Never set it in production.
	TestPause string
}

// StartEmbedded serves an S3-compatible API with its files under dir. It
// first completes or discards the puts that a crash of the last run
// interrupted (logging what it repaired), in time proportional to those
// puts, not to the objects stored.
func StartEmbedded(dir string, opts EmbeddedOptions) (*Embedded, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch opts.TestPause {
	case "", PauseMidWrite, PausePublished:
	default:
		return nil, fmt.Errorf("blob: unknown test pause %q", opts.TestPause)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: data directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	disk, err := openDisk(abs, opts.Logger, opts.TestPause)
	if err != nil {
		return nil, err
	}
	if opts.TestPause != "" {
		opts.Logger.Warn("embedded S3: every put will pause (a crash test's setting)", "at", opts.TestPause)
	}
	faker := gofakes3.New(disk, gofakes3.WithAutoBucket(false))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("blob: listen: %w", err)
	}
	e := &Embedded{
		Endpoint: "http://" + ln.Addr().String(),
		srv:      &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second},
		disk:     disk,
	}
	go func() {
		if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("embedded S3 server stopped", "err", err)
		}
	}()
	return e, nil
}

// Config is the client configuration that reaches this server.
func (e *Embedded) Config(bucket string) Config {
	return Config{Endpoint: e.Endpoint, Bucket: bucket, AccessKey: "margin", SecretKey: "margin-embedded", PathStyle: true}
}

// Close stops the server after in-flight requests finish.
func (e *Embedded) Close(ctx context.Context) error {
	e.disk.close()
	return e.srv.Shutdown(ctx)
}
