package instances

import (
	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// This file is what the service uses of instances beyond the actions the
// APIs call and the worker's (AdvanceInstances, ResealUserData, Wait,
// where they are written): its tags ask, in their own transaction,
// whether the caller owns an instance, so that the rules of instances are
// decided in one place.

// OwnedInstance returns the caller's instance of its region; Malformed
// for a bad id, NotFound for anyone else's.
func (s *Machines) OwnedInstance(tx metadata.Tx, p openami.Principal, id string) (openami.Instance, error) {
	return ownedInstance(tx, p, id)
}
