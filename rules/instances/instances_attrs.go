package instances

import (
	"context"
	"errors"
	"slices"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// instanceAttributes are DescribeInstanceAttribute's attribute names.
var instanceAttributes = []string{
	"blockDeviceMapping", "disableApiStop", "disableApiTermination", "ebsOptimized", "enaSupport", "enclaveOptions",
	"groupSet", "instanceInitiatedShutdownBehavior", "instanceType", "kernel", "productCodes", "ramdisk",
	"rootDeviceName", "sourceDestCheck", "sriovNetSupport", "userData",
}

// DescribeInstanceAttribute returns one of the caller's instances, for the
// API layer to answer with the attribute asked for, which must be one of
// instanceAttributes.
func (s *Machines) DescribeInstanceAttribute(ctx context.Context, p openami.Principal, id, attribute string) (openami.Instance, error) {
	if err := param.OneOf("Attribute", attribute, instanceAttributes...); err != nil {
		return openami.Instance{}, err
	}
	var out openami.Instance
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		out, err = ownedInstance(tx, p, id)
		return err
	})
	if err != nil {
		return out, err
	}
	return s.withUserData(out)
}

// ModifyInstanceAttributeInput is one ModifyInstanceAttribute request: nil
// fields are left alone. Only one attribute changes per request, as on
// EC2, except DeleteOnTermination changes of several devices.
type ModifyInstanceAttributeInput struct {
	InstanceID                        string
	InstanceType                      *string
	UserData                          []byte // nil: unchanged
	DisableAPITermination             *bool
	DisableAPIStop                    *bool
	InstanceInitiatedShutdownBehavior *string
	EbsOptimized                      *bool
	EnaSupport                        *bool
	SourceDestCheck                   *bool
	SecurityGroupIDs                  []string
	// DeleteOnTermination changes, by device name.
	DeleteOnTermination map[string]bool
}

// ModifyInstanceAttribute changes one attribute of one of the caller's
// instances. The instance type, user data, EBS optimization and ENA
// support change only while it is stopped (IncorrectInstanceState).
func (s *Machines) ModifyInstanceAttribute(ctx context.Context, p openami.Principal, in ModifyInstanceAttributeInput) error {
	set := 0
	for _, given := range []bool{in.InstanceType != nil, in.UserData != nil, in.DisableAPITermination != nil, in.DisableAPIStop != nil,
		in.InstanceInitiatedShutdownBehavior != nil, in.EbsOptimized != nil, in.EnaSupport != nil, in.SourceDestCheck != nil,
		len(in.SecurityGroupIDs) > 0, len(in.DeleteOnTermination) > 0} {
		if given {
			set++
		}
	}
	if set > 1 {
		return openami.Errorf(openami.InvalidCombination, "", "Only one attribute can be modified at a time.")
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		i, err := ownedInstance(tx, p, in.InstanceID)
		if err != nil {
			return err
		}
		stoppedOnly := func() error {
			if i.State != openami.InstanceStopped {
				return openami.Errorf(openami.IncorrectState, openami.ResourceInstance, "The instance '%s' is not in the 'stopped' state.", i.ID)
			}
			return nil
		}
		switch {
		case in.InstanceType != nil:
			if err := stoppedOnly(); err != nil {
				return err
			}
			it, ok := LookupInstanceType(*in.InstanceType)
			if !ok {
				return openami.Errorf(openami.InvalidParameter, "", "The following supplied instance types do not exist: [%s]", *in.InstanceType)
			}
			img := openami.Image{ID: i.ImageID, Architecture: i.Architecture, VirtualizationType: i.VirtualizationType, BootMode: i.BootMode}
			if err := checkCompatible(img, it); err != nil {
				return err
			}
			i.InstanceType = it.Name
		case in.UserData != nil:
			if err := stoppedOnly(); err != nil {
				return err
			}
			if len(in.UserData) > maxUserData {
				return openami.Errorf(openami.InvalidParameter, "", "User data is limited to %d bytes.", maxUserData)
			}
			i.UserData = s.sealUserData(i.Region, i.ID, in.UserData)
		case in.DisableAPITermination != nil:
			i.DisableAPITermination = *in.DisableAPITermination
		case in.DisableAPIStop != nil:
			i.DisableAPIStop = *in.DisableAPIStop
		case in.InstanceInitiatedShutdownBehavior != nil:
			if err := param.OneOf("InstanceInitiatedShutdownBehavior", *in.InstanceInitiatedShutdownBehavior, "stop", "terminate"); err != nil {
				return err
			}
			i.InstanceInitiatedShutdownBehavior = *in.InstanceInitiatedShutdownBehavior
		case in.EbsOptimized != nil:
			if err := stoppedOnly(); err != nil {
				return err
			}
			i.EbsOptimized = *in.EbsOptimized
		case in.EnaSupport != nil:
			if err := stoppedOnly(); err != nil {
				return err
			}
			i.EnaSupport = *in.EnaSupport
		case in.SourceDestCheck != nil:
			i.NoSourceDestCheck = !*in.SourceDestCheck
		case len(in.SecurityGroupIDs) > 0:
			groups, err := s.networks.InstanceGroups(tx, p, i.VpcID, in.SecurityGroupIDs)
			if err != nil {
				return err
			}
			i.SecurityGroupIDs = groups
		case len(in.DeleteOnTermination) > 0:
			for dev, del := range in.DeleteOnTermination {
				k := slices.IndexFunc(i.BlockDevices, func(b openami.InstanceBlockDevice) bool { return b.DeviceName == dev })
				if k < 0 {
					return openami.Errorf(openami.InvalidParameter, "", "The device '%s' is not attached to the instance '%s'.", dev, i.ID)
				}
				i.BlockDevices[k].DeleteOnTermination = del
				v, err := s.ebs.Volume(tx, p.Region, i.BlockDevices[k].VolumeID)
				if err != nil {
					return err
				}
				if err := s.ebs.SetDeleteOnTermination(tx, v, del); err != nil {
					return err
				}
			}
		default:
			return openami.Errorf(openami.MissingParameter, "", "The request must name an attribute to modify.")
		}
		return tx.Instances().Update(i)
	})
}

// ConsoleOutput returns what one of the caller's instances wrote to its
// serial console (nothing under the none runtime).
func (s *Machines) ConsoleOutput(ctx context.Context, p openami.Principal, id string) (openami.Instance, []byte, error) {
	var i openami.Instance
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		i, err = ownedInstance(tx, p, id)
		return err
	})
	if err != nil {
		return i, nil, err
	}
	if !s.runsHere(i) {
		// Another host's VM: what that host posted (hostconsole.go).
		var out []byte
		err := s.store.View(ctx, func(tx metadata.Tx) (err error) {
			out, err = postedConsole(tx, i)
			return err
		})
		return i, out, err
	}
	out, err := s.runtime.ConsoleOutput(ctx, i)
	return i, out, err
}

// InstanceUefiData returns the UEFI variable store of one of the caller's
// instances: the image's UefiData it was launched with ("" when none; the
// qemu runtime keeps no variable changes yet).
func (s *Machines) InstanceUefiData(ctx context.Context, p openami.Principal, id string) (string, error) {
	var data string
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		i, err := ownedInstance(tx, p, id)
		if err != nil {
			return err
		}
		img, err := s.images.ImageOf(tx, p.Region, i.ImageID)
		if errors.Is(err, openami.ErrNotFound) {
			return nil
		}
		data = img.UefiData
		return err
	})
	return data, err
}

// CreditSpecification is a burstable instance's CPU credit option.
type CreditSpecification struct {
	InstanceID string
	CPUCredits string // standard or unlimited
}

// InstanceCreditSpecifications returns the credit option of the caller's
// burstable instances (T family): all, or those named. Non-burstable ones
// are left out, as on EC2. T2 defaults to standard, later T families to
// unlimited.
func (s *Machines) InstanceCreditSpecifications(ctx context.Context, p openami.Principal, instanceIDs []string) ([]CreditSpecification, error) {
	var out []CreditSpecification
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		list, err := tx.Instances().List(p.Region, metadata.InstanceQuery{AccountID: p.AccountID, IDs: instanceIDs})
		if err != nil {
			return err
		}
		if missing := describe.Missing(instanceIDs, list, func(i openami.Instance) string { return i.ID }); len(missing) > 0 {
			return instancesNotFound(missing)
		}
		for _, i := range list {
			it, ok := LookupInstanceType(i.InstanceType)
			if !ok || !it.Burstable || i.State == openami.InstanceTerminated {
				continue
			}
			credits := i.CPUCredits
			if credits == "" {
				credits = defaultCredits(it)
			}
			out = append(out, CreditSpecification{InstanceID: i.ID, CPUCredits: credits})
		}
		return nil
	})
	return out, err
}

// InstanceStatus is an instance with the outcome of its instance status
// check, for DescribeInstanceStatus.
type InstanceStatus struct {
	openami.Instance
	// Health is the runtime's word on a running instance's guest (always
	// openami.HealthOK with a runtime that cannot tell), or, for another
	// host's instance, what that host posted (hostconsole.go); zero for
	// other states.
	Health openami.Health
	// HostDead is set for an instance whose compute host's heartbeat
	// lapsed (docs/HOSTS.md): both its checks fail.
	HostDead bool
}

// InstanceStatuses returns the caller's instances for
// DescribeInstanceStatus: running ones, or, with all, every one that is
// not terminated; named ones must exist. A running instance's health
// comes from the runtime, when it can tell (openami.HealthChecker).
func (s *Machines) InstanceStatuses(ctx context.Context, p openami.Principal, instanceIDs []string, all bool) ([]InstanceStatus, error) {
	for _, id := range instanceIDs {
		if err := checkInstanceID(id); err != nil {
			return nil, err
		}
	}
	var out []InstanceStatus
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		list, err := tx.Instances().List(p.Region, metadata.InstanceQuery{AccountID: p.AccountID, IDs: instanceIDs})
		if err != nil {
			return err
		}
		if missing := describe.Missing(instanceIDs, list, func(i openami.Instance) string { return i.ID }); len(missing) > 0 {
			return instancesNotFound(missing)
		}
		dead, err := s.deadHosts(tx)
		if err != nil {
			return err
		}
		for _, i := range list {
			if i.State == openami.InstanceRunning || all && i.State != openami.InstanceTerminated {
				h, hostDead := dead[i.HostID]
				st := InstanceStatus{Instance: i, HostDead: i.HostID != "" && hostDead}
				switch {
				case st.HostDead && i.State == openami.InstanceRunning:
					// Its guest is unreachable with its host: impaired
					// since the host's heartbeat lapsed (what Auto
					// Scaling's health check acts on).
					st.Health = openami.Health{Status: openami.HealthImpaired, Reason: "The instance's host failed", Since: h.Expires.UTC()}
				case i.State == openami.InstanceRunning && !s.runsHere(i):
					// Another host's guest: what that host posted.
					if st.Health, _, err = postedHealth(tx, i); err != nil {
						return err
					}
				}
				out = append(out, st)
			}
		}
		return nil
	})
	// The runtime knows the guests of this node's instances only; those
	// of other hosts are what their host posted (above).
	if checker, ok := s.runtime.(openami.HealthChecker); ok {
		for k := range out {
			if out[k].State == openami.InstanceRunning && !out[k].HostDead && s.runsHere(out[k].Instance) {
				out[k].Health = checker.Health(out[k].Instance)
			}
		}
	}
	return out, err
}

// ModifyInstanceMetadataOptions changes the instance metadata service
// settings of an instance the caller owns, in any state but terminated;
// empty fields of change (0 for the hop limit) keep what the instance has.
// The instance metadata service reads them on each request, so the change
// takes effect at once. It returns the settings now in force.
func (s *Machines) ModifyInstanceMetadataOptions(ctx context.Context, p openami.Principal, id string, change openami.MetadataOptions) (openami.MetadataOptions, error) {
	var out openami.MetadataOptions
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		i, err := ownedInstance(tx, p, id)
		if err != nil {
			return err
		}
		if i.State == openami.InstanceTerminated {
			return openami.Errorf(openami.IncorrectState, openami.ResourceInstance, "The instance '%s' is not in a state from which it can be modified.", id)
		}
		o := i.MetadataOptions
		for _, f := range []struct {
			dst *string
			src string
		}{{&o.HttpTokens, change.HttpTokens}, {&o.HttpEndpoint, change.HttpEndpoint},
			{&o.InstanceMetadataTags, change.InstanceMetadataTags}} {
			if f.src != "" {
				*f.dst = f.src
			}
		}
		if change.HttpPutResponseHopLimit != 0 {
			o.HttpPutResponseHopLimit = change.HttpPutResponseHopLimit
		}
		if out, err = metadataOptions(o, openami.Image{}); err != nil {
			return err
		}
		i.MetadataOptions = out
		return tx.Instances().Update(i)
	})
	return out, err
}
