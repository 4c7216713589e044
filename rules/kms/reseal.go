package kms

import (
	"context"
	"fmt"

	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/identity"
)

// resealBatch is how many keys one transaction of ResealKeyMaterial
// rewrites.
const resealBatch = 100

// ResealKeyMaterial re-seals the material of every KMS key, in every
// account and every region that holds keys (served or not), from the
// master key old to the service's own master key: the step of a
// master-key rotation that keeps KMS keys, and so the data encrypted under
// them, usable (docs/KMS.md). Keys already sealed under the service's key
// are left alone, so an interrupted run can simply be repeated. It returns
// how many keys it re-sealed, and fails on the first key that neither
// master key opens. Each batch is one transaction, which the store may
// run again: the cursor moves only once a batch has committed.
func (s *Keys) ResealKeyMaterial(ctx context.Context, old *seal.Key) (int, error) {
	var accounts, regions []string
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if accounts, err = identity.AccountIDs(tx); err != nil {
			return err
		}
		regions, err = tx.Keys().Regions()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("kms: reseal: %w", err)
	}
	total := 0
	for _, acct := range accounts {
		for _, region := range regions {
			after := ""
			for {
				var n, seen int
				var last string
				err := s.store.Update(ctx, func(tx metadata.Tx) error {
					n, seen, last = 0, 0, after
					keys, err := tx.Keys().List(region, acct, after, resealBatch)
					if err != nil {
						return err
					}
					for _, k := range keys {
						seen++
						last = k.ID
						if _, err := openKeyMaterial(s.seal, k); err == nil {
							continue
						}
						material, err := openKeyMaterial(old, k)
						if err != nil {
							return fmt.Errorf("kms: reseal key %s: neither master key opens its material: %w", k.ID, err)
						}
						sealed := s.seal.Seal(material, materialAAD(k.Region, k.AccountID, k.ID))
						clear(material)
						if err := tx.Keys().Reseal(k.Region, k.ID, sealed); err != nil {
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
				after = last
				if seen < resealBatch {
					break
				}
			}
		}
	}
	return total, s.checkSealed(ctx, accounts, regions)
}

// checkSealed reads every KMS key back and fails unless each opens under
// the service's master key: the last step before a rotation throws the
// old key away.
func (s *Keys) checkSealed(ctx context.Context, accounts, regions []string) error {
	for _, acct := range accounts {
		for _, region := range regions {
			err := s.store.View(ctx, func(tx metadata.Tx) error {
				keys, err := tx.Keys().List(region, acct, "", 0)
				if err != nil {
					return err
				}
				for _, k := range keys {
					m, err := openKeyMaterial(s.seal, k)
					if err != nil {
						return fmt.Errorf("kms: key %s does not open under the new master key: %w", k.ID, err)
					}
					clear(m)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}
