package instances

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Device is a block device the NBD export serves: an attached EBS volume
// (VolumeDevice) or an instance-store disk (a *localdisk.Disk). Its
// methods are nbd.Export's; Close releases it.
type Device interface {
	Size() int64
	ReadOnly() bool
	ReadAt(ctx context.Context, p []byte, off int64) error
	WriteAt(ctx context.Context, p []byte, off int64) error
	Flush(ctx context.Context) error
	Trim(ctx context.Context, off, length int64) error
	WriteZeroes(ctx context.Context, off, length int64) error
	Close() error
}

// OpenDevice opens what an NBD export name names: "vol-…", an EBS volume
// attached to an instance that may run (OpenVolumeDevice), or
// "i-…/ephemeralN", an instance-store disk of such an instance, or
// "i-…/root", the root of an instance store-backed one (bundleroot.go).
func (s *Machines) OpenDevice(ctx context.Context, name string) (Device, error) {
	if inst, disk, ok := strings.Cut(name, "/"); ok {
		return s.openInstanceStore(ctx, inst, disk)
	}
	return s.ebs.OpenVolumeDevice(ctx, name)
}

// Instance-store disks are local disks (package localdisk), created blank
// when first opened and deleted when the instance stops or terminates:
// their data does not survive either, as on EC2. They are local to the
// server that runs the instance, never in the block store. The rules here
// say which instance may have which disk, and when it goes; localdisk
// owns the files.

// openInstanceStore opens the instance-store disk virtualName
// (ephemeralN) of an instance that is pending, running or stopping.
func (s *Machines) openInstanceStore(ctx context.Context, instanceID, virtualName string) (Device, error) {
	notFound := openami.Errorf(openami.NotFound, openami.ResourceInstance, "The instance '%s' has no instance-store disk '%s' to serve.", instanceID, virtualName)
	if s.disks == nil || checkInstanceID(instanceID) != nil {
		return nil, notFound
	}
	var (
		store openami.InstanceStore
		root  openami.Instance
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		for _, r := range s.regions {
			i, err := tx.Instances().Get(r.Name, instanceID)
			if errors.Is(err, openami.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			k := slices.IndexFunc(i.InstanceStores, func(st openami.InstanceStore) bool { return st.VirtualName == virtualName })
			live := i.State == openami.InstancePending || i.State == openami.InstanceRunning || i.State == openami.InstanceStopping
			switch {
			case virtualName == rootDisk && i.RootBundle != nil && live:
				root = i
			case k < 0:
			case i.State == openami.InstancePending, i.State == openami.InstanceRunning, i.State == openami.InstanceStopping:
				store = i.InstanceStores[k]
			}
			return nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if root.RootBundle != nil {
		return s.openRoot(root)
	}
	if store.VirtualName == "" {
		return nil, notFound
	}
	return s.disks.Open(instanceID, virtualName, store.Size<<30)
}

// removeInstanceStores deletes an instance's instance-store disks.
func (s *Machines) removeInstanceStores(instanceID string) error {
	if s.disks == nil {
		return nil
	}
	return s.disks.Remove(instanceID)
}
