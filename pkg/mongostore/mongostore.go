// Package mongostore connects Margin to its document store: a real MongoDB
// when a URI is configured, or an embedded FerretDB (SQLite backend, under the
// data directory) when none is. Either way the rest of Margin talks to it
// through go.mongodb.org/mongo-driver; there is no second code path.
//
// The embedded store is single-process: FerretDB v1 runs findAndModify and
// update as a read followed by a write, so the client is limited to one
// in-flight operation (maxPoolSize=1), which makes every single-document
// operation atomic within this process. Open also gives every collection of
// the embedded store the index FerretDB's lookups by _id need (idindex.go).
// docs/STORE.md lists what the embedded store does and does not do.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"

	"github.com/marginschool/margin/pkg/errs"
)

// Config says where the store is.
type Config struct {
	// URI of a real MongoDB. Empty means: start the embedded store.
	URI string
	// Database name; "margin" when empty.
	Database string
	// DataDir holds the embedded store's files (DataDir/store). Ignored with URI.
	DataDir string
	// Logger for the embedded server; its own chatter is logged at Debug level.
	Logger *slog.Logger
	// Monitor, if set, sees every command the client sends (benchmarks
	// count store round trips with it).
	Monitor *event.CommandMonitor
}

// Store is an open connection to the document store.
type Store struct {
	Client   *mongo.Client
	DB       *mongo.Database
	Embedded bool // true when the store runs in this process

	stopEmbedded func()
}

// Open connects to the configured MongoDB, or starts the embedded one and
// connects to that. It returns once the store answers a ping.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Database == "" {
		cfg.Database = "margin"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Store{}
	uri := cfg.URI
	opts := options.Client().SetMonitor(cfg.Monitor)
	if uri == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("mongostore: no URI and no data directory")
		}
		dir := filepath.Join(cfg.DataDir, "store")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("mongostore: data directory: %w", err)
		}
		ids := newIDIndexer(dir, cfg.Logger)
		if err := ids.indexAll(ctx); err != nil {
			return nil, err
		}
		var err error
		uri, s.stopEmbedded, err = startEmbedded(dir, cfg.Logger)
		if err != nil {
			return nil, err
		}
		s.Embedded = true
		opts.SetMaxPoolSize(1).SetMonitor(ids.monitor(cfg.Monitor))
	}
	opts.ApplyURI(uri).SetTimeout(30 * time.Second)
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("mongostore: connect: %w", err)
	}
	s.Client = client
	s.DB = client.Database(cfg.Database)
	if s.Embedded {
		embeddedClients.Store(client, struct{}{})
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		s.stop()
		return nil, fmt.Errorf("mongostore: ping %s: %w", redact(uri), err)
	}
	return s, nil
}

// Ping reports whether the store answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.Client.Ping(ctx, readpref.Primary())
}

// Close disconnects and, for the embedded store, stops it after its last
// write has been flushed.
func (s *Store) Close(ctx context.Context) error {
	embeddedClients.Delete(s.Client)
	err := s.Client.Disconnect(ctx)
	s.stop()
	return err
}

func (s *Store) stop() {
	if s.stopEmbedded != nil {
		s.stopEmbedded()
		s.stopEmbedded = nil
	}
}

// startEmbedded runs FerretDB on 127.0.0.1 on a free port with its SQLite
// files in dir, and returns its URI and a function that stops it.
func startEmbedded(dir string, logger *slog.Logger) (string, func(), error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: (&url.URL{Scheme: "file", Path: abs + "/"}).String(),
		Logger:    quiet(logger),
	})
	if err != nil {
		return "", nil, fmt.Errorf("mongostore: start embedded store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	return f.MongoDBURI(), stop, nil
}

// quiet demotes the embedded server's logs: they describe its internals, not
// Margin's behaviour, so they appear only at Debug level.
func quiet(l *slog.Logger) *slog.Logger {
	if l.Enabled(context.Background(), slog.LevelDebug) {
		return l.With("component", "ferretdb")
	}
	// DiscardHandler formats nothing: FerretDB logs each write's statement
	// arguments (the whole document) with Logger.With, which a discarding
	// TextHandler would still format, copying every document several times.
	return slog.New(slog.DiscardHandler)
}

func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "(unparseable URI)"
	}
	return u.Redacted()
}

// IsDuplicateKey reports whether err is a unique-key violation. It also
// recognises the embedded store's form for updates ("UNIQUE constraint
// failed"), which it reports as an internal error rather than E11000.
func IsDuplicateKey(err error) bool {
	if err == nil {
		return false
	}
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) && containsUnique(ce.Message) {
		return true
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		for _, e := range we.WriteErrors {
			if containsUnique(e.Message) {
				return true
			}
		}
	}
	return containsUnique(err.Error())
}

func containsUnique(s string) bool {
	const marker = "UNIQUE constraint failed"
	for i := 0; i+len(marker) <= len(s); i++ {
		if s[i:i+len(marker)] == marker {
			return true
		}
	}
	return false
}

// FindByID decodes the document of col with the given _id into out. A
// missing document is errs.NotFound, naming what ("No class with ID …");
// any other failure is an internal error.
func FindByID(ctx context.Context, col *mongo.Collection, id, what string, out any) error {
	err := col.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(out)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return errs.E(errs.NotFound, "No %s with ID %q.", what, id)
	}
	return errs.Wrap(err, "find %s", what)
}
