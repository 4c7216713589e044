package instances

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// The attributes of an instance that DescribeInstances' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrInstanceArchitecture     filter.Attr = "instanceArchitecture"
	AttrInstanceZone             filter.Attr = "instanceZone"
	AttrInstanceDevice           filter.Attr = "instanceDevice"
	AttrInstanceVolumeID         filter.Attr = "instanceVolumeID"
	AttrInstanceBootMode         filter.Attr = "instanceBootMode"
	AttrInstanceClientToken      filter.Attr = "instanceClientToken"
	AttrInstanceEbsOptimized     filter.Attr = "instanceEbsOptimized"
	AttrInstanceImageID          filter.Attr = "instanceImageID"
	AttrInstanceID               filter.Attr = "instanceID"
	AttrInstanceLifecycle        filter.Attr = "instanceLifecycle"
	AttrInstanceStateCode        filter.Attr = "instanceStateCode"
	AttrInstanceState            filter.Attr = "instanceState"
	AttrInstanceType             filter.Attr = "instanceType"
	AttrInstanceKeyName          filter.Attr = "instanceKeyName"
	AttrInstanceLaunchIndex      filter.Attr = "instanceLaunchIndex"
	AttrInstanceLaunched         filter.Attr = "instanceLaunched"
	AttrInstanceMetadataEndpoint filter.Attr = "instanceMetadataEndpoint"
	AttrInstanceMetadataTokens   filter.Attr = "instanceMetadataTokens"
	AttrInstanceOwnerID          filter.Attr = "instanceOwnerID"
	AttrInstancePlacementGroup   filter.Attr = "instancePlacementGroup"
	AttrInstancePlatform         filter.Attr = "instancePlatform"
	AttrInstancePrivateDNS       filter.Attr = "instancePrivateDNS"
	AttrInstancePrivateIP        filter.Attr = "instancePrivateIP"
	AttrInstancePublicDNS        filter.Attr = "instancePublicDNS"
	AttrInstancePublicIP         filter.Attr = "instancePublicIP"
	AttrInstanceTransitionReason filter.Attr = "instanceTransitionReason"
	AttrInstanceReservationID    filter.Attr = "instanceReservationID"
	AttrInstanceRootDevice       filter.Attr = "instanceRootDevice"
	AttrInstanceRootDeviceType   filter.Attr = "instanceRootDeviceType"
	AttrInstanceStateCause       filter.Attr = "instanceStateCause"
	AttrInstanceStateMessage     filter.Attr = "instanceStateMessage"
	AttrInstanceSubnetID         filter.Attr = "instanceSubnetID"
	AttrInstanceTenancy          filter.Attr = "instanceTenancy"
	AttrInstanceVirtualization   filter.Attr = "instanceVirtualization"
	AttrInstanceVpcID            filter.Attr = "instanceVpcID"
	// AttrInstanceSourceDestCheck is whether the instance's traffic must
	// be its own ("true" unless ModifyInstanceAttribute turned it off).
	AttrInstanceSourceDestCheck filter.Attr = "instanceSourceDestCheck"
	// AttrInstanceMonitoring is the monitoring state: "enabled" when
	// RunInstances asked for detailed monitoring, else "disabled".
	AttrInstanceMonitoring filter.Attr = "instanceMonitoring"
	// AttrInstanceGroupID and AttrInstanceGroupName match any of the
	// instance's security groups (those of its one network interface):
	// ids as recorded, names as the groups have them now (a group deleted
	// since has none).
	AttrInstanceGroupID   filter.Attr = "instanceGroupID"
	AttrInstanceGroupName filter.Attr = "instanceGroupName"
	// AttrInstanceHost is the compute host the instance is placed on
	// (docs/HOSTS.md); none when it is on none.
	AttrInstanceHost filter.Attr = "instanceHost"
)

// InstanceAttrs are the attributes DescribeInstances filters by. Read-only.
var InstanceAttrs = []filter.Attr{
	AttrInstanceArchitecture, AttrInstanceZone, AttrInstanceDevice, AttrInstanceVolumeID,
	AttrInstanceBootMode, AttrInstanceClientToken, AttrInstanceEbsOptimized, AttrInstanceImageID,
	AttrInstanceID, AttrInstanceLifecycle, AttrInstanceStateCode, AttrInstanceState, AttrInstanceType,
	AttrInstanceKeyName, AttrInstanceLaunchIndex, AttrInstanceLaunched, AttrInstanceMetadataEndpoint,
	AttrInstanceMetadataTokens, AttrInstanceOwnerID, AttrInstancePlacementGroup, AttrInstancePlatform,
	AttrInstancePrivateDNS, AttrInstancePrivateIP, AttrInstancePublicDNS, AttrInstancePublicIP, AttrInstanceTransitionReason,
	AttrInstanceReservationID, AttrInstanceRootDevice, AttrInstanceRootDeviceType,
	AttrInstanceStateCause, AttrInstanceStateMessage, AttrInstanceSubnetID, AttrInstanceTenancy,
	AttrInstanceVirtualization, AttrInstanceVpcID, AttrInstanceGroupID, AttrInstanceGroupName,
	AttrInstanceSourceDestCheck, AttrInstanceMonitoring, AttrInstanceHost,
}

// TransitionWords words an instance's StateTransition as a protocol shows
// it (EC2's "User initiated (… GMT)"). DescribeInstances matches the
// AttrInstanceTransitionReason filter against those words, since a caller
// filters by what it was shown; the rules never word a transition
// themselves.
type TransitionWords func(openami.StateTransition) string

// transitionText is what AttrInstanceTransitionReason matches: the text an
// earlier version stored, as it is; else the transition as words word
// it, or (words nil) its cause.
func transitionText(t openami.StateTransition, words TransitionWords) string {
	switch {
	case t.Text != "":
		return t.Text
	case t.Cause == "":
		return ""
	case words == nil:
		return string(t.Cause)
	}
	return words(t)
}

// instanceAttr returns the values of one attribute of i; groupNames are
// the names of its security groups (read only when a filter needs them).
func instanceAttr(i *openami.Instance, name filter.Attr, words TransitionWords, groupNames []string) []string {
	one := func(v string) []string { return []string{v} }
	switch name {
	case AttrInstanceArchitecture:
		return one(i.Architecture)
	case AttrInstanceZone:
		return one(i.AvailabilityZone)
	case AttrInstanceHost:
		if i.HostID == "" {
			return nil
		}
		return one(i.HostID)
	case AttrInstanceDevice, AttrInstanceVolumeID:
		var out []string
		for _, b := range i.BlockDevices {
			if name == AttrInstanceDevice {
				out = append(out, b.DeviceName)
			} else {
				out = append(out, b.VolumeID)
			}
		}
		return out
	case AttrInstanceBootMode:
		return one(i.BootMode)
	case AttrInstanceClientToken:
		return one(i.ClientToken)
	case AttrInstanceEbsOptimized:
		return one(strconv.FormatBool(i.EbsOptimized))
	case AttrInstanceImageID:
		return one(i.ImageID)
	case AttrInstanceID:
		return one(i.ID)
	case AttrInstanceLifecycle, AttrInstancePlacementGroup:
		return nil
	case AttrInstanceStateCode:
		return one(strconv.Itoa(i.State.StateCode()))
	case AttrInstanceState:
		return one(string(i.State))
	case AttrInstanceSourceDestCheck:
		return one(strconv.FormatBool(!i.NoSourceDestCheck))
	case AttrInstanceMonitoring:
		return one(string(MonitoringStateOf(*i)))
	case AttrInstanceType:
		return one(i.InstanceType)
	case AttrInstanceKeyName:
		return one(i.KeyName)
	case AttrInstanceLaunchIndex:
		return one(strconv.Itoa(i.AmiLaunchIndex))
	case AttrInstanceLaunched:
		return one(describe.Timestamp(i.LaunchTime))
	case AttrInstanceMetadataEndpoint:
		return one(i.MetadataOptions.HttpEndpoint)
	case AttrInstanceMetadataTokens:
		return one(i.MetadataOptions.HttpTokens)
	case AttrInstanceOwnerID:
		return one(i.AccountID)
	case AttrInstancePlatform:
		return one(i.Platform)
	case AttrInstancePrivateDNS:
		return one(PrivateDNSName(i.Region, i.PrivateIP))
	case AttrInstancePrivateIP:
		return one(i.PrivateIP)
	case AttrInstancePublicDNS:
		if i.PublicIP == "" {
			return nil
		}
		return one(PublicDNSName(i.Region, i.PublicIP))
	case AttrInstancePublicIP:
		if i.PublicIP == "" {
			return nil
		}
		return one(i.PublicIP)
	case AttrInstanceTransitionReason:
		return one(transitionText(i.StateTransition, words))
	case AttrInstanceReservationID:
		return one(i.ReservationID)
	case AttrInstanceRootDevice:
		return one(i.RootDeviceName)
	case AttrInstanceRootDeviceType:
		return one(i.RootDeviceType)
	case AttrInstanceStateCause:
		return one(string(i.StateReason.Cause))
	case AttrInstanceStateMessage:
		return one(i.StateReason.Message)
	case AttrInstanceSubnetID:
		return one(i.SubnetID)
	case AttrInstanceTenancy:
		return one("default")
	case AttrInstanceVirtualization:
		return one(i.VirtualizationType)
	case AttrInstanceVpcID:
		return one(i.VpcID)
	case AttrInstanceGroupID:
		return i.SecurityGroupIDs
	case AttrInstanceGroupName:
		return groupNames
	}
	return nil
}

// DescribeInstances returns a page of the caller's instances in the
// region, grouped by reservation: all, or those named (an unknown one is
// NotFound), narrowed by filters. Terminated instances stay listed for a
// while (terminatedVisible). words words each instance's StateTransition
// for the AttrInstanceTransitionReason filter (TransitionWords).
func (s *Machines) DescribeInstances(ctx context.Context, p openami.Principal, instanceIDs []string, filters []filter.Filter, words TransitionWords, pg Page) ([]Reservation, string, error) {
	fs, err := filter.Compile(filters, InstanceAttrs...)
	if err != nil {
		return nil, "", err
	}
	for _, id := range instanceIDs {
		if err := checkInstanceID(id); err != nil {
			return nil, "", err
		}
	}
	if err := describe.CheckIDs(openami.ResourceInstance, instanceIDs, pg); err != nil {
		return nil, "", err
	}
	if len(instanceIDs) > 0 {
		var found []openami.Instance
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			found, err = tx.Instances().List(p.Region, metadata.InstanceQuery{AccountID: p.AccountID, IDs: instanceIDs})
			return err
		})
		if err != nil {
			return nil, "", err
		}
		if missing := describe.Missing(instanceIDs, found, func(i openami.Instance) string { return i.ID }); len(missing) > 0 {
			return nil, "", instancesNotFound(missing)
		}
	}
	// The names of each listed instance's groups, from rules/network in
	// the batch's own transaction, when a filter asks for them.
	byName := slices.ContainsFunc(filters, func(f filter.Filter) bool { return f.Name == string(AttrInstanceGroupName) })
	groupNames := map[string][]string{}
	scope := describe.Scope("DescribeInstances", p, filters, strings.Join(instanceIDs, ","))
	list, tags, next, err := describe.Tagged(ctx, s.store, s.tokens, p, scope, pg, describe.Bounds{Min: 5, Max: 1000},
		func(tx metadata.Tx, after string, limit int) ([]openami.Instance, error) {
			list, err := tx.Instances().List(p.Region, metadata.InstanceQuery{AccountID: p.AccountID, IDs: instanceIDs, After: after, Limit: limit})
			if err != nil || !byName {
				return list, err
			}
			clear(groupNames)
			for _, i := range list {
				if groupNames[i.ID], err = s.networks.GroupNames(tx, p.Region, p.AccountID, i.SecurityGroupIDs); err != nil {
					return nil, err
				}
			}
			return list, nil
		},
		func(i openami.Instance) string { return i.ID },
		func(i openami.Instance, tags map[string]string) bool {
			return fs.Match(func(name filter.Attr) []string { return instanceAttr(&i, name, words, groupNames[i.ID]) }, tags)
		})
	if err != nil {
		return nil, "", err
	}
	return groupReservations(p, list, tags), next, nil
}

// groupReservations groups instances by reservation, in the order each
// reservation's first instance comes, and lists each reservation's
// instances by AmiLaunchIndex, as EC2 does: the store lists instances in
// id order, and ids are random, so without the sort a reservation came
// back in launch order only by chance.
func groupReservations(p openami.Principal, list []openami.Instance, tags map[string][]openami.Tag) []Reservation {
	var out []Reservation
	at := map[string]int{}
	for _, i := range list {
		k, ok := at[i.ReservationID]
		if !ok {
			k = len(out)
			at[i.ReservationID] = k
			out = append(out, Reservation{ID: i.ReservationID, AccountID: p.AccountID})
		}
		out[k].Instances = append(out[k].Instances, InstanceView{Instance: i, Tags: tags[i.ID]})
	}
	for _, r := range out {
		byLaunchIndex(r.Instances)
	}
	return out
}

// byLaunchIndex sorts a reservation's instances by AmiLaunchIndex.
func byLaunchIndex(list []InstanceView) {
	slices.SortStableFunc(list, func(a, b InstanceView) int { return a.AmiLaunchIndex - b.AmiLaunchIndex })
}

// StateChange is an instance's state before and after a Start, Stop or
// Terminate request.
type StateChange struct {
	InstanceID        string
	Previous, Current openami.InstanceState
}

// changeStates applies change to each of the caller's instances named, in
// one transaction: every id must name one of its instances, and change
// may refuse any of them, in which case nothing changes.
func (s *Machines) changeStates(ctx context.Context, p openami.Principal, instanceIDs []string, change func(tx metadata.Tx, i *openami.Instance) error) ([]StateChange, error) {
	if len(instanceIDs) == 0 {
		return nil, param.Missing("InstanceIDs")
	}
	for _, id := range instanceIDs {
		if err := checkInstanceID(id); err != nil {
			return nil, err
		}
	}
	var out []StateChange
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		out = nil
		found, err := tx.Instances().List(p.Region, metadata.InstanceQuery{AccountID: p.AccountID, IDs: instanceIDs})
		if err != nil {
			return err
		}
		if missing := describe.Missing(instanceIDs, found, func(i openami.Instance) string { return i.ID }); len(missing) > 0 {
			return instancesNotFound(missing)
		}
		for _, id := range instanceIDs {
			i := found[slices.IndexFunc(found, func(i openami.Instance) bool { return i.ID == id })]
			prev, prevForce, prevPublic, prevReboot := i.State, i.ForceStop, i.PublicIP, i.RebootAsked
			if err := change(tx, &i); err != nil {
				return err
			}
			if i.State != prev || i.ForceStop != prevForce || i.PublicIP != prevPublic || i.RebootAsked != prevReboot {
				if err := tx.Instances().Update(i); err != nil {
					return err
				}
			}
			out = append(out, StateChange{InstanceID: id, Previous: prev, Current: i.State})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.kick()
	return out, nil
}

func wrongState(i *openami.Instance, action string) error {
	return openami.Errorf(openami.IncorrectState, openami.ResourceInstance, "The instance '%s' is not in a state from which it can be %s.", i.ID, action)
}

// userShutdown is the state reason and the transition of an instance a
// caller stops or terminates now.
func (s *Machines) userShutdown() (openami.StateReason, openami.StateTransition) {
	return openami.StateReason{Cause: openami.CauseUserShutdown, Message: "User initiated shutdown"},
		openami.StateTransition{Cause: openami.CauseUserShutdown, At: s.nowUTC()}
}

// StopInstances stops running instances: they go stopping, then stopped
// once the runtime has shut them down (with force, killed them). Stopped
// and stopping ones are left as they are, except that force turns a
// stopping one's clean shutdown into a kill at its next attempt; pending,
// shutting-down and terminated ones are IncorrectInstanceState;
// DisableApiStop is OperationNotPermitted.
func (s *Machines) StopInstances(ctx context.Context, p openami.Principal, instanceIDs []string, force bool) ([]StateChange, error) {
	return s.changeStates(ctx, p, instanceIDs, func(_ metadata.Tx, i *openami.Instance) error {
		switch i.State {
		case openami.InstanceStopped:
			return nil
		case openami.InstanceStopping:
			i.ForceStop = i.ForceStop || force
			return nil
		case openami.InstanceRunning:
		default:
			return wrongState(i, "stopped")
		}
		if i.RootDeviceType != "ebs" {
			return openami.Errorf(openami.Unsupported, "", "The instance '%s' does not have an 'ebs' root device type and cannot be stopped.", i.ID)
		}
		if i.DisableAPIStop {
			return openami.Errorf(openami.Unauthorized, openami.ResourceInstance, "The instance '%s' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.", i.ID)
		}
		i.State, i.ForceStop = openami.InstanceStopping, force
		i.StateReason, i.StateTransition = s.userShutdown()
		return nil
	})
}

// StartInstances starts stopped instances: they go pending, then running,
// each with a new public address (InsufficientAddressCapacity, and none
// starts, when the pool has too few). Running and pending ones are left
// as they are; others are IncorrectInstanceState.
func (s *Machines) StartInstances(ctx context.Context, p openami.Principal, instanceIDs []string) ([]StateChange, error) {
	// Booting encrypted volumes needs their keys, usable by the caller.
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		for _, id := range instanceIDs {
			i, err := tx.Instances().Get(p.Region, id)
			if err != nil || i.AccountID != p.AccountID || i.State != openami.InstanceStopped {
				continue // changeStates answers for these
			}
			for _, bd := range i.BlockDevices {
				v, err := s.ebs.Volume(tx, p.Region, bd.VolumeID)
				if err != nil {
					continue
				}
				if err := s.ebs.CheckKeyUse(tx, p, "InstanceIDs", v.KmsKeyID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.changeStates(ctx, p, instanceIDs, func(tx metadata.Tx, i *openami.Instance) error {
		switch i.State {
		case openami.InstanceRunning, openami.InstancePending:
			return nil
		case openami.InstanceStopped:
		default:
			return wrongState(i, "started")
		}
		i.State = openami.InstancePending
		i.StateTransition, i.StateReason = openami.StateTransition{}, openami.StateReason{}
		// Placed again, maybe on another host (hosts.go).
		it, _ := LookupInstanceType(i.InstanceType)
		hosts, err := s.place(tx, i.AvailabilityZone, it, 1, 1)
		if err != nil {
			return err
		}
		i.HostID = hosts[0]
		public, err := s.takePublicIPs(tx, 1, 1)
		if err != nil {
			return err
		}
		i.PublicIP = public[0]
		return nil
	})
}

// TerminateInstances terminates instances: they go shutting-down, then
// terminated once the runtime has killed them; their DeleteOnTermination
// volumes are deleted and the others detached. Terminated ones are left
// as they are; DisableApiTermination is OperationNotPermitted.
func (s *Machines) TerminateInstances(ctx context.Context, p openami.Principal, instanceIDs []string) ([]StateChange, error) {
	return s.changeStates(ctx, p, instanceIDs, func(_ metadata.Tx, i *openami.Instance) error {
		if i.State == openami.InstanceTerminated || i.State == openami.InstanceShuttingDown {
			return nil
		}
		if i.DisableAPITermination {
			return openami.Errorf(openami.Unauthorized, openami.ResourceInstance, "The instance '%s' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.", i.ID)
		}
		i.State = openami.InstanceShuttingDown
		i.StateReason, i.StateTransition = s.userShutdown()
		return nil
	})
}

// RebootInstances asks the runtime to reboot running instances, all of
// which must be running (IncorrectInstanceState otherwise). Those of
// another host are marked (RebootAsked) for their host's worker to
// reboot.
func (s *Machines) RebootInstances(ctx context.Context, p openami.Principal, instanceIDs []string) error {
	_, err := s.changeStates(ctx, p, instanceIDs, func(_ metadata.Tx, i *openami.Instance) error {
		if i.State != openami.InstanceRunning {
			return wrongState(i, "rebooted")
		}
		if !s.runsHere(*i) {
			i.RebootAsked = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	var list []openami.Instance
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		list, err = tx.Instances().List(p.Region, metadata.InstanceQuery{AccountID: p.AccountID, IDs: instanceIDs})
		return err
	})
	if err != nil {
		return err
	}
	for _, i := range list {
		if !s.runsHere(i) {
			continue // marked for its host (rebootAsked)
		}
		if err := s.runtime.Reboot(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// AdvanceInstances is the worker's pass over instances: it has the
// runtime carry out pending, stopping and shutting-down instances'
// transitions (each in a job of its own, see vmJobs), resumes image
// creations that wait for an instance's shutdown, checks running
// instances' VMs with an openami.Watcher runtime, and forgets terminated ones once
// they have been visible long enough.
func (s *Machines) AdvanceInstances(ctx context.Context) error {
	if err := s.resumeImageCreations(ctx); err != nil {
		return err
	}
	// Running instances too: a Watcher's VMs are checked, and a reboot
	// another node was asked for is carried out (rebootAsked).
	transitional := []openami.InstanceState{openami.InstancePending, openami.InstanceStopping, openami.InstanceShuttingDown,
		openami.InstanceTerminated, openami.InstanceRunning}
	watcher, watching := s.runtime.(openami.Watcher)
	for _, r := range s.regions {
		after := ""
		for {
			var page []openami.Instance
			err := s.store.View(ctx, func(tx metadata.Tx) error {
				var err error
				page, err = tx.Instances().List(r.Name, metadata.InstanceQuery{States: transitional, After: after, Limit: 1000})
				return err
			})
			if err != nil {
				return err
			}
			for _, i := range page {
				if !s.runsHere(i) && i.State != openami.InstanceTerminated {
					continue // another host's (a dead one's: TakeOverDeadHosts)
				}
				var err error
				switch i.State {
				case openami.InstanceRunning:
					if i.RebootAsked {
						s.rebootAsked(ctx, i)
					} else if watching {
						err = s.watch(ctx, watcher, i)
					}
				case openami.InstanceTerminated:
					err = s.advance(ctx, i)
				default:
					s.dispatchAdvance(ctx, i)
				}
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					s.log().Error("instance transition", "instance", i.ID, "state", i.State, "error", err)
				}
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	if err := s.postConsoles(ctx); err != nil && ctx.Err() == nil {
		s.log().Warn("posting consoles", "error", err)
	}
	return s.TakeOverDeadHosts(ctx)
}

// advance carries out one instance's transition, then records the new
// state unless the instance changed meanwhile (terminated while it was
// starting, say: the next pass handles that).
func (s *Machines) advance(ctx context.Context, i openami.Instance) error {
	now := s.nowUTC()
	var next func(cur *openami.Instance, tx metadata.Tx) error
	switch i.State {
	case openami.InstancePending:
		ready, failed, err := s.volumesReady(ctx, i)
		if err != nil || !ready && !failed {
			return err // a volume is still being filled: a later pass starts it
		}
		if failed {
			return s.store.Update(ctx, func(tx metadata.Tx) error {
				if err := s.checkFence(tx); err != nil {
					return err
				}
				cur, err := tx.Instances().Get(i.Region, i.ID)
				if err != nil || cur.State != openami.InstancePending || cur.HostID != i.HostID {
					return err
				}
				cur.StateReason = openami.StateReason{Cause: openami.CauseKeyUnusable,
					Message: "The KMS key provided is in an incorrect state"}
				if err := s.terminated(tx, &cur, now); err != nil {
					return err
				}
				return tx.Instances().Update(cur)
			})
		}
		err = nil
		if i.RootBundle != nil {
			// An instance-store root: the bundle is fetched and unpacked
			// first (bundleroot.go).
			if err = s.prepareRoot(ctx, i); err != nil && ctx.Err() != nil {
				return err // the server is closing: a later pass goes on
			}
		}
		if err == nil {
			err = s.runtime.Start(ctx, i)
		}
		if err != nil {
			reason := openami.StateReason{Cause: openami.CauseLaunchFailed, Message: "Internal error on launch: " + err.Error()}
			// Whatever the failed start left behind goes.
			if err := s.runtime.Terminate(ctx, i); err != nil {
				return err
			}
			if err := s.removeInstanceStores(i.ID); err != nil {
				return err
			}
			next = func(cur *openami.Instance, tx metadata.Tx) error {
				cur.StateReason = reason
				return s.terminated(tx, cur, now)
			}
			break
		}
		s.hosts.vms.add(i)
		next = func(cur *openami.Instance, tx metadata.Tx) error {
			cur.State = openami.InstanceRunning
			cur.StateReason = openami.StateReason{}
			return nil
		}
	case openami.InstanceStopping:
		if err := s.runtime.Stop(ctx, i, i.ForceStop); err != nil {
			return err
		}
		s.hosts.vms.remove(i.ID)
		next = func(cur *openami.Instance, tx metadata.Tx) error {
			cur.State, cur.ForceStop = openami.InstanceStopped, false
			cur.PublicIP = "" // back to the pool; a start takes a new one
			cur.HostID = ""   // a start places it again
			return nil
		}
		// Instance-store data does not survive a stop.
		if err := s.removeInstanceStores(i.ID); err != nil {
			return err
		}
	case openami.InstanceShuttingDown:
		if err := s.runtime.Terminate(ctx, i); err != nil {
			return err
		}
		s.hosts.vms.remove(i.ID)
		if err := s.removeInstanceStores(i.ID); err != nil {
			return err
		}
		next = func(cur *openami.Instance, tx metadata.Tx) error { return s.terminated(tx, cur, now) }
	case openami.InstanceTerminated:
		if now.Sub(i.TerminatedAt) < terminatedVisible {
			return nil
		}
		return s.store.Update(ctx, func(tx metadata.Tx) error {
			cur, err := tx.Instances().Get(i.Region, i.ID)
			if errors.Is(err, openami.ErrNotFound) || err == nil && cur.State != openami.InstanceTerminated {
				return nil
			}
			if err != nil {
				return err
			}
			if err := tx.Tags().DeleteAll(cur.Region, cur.AccountID, cur.ID); err != nil {
				return err
			}
			if err := tx.Settings().Delete(consoleKey(cur.Region, cur.ID)); err != nil {
				return err
			}
			if err := tx.Settings().Delete(healthKey(cur.Region, cur.ID)); err != nil {
				return err
			}
			return tx.Instances().Delete(cur.Region, cur.ID)
		})
	default:
		return nil
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		// A host declared dead commits nothing (hosts.go).
		if err := s.checkFence(tx); err != nil {
			return err
		}
		cur, err := tx.Instances().Get(i.Region, i.ID)
		if errors.Is(err, openami.ErrNotFound) || err == nil && (cur.State != i.State || cur.HostID != i.HostID) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := next(&cur, tx); err != nil {
			return err
		}
		return tx.Instances().Update(cur)
	})
}

// terminated makes an instance terminated: its DeleteOnTermination volumes
// are deleted, its others detached.
func (s *Machines) terminated(tx metadata.Tx, i *openami.Instance, now time.Time) error {
	for _, b := range i.BlockDevices {
		v, err := s.ebs.Volume(tx, i.Region, b.VolumeID)
		if errors.Is(err, openami.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if v.InstanceID != i.ID {
			continue
		}
		if b.DeleteOnTermination {
			if err := s.ebs.DeleteWithInstance(tx, v); err != nil {
				return err
			}
			continue
		}
		if err := s.ebs.DetachFromInstance(tx, v); err != nil {
			return err
		}
	}
	i.BlockDevices = nil
	i.PublicIP = "" // back to the pool
	i.State = openami.InstanceTerminated
	i.TerminatedAt = now
	return nil
}

// volumesReady reports whether every EBS volume of a pending instance is
// ready to boot from (none is still being filled, volumes_fill.go), and
// whether one failed to be made.
func (s *Machines) volumesReady(ctx context.Context, i openami.Instance) (ready, failed bool, err error) {
	ready = true
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		for _, bd := range i.BlockDevices {
			v, err := s.ebs.Volume(tx, i.Region, bd.VolumeID)
			if errors.Is(err, openami.ErrNotFound) {
				failed = true // deleted under it: it must not boot without it
				continue
			}
			if err != nil {
				return err
			}
			switch v.State {
			case openami.VolumeCreating:
				ready = false
			case openami.VolumeError:
				failed = true
			}
		}
		return nil
	})
	return ready, failed, err
}
