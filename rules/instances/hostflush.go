package instances

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Flushes through another node (docs/HOSTS.md). A volume's device is
// open on the host of the instance it is attached to, which buffers the
// guest's writes until the guest, or the buffer, flushes them. A
// snapshot taken through another node (CreateSnapshot, CreateSnapshots,
// CreateImage with NoReboot) must first have the host flush them, as the
// instance's own node does with FlushDevices. The node asks through the
// store: it counts the request on the instance's record (FlushAsked),
// wakes the host, and waits until the host, its devices flushed, records
// the request carried out (Flushed). Crash-safe both ways: a request
// whose asker died is still answered (a harmless extra flush), and a
// host that dies before answering lost what it buffered, as a disk loses
// its cache: the asker stops waiting once the host's heartbeat has lapsed
// and the snapshot holds what the host had flushed.

// FlushWait bounds how long a snapshot waits for an instance's live host
// to carry out a flush it asked for; past it the snapshot fails
// (IncorrectState) rather than miss writes the host may hold.
var FlushWait = time.Minute

// flushPoll is how often a node asking a host to flush looks whether it
// has.
const flushPoll = 20 * time.Millisecond

// flushInstanceVolumes flushes the devices of the instance's volumes,
// wherever they are open: here with FlushDevices, and on the instance's
// host, when that is another node, by asking it (flushThroughHost).
func (s *Machines) flushInstanceVolumes(ctx context.Context, inst openami.Instance, volumes []string) error {
	if err := s.ebs.FlushDevices(ctx, volumes); err != nil {
		return err
	}
	return s.flushThroughHost(ctx, inst.Region, inst.ID)
}

// FlushVolumeHost has the host of the instance a volume is attached to
// flush the volume's device, when that host is another node (rules/ebs'
// CreateSnapshot asks it through its Config.FlushElsewhere). Nothing to
// do for a volume attached to no instance, or to one this node runs.
func (s *Machines) FlushVolumeHost(ctx context.Context, region, volumeID string) error {
	var instanceID string
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		v, err := s.ebs.Volume(tx, region, volumeID)
		instanceID = v.InstanceID
		return err
	})
	if err != nil || instanceID == "" {
		return err
	}
	return s.flushThroughHost(ctx, region, instanceID)
}

// flushThroughHost asks the host of a running instance, when that is not
// this node, to flush its volumes' devices, and waits until it has, the
// host is dead, or the instance no longer runs there (its devices were
// flushed and closed when it stopped).
func (s *Machines) flushThroughHost(ctx context.Context, region, instanceID string) error {
	var (
		asked int64
		host  string
	)
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		asked, host = 0, ""
		i, err := tx.Instances().Get(region, instanceID)
		if errors.Is(err, openami.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if i.State != openami.InstanceRunning || i.HostID == "" || s.runsHere(i) {
			return nil
		}
		i.FlushAsked++
		asked, host = i.FlushAsked, i.HostID
		return tx.Instances().Update(i)
	})
	if err != nil || asked == 0 {
		return err
	}
	s.wake(host)
	deadline := time.Now().Add(FlushWait)
	for {
		done, err := s.flushDone(ctx, region, instanceID, host, asked)
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return openami.Errorf(openami.IncorrectState, openami.ResourceInstance,
				"The host '%s' of the instance '%s' did not flush its volumes within %s; try again.", host, instanceID, FlushWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(flushPoll):
		}
	}
}

// flushDone reports whether the flush numbered asked of the instance on
// host is over: carried out, or no longer needed (the instance moved,
// stopped or is gone; the host is dead).
func (s *Machines) flushDone(ctx context.Context, region, instanceID, host string, asked int64) (bool, error) {
	var done bool
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		i, err := tx.Instances().Get(region, instanceID)
		if errors.Is(err, openami.ErrNotFound) {
			done = true
			return nil
		}
		if err != nil {
			return err
		}
		if i.Flushed >= asked || i.HostID != host || i.State != openami.InstanceRunning {
			done = true
			return nil
		}
		hosts, err := hostsIn(tx)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			if h.ID == host {
				done = !h.Alive(wallNow())
				return nil
			}
		}
		done = true // a host removed
		return nil
	})
	return done, err
}

// flushAsked flushes, in a job, the devices of a running instance's
// volumes that another node asked this host to flush, then records the
// request carried out (fenced: a host declared dead answers nothing).
func (s *Machines) flushAsked(ctx context.Context, i openami.Instance) {
	s.vmJobs.run(i.ID, func() {
		volumes := make([]string, len(i.BlockDevices))
		for k, b := range i.BlockDevices {
			volumes[k] = b.VolumeID
		}
		err := s.ebs.FlushDevices(ctx, volumes)
		if err == nil {
			err = s.store.Update(ctx, func(tx metadata.Tx) error {
				if err := s.checkFence(tx); err != nil {
					return err
				}
				cur, err := tx.Instances().Get(i.Region, i.ID)
				if errors.Is(err, openami.ErrNotFound) || err == nil && cur.Flushed >= i.FlushAsked {
					return nil
				}
				if err != nil {
					return err
				}
				cur.Flushed = i.FlushAsked
				return tx.Instances().Update(cur)
			})
		}
		if err != nil && ctx.Err() == nil {
			s.log().Error("flush asked through another node", "instance", i.ID, "error", fmt.Errorf("flush volumes: %w", err))
		}
	})
}
