package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// ErrWrongMasterKey is the error of CheckMasterKey: the master key given
// does not open the secrets the database holds.
var ErrWrongMasterKey = errors.New("the master key does not open the secrets in this database: every server and command on one database needs the same key (OPENAMI_MASTER_KEY, or a copy of the first server's DATA_DIR/master.key; docs/SCALING.md)")

// CheckMasterKey reports whether the master key this Accounts was built
// with opens the secrets already sealed in the store, by opening one
// access key's secret (the administrator's, since it is listed first,
// else the first account's that has a key). A store without any access
// key passes. It fails with ErrWrongMasterKey when the key does not open
// the secret.
//
// Several servers share one PostgreSQL database; a server started with a
// master key of its own (a fresh DATA_DIR makes one) would otherwise
// serve, and answer every signed request with an internal error, since
// no access key's secret opens under its key. serve calls this at start
// and refuses to run instead.
func (s *Accounts) CheckMasterKey(ctx context.Context) error {
	accts, err := s.ListAccounts(ctx)
	if err != nil {
		return err
	}
	// The administrator first: it nearly always has a key.
	for i, a := range accts {
		if a.Admin {
			accts[0], accts[i] = accts[i], accts[0]
			break
		}
	}
	for _, a := range accts {
		var keys []openami.AccessKey
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			keys, err = tx.Accounts().Keys(a.ID)
			return err
		})
		if err != nil {
			return fmt.Errorf("check the master key: %w", err)
		}
		if len(keys) == 0 {
			continue
		}
		if _, err := s.seal.Open(keys[0].SealedSecret, []byte(keys[0].ID)); err != nil {
			return ErrWrongMasterKey
		}
		return nil
	}
	return nil
}
