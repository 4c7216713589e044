// Package postgres opens openami's scale-out metadata store: a PostgreSQL
// database shared by any number of openami servers.
//
// Update runs SERIALIZABLE. The service layer's rules are read-then-write
// ("does the account have fewer than 5000 key pairs? then insert one"), and
// under REPEATABLE READ two such transactions can each pass the check and
// both insert (write skew), while SERIALIZABLE makes one of them fail with a
// serialization error. Update then rolls back and runs the function again,
// after a short random wait, up to 30 times; deadlocks (40P01) are retried
// the same way. View runs REPEATABLE READ, READ ONLY: a consistent snapshot
// that can never fail with a serialization error, so it is never retried.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/openami/openami/metadata/sqldb"
)

// maxConns bounds the connections one process holds. A request runs one
// short transaction, so a few connections per core serve many clients, and
// PostgreSQL's default max_connections (100) leaves room for several
// servers and CLI processes.
const maxConns = 16

// SQLSTATE codes the store handles.
const (
	uniqueViolation      = "23505"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

// migrationLock is the key of the transaction-scoped advisory lock that
// makes openami servers starting together migrate one after another. Its
// value is "openami" in ASCII.
const migrationLock = 0x6f70656e616d69

// dialect is the sqldb dialect of PostgreSQL.
var dialect = sqldb.Dialect{
	Name:     "postgres",
	Numbered: true,
	// Bytewise collation, so that tags page in the same order as on SQLite
	// whatever locale the database was created with.
	Text:    `TEXT COLLATE "C"`,
	Blob:    "BYTEA",
	ReadTx:  sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	WriteTx: sql.TxOptions{Isolation: sql.LevelSerializable},
	// DEFERRABLE waits for a snapshot no concurrent serializable writer can
	// make anomalous, and then neither aborts nor causes aborts.
	SerialTx:          "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE",
	LockMigrations:    fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock),
	IsUniqueViolation: func(err error) bool { return sqlState(err) == uniqueViolation },
	IsRetryable: func(err error) bool {
		s := sqlState(err)
		return s == serializationFailure || s == deadlockDetected
	},
	MaxAttempts: 30,
	// clock_timestamp, not now(): the time of the statement, not of its
	// transaction's start, so that a retried or long transaction does not
	// date a lease in the past.
	Now:       "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
	ShareLock: " FOR SHARE",
}

func sqlState(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrNoInstallation is wrapped by OpenExisting's error for a database that
// holds no openami schema.
var ErrNoInstallation = errors.New("holds no openami installation (no schema_migrations table)")

// Open connects to the PostgreSQL database named by dsn (a URL or a
// key=value connection string, as libpq takes), migrates it to the latest
// schema and returns it as a store. It fails if the DSN does not parse, the
// database cannot be reached or migrated, or a newer openami migrated it
// (the error wraps sqldb.ErrNewerSchema).
func Open(ctx context.Context, dsn string) (*sqldb.Store, error) {
	return openStore(ctx, dsn, false)
}

// OpenExisting is Open for a database that must already hold openami's
// schema: one without it (no schema_migrations table, as in a database
// openami never served, or a wrong name) is refused with an error that
// wraps ErrNoInstallation and names the database, and is left unchanged.
// Operator commands use it, so that a mistyped --database is not given a
// new, empty installation.
func OpenExisting(ctx context.Context, dsn string) (*sqldb.Store, error) {
	return openStore(ctx, dsn, true)
}

func openStore(ctx context.Context, dsn string, existing bool) (*sqldb.Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	// Keep every open connection idle-able: with more open than idle
	// connections, each burst above the idle count opens and closes
	// PostgreSQL backends per request, which costs far more than waiting
	// for a pooled one (measured in docs/BENCHMARKS.md).
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if existing {
		// to_regclass looks the table up on the search_path, where the
		// migrations create it.
		var found bool
		if err := db.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&found); err != nil {
			db.Close()
			return nil, fmt.Errorf("postgres: look for the schema: %w", err)
		}
		if !found {
			db.Close()
			return nil, fmt.Errorf("postgres: database %q on %s %w", cfg.Database, cfg.Host, ErrNoInstallation)
		}
	}
	s, err := sqldb.New(ctx, dialect, db, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return s, nil
}
