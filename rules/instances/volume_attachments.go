package instances

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/images"
)

// Attaching and detaching a volume changes an instance as much as the
// volume: they stay with the instances, which read and check the volume
// through rules/ebs (OwnedVolume, CheckKeyUse) and have it record the
// attachment (AttachToInstance, DetachFromInstance).

// Attachment is a volume's attachment as AttachVolume and DetachVolume
// report it.
type Attachment struct {
	VolumeID   string
	InstanceID string
	Device     string
	State      string // attaching, detaching
	AttachTime time.Time
}

// AttachVolume attaches one of the caller's available volumes to one of
// its running or stopped instances in the same zone, as device, which the
// instance must not be using.
func (s *Machines) AttachVolume(ctx context.Context, p openami.Principal, volumeID, instanceID, device string) (Attachment, error) {
	if !images.IsDeviceName(device) {
		return Attachment{}, openami.Errorf(openami.InvalidParameter, "", "Invalid value '%s' for unixDevice. Attachment point %s is not valid.", device, device)
	}
	now := s.nowUTC()
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		v, err := s.ebs.OwnedVolume(tx, p, volumeID)
		if err != nil {
			return err
		}
		// Attaching encrypted data needs its key, usable by the caller.
		if err := s.ebs.CheckKeyUse(tx, p, "VolumeID", v.KmsKeyID); err != nil {
			return err
		}
		i, err := ownedInstance(tx, p, instanceID)
		if err != nil {
			return err
		}
		if v.State != openami.VolumeAvailable {
			return openami.Errorf(openami.InUse, openami.ResourceVolume, "%s is already attached to an instance", v.ID)
		}
		if i.State != openami.InstanceRunning && i.State != openami.InstanceStopped {
			return openami.Errorf(openami.IncorrectState, openami.ResourceInstance, "Instance '%s' is not 'running' or 'stopped'.", i.ID)
		}
		if v.AvailabilityZone != i.AvailabilityZone {
			return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceVolume, openami.ReasonZoneMismatch, "The volume '%s' is not in the same availability zone as instance '%s'", v.ID, i.ID)
		}
		if slices.ContainsFunc(i.BlockDevices, func(b openami.InstanceBlockDevice) bool { return b.DeviceName == device }) ||
			slices.ContainsFunc(i.InstanceStores, func(b openami.InstanceStore) bool { return b.DeviceName == device }) {
			return openami.Errorf(openami.InvalidParameter, "", "Invalid value '%s' for unixDevice. Attachment point %s is already in use", device, device)
		}
		if err := s.ebs.AttachToInstance(tx, v, i.ID, device, now); err != nil {
			return err
		}
		i.BlockDevices = append(i.BlockDevices, openami.InstanceBlockDevice{DeviceName: device, VolumeID: v.ID, AttachTime: now})
		return tx.Instances().Update(i)
	})
	if err != nil {
		return Attachment{}, err
	}
	return Attachment{VolumeID: volumeID, InstanceID: instanceID, Device: device, State: "attaching", AttachTime: now}, nil
}

// DetachVolume detaches one of the caller's volumes from its instance
// (instanceID and device, when given, must match). The root volume of an
// instance that is not stopped stays (IncorrectState).
func (s *Machines) DetachVolume(ctx context.Context, p openami.Principal, volumeID, instanceID, device string) (Attachment, error) {
	var out Attachment
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		v, err := s.ebs.OwnedVolume(tx, p, volumeID)
		if err != nil {
			return err
		}
		if v.InstanceID == "" || v.State == openami.VolumeCreating {
			return openami.Errorf(openami.IncorrectState, openami.ResourceVolume, "Volume '%s' is in the '%s' state.", v.ID, v.State)
		}
		if instanceID != "" && instanceID != v.InstanceID || device != "" && device != v.Device {
			return openami.Errorf(openami.NotFound, openami.ResourceAttachment, "The volume '%s' is not attached to instance '%s'.", v.ID, instanceID)
		}
		out = Attachment{VolumeID: v.ID, InstanceID: v.InstanceID, Device: v.Device, State: "detaching", AttachTime: v.AttachTime}
		i, err := tx.Instances().Get(p.Region, v.InstanceID)
		if err != nil && !errors.Is(err, openami.ErrNotFound) {
			return err
		}
		if err == nil {
			if v.Device == i.RootDeviceName && i.State != openami.InstanceStopped {
				return openami.Errorf(openami.IncorrectState, "", "Unable to detach root volume '%s' from instance '%s'", v.ID, i.ID)
			}
			i.BlockDevices = slices.DeleteFunc(i.BlockDevices, func(b openami.InstanceBlockDevice) bool { return b.VolumeID == v.ID })
			if err := tx.Instances().Update(i); err != nil {
				return err
			}
		}
		return s.ebs.DetachFromInstance(tx, v)
	})
	return out, err
}
