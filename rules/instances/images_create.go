package instances

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
)

// CreateImageInput are CreateImage's parameters.
type CreateImageInput struct {
	InstanceID  string
	Name        string
	Description string
	// NoReboot snapshots the volumes as they are, without shutting the
	// instance down for a consistent point.
	NoReboot bool
	// BlockDeviceMappings change the image's mapping: NoDevice leaves an
	// attached volume out, Ebs changes the size, type or
	// DeleteOnTermination of one, and new devices (blank EBS volumes,
	// snapshots, instance stores) are added.
	BlockDeviceMappings []MappingOverride
	ImageTags           []openami.Tag
	SnapshotTags        []openami.Tag
}

// CreateImage makes an image of one of the caller's running or stopped
// instances: every EBS volume attached to it is snapshotted incrementally
// (only the blocks written since the volume's base are hashed and stored;
// the rest of the map is shared), and an image is registered over the
// snapshots, pending until the background pass makes it available.
// Without NoReboot a running instance is shut down first and started
// again after, so that the snapshots are of a consistent, flushed disk:
// that happens in the background (finishImageFromInstance), the image and
// its snapshots pending meanwhile, as on EC2. The image inherits the
// source image's product codes and IMDS support and names the instance as
// its source.
func (s *Machines) CreateImage(ctx context.Context, p openami.Principal, in CreateImageInput) (string, error) {
	if err := images.CheckImageName(in.Name); err != nil {
		return "", err
	}
	if len(in.Description) > 255 {
		return "", openami.Errorf(openami.InvalidParameter, "", "The description must be at most 255 characters.")
	}
	if err := validateTags(in.ImageTags); err != nil {
		return "", err
	}
	if err := validateTags(in.SnapshotTags); err != nil {
		return "", err
	}
	var inst openami.Instance
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		inst, err = ownedInstance(tx, p, in.InstanceID)
		return err
	})
	if err != nil {
		return "", err
	}
	if inst.RootDeviceType == "instance-store" {
		return "", openami.Errorf(openami.Unsupported, "", "The instance '%s' does not have an 'ebs' root device type: an image of an instance store-backed instance is made with BundleInstance.", inst.ID)
	}
	if inst.State != openami.InstanceRunning && inst.State != openami.InstanceStopped {
		return "", openami.Errorf(openami.IncorrectState, openami.ResourceInstance, "Instance '%s' is not in a state from which an image can be created (%s).", inst.ID, inst.State)
	}
	// With a reboot, the snapshots are taken later, once the guest is down.
	deferred := inst.State == openami.InstanceRunning && !in.NoReboot
	volumes := make([]string, len(inst.BlockDevices))
	for i, b := range inst.BlockDevices {
		volumes[i] = b.VolumeID
	}
	if !deferred {
		if err := s.ebs.FlushDevices(ctx, volumes); err != nil {
			return "", err
		}
	}
	id := ids.New("ami")
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		inst, err := ownedInstance(tx, p, in.InstanceID)
		if err != nil {
			return err
		}
		if inst.State != openami.InstanceRunning && inst.State != openami.InstanceStopped {
			return openami.Errorf(openami.IncorrectState, openami.ResourceInstance, "Instance '%s' is not in a state from which an image can be created (%s).", inst.ID, inst.State)
		}
		img := openami.Image{
			ID: id, Region: p.Region, AccountID: p.AccountID, Name: in.Name, Description: in.Description,
			State: openami.ImagePending, Architecture: inst.Architecture, VirtualizationType: inst.VirtualizationType,
			RootDeviceName: inst.RootDeviceName, RootDeviceType: "ebs", ImageType: "machine",
			ImageLocation: p.AccountID + "/" + in.Name, KernelID: inst.KernelID, RamdiskID: inst.RamdiskID,
			Platform: inst.Platform, BootMode: inst.BootMode, TpmSupport: inst.TpmSupport,
			SriovNetSupport: inst.SriovNetSupport, EnaSupport: inst.EnaSupport, SourceInstanceID: inst.ID,
			CreatedAt: s.nowUTC(), DeregistrationProtection: openami.DeregistrationProtection{State: "disabled"},
		}
		if src, err := s.images.ImageOf(tx, p.Region, inst.ImageID); err == nil {
			img.ProductCodes, img.ImdsSupport, img.UefiData = src.ProductCodes, src.ImdsSupport, src.UefiData
		} else if !errors.Is(err, openami.ErrNotFound) {
			return err
		}
		override := func(dev string) (MappingOverride, bool) {
			i := slices.IndexFunc(in.BlockDeviceMappings, func(o MappingOverride) bool { return o.DeviceName == dev })
			if i < 0 {
				return MappingOverride{}, false
			}
			return in.BlockDeviceMappings[i], true
		}
		desc := imageCreationDescription(inst.ID, id)
		for _, b := range inst.BlockDevices {
			o, ok := override(b.DeviceName)
			if ok && o.NoDevice {
				if b.DeviceName == inst.RootDeviceName {
					return images.BadMapping("The root device %s cannot be left out of the image.", b.DeviceName)
				}
				continue
			}
			v, err := s.ebs.Volume(tx, p.Region, b.VolumeID)
			if err != nil {
				return err
			}
			var snap openami.Snapshot
			if deferred {
				// Filled once the instance is down
				// (finishImageFromInstance); error if that has not
				// happened by createImageDeadline.
				now := s.nowUTC()
				snap, err = s.ebs.CreateAwaitedSnapshot(tx, v, desc, now, now.Add(createImageDeadline), in.SnapshotTags)
			} else {
				snap, err = s.ebs.SnapshotVolume(tx, v, desc, in.SnapshotTags)
			}
			if err != nil {
				return err
			}
			e := &openami.EbsBlockDevice{SnapshotID: snap.ID, Encrypted: snap.Encrypted, KmsKeyID: snap.KmsKeyID, VolumeSize: v.Size, VolumeType: v.Type, Iops: v.Iops,
				Throughput: v.Throughput, DeleteOnTermination: b.DeleteOnTermination}
			if ok && o.Ebs != nil {
				if o.Ebs.SnapshotID != "" {
					return images.BadMapping("The mapping of %s, an attached volume, cannot name a snapshot.", b.DeviceName)
				}
				applyEbsOverride(e, o.Ebs)
				// The snapshot is under its volume's key, whatever
				// the override says: CopyImage re-keys.
				e.Encrypted, e.KmsKeyID = snap.Encrypted, snap.KmsKeyID
			}
			img.BlockDeviceMappings = append(img.BlockDeviceMappings, openami.BlockDeviceMapping{DeviceName: b.DeviceName, Ebs: e})
		}
		for _, st := range inst.InstanceStores {
			if o, ok := override(st.DeviceName); ok && o.NoDevice {
				continue
			}
			if !slices.ContainsFunc(img.BlockDeviceMappings, func(m openami.BlockDeviceMapping) bool { return m.DeviceName == st.DeviceName }) {
				img.BlockDeviceMappings = append(img.BlockDeviceMappings, openami.BlockDeviceMapping{DeviceName: st.DeviceName, VirtualName: st.VirtualName})
			}
		}
		// New devices: blank or snapshot EBS volumes, and instance stores.
		for _, o := range in.BlockDeviceMappings {
			if slices.ContainsFunc(img.BlockDeviceMappings, func(m openami.BlockDeviceMapping) bool { return m.DeviceName == o.DeviceName }) ||
				slices.ContainsFunc(inst.BlockDevices, func(b openami.InstanceBlockDevice) bool { return b.DeviceName == o.DeviceName }) {
				continue
			}
			m := openami.BlockDeviceMapping{DeviceName: o.DeviceName, VirtualName: o.VirtualName, NoDevice: o.NoDevice}
			if o.Ebs != nil {
				m.Ebs = &openami.EbsBlockDevice{DeleteOnTermination: true}
				applyEbsOverride(m.Ebs, o.Ebs)
			}
			img.BlockDeviceMappings = append(img.BlockDeviceMappings, m)
		}
		// The snapshots just taken are completed; RegisterCreated checks
		// the rest (added snapshots, sizes, names) as RegisterImage does.
		return s.images.RegisterCreated(tx, p, &img, in.ImageTags)
	})
	if err != nil {
		return "", err
	}
	if deferred {
		// When another job holds the instance, the worker's pass starts
		// this one later (resumeImageCreations).
		s.startImageCreation(p.Region, id, inst.ID)
	}
	s.kick()
	return id, nil
}

// imageCreationDescription is the description of the snapshots
// CreateImage takes; it also marks those a deferred CreateImage awaits.
func imageCreationDescription(instanceID, imageID string) string {
	return fmt.Sprintf("Created by CreateImage(%s) for %s", instanceID, imageID)
}

// awaitedSnapshots returns the snapshots of a pending image that a
// deferred CreateImage has still to fill.
func (s *Machines) awaitedSnapshots(tx metadata.Tx, img openami.Image) ([]openami.Snapshot, error) {
	if img.State != openami.ImagePending || img.SourceInstanceID == "" {
		return nil, nil
	}
	var out []openami.Snapshot
	for _, id := range img.Snapshots() {
		snap, err := s.ebs.Snapshot(tx, img.Region, id)
		if errors.Is(err, openami.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if snap.State == openami.SnapshotPending && !snap.Completing && snap.Description == imageCreationDescription(img.SourceInstanceID, img.ID) {
			out = append(out, snap)
		}
	}
	return out, nil
}

// startImageCreation runs finishImageFromInstance in a job of the
// instance's, unless one is running.
func (s *Machines) startImageCreation(region, imageID, instanceID string) {
	ctx, _ := s.worker()
	s.vmJobs.run(instanceID, func() {
		if err := s.finishImageFromInstance(ctx, region, imageID); err != nil {
			if ctx.Err() == nil {
				s.log().Error("create image", "image", imageID, "instance", instanceID, "error", err)
			}
			return
		}
		s.kick()
	})
}

// resumeImageCreations starts the job of every deferred CreateImage whose
// snapshots are still awaited: those the API call could not start, and
// those a restart interrupted.
func (s *Machines) resumeImageCreations(ctx context.Context) error {
	for _, r := range s.regions {
		var images []openami.Image
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			page, err := s.images.PendingImages(tx, r.Name)
			if err != nil {
				return err
			}
			for _, img := range page {
				awaited, err := s.awaitedSnapshots(tx, img)
				if err != nil {
					return err
				}
				if len(awaited) > 0 {
					images = append(images, img)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, img := range images {
			s.startImageCreation(img.Region, img.ID, img.SourceInstanceID)
		}
	}
	return nil
}

// finishImageFromInstance is the background half of a CreateImage with a
// reboot: it shuts the instance's VM down cleanly (the runtime's Stop),
// flushes its volumes, fills the image's awaited snapshots from them, lets
// the image settle, and boots the VM again if the instance is still
// running. It is idempotent, so a restart simply runs it again. A volume
// gone meanwhile (the instance terminated) turns its snapshot to error
// and so fails the image.
func (s *Machines) finishImageFromInstance(ctx context.Context, region, imageID string) error {
	var (
		img     openami.Image
		awaited []openami.Snapshot
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		img, err = s.images.ImageOf(tx, region, imageID)
		if errors.Is(err, openami.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		awaited, err = s.awaitedSnapshots(tx, img)
		return err
	})
	if err != nil || len(awaited) == 0 {
		return err
	}
	inst, err := s.instanceNow(ctx, region, img.SourceInstanceID)
	if err != nil && !errors.Is(err, openami.ErrNotFound) {
		return err
	}
	wasRunning := err == nil && inst.State == openami.InstanceRunning
	if wasRunning && !s.runsHere(inst) {
		return nil // its host's worker does it (resumeImageCreations)
	}
	if wasRunning {
		if err := s.runtime.Stop(ctx, inst, false); err != nil {
			return fmt.Errorf("shut instance %s down for CreateImage: %w", inst.ID, err)
		}
	}
	volumes := make([]string, len(awaited))
	for i, snap := range awaited {
		volumes[i] = snap.VolumeID
	}
	err = s.ebs.FlushDevices(ctx, volumes)
	if err == nil {
		err = s.store.Update(ctx, func(tx metadata.Tx) error {
			for _, snap := range awaited {
				if err := s.fillAwaitedSnapshot(tx, snap); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err == nil {
		err = s.images.SettleImage(ctx, region, imageID)
	}
	if wasRunning {
		// Booted again unless the instance was stopped or terminated
		// meanwhile: the worker owns those. A failure here leaves the VM
		// down; the worker's watch boots it again.
		cur, rerr := s.instanceNow(context.WithoutCancel(ctx), region, inst.ID)
		if rerr == nil && cur.State == openami.InstanceRunning {
			rerr = s.runtime.Start(context.WithoutCancel(ctx), cur)
		}
		if rerr != nil && !errors.Is(rerr, openami.ErrNotFound) {
			s.log().Error("start instance after CreateImage", "instance", inst.ID, "error", rerr)
		}
	}
	return err
}

// fillAwaitedSnapshot completes an awaited snapshot from its volume as it
// is now (snapshotVolume's work, into an existing record), or turns it to
// error when the volume is gone.
func (s *Machines) fillAwaitedSnapshot(tx metadata.Tx, snap openami.Snapshot) error {
	cur, err := s.ebs.Snapshot(tx, snap.Region, snap.ID)
	if errors.Is(err, openami.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.State != openami.SnapshotPending || cur.Completing {
		return nil
	}
	v, err := s.ebs.Volume(tx, snap.Region, snap.VolumeID)
	if errors.Is(err, openami.ErrNotFound) || err == nil && v.State != openami.VolumeAvailable && v.State != openami.VolumeInUse {
		return s.ebs.FailSnapshot(tx, cur, "The volume "+snap.VolumeID+" was deleted before CreateImage could snapshot it.")
	}
	if err != nil {
		return err
	}
	return s.ebs.FillSnapshotFromVolume(tx, cur, v)
}

// CreateSnapshotsInput are CreateSnapshots' parameters.
type CreateSnapshotsInput struct {
	InstanceID           string
	ExcludeBootVolume    bool
	ExcludeDataVolumeIDs []string
	Description          string
	Tags                 []openami.Tag
	// CopyTagsFromSource copies each volume's tags to its snapshot.
	CopyTagsFromSource bool
}

// CreateSnapshots snapshots the EBS volumes attached to one of the
// caller's instances at one point in time (one transaction), each
// incrementally, and returns the snapshots in the instance's device order.
func (s *Machines) CreateSnapshots(ctx context.Context, p openami.Principal, in CreateSnapshotsInput) ([]ebs.SnapshotView, error) {
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if len(in.Description) > 255 {
		return nil, openami.Errorf(openami.InvalidParameter, "", "The description must be at most 255 characters.")
	}
	var inst openami.Instance
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		inst, err = ownedInstance(tx, p, in.InstanceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	var volumes []string
	for _, b := range inst.BlockDevices {
		volumes = append(volumes, b.VolumeID)
	}
	if err := s.ebs.FlushDevices(ctx, volumes); err != nil {
		return nil, err
	}
	var out []ebs.SnapshotView
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		out = nil
		inst, err := ownedInstance(tx, p, in.InstanceID)
		if err != nil {
			return err
		}
		if inst.State == openami.InstanceTerminated || inst.State == openami.InstanceShuttingDown {
			return openami.Errorf(openami.IncorrectState, openami.ResourceInstance, "The instance '%s' is %s.", inst.ID, inst.State)
		}
		for _, id := range in.ExcludeDataVolumeIDs {
			if !slices.ContainsFunc(inst.BlockDevices, func(b openami.InstanceBlockDevice) bool { return b.VolumeID == id }) {
				return openami.Errorf(openami.InvalidParameter, "", "The volume '%s' is not attached to the instance '%s'.", id, inst.ID)
			}
		}
		for _, b := range inst.BlockDevices {
			boot := b.DeviceName == inst.RootDeviceName
			if boot && in.ExcludeBootVolume || !boot && slices.Contains(in.ExcludeDataVolumeIDs, b.VolumeID) {
				continue
			}
			v, err := s.ebs.Volume(tx, p.Region, b.VolumeID)
			if err != nil {
				return err
			}
			tags := in.Tags
			if in.CopyTagsFromSource {
				vt, err := tx.Tags().Of(p.Region, p.AccountID, []string{v.ID})
				if err != nil {
					return err
				}
				tags = mergeTags(vt[v.ID], in.Tags)
			}
			snap, err := s.ebs.SnapshotVolume(tx, v, in.Description, tags)
			if err != nil {
				return err
			}
			out = append(out, ebs.SnapshotView{Snapshot: snap, Tags: sortedTags(tags)})
		}
		return nil
	})
	return out, err
}
