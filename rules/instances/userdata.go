package instances

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
)

// User data is a secret at rest: people put passwords and tokens in it.
// The store holds it sealed under the master key, bound to its instance,
// like access-key secrets (docs/SECURITY.md); only the instance's metadata
// service and DescribeInstanceAttribute ever open it.

// userDataMagic starts sealed user data in an instance record. Records
// written before user data was sealed hold it in plain, without it; the
// server seals those when it starts (ResealUserData).
var userDataMagic = []byte("\x00openami-sealed-user-data\x00")

// userDataAAD binds sealed user data to its instance.
func userDataAAD(region, id string) []byte {
	return []byte("user-data\x00" + region + "\x00" + id)
}

// sealUserData returns the stored form of an instance's user data: nil
// for none.
func (s *Machines) sealUserData(region, id string, plain []byte) []byte {
	if len(plain) == 0 {
		return nil
	}
	return append(slices.Clip(userDataMagic), s.seal.Seal(plain, userDataAAD(region, id))...)
}

// openUserData returns an instance record's user data in plain. It fails
// when the record's user data was sealed under another master key or
// belongs to another instance.
func openUserData(k *seal.Key, i openami.Instance) ([]byte, error) {
	sealed, ok := bytes.CutPrefix(i.UserData, userDataMagic)
	if !ok {
		return i.UserData, nil // written before user data was sealed
	}
	plain, err := k.Open(sealed, userDataAAD(i.Region, i.ID))
	if err != nil {
		return nil, fmt.Errorf("user data of %s: %w", i.ID, err)
	}
	return plain, nil
}

// withUserData returns the instance with its user data in plain.
func (s *Machines) withUserData(i openami.Instance) (openami.Instance, error) {
	plain, err := openUserData(s.seal, i)
	i.UserData = plain
	return i, err
}

// resealBatch is how many instances one transaction of ResealUserData
// rewrites (access keys and KMS keys have their own re-seals, in
// rules/identity and rules/kms).
const resealBatch = 100

// ResealUserData seals every instance's user data, in the served
// regions, under the service's master key: plain user data left by an
// earlier version, and user data sealed under old (a master-key rotation;
// nil when there is none). User data already sealed under the service's
// key is left alone, so an interrupted run can be repeated. It returns how
// many instances it changed; each batch is one transaction, and the
// cursor moves only once a batch has committed.
func (s *Machines) ResealUserData(ctx context.Context, old *seal.Key) (int, error) {
	total := 0
	for _, r := range s.regions {
		after := ""
		for {
			var n, seen int
			var last string
			err := s.store.Update(ctx, func(tx metadata.Tx) error {
				n, seen, last = 0, 0, after
				list, err := tx.Instances().List(r.Name, metadata.InstanceQuery{After: after, Limit: resealBatch})
				if err != nil {
					return err
				}
				for _, i := range list {
					seen++
					last = i.ID
					if len(i.UserData) == 0 {
						continue
					}
					sealed := bytes.HasPrefix(i.UserData, userDataMagic)
					if sealed {
						if _, err := openUserData(s.seal, i); err == nil {
							continue
						}
						if old == nil {
							return fmt.Errorf("user data of %s is sealed under another master key", i.ID)
						}
					}
					key := old
					if key == nil {
						key = s.seal
					}
					plain, err := openUserData(key, i)
					if err != nil {
						return err
					}
					i.UserData = s.sealUserData(i.Region, i.ID, plain)
					if err := tx.Instances().Update(i); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil {
				return total, fmt.Errorf("reseal user data: %w", err)
			}
			total += n
			if seen < resealBatch {
				break
			}
			after = last
		}
	}
	return total, nil
}
