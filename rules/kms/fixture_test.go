package kms

import (
	"context"
	"errors"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/rulestest"
)

// fixture is Keys over a SQLite store in a temp dir, serving us-east-1
// and us-west-2, with an account whose principal in us-east-1 is p.
type fixture struct {
	keys  *Keys
	store metadata.Store // unwrapped
	clock *rulestest.Clock
	p     openami.Principal
}

func newFixture(t *testing.T, clock *rulestest.Clock) *fixture {
	t.Helper()
	return newFixtureWith(t, clock, nil)
}

// newFixtureWith is newFixture with the store Keys use wrapped by wrap
// (when not nil); f.store stays the unwrapped one.
func newFixtureWith(t *testing.T, clock *rulestest.Clock, wrap func(metadata.Store) metadata.Store) *fixture {
	t.Helper()
	env := rulestest.Open(t, "", clock)
	store, key, regions, clock := env.Store, env.Seal, env.Regions, env.Clock
	keysStore := metadata.Store(store)
	if wrap != nil {
		keysStore = wrap(store)
	}
	f := &fixture{store: store, clock: clock,
		keys: New(Config{Store: keysStore, Seal: key, Regions: regions, Clock: clock.Now, Tokens: env.Tokens})}
	f.p = f.newAccount(t, "test")
	return f
}

// newAccount records an account and returns its principal in us-east-1.
func (f *fixture) newAccount(t *testing.T, name string) openami.Principal {
	t.Helper()
	a := openami.Account{ID: ids.NewAccountID(), Name: name, Status: openami.AccountActive, CreatedAt: f.clock.Now().UTC()}
	if err := f.store.Update(context.Background(), func(tx metadata.Tx) error { return tx.Accounts().Create(a) }); err != nil {
		t.Fatal(err)
	}
	return openami.Principal{AccountID: a.ID, Region: "us-east-1"}
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
