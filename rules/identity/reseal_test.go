package identity

import (
	"bytes"
	"context"
	"testing"

	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
)

// TestResealAccessKeysRetried re-seals through a store that runs every
// transaction twice (as PostgreSQL does after a conflict): access keys
// must come out under the new master key, and still authenticate.
// (rules/kms's TestKMSResealRetriedAndUnserved does the same for KMS
// keys.)
func TestResealAccessKeysRetried(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	old := f.seal
	next, _ := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	// Accounts under the new master key, over a store that retries.
	accounts := New(Config{Store: retryStore{f.store}, Seal: next, Regions: f.regions})
	if _, err := accounts.ResealAccessKeys(ctx, old); err != nil {
		t.Fatal(err)
	}
	var keyID string
	f.store.View(ctx, func(tx metadata.Tx) error {
		keys, err := tx.Accounts().Keys(f.p.AccountID)
		if len(keys) > 0 {
			keyID = keys[0].ID
		}
		return err
	})
	if _, _, err := accounts.Authenticate(ctx, keyID); err != nil {
		t.Fatalf("an access key after re-sealing: %v", err)
	}
}
