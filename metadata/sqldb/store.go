// Package sqldb implements metadata.Store once, over database/sql, for every
// SQL database openami runs on. What differs between databases (placeholder
// syntax, type names, error codes, how transactions begin) is a Dialect;
// metadata/sqlite and metadata/postgres each supply one and open the pools.
//
// The schema is a list of numbered migrations (see Migrations), applied in
// order when a Store is opened and recorded in the schema_migrations table.
//
// Statements that can meet an expected conflict (a duplicate name, a key
// already set) are written as INSERT … ON CONFLICT DO NOTHING and checked by
// the number of rows they affected, never by letting the database raise an
// error: PostgreSQL aborts the whole transaction on any error, so a function
// that gets Duplicate from Create and carries on would otherwise fail at its
// next statement.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/lease"
)

// Store is a metadata.Store over database/sql. Its methods are safe for
// concurrent use.
type Store struct {
	d     *Dialect
	q     *stmts
	write *sql.DB
	read  *sql.DB
	group *group // nil unless the dialect has GroupCommit
}

// stmts are the statements whose text depends on the dialect beyond its
// placeholders, built once when the Store is opened.
type stmts struct {
	snapshotBlocks, volumeBlocks *blockStmts
}

var _ metadata.Store = (*Store)(nil)

// New migrates the database behind write to the latest schema and returns a
// Store that runs Update on write and View on read, which may be the same
// pool. It returns an error wrapping ErrNewerSchema if the database was
// migrated by a newer binary, or the error of the migration that failed. On
// failure the pools stay the caller's to close; on success the Store owns
// them and Close closes them.
func New(ctx context.Context, d Dialect, write, read *sql.DB) (*Store, error) {
	s := &Store{d: &d, write: write, read: read}
	s.q = &stmts{
		snapshotBlocks: newBlockStmts(s.d, "snapshot_blocks", "snapshot_id", "snapshots"),
		volumeBlocks:   newBlockStmts(s.d, "volume_blocks", "volume_id", "volumes"),
	}
	if err := Migrate(ctx, write, s.d, len(migrations)); err != nil {
		return nil, err
	}
	if d.GroupCommit {
		s.group = newGroup()
		go s.commitGroups()
	}
	return s, nil
}

// Close closes the store's pools. It returns the first error either Close
// returned.
func (s *Store) Close() error {
	if s.group != nil {
		s.group.stop()
	}
	err := s.write.Close()
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	if err != nil {
		return fmt.Errorf("sqldb: close: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction on the read pool. It returns fn's
// error unchanged, or an error wrapping the database's if the transaction
// could not begin or end.
func (s *Store) View(ctx context.Context, fn func(metadata.Tx) error) error {
	_, err := s.run(ctx, s.read, &s.d.ReadTx, fn)
	return err
}

// ViewSerial runs fn in a read-only transaction ordered with every
// read-write transaction (see metadata.Store). It returns as View does.
func (s *Store) ViewSerial(ctx context.Context, fn func(metadata.Tx) error) error {
	if s.d.SerialTx == "" {
		return s.View(ctx, fn)
	}
	_, err := s.run(ctx, s.read, &sql.TxOptions{}, func(t metadata.Tx) error {
		if _, err := t.(*tx).exec(s.d.SerialTx); err != nil {
			return fmt.Errorf("sqldb: begin serial view: %w", err)
		}
		return fn(t)
	})
	return err
}

// Update runs fn in a read-write transaction and commits it if fn returns
// nil. When the transaction loses a race with a concurrent one (the
// dialect's IsRetryable), Update rolls back, waits a short random while and
// runs fn again, up to the dialect's MaxAttempts. With the dialect's
// GroupCommit, fn runs in a savepoint of a transaction shared with other
// callers' functions, and Update returns once that transaction has
// committed (see group.go). It returns fn's error unchanged, or an error
// wrapping the database's.
//
// When ctx carries a lease (lease.WithHeld), fn runs only after a check,
// in its transaction, that the lease is still held at its epoch (on
// PostgreSQL the check locks the lease's row until the commit, so that a
// takeover waits for it); otherwise Update fails with the lease's lost
// error and changes nothing.
func (s *Store) Update(ctx context.Context, fn func(metadata.Tx) error) error {
	fn = lease.Fence(ctx, fn)
	if s.group != nil {
		return s.group.update(ctx, fn)
	}
	return s.update(ctx, fn)
}

// update is Update in a transaction of fn's own.
func (s *Store) update(ctx context.Context, fn func(metadata.Tx) error) error {
	attempts := max(s.d.MaxAttempts, 1)
	for attempt := 1; ; attempt++ {
		retry, err := s.run(ctx, s.write, &s.d.WriteTx, fn)
		if !retry || attempt >= attempts {
			return err
		}
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("sqldb: update: %w (while retrying after: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// backoff returns how long to wait before attempt+1: doubling from 1 ms up
// to 100 ms, each randomised by ±50% so that transactions that collided once
// do not collide again in lockstep.
func backoff(attempt int) time.Duration {
	d := time.Millisecond << min(attempt-1, 7)
	d = min(d, 100*time.Millisecond)
	return d/2 + rand.N(d)
}

// run runs fn in one transaction. retry reports that the transaction failed
// because of a concurrent one, so that running fn again may succeed.
func (s *Store) run(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(metadata.Tx) error) (retry bool, err error) {
	sqltx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return s.d.retryable(err), fmt.Errorf("sqldb: begin transaction: %w", err)
	}
	t := &tx{ctx: ctx, d: s.d, q: s.q, s: s, db: db, tx: sqltx}
	committed := false
	defer func() {
		t.done = true
		if !committed {
			sqltx.Rollback()
		}
	}()
	ferr := fn(t)
	t.done = true
	if t.lost != nil {
		// A statement failed with a retryable error. The function may have
		// swallowed it, but the transaction is void either way.
		if ferr == nil {
			ferr = fmt.Errorf("sqldb: transaction: %w", t.lost)
		}
		return true, ferr
	}
	if ferr != nil {
		return false, ferr
	}
	if err := sqltx.Commit(); err != nil {
		return s.d.retryable(err), fmt.Errorf("sqldb: commit: %w", err)
	}
	committed = true
	return false, nil
}

// tx is a metadata.Tx over one database transaction.
type tx struct {
	ctx  context.Context
	d    *Dialect
	q    *stmts
	s    *Store
	db   *sql.DB // the pool tx runs on
	tx   *sql.Tx
	done bool  // fn has returned; the roles must not be used any more
	lost error // the first retryable error a statement returned
}

func (t *tx) Accounts() metadata.Accounts { return accounts{t} }
func (t *tx) KeyPairs() metadata.KeyPairs { return keyPairs{t} }
func (t *tx) Tags() metadata.Tags         { return tags{t} }
func (t *tx) Settings() metadata.Settings { return settings{t} }
func (t *tx) Snapshots() metadata.Snapshots {
	return snapshots{t, blockTable{t, t.q.snapshotBlocks, snapshotNotFound}}
}
func (t *tx) Volumes() metadata.Volumes {
	return volumes{t, blockTable{t, t.q.volumeBlocks, volumeNotFound}}
}
func (t *tx) Chunks() metadata.Chunks { return chunks{t} }
func (t *tx) Nodes() metadata.Nodes   { return nodes{t} }
func (t *tx) Images() metadata.Images { return images{t} }

func (t *tx) Instances() metadata.Instances     { return instances{t} }
func (t *tx) Keys() metadata.Keys               { return kmsKeys{t} }
func (t *tx) Grants() metadata.Grants           { return kmsGrants{t} }
func (t *tx) Networks() metadata.Networks       { return networks{t} }
func (t *tx) Buckets() metadata.Buckets         { return buckets{t} }
func (t *tx) Objects() metadata.Objects         { return objects{t} }
func (t *tx) BundleTasks() metadata.BundleTasks { return bundleTasks{t} }

func (t *tx) Certificates() metadata.Certificates { return certificates{t} }
func (t *tx) Parameters() metadata.Parameters     { return parameters{t} }
func (t *tx) ImportTasks() metadata.ImportTasks   { return importTasks{t} }
func (t *tx) ExportTasks() metadata.ExportTasks   { return exportTasks{t} }
func (t *tx) Leases() metadata.Leases             { return leases{t} }
func (t *tx) Hosts() metadata.Hosts               { return hosts{t} }

var errTxDone = errors.New("transaction used after its function returned")

// note records err if it is retryable and returns it.
func (t *tx) note(err error) error {
	if t.lost == nil && t.d.retryable(err) {
		t.lost = err
	}
	return err
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	if t.done {
		return nil, errTxDone
	}
	r, err := t.tx.ExecContext(t.ctx, t.d.Rebind(query), args...)
	return r, t.note(err)
}

// execN runs a statement and returns the number of rows it affected.
func (t *tx) execN(query string, args ...any) (int64, error) {
	r, err := t.exec(query, args...)
	if err != nil {
		return 0, err
	}
	n, err := r.RowsAffected()
	return n, t.note(err)
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	if t.done {
		return nil, errTxDone
	}
	rows, err := t.tx.QueryContext(t.ctx, t.d.Rebind(query), args...)
	return rows, t.note(err)
}

// get runs a query expected to return at most one row and scans it into
// dest. It returns sql.ErrNoRows if there is none.
func (t *tx) get(query string, args []any, dest ...any) error {
	if t.done {
		return errTxDone
	}
	err := t.tx.QueryRowContext(t.ctx, t.d.Rebind(query), args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return t.note(err)
}

// each runs a query and calls scan for every row, stopping early when scan
// returns errStop.
func (t *tx) each(query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := t.query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			if err == errStop {
				return nil
			}
			return t.note(err)
		}
	}
	return t.note(rows.Err())
}

var errStop = errors.New("stop")
