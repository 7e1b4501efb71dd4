package mongostore

// This file is the one place that knows how FerretDB v1.24's SQLite backend
// lays out its files, so that lookups by _id on the embedded store use an
// index.
//
// FerretDB keeps each database in <dir>/<database>.sqlite and each collection
// in a table of that file; the table_name column of _ferretdb_collections maps
// collection names to tables. It creates a unique index on
// _ferretdb_sjson->"_id", but selects, updates and deletes by _id with
// WHERE _ferretdb_sjson->'$._id' = ? (metadata.IDColumn in its
// internal/backends/sqlite). SQLite matches an expression index only by the
// text of its expression, so without help every lookup by _id scans and
// parses every document of the collection. idIndexer adds a unique index on
// the expression FerretDB queries with, to every collection:
//
//   - at Open, before FerretDB starts, to every table of every database file;
//   - after the first successful command that can create a collection
//     (insert, update, findAndModify, create, createIndexes) on a collection
//     this process has not indexed yet, seen through the client's command
//     monitor. The monitor runs while the operation still holds the client's
//     only connection, so the index exists before the caller's next operation.
//
// A drop or rename forgets the collection, so a collection created again
// under the same name is indexed again. A failed attempt is logged and
// retried at the collection's next write. The index is invisible to MongoDB
// clients (FerretDB does not list it), is dropped with its table, and
// CREATE INDEX is atomic in SQLite, so a crash leaves either the index or
// nothing, and the next Open adds what is missing.
//
// Upgrading FerretDB means checking idExpr against metadata.IDColumn; the
// test TestIDLookupsUseAnIndex fails if they drift apart.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", the one FerretDB uses
)

const (
	// sqliteExt is the extension of FerretDB's database files.
	sqliteExt = ".sqlite"
	// collectionsTable maps collection names to table names in each file.
	collectionsTable = "_ferretdb_collections"
	// idExpr is FerretDB's metadata.IDColumn, verbatim: the expression its
	// SELECT, UPDATE and DELETE statements compare with an _id.
	idExpr = `_ferretdb_sjson->'$._id'`
	// idIndexPrefix starts the name of the index this file adds. FerretDB
	// names its own indexes <table>_<MongoDB index name>, so the names cannot
	// meet.
	idIndexPrefix = "margin_id_"
)

// idIndexer adds the _id index to the embedded store's collections; see the
// top of this file.
type idIndexer struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex
	indexed map[string]bool     // "<db>\x00<collection>" indexed by this process
	pending map[int64][2]string // request ID -> {db, collection} awaiting success
}

func newIDIndexer(dir string, log *slog.Logger) *idIndexer {
	return &idIndexer{dir: dir, log: log, indexed: map[string]bool{}, pending: map[int64][2]string{}}
}

// indexAll indexes every collection of every database file in the directory.
func (x *idIndexer) indexAll(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(x.dir, "*"+sqliteExt))
	if err != nil {
		return err
	}
	for _, f := range files {
		dbName := strings.TrimSuffix(filepath.Base(f), sqliteExt)
		if err := x.index(ctx, dbName, ""); err != nil {
			return err
		}
	}
	return nil
}

// index adds the _id index to one collection of the database, or to all of
// them when collection is empty. A database or collection that does not
// exist (yet) is not an error.
func (x *idIndexer) index(ctx context.Context, dbName, collection string) error {
	db, err := x.open(dbName)
	if db == nil || err != nil {
		return err
	}
	defer db.Close()
	q := `SELECT name, table_name FROM ` + quoteIdent(collectionsTable)
	var args []any
	if collection != "" {
		q += ` WHERE name = ?`
		args = append(args, collection)
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("mongostore: list tables of %s: %w", dbName, err)
	}
	tables := map[string]string{}
	for rows.Next() {
		var name, table string
		if err := rows.Scan(&name, &table); err != nil {
			rows.Close()
			return err
		}
		tables[name] = table
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for name, table := range tables {
		q := fmt.Sprintf(`CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s (%s)`,
			quoteIdent(idIndexPrefix+table), quoteIdent(table), idExpr)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mongostore: index _id of %s.%s: %w", dbName, name, err)
		}
		x.mu.Lock()
		x.indexed[dbName+"\x00"+name] = true
		x.mu.Unlock()
	}
	return nil
}

// open opens an existing database file, or returns nil if there is none; it
// never creates one (FerretDB would not start with a file it did not make).
// Writes wait for FerretDB's up to 10 s, as FerretDB's own do.
func (x *idIndexer) open(dbName string) (*sql.DB, error) {
	path := filepath.Join(x.dir, dbName+sqliteExt)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: path,
		RawQuery: "mode=rw&_pragma=busy_timeout(10000)"}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("mongostore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// monitor returns the command monitor that indexes new collections, calling
// next's functions (if any) after its own.
func (x *idIndexer) monitor(next *event.CommandMonitor) *event.CommandMonitor {
	if next == nil {
		next = &event.CommandMonitor{}
	}
	return &event.CommandMonitor{
		Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			x.started(e)
			if next.Started != nil {
				next.Started(ctx, e)
			}
		},
		Succeeded: func(ctx context.Context, e *event.CommandSucceededEvent) {
			x.succeeded(ctx, e.RequestID)
			if next.Succeeded != nil {
				next.Succeeded(ctx, e)
			}
		},
		Failed: func(ctx context.Context, e *event.CommandFailedEvent) {
			x.mu.Lock()
			delete(x.pending, e.RequestID)
			x.mu.Unlock()
			if next.Failed != nil {
				next.Failed(ctx, e)
			}
		},
	}
}

// started notes a command that may create a collection not indexed yet, and
// forgets collections that a drop or rename removes.
func (x *idIndexer) started(e *event.CommandStartedEvent) {
	first, err := e.Command.IndexErr(0)
	if err != nil {
		return
	}
	name, _ := first.Value().StringValueOK()
	x.mu.Lock()
	defer x.mu.Unlock()
	switch e.CommandName {
	case "insert", "update", "findAndModify", "create", "createIndexes":
		if name != "" && !x.indexed[e.DatabaseName+"\x00"+name] {
			x.pending[e.RequestID] = [2]string{e.DatabaseName, name}
		}
	case "drop":
		delete(x.indexed, e.DatabaseName+"\x00"+name)
	case "dropDatabase":
		for k := range x.indexed {
			if strings.HasPrefix(k, e.DatabaseName+"\x00") {
				delete(x.indexed, k)
			}
		}
	case "renameCollection": // {renameCollection: "db.from", to: "db.to"}, on admin
		to, _ := e.Command.Lookup("to").StringValueOK()
		for _, ns := range []string{name, to} {
			if db, coll, ok := strings.Cut(ns, "."); ok {
				delete(x.indexed, db+"\x00"+coll)
			}
		}
	}
}

// succeeded indexes the collection a noted command has just written to.
func (x *idIndexer) succeeded(ctx context.Context, requestID int64) {
	x.mu.Lock()
	ns, ok := x.pending[requestID]
	delete(x.pending, requestID)
	x.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := x.index(ctx, ns[0], ns[1]); err != nil {
		x.log.Warn("embedded store: could not index _id; lookups in this collection scan it until its next write retries", "db", ns[0], "collection", ns[1], "err", err)
	}
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// UnindexedIDLookups returns, as "database.collection", every collection of
// every database whose lookup by _id the store answers without an index,
// according to the plan the embedded store reports for it (FerretDB's
// explain runs EXPLAIN QUERY PLAN on the very statement it would run). It
// returns nil on a real MongoDB, where _id is always indexed.
func (s *Store) UnindexedIDLookups(ctx context.Context) ([]string, error) {
	if !s.Embedded {
		return nil, nil
	}
	dbs, err := s.Client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, dbName := range dbs {
		db := s.Client.Database(dbName)
		colls, err := db.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return nil, err
		}
		for _, c := range colls {
			var res struct {
				QueryPlanner struct{ Plan []string } `bson:"queryPlanner"`
			}
			cmd := bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: c}, {Key: "filter", Value: bson.D{{Key: "_id", Value: "x"}}}}}}
			if err := db.RunCommand(ctx, cmd).Decode(&res); err != nil {
				return nil, fmt.Errorf("mongostore: explain %s.%s: %w", dbName, c, err)
			}
			if !usesIDIndex(res.QueryPlanner.Plan) {
				out = append(out, dbName+"."+c)
			}
		}
	}
	return out, nil
}

// usesIDIndex reports whether a SQLite query plan searches an index rather
// than scanning the table.
func usesIDIndex(plan []string) bool {
	for _, step := range plan {
		if strings.Contains(step, "SEARCH") && strings.Contains(step, "INDEX") {
			return true
		}
	}
	return false
}
