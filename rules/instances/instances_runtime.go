package instances

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// vmJobs runs the worker's runtime calls (a VM's start, stop, termination,
// and the shutdown around a CreateImage) off the worker's pass, at most
// one at a time per instance, so that a VM that is slow to stop holds up
// neither the other instances nor snapshot completion.
type vmJobs struct {
	mu   sync.Mutex
	busy map[string]bool // instance ids with a job running
	wg   sync.WaitGroup
}

// run starts fn for the instance unless a job for it is already running,
// and reports whether it did.
func (j *vmJobs) run(instanceID string, fn func()) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.busy[instanceID] {
		return false
	}
	if j.busy == nil {
		j.busy = map[string]bool{}
	}
	j.busy[instanceID] = true
	j.wg.Add(1)
	go func() {
		defer func() {
			j.mu.Lock()
			delete(j.busy, instanceID)
			j.mu.Unlock()
			j.wg.Done()
		}()
		fn()
	}()
	return true
}

// isBusy reports whether a job for the instance is running.
func (j *vmJobs) isBusy(instanceID string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.busy[instanceID]
}

// wait waits for every job running.
func (j *vmJobs) wait() { j.wg.Wait() }

// Wait waits for every runtime job running: the service's Close waits
// for them once its worker has stopped, and a pass's effect is whole
// once they are done.
func (s *Machines) Wait() { s.vmJobs.wait() }

// dispatchAdvance carries out a pending, stopping or shutting-down
// instance's transition in a job; when it has moved the instance on, the
// worker is kicked to look at the new state. A failure is logged and left
// for a later pass.
func (s *Machines) dispatchAdvance(ctx context.Context, i openami.Instance) {
	s.vmJobs.run(i.ID, func() {
		if err := s.advance(ctx, i); err != nil {
			if ctx.Err() == nil {
				s.log().Error("instance transition", "instance", i.ID, "state", i.State, "error", err)
			}
			return
		}
		s.kick()
	})
}

// watch checks a running instance's VM with a Watcher runtime: one the
// runtime has no VM for (openami restarted, and its VMs with it) is booted
// again, in a job; one whose guest powered itself off goes stopping or
// shutting-down by its InstanceInitiatedShutdownBehavior, as on EC2.
func (s *Machines) watch(ctx context.Context, w openami.Watcher, i openami.Instance) error {
	if s.vmJobs.isBusy(i.ID) {
		return nil
	}
	switch w.VMState(i) {
	case openami.VMAbsent:
		s.vmJobs.run(i.ID, func() {
			// Read again: the instance may have changed since the pass listed it.
			cur, err := s.instanceNow(ctx, i.Region, i.ID)
			if err != nil || cur.State != openami.InstanceRunning || !s.runsHere(cur) || w.VMState(cur) != openami.VMAbsent {
				return
			}
			s.log().Info("booting a running instance that has no VM (openami restarted)", "instance", i.ID)
			if cur.PublicIP == "" {
				// Running since before public addresses: it gets one now.
				if cur, err = s.givePublicIP(ctx, cur); err != nil && ctx.Err() == nil {
					s.log().Warn("no public address for a running instance", "instance", i.ID, "error", err)
				}
			}
			if err := s.runtime.Start(ctx, cur); err != nil {
				if ctx.Err() == nil {
					s.log().Error("boot instance again", "instance", i.ID, "error", err)
				}
				return
			}
			s.hosts.vms.add(cur)
		})
		return nil
	case openami.VMPoweredOff:
		err := s.store.Update(ctx, func(tx metadata.Tx) error {
			if err := s.checkFence(tx); err != nil {
				return err
			}
			cur, err := tx.Instances().Get(i.Region, i.ID)
			if errors.Is(err, openami.ErrNotFound) || err == nil && (cur.State != openami.InstanceRunning || !s.runsHere(cur)) {
				return nil
			}
			if err != nil {
				return err
			}
			cur.State = openami.InstanceStopping
			// An instance store-backed instance cannot stop: its
			// guest's shutdown terminates it, as on EC2.
			if cur.InstanceInitiatedShutdownBehavior == "terminate" || cur.RootDeviceType == "instance-store" {
				cur.State = openami.InstanceShuttingDown
			}
			cur.StateTransition = openami.StateTransition{Cause: openami.CauseGuestShutdown, At: s.nowUTC()}
			cur.StateReason = openami.StateReason{Cause: openami.CauseGuestShutdown, Message: "Instance initiated shutdown"}
			return tx.Instances().Update(cur)
		})
		if err == nil {
			s.kick()
		}
		return err
	}
	return nil
}

// instanceNow reads an instance.
func (s *Machines) instanceNow(ctx context.Context, region, id string) (openami.Instance, error) {
	var i openami.Instance
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		i, err = tx.Instances().Get(region, id)
		return err
	})
	return i, err
}

// InstanceMetadata is what an instance's metadata service tells its guest.
type InstanceMetadata struct {
	Instance openami.Instance
	// PublicKey is the key pair's public key in OpenSSH form; "" when the
	// instance has none (or its key pair was deleted since).
	PublicKey string
	// SecurityGroups are the names of the instance's security groups.
	SecurityGroups []string
	// SubnetCIDR is the IPv4 CIDR block of the instance's subnet, and
	// VPCCIDRs those of its VPC, the primary one first; empty when
	// unknown (metadataNetwork).
	SubnetCIDR string
	VPCCIDRs   []string
	// AvailabilityZoneID is the instance's zone's id (use1-az1).
	AvailabilityZoneID string
	// Tags are the instance's tags, when its MetadataOptions allow them
	// in the metadata (InstanceMetadataTags enabled); nil otherwise.
	Tags []openami.Tag
	// ImageProductCodes are the product codes of the image it was
	// launched from.
	ImageProductCodes []openami.ProductCode
}

// InstanceMetadata returns what the metadata service of one instance
// serves, read fresh from the store: the metadata service is the
// instance's own channel, so there is no principal. NotFound if the
// instance does not exist.
func (s *Machines) InstanceMetadata(ctx context.Context, region, id string) (InstanceMetadata, error) {
	var out InstanceMetadata
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		i, err := tx.Instances().Get(region, id)
		if errors.Is(err, openami.ErrNotFound) {
			return instanceNotFound(id)
		}
		if err != nil {
			return err
		}
		if i, err = s.withUserData(i); err != nil {
			return err
		}
		out = InstanceMetadata{Instance: i}
		if i.KeyName != "" {
			// A key pair deleted since the launch leaves the instance
			// without a public key, as on AWS.
			k, err := s.identity.KeyPairNamed(tx, region, i.AccountID, i.KeyName)
			if err != nil && !errors.Is(err, openami.ErrNotFound) {
				return err
			}
			out.PublicKey = k.PublicKey
		}
		if err := s.metadataNetwork(tx, i, &out); err != nil {
			return err
		}
		if r, ok := s.identity.Region(region); ok {
			for _, z := range r.Zones {
				if z.Name == i.AvailabilityZone {
					out.AvailabilityZoneID = z.ID
				}
			}
		}
		if i.MetadataOptions.InstanceMetadataTags == "enabled" {
			tags, err := tx.Tags().Of(region, i.AccountID, []string{i.ID})
			if err != nil {
				return err
			}
			out.Tags = sortedTags(tags[i.ID])
		}
		if img, err := s.images.ImageOf(tx, region, i.ImageID); err == nil {
			out.ImageProductCodes = img.ProductCodes
		} else if !errors.Is(err, openami.ErrNotFound) {
			return err
		}
		return nil
	})
	return out, err
}

// metadataNetwork fills in what the metadata service says of an
// instance's network beyond its own record: its security groups' names
// and its subnet's and VPC's CIDR blocks, from rules/network's records.
// A group or subnet it does not find is left out.
func (s *Machines) metadataNetwork(tx metadata.Tx, i openami.Instance, out *InstanceMetadata) error {
	var err error
	if out.SecurityGroups, err = s.networks.GroupNames(tx, i.Region, i.AccountID, i.SecurityGroupIDs); err != nil {
		return err
	}
	p := openami.Principal{AccountID: i.AccountID, Region: i.Region}
	subnet, vpc, err := s.networks.CIDRs(tx, p, i.SubnetID)
	if openami.ClassOf(err) == openami.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	out.SubnetCIDR, out.VPCCIDRs = subnet.String(), []string{vpc.String()}
	return nil
}

// createImageDeadline is how long the snapshots of a CreateImage that
// shuts its instance down may stay pending (the job retried meanwhile,
// and resumed after a restart) before they turn to error and the image
// fails.
const createImageDeadline = 24 * time.Hour
