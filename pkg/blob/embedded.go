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
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// Embedded is an S3-compatible server (gofakes3 with its filesystem backend)
// running in this process on 127.0.0.1, keeping objects under a directory.
// It is reachable only from this machine, and checks no signatures: it is
// the single-user default, not a production store.
type Embedded struct {
	Endpoint string // http://127.0.0.1:PORT
	srv      *http.Server
}

// StartEmbedded serves an S3-compatible API with its files under dir.
func StartEmbedded(dir string) (*Embedded, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: data directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	backend, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), abs))
	if err != nil {
		return nil, fmt.Errorf("blob: embedded backend: %w", err)
	}
	faker := gofakes3.New(backend, gofakes3.WithAutoBucket(false))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("blob: listen: %w", err)
	}
	e := &Embedded{
		Endpoint: "http://" + ln.Addr().String(),
		srv:      &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second},
	}
	go func() {
		if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("embedded S3 server stopped", "err", err)
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
	return e.srv.Shutdown(ctx)
}
