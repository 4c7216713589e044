package postgres

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/sqldb"
	"github.com/openami/openami/metadata/sqldb/sqldbtest"
	"github.com/openami/openami/metadata/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func open(t *testing.T, dsn string) *sqldb.Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return stdlib.OpenDB(*cfg)
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) metadata.Store {
		return open(t, testenv.Postgres(t))
	})
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	sqldbtest.RunMigrations(t, dialect, func(t *testing.T) *sql.DB {
		return rawDB(t, testenv.Postgres(t))
	})
}

func TestOpenNewerSchema(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	open(t, dsn).Close()
	db := rawDB(t, dsn)
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 0)`,
		len(sqldb.Migrations())+1); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(context.Background(), dsn); !errors.Is(err, sqldb.ErrNewerSchema) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a newer database: %v, want ErrNewerSchema", err)
	}
}

// OpenExisting refuses a database openami never served, creating nothing
// in it, and opens one that Open has migrated.
func TestOpenExisting(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	if s, err := OpenExisting(context.Background(), dsn); !errors.Is(err, ErrNoInstallation) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("OpenExisting of an empty database: %v, want ErrNoInstallation", err)
	}
	db := rawDB(t, dsn)
	defer db.Close()
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("OpenExisting left %d tables (%v)", tables, err)
	}
	open(t, dsn).Close()
	s, err := OpenExisting(context.Background(), dsn)
	if err != nil {
		t.Fatalf("OpenExisting of an installed database: %v", err)
	}
	s.Close()
}

// TestOpenConcurrently opens several stores on a new database at once, as
// servers starting together do: the migration lock must make all but one
// wait rather than fail on each other's DDL.
func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := Open(context.Background(), dsn)
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
}

// TestWriteSkew checks that Update is serializable, not merely snapshot
// isolated: two transactions that each read a condition the other's write
// breaks ("no key pair named x in either region yet") must not both commit.
// Under REPEATABLE READ both would.
func TestWriteSkew(t *testing.T) {
	t.Parallel()
	s := open(t, testenv.Postgres(t))
	defer s.Close()
	ready := make(chan struct{})
	var readyOnce sync.Once
	var wg sync.WaitGroup
	created := make(chan string, 2)
	for _, region := range []string{"r1", "r2"} {
		wg.Go(func() {
			err := s.Update(context.Background(), func(tx metadata.Tx) error {
				total := 0
				for _, r := range []string{"r1", "r2"} {
					list, err := tx.KeyPairs().List(r, "111111111111")
					if err != nil {
						return err
					}
					total += len(list)
				}
				if total > 0 {
					return nil
				}
				// Let both transactions read before either writes.
				readyOnce.Do(func() { close(ready) })
				<-ready
				created <- region
				return tx.KeyPairs().Create(openami.KeyPair{
					ID: "key-" + region, Region: region, AccountID: "111111111111", Name: "x", Type: openami.KeyTypeRSA,
				})
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := 0
	err := s.View(context.Background(), func(tx metadata.Tx) error {
		for _, r := range []string{"r1", "r2"} {
			list, err := tx.KeyPairs().List(r, "111111111111")
			if err != nil {
				return err
			}
			n += len(list)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d key pairs committed, want 1", n)
	}
}

// TestRetriesAreBounded checks that Update gives up on a function that
// keeps losing serialization races, rather than looping forever.
func TestRetriesAreBounded(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	s := open(t, dsn)
	defer s.Close()
	other := open(t, dsn)
	defer other.Close()
	put := func(tx metadata.Tx, v int) error { return tx.Settings().Put("k", []byte(strconv.Itoa(v))) }
	if err := s.Update(context.Background(), func(tx metadata.Tx) error { return put(tx, 0) }); err != nil {
		t.Fatal(err)
	}
	runs := 0
	err := s.Update(context.Background(), func(tx metadata.Tx) error {
		runs++
		if _, err := tx.Settings().Get("k"); err != nil {
			return err
		}
		// Another store changes the row this transaction has read, every
		// time: its write must fail with a serialization error.
		if err := other.Update(context.Background(), func(tx metadata.Tx) error { return put(tx, runs) }); err != nil {
			return err
		}
		return put(tx, -1)
	})
	if err == nil {
		t.Fatal("Update that always conflicts succeeded")
	}
	if !dialect.IsRetryable(err) {
		t.Errorf("Update's error %v does not carry the serialization failure", err)
	}
	if runs != dialect.MaxAttempts {
		t.Errorf("function ran %d times, want %d", runs, dialect.MaxAttempts)
	}
}
