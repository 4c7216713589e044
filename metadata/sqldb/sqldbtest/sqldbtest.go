// Package sqldbtest tests sqldb's schema migrations against a real
// database: every back end built on sqldb runs RunMigrations with its
// dialect, so each numbered migration is checked on every database.
package sqldbtest

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/openami/openami/metadata/sqldb"
)

// checks holds, for each migration version, a test of what that migration
// introduced, run on a database migrated up to exactly that version. A new
// migration must come with its check; TestMigrations fails otherwise.
var checks = map[int]func(t *testing.T, db *sql.DB, d *sqldb.Dialect){
	1: check1,
}

// RunMigrations tests the migrations with dialect d on databases made by
// open, one new, empty database per subtest. The database must enforce
// foreign keys. RunMigrations closes each database when its subtest ends.
func RunMigrations(t *testing.T, d sqldb.Dialect, open func(t *testing.T) *sql.DB) {
	ctx := context.Background()
	ms := sqldb.Migrations()
	fresh := func(t *testing.T) *sql.DB {
		db := open(t)
		t.Cleanup(func() { db.Close() })
		return db
	}

	t.Run("Numbering", func(t *testing.T) {
		var names []string
		for i, m := range ms {
			if m.Version != i+1 {
				t.Errorf("migration %d has version %d", i+1, m.Version)
			}
			if m.Name == "" || slices.Contains(names, m.Name) {
				t.Errorf("migration %d: name %q is empty or repeated", m.Version, m.Name)
			}
			names = append(names, m.Name)
			if checks[m.Version] == nil {
				t.Errorf("migration %d (%s) has no check in sqldbtest", m.Version, m.Name)
			}
		}
	})

	for _, m := range ms {
		check := checks[m.Version]
		if check == nil {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			db := fresh(t)
			if err := sqldb.Migrate(ctx, db, &d, m.Version); err != nil {
				t.Fatalf("Migrate to %d: %v", m.Version, err)
			}
			wantVersion(t, db, &d, m.Version)
			check(t, db, &d)
		})
	}

	t.Run("Idempotent", func(t *testing.T) {
		db := fresh(t)
		wantVersion(t, db, &d, 0)
		for range 2 {
			if err := sqldb.Migrate(ctx, db, &d, len(ms)); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			wantVersion(t, db, &d, len(ms))
		}
		// Asking for an older version than the database has is not a
		// downgrade: nothing happens.
		if err := sqldb.Migrate(ctx, db, &d, 0); err != nil {
			t.Fatalf("Migrate to 0: %v", err)
		}
		wantVersion(t, db, &d, len(ms))
		for _, target := range []int{-1, len(ms) + 1} {
			if err := sqldb.Migrate(ctx, db, &d, target); err == nil {
				t.Errorf("Migrate to unknown version %d succeeded", target)
			}
		}
	})

	t.Run("NewerSchema", func(t *testing.T) {
		db := fresh(t)
		if err := sqldb.Migrate(ctx, db, &d, len(ms)); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		mustExec(t, db, &d, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, len(ms)+1, "from the future", 0)
		err := sqldb.Migrate(ctx, db, &d, len(ms))
		if !errors.Is(err, sqldb.ErrNewerSchema) {
			t.Errorf("Migrate of a newer database: %v, want ErrNewerSchema", err)
		}
		if _, err := sqldb.New(ctx, d, db, db); !errors.Is(err, sqldb.ErrNewerSchema) {
			t.Errorf("New on a newer database: %v, want ErrNewerSchema", err)
		}
		wantVersion(t, db, &d, len(ms)+1)
	})
}

func wantVersion(t *testing.T, db *sql.DB, d *sqldb.Dialect, want int) {
	t.Helper()
	v, err := sqldb.SchemaVersion(context.Background(), db, d)
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if v != want {
		t.Fatalf("schema version %d, want %d", v, want)
	}
}

func mustExec(t *testing.T, db *sql.DB, d *sqldb.Dialect, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(d.Rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// mustFail runs a statement that a constraint must refuse; unique says the
// constraint is a unique one, which the dialect must recognise.
func mustFail(t *testing.T, db *sql.DB, d *sqldb.Dialect, unique bool, query string, args ...any) {
	t.Helper()
	_, err := db.Exec(d.Rebind(query), args...)
	if err == nil {
		t.Fatalf("%s %v: succeeded, want a constraint violation", query, args)
	}
	if got := d.IsUniqueViolation(err); got != unique {
		t.Fatalf("%s %v: %v: IsUniqueViolation = %v, want %v", query, args, err, got, unique)
	}
}

// check1 tests the initial schema: accounts, access keys, key pairs, tags
// and settings, with their keys and constraints.
func check1(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const (
		acc  = `INSERT INTO accounts (id, name, status, admin, created_at) VALUES (?, ?, ?, ?, ?)`
		key  = `INSERT INTO access_keys (id, account_id, sealed_secret, created_at) VALUES (?, ?, ?, ?)`
		kp   = `INSERT INTO key_pairs (region, account_id, id, name, type, fingerprint, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
		tag  = `INSERT INTO tags (region, account_id, resource_id, resource_type, key, value) VALUES (?, ?, ?, ?, ?, ?)`
		sett = `INSERT INTO settings (key, value) VALUES (?, ?)`
	)
	mustExec(t, db, d, acc, "111111111111", "alice", "active", true, int64(1)<<62)
	mustFail(t, db, d, true, acc, "111111111111", "bob", "active", false, 0)
	mustFail(t, db, d, true, acc, "222222222222", "alice", "active", false, 0)
	mustFail(t, db, d, false, acc, "222222222222", nil, "active", false, 0)

	mustExec(t, db, d, key, "AKIA1", "111111111111", []byte{0, 0xff}, 0)
	mustFail(t, db, d, true, key, "AKIA1", "111111111111", []byte{1}, 0)
	mustFail(t, db, d, false, key, "AKIA2", "999999999999", []byte{1}, 0) // no such account
	mustFail(t, db, d, false, `DELETE FROM accounts WHERE id = ?`, "111111111111")

	mustExec(t, db, d, kp, "r1", "111111111111", "key-1", "k", "rsa", "f", "p", 0)
	mustExec(t, db, d, kp, "r2", "111111111111", "key-2", "k", "rsa", "f", "p", 0)
	mustExec(t, db, d, kp, "r1", "222222222222", "key-3", "k", "rsa", "f", "p", 0)
	mustFail(t, db, d, true, kp, "r1", "111111111111", "key-4", "k", "rsa", "f", "p", 0) // name taken
	mustFail(t, db, d, true, kp, "r3", "333333333333", "key-1", "x", "rsa", "f", "p", 0) // id taken

	mustExec(t, db, d, tag, "r1", "111111111111", "ami-1", "image", "a", "1")
	mustExec(t, db, d, tag, "r1", "111111111111", "ami-1", "image", "B", "1")
	mustExec(t, db, d, tag, "r1", "111111111111", "ami-2", "image", "a", "1")
	mustExec(t, db, d, tag, "r2", "111111111111", "ami-1", "image", "a", "1")
	mustFail(t, db, d, true, tag, "r1", "111111111111", "ami-1", "snapshot", "a", "2")

	// Text sorts bytewise, whatever the database's locale.
	rows, err := db.Query(d.Rebind(`SELECT key FROM tags WHERE region = ? AND resource_id = ? ORDER BY key`), "r1", "ami-1")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if !slices.Equal(keys, []string{"B", "a"}) {
		t.Errorf("keys sort as %q, want bytewise [B a]", keys)
	}

	mustExec(t, db, d, sett, "s", []byte{0, 1})
	mustFail(t, db, d, true, sett, "s", []byte{2})
	var v []byte
	if err := db.QueryRow(d.Rebind(`SELECT value FROM settings WHERE key = ?`), "s").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v, []byte{0, 1}) {
		t.Errorf("setting value %v, want [0 1]", v)
	}
	// BIGINT holds Unix nanoseconds.
	var at int64
	if err := db.QueryRow(d.Rebind(`SELECT created_at FROM accounts WHERE id = ?`), "111111111111").Scan(&at); err != nil {
		t.Fatal(err)
	}
	if at != int64(1)<<62 {
		t.Errorf("created_at %d, want %d", at, int64(1)<<62)
	}
}
