package identity

import (
	"regexp"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// What the rest of openami asks of identity inside its own transactions:
// the key pair an instance names, whether the caller owns a key pair, and
// the accounts a re-seal walks. They take the caller's metadata.Tx so that
// the answer and the change it decides are one transaction.

// KeyPairNamed returns the key pair of the account in the region with the
// name. NotFound (about openami.ResourceKeyPair) if there is none.
func (s *Accounts) KeyPairNamed(tx metadata.Tx, region, accountID, name string) (openami.KeyPair, error) {
	keys, err := tx.KeyPairs().List(region, accountID)
	if err != nil {
		return openami.KeyPair{}, err
	}
	for _, k := range keys {
		if k.Name == name {
			return k, nil
		}
	}
	return openami.KeyPair{}, openami.Errorf(openami.NotFound, openami.ResourceKeyPair, "The key pair '%s' does not exist", name)
}

// CheckKeyPairOwned returns nil if the caller owns the key pair with the
// id in its region, and NotFound (about openami.ResourceKeyPair)
// otherwise.
func (s *Accounts) CheckKeyPairOwned(tx metadata.Tx, p openami.Principal, id string) error {
	all, err := tx.KeyPairs().List(p.Region, p.AccountID)
	if err != nil {
		return err
	}
	for _, k := range all {
		if k.ID == id {
			return nil
		}
	}
	return openami.Errorf(openami.NotFound, openami.ResourceKeyPair, "The key pair ID '%s' does not exist", id)
}

// AccountIDs returns the ids of every account, ordered by id, read in tx.
// The re-seals of a master-key rotation (ResealAccessKeys here, and
// rules/kms's ResealKeyMaterial) walk them.
func AccountIDs(tx metadata.Tx) ([]string, error) {
	list, err := tx.Accounts().List()
	ids := make([]string, 0, len(list))
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	return ids, err
}

var (
	orgArn = regexp.MustCompile(`^arn:aws:organizations::[0-9]{12}:organization/o-[a-z0-9]{10,32}$`)
	ouArn  = regexp.MustCompile(`^arn:aws:organizations::[0-9]{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`)
)

// IsOrganizationArn reports whether s has the form of an organization's
// ARN, arn:aws:organizations::ACCOUNT:organization/o-….
func IsOrganizationArn(s string) bool { return orgArn.MatchString(s) }

// IsOUArn reports whether s has the form of an organizational unit's ARN,
// arn:aws:organizations::ACCOUNT:ou/o-…/ou-….
func IsOUArn(s string) bool { return ouArn.MatchString(s) }
