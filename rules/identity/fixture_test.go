package identity

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/sqlite"
)

// fixture is Accounts over a SQLite store in a temp dir, serving
// us-east-1 and us-west-2, with an account whose principal in us-east-1
// is p.
type fixture struct {
	accounts *Accounts
	store    metadata.Store // unwrapped
	seal     *seal.Key
	regions  []openami.Region
	p        openami.Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key, _ := seal.New(make([]byte, seal.KeySize))
	regions, err := ParseRegions([]string{"us-east-1", "us-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, seal: key, regions: regions,
		accounts: New(Config{Store: store, Seal: key, Regions: regions})}
	a, _, err := f.accounts.CreateAccount(context.Background(), "test", false)
	if err != nil {
		t.Fatal(err)
	}
	f.p = openami.Principal{AccountID: a.ID, Region: "us-east-1"}
	return f
}

// retryStore runs every write transaction twice, failing the first run
// after fn succeeded, as PostgreSQL does after a serialization conflict.
type retryStore struct{ metadata.Store }

var errConflict = errors.New("simulated serialization conflict")

func (r retryStore) Update(ctx context.Context, fn func(metadata.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := r.Store.Update(ctx, func(tx metadata.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			if attempt == 0 {
				return errConflict
			}
			return nil
		})
		if !errors.Is(err, errConflict) {
			return err
		}
	}
}
