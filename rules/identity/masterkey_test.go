package identity

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata/sqlite"
)

// TestCheckMasterKey: a second server on the same store passes with the
// same master key and is refused with another, whose secrets it could
// not open; an empty store passes any key.
func TestCheckMasterKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := New(Config{Store: f.store, Seal: f.seal, Regions: f.regions}).CheckMasterKey(ctx); err != nil {
		t.Fatalf("same key: %v", err)
	}
	other, _ := seal.New(seal.Generate())
	if err := New(Config{Store: f.store, Seal: other, Regions: f.regions}).CheckMasterKey(ctx); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("another key: %v, want ErrWrongMasterKey", err)
	}

	empty, err := sqlite.Open(filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if err := New(Config{Store: empty, Seal: other, Regions: f.regions}).CheckMasterKey(ctx); err != nil {
		t.Fatalf("empty store: %v", err)
	}
}
