// Package sqlite opens openami's embedded metadata store: a SQLite database
// in one file, through the pure-Go modernc.org/sqlite driver.
//
// The file is shared by the server and by admin commands running in other
// processes at the same time, so the store is configured for several
// writers across processes:
//
//   - WAL journal: readers never block the writer, nor the writer readers.
//   - synchronous=FULL: a commit is on disk before Update returns, so a
//     crash loses nothing that was acknowledged.
//   - busy_timeout of 10 s: a writer waits for another process's write
//     transaction instead of failing at once with SQLITE_BUSY.
//   - One write connection whose transactions begin IMMEDIATE, taking the
//     write lock before the first read. A DEFERRED transaction that reads
//     and then writes must upgrade its lock, and under WAL that upgrade
//     fails at once with SQLITE_BUSY_SNAPSHOT, without waiting, whenever
//     another connection committed in between; with IMMEDIATE, writers
//     queue on the lock under busy_timeout instead, and Update never
//     needs to retry.
//   - A separate pool of query_only connections for View, so that reads
//     run concurrently with each other and with the writer.
//   - Group commit: concurrent Update calls are handed to one committer
//     goroutine, which runs the functions that are waiting one after the
//     other, each in a savepoint of one IMMEDIATE transaction, and commits
//     them together, so that a queue of writers drains at one fsync per
//     group rather than one per write (see sqldb's group.go). Callers are
//     answered after the commit, so synchronous=FULL still means an
//     acknowledged write is on disk; and they are taken in the order they
//     came, where the database/sql pool hands a freed connection to a
//     random waiter.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/openami/openami/metadata/sqldb"
)

// busyTimeoutMS is how long a connection waits for a lock held by another
// connection or process before failing with SQLITE_BUSY.
const busyTimeoutMS = 10000

// dialect is the sqldb dialect of SQLite. Its write transactions rely on
// the write pool beginning them IMMEDIATE (see Open).
var dialect = sqldb.Dialect{
	Name:              "sqlite",
	Text:              "TEXT",
	Blob:              "BLOB",
	Clustered:         "WITHOUT ROWID",
	ReadTx:            sql.TxOptions{ReadOnly: true},
	IsUniqueViolation: isUniqueViolation,
	// Writers are serialised by the IMMEDIATE lock, so no transaction ever
	// loses a race: a SQLITE_BUSY after busy_timeout means a lock was held
	// far too long, and running again would not help.
	IsRetryable: nil,
	MaxAttempts: 1,
	// Writers queue for the one write connection anyway; commit those
	// that queued together, with one fsync instead of one each.
	GroupCommit: true,
	// The local clock (one process owns a SQLite database), in µs.
	Now: "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
}

func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// Open opens, creating it if needed (mode 0600, and so its -wal and -shm
// files), the SQLite database at path, migrates
// it to the latest schema and returns it as a store. It fails if the file
// cannot be opened or migrated, or if a newer openami migrated it (the error
// wraps sqldb.ErrNewerSchema). Update must not be called from inside an
// Update function: writes run one at a time, on one connection, so that
// would wait forever.
func Open(path string) (*sqldb.Store, error) {
	write, read, err := openPools(path)
	if err != nil {
		return nil, err
	}
	s, err := sqldb.New(context.Background(), dialect, write, read)
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// openPools returns the write and read pools for the database at path.
func openPools(path string) (write, read *sql.DB, err error) {
	if path == "" || strings.Contains(path, "?") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		// The driver reads what follows ? as its parameters, and an
		// in-memory database cannot be shared by two pools.
		return nil, nil, fmt.Errorf("sqlite: open %q: need the path of a file, without '?'", path)
	}
	common := url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeoutMS)},
		"_foreign_keys": {"1"},
	}
	w := cloneValues(common)
	w.Set("_journal_mode", "WAL")
	w.Set("_synchronous", "FULL")
	w.Set("_txlock", "immediate")
	r := cloneValues(common)
	r.Set("_query_only", "1")

	// Create the file owner-only before SQLite does: it would make it
	// 0644 less the umask, and it gives the -wal and -shm files the
	// database file's own mode. The metadata holds sealed secrets,
	// account names and images' user data.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	f.Close()

	write, err = openDB(path + "?" + w.Encode())
	if err != nil {
		return nil, nil, err
	}
	// One connection: a second writer in this process would only wait for
	// the file lock anyway, and waiting for the pool is cheaper and
	// honours the context.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	// Open the write connection now, so that WAL mode is set on the file
	// before any reader opens it.
	if err := write.Ping(); err != nil {
		write.Close()
		return nil, nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	read, err = openDB(path + "?" + r.Encode())
	if err != nil {
		write.Close()
		return nil, nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	return write, read, nil
}

func openDB(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return sql.OpenDB(cachingConnector{c}), nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}
