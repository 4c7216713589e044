package instances

import (
	"errors"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/lease"
)

// This file is what the service uses of instances beyond the actions the
// APIs call and the worker's (AdvanceInstances, ResealUserData, Wait,
// where they are written): its tags ask, in their own transaction,
// whether the caller owns an instance, and EBS asks whether the instance
// a volume is attached to may run (ebs.Config.InstanceMayRun), so that
// the rules of instances are decided in one place.

// OwnedInstance returns the caller's instance of its region; Malformed
// for a bad id, NotFound for anyone else's.
func (s *Machines) OwnedInstance(tx metadata.Tx, p openami.Principal, id string) (openami.Instance, error) {
	return ownedInstance(tx, p, id)
}

// MayRun reports in tx whether the instance of the region exists, is
// pending, running or stopping, and is placed on this node (on its host,
// or, on a node that is no host, on none), so that its VM may run here
// and use its volumes (rules/ebs's volume devices ask, through
// ebs.Config.InstanceMayRun, when they open and in every flush); false,
// with no error, for one that does not exist. On a host that another node
// declared dead it fails (fenced, not false: the device stays, and its
// writes flush once the host has registered again, if the instance is
// still its own), so that a returning host never writes into a volume
// its instance took elsewhere.
func (s *Machines) MayRun(tx metadata.Tx, region, id string) (bool, error) {
	i, err := tx.Instances().Get(region, id)
	if errors.Is(err, openami.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch i.State {
	case openami.InstancePending, openami.InstanceRunning, openami.InstanceStopping:
	default:
		return false, nil
	}
	me := s.hosts.self.Load()
	if me == nil {
		return i.HostID == "", nil
	}
	if i.HostID != me.id {
		return false, nil
	}
	// Read, not locked (devices open in read-only transactions): the
	// tenure is this node's unless another node broke the lease; one that
	// breaks it concurrently conflicts with a flush's transaction.
	l, err := lease.GetIn(tx, hostLease(me.id))
	if err != nil && !errors.Is(err, openami.ErrNotFound) {
		return false, err
	}
	if err != nil || l.Holder != me.lease.Holder || l.Epoch != me.lease.Epoch {
		return false, errFenced(me.id)
	}
	return true, nil
}

// LiveInstances returns the account's instances in the region that are
// not terminated, in id order: what rules/network asks for
// (network.Config.Instances) to count a subnet's addresses, to refuse
// deleting what instances use, and to resolve a group's members.
func (s *Machines) LiveInstances(tx metadata.Tx, region, accountID string) ([]openami.Instance, error) {
	var out []openami.Instance
	after := ""
	for {
		page, err := tx.Instances().List(region, metadata.InstanceQuery{AccountID: accountID, After: after, Limit: 1000,
			States: []openami.InstanceState{openami.InstancePending, openami.InstanceRunning, openami.InstanceStopping,
				openami.InstanceStopped, openami.InstanceShuttingDown}})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}
