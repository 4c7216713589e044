package sqldb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/sqlite"
)

// TestTxAfterReturn checks that a Tx kept past its function fails cleanly
// rather than touching a finished transaction.
func TestTxAfterReturn(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var kept metadata.Tx
	if err := s.Update(context.Background(), func(tx metadata.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := kept.Settings().Put("k", []byte("v")); err == nil {
		t.Error("Put on a finished transaction succeeded")
	}
	if _, err := kept.Accounts().List(); err == nil {
		t.Error("List on a finished transaction succeeded")
	}
}

// TestPanicRollsBack checks that a function that panics leaves no
// transaction open: the single write connection must be usable afterwards.
func TestPanicRollsBack(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	func() {
		defer func() { recover() }()
		s.Update(context.Background(), func(tx metadata.Tx) error {
			tx.Settings().Put("k", []byte("v"))
			panic("boom")
		})
	}()
	err = s.Update(context.Background(), func(tx metadata.Tx) error {
		_, err := tx.Settings().Get("k")
		if err == nil {
			return errors.New("write of a panicking function was kept")
		}
		return tx.Settings().Put("k2", []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
}
