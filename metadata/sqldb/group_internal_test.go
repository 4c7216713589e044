package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"modernc.org/sqlite"

	"github.com/openami/openami/metadata"
)

// TestGroupVoided checks the fallback of group commit: a function that
// ends the shared transaction under the others (as SQLite does itself on
// an interrupt or an I/O error) makes the group run again, each function
// in a transaction of its own, so that every other call still commits
// exactly once and the voiding call fails.
func TestGroupVoided(t *testing.T) {
	c, err := sqlite.NewConnector(filepath.Join(t.TempDir(), "m.db") + "?_txlock=immediate&_journal_mode=WAL&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	d := Dialect{Name: "sqlite", Text: "TEXT", Blob: "BLOB", ReadTx: sql.TxOptions{ReadOnly: true},
		IsUniqueViolation: func(error) bool { return false }, GroupCommit: true}
	s, err := New(context.Background(), d, db, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx metadata.Tx) error { return tx.Settings().Put("counter", []byte("0")) }); err != nil {
		t.Fatal(err)
	}
	const n, voider = 100, 37
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(ctx, func(t metadata.Tx) error {
				v, err := t.Settings().Get("counter")
				if err != nil {
					return err
				}
				var c int
				fmt.Sscan(string(v), &c)
				if err := t.Settings().Put("counter", []byte(fmt.Sprint(c+1))); err != nil {
					return err
				}
				if err := t.Settings().Put(fmt.Sprintf("k%03d", i), []byte("v")); err != nil {
					return err
				}
				if i == voider {
					_, err := t.(*tx).exec("ROLLBACK")
					return err
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == voider) {
			t.Errorf("call %d: err %v", i, err)
		}
	}
	err = s.View(ctx, func(tx metadata.Tx) error {
		v, err := tx.Settings().Get("counter")
		if err != nil {
			return err
		}
		if string(v) != fmt.Sprint(n-1) {
			t.Errorf("counter = %s, want %d", v, n-1)
		}
		for i := range n {
			_, err := tx.Settings().Get(fmt.Sprintf("k%03d", i))
			if kept := err == nil; kept != (i != voider) {
				t.Errorf("write of call %d kept = %v", i, kept)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
