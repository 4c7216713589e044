package instances

import (
	"context"
	"errors"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/lease"
)

// A host's death (docs/HOSTS.md). A host whose heartbeat lapsed is dead:
// its running instances' status checks fail, and every node's worker
// carries out, without the host, what its instances need:
//
//   - a stopping instance (EBS-backed: its acknowledged writes are in the
//     shared stores) becomes stopped, placed on no host; StartInstances
//     places it again, on another host if its own is still dead;
//   - a shutting-down instance becomes terminated;
//   - a running instance store-backed instance is terminated, as on EC2
//     after a host failure: its root and instance stores were on the
//     host (Auto Scaling replaces it);
//   - a pending instance is placed again, on a live host with room
//     (left pending until one has).
//
// The first such change also declares the host dead, in the same
// transaction, if the database says its lease has expired: the lease is
// broken (lease.BreakIn: its epoch increases and it is free; the host
// reads as Lost), so that nothing the host commits under its old epoch
// goes through (checkFence)
// and, when it comes back, its heartbeat fails and it registers again,
// killing the VMs of the instances that moved (killForeignVMs). A running
// EBS-backed instance stays where it is, impaired, until its owner stops
// it or the host comes back.

// hostDeathStates are the states of a dead host's instances that need a
// node to act.
var hostDeathStates = []openami.InstanceState{openami.InstancePending, openami.InstanceRunning,
	openami.InstanceStopping, openami.InstanceShuttingDown}

// TakeOverDeadHosts carries out the transitions of the instances of every
// dead host (see above). Every node's worker runs it on each pass; its
// transactions re-read the host and the instance, so two nodes at once
// do each change once.
func (s *Machines) TakeOverDeadHosts(ctx context.Context) error {
	hosts, err := s.Hosts(ctx)
	if err != nil || len(hosts) == 0 {
		return err
	}
	now := wallNow()
	dead := map[string]bool{}
	for _, h := range hosts {
		if !h.Alive(now) {
			dead[h.ID] = true
		}
	}
	if len(dead) == 0 {
		return nil
	}
	for _, r := range s.regions {
		var list []openami.Instance
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			list, err = tx.Instances().List(r.Name, metadata.InstanceQuery{States: hostDeathStates})
			return err
		})
		if err != nil {
			return err
		}
		for _, i := range list {
			if !dead[i.HostID] || i.State == openami.InstanceRunning && i.RootDeviceType == "ebs" {
				continue
			}
			moved := false
			if err := s.store.Update(ctx, func(tx metadata.Tx) error {
				var err error
				moved, err = s.takeOver(tx, i.Region, i.ID, i.HostID)
				return err
			}); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log().Error("dead host's instance", "instance", i.ID, "host", i.HostID, "error", err)
				continue
			}
			if moved {
				s.log().Warn("took over an instance of a dead host", "instance", i.ID, "host", i.HostID, "state", i.State)
				s.kick()
			}
		}
	}
	return nil
}

// takeOver carries out, in the caller's transaction, the transition of one
// instance of a dead host, and reports whether it changed anything: the
// host and the instance are read again, and nothing is done if the host
// came back or the instance moved on meanwhile.
func (s *Machines) takeOver(tx metadata.Tx, region, id, hostID string) (bool, error) {
	now := s.now()
	l, err := lease.GetIn(tx, hostLease(hostID))
	if err != nil && !errors.Is(err, openami.ErrNotFound) {
		return false, err
	}
	// Still held by the database's clock: alive after all. (Broken
	// already, its holder is "": declared dead before.)
	breakIt := err == nil && l.Holder != ""
	if breakIt {
		if held, err := lease.HeldIn(tx, l); err != nil || held {
			return false, err
		}
	}
	cur, err := tx.Instances().Get(region, id)
	if errors.Is(err, openami.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cur.HostID != hostID {
		return false, nil
	}
	at := now.UTC().Truncate(time.Millisecond)
	switch {
	case cur.State == openami.InstanceStopping:
		cur.State, cur.ForceStop, cur.PublicIP, cur.HostID = openami.InstanceStopped, false, "", ""
	case cur.State == openami.InstanceShuttingDown:
		if err := s.terminated(tx, &cur, at); err != nil {
			return false, err
		}
	case cur.State == openami.InstanceRunning && cur.RootDeviceType != "ebs":
		cur.StateReason = openami.StateReason{Cause: openami.CauseHostFailed,
			Message: "The instance's host failed; its instance-store root was lost with it"}
		cur.StateTransition = openami.StateTransition{Cause: openami.CauseHostFailed, At: at}
		if err := s.terminated(tx, &cur, at); err != nil {
			return false, err
		}
	case cur.State == openami.InstancePending:
		it, _ := LookupInstanceType(cur.InstanceType)
		hosts, err := s.place(tx, cur.AvailabilityZone, it, 0, 1)
		if err != nil {
			return false, err
		}
		if len(hosts) == 0 || hosts[0] == "" {
			return false, nil // no room yet: a later pass tries again
		}
		cur.HostID = hosts[0]
	default:
		return false, nil
	}
	if breakIt {
		// Declared dead: the host's lease is broken, so that its old
		// tenure commits nothing more and its heartbeat fails.
		if _, err := lease.BreakIn(tx, hostLease(hostID), "takeover"); err != nil {
			return false, err
		}
	}
	return true, tx.Instances().Update(cur)
}

// deadHosts returns, in the caller's transaction, the hosts whose
// heartbeat lapsed, by id.
func (s *Machines) deadHosts(tx metadata.Tx) (map[string]openami.Host, error) {
	hosts, err := hostsIn(tx)
	if err != nil {
		return nil, err
	}
	now := wallNow()
	dead := map[string]openami.Host{}
	for _, h := range hosts {
		if !h.Alive(now) {
			dead[h.ID] = h
		}
	}
	return dead, nil
}
