// Package mongotest gives tests a fresh database on a real wire-protocol
// server: the embedded FerretDB (one per test binary, started on first use),
// or the MongoDB at MARGIN_TEST_MONGODB_URI when that is set.
package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/mongostore"
	"go.mongodb.org/mongo-driver/mongo"
)

var (
	once    sync.Once
	shared  *mongostore.Store
	errOpen error
)

// Store returns the shared store of this test binary.
func Store(t testing.TB) *mongostore.Store {
	t.Helper()
	once.Do(func() {
		dir, err := os.MkdirTemp("", "margin-mongotest-")
		if err != nil {
			errOpen = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		shared, errOpen = mongostore.Open(ctx, mongostore.Config{URI: os.Getenv("MARGIN_TEST_MONGODB_URI"), DataDir: dir, Database: "unused"})
	})
	if errOpen != nil {
		t.Fatalf("mongotest: open store: %v", errOpen)
	}
	return shared
}

// DB returns a database of its own for this test, dropped when it ends.
func DB(t testing.TB) *mongo.Database {
	t.Helper()
	s := Store(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := s.Client.Database("t_" + hex.EncodeToString(b[:]))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
	})
	return db
}
