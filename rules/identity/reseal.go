package identity

import (
	"context"
	"fmt"

	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
)

// ResealAccessKeys re-seals the secret of every access key from the master
// key old to the one Accounts were built with, as rules/kms's
// Keys.ResealKeyMaterial does for KMS keys: secrets already under the new
// key are left alone, so an interrupted run can be repeated. It returns
// how many it re-sealed.
func (s *Accounts) ResealAccessKeys(ctx context.Context, old *seal.Key) (int, error) {
	var accounts []string
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		accounts, err = AccountIDs(tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reseal access keys: %w", err)
	}
	total := 0
	for _, acct := range accounts {
		var n int
		err := s.store.Update(ctx, func(tx metadata.Tx) error {
			n = 0
			keys, err := tx.Accounts().Keys(acct)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if _, err := s.seal.Open(k.SealedSecret, []byte(k.ID)); err == nil {
					continue
				}
				secret, err := old.Open(k.SealedSecret, []byte(k.ID))
				if err != nil {
					return fmt.Errorf("reseal access key %s: neither master key opens its secret: %w", k.ID, err)
				}
				k.SealedSecret = s.seal.Seal(secret, []byte(k.ID))
				clear(secret)
				// The store has no update of a key: replace it whole.
				if err := tx.Accounts().DeleteKey(k.ID); err != nil {
					return err
				}
				if err := tx.Accounts().CreateKey(k); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
	}
	// Read every secret back before the old key may go.
	for _, acct := range accounts {
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			keys, err := tx.Accounts().Keys(acct)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if _, err := s.seal.Open(k.SealedSecret, []byte(k.ID)); err != nil {
					return fmt.Errorf("access key %s does not open under the new master key: %w", k.ID, err)
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// ResealRegionKeys re-seals every region's EC2 private key from the
// master key old to the one Accounts were built with, as
// ResealAccessKeys does for access keys: a key already under the new
// master key is left alone, so an interrupted run can be repeated. It
// returns how many it re-sealed.
func (s *Accounts) ResealRegionKeys(ctx context.Context, old *seal.Key) (int, error) {
	var n int
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		n = 0
		keys, err := tx.Certificates().RegionKeys()
		if err != nil {
			return err
		}
		for _, k := range keys {
			ad := regionKeyAD(k.Region)
			if plain, err := s.seal.Open(k.SealedKey, ad); err == nil {
				clear(plain)
				continue
			}
			plain, err := old.Open(k.SealedKey, ad)
			if err != nil {
				return fmt.Errorf("reseal region %s's EC2 key: neither master key opens it", k.Region)
			}
			sealed := s.seal.Seal(plain, ad)
			clear(plain)
			if err := tx.Certificates().SetRegionKeySealed(k.Region, sealed); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reseal region keys: %w", err)
	}
	return n, nil
}
