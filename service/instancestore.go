package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Device is a block device the NBD export serves: an attached EBS volume
// (VolumeDevice) or an instance-store disk (instanceStoreDisk). Its
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
// "i-…/ephemeralN", an instance-store disk of such an instance.
func (s *Service) OpenDevice(ctx context.Context, name string) (Device, error) {
	if inst, disk, ok := strings.Cut(name, "/"); ok {
		return s.openInstanceStore(ctx, inst, disk)
	}
	return s.OpenVolumeDevice(ctx, name)
}

// Instance-store disks are sparse files under DATA_DIR/instance-store/
// INSTANCE/, created blank when first opened and deleted when the instance
// stops or terminates: their data does not survive either, as on EC2.
// They are local to the server that runs the instance, never in the block
// store.

func (s *Service) instanceStoreDir(instanceID string) string {
	return filepath.Join(s.localDir, "instance-store", instanceID)
}

// openInstanceStore opens the instance-store disk virtualName
// (ephemeralN) of an instance that is pending, running or stopping.
func (s *Service) openInstanceStore(ctx context.Context, instanceID, virtualName string) (Device, error) {
	notFound := openami.Errorf(openami.NotFound, openami.ResourceInstance, "The instance '%s' has no instance-store disk '%s' to serve.", instanceID, virtualName)
	if s.localDir == "" || checkInstanceID(instanceID) != nil {
		return nil, notFound
	}
	var store openami.InstanceStore
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
			switch {
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
	if store.VirtualName == "" {
		return nil, notFound
	}
	dir := s.instanceStoreDir(instanceID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	size := store.Size << 30
	f, err := os.OpenFile(filepath.Join(dir, virtualName+".img"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if info, err := f.Stat(); err != nil || info.Size() != size {
		if err == nil {
			err = f.Truncate(size)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("instance-store disk %s/%s: %w", instanceID, virtualName, err)
		}
	}
	return &instanceStoreDisk{f: f, size: size}, nil
}

// removeInstanceStores deletes an instance's instance-store disks.
func (s *Service) removeInstanceStores(instanceID string) error {
	if s.localDir == "" {
		return nil
	}
	return os.RemoveAll(s.instanceStoreDir(instanceID))
}

// instanceStoreDisk is an instance-store disk: a sparse file.
type instanceStoreDisk struct {
	f    *os.File
	size int64
	once sync.Once
}

func (d *instanceStoreDisk) Size() int64    { return d.size }
func (d *instanceStoreDisk) ReadOnly() bool { return false }

func (d *instanceStoreDisk) ReadAt(_ context.Context, p []byte, off int64) error {
	_, err := d.f.ReadAt(p, off)
	return err
}

func (d *instanceStoreDisk) WriteAt(_ context.Context, p []byte, off int64) error {
	_, err := d.f.WriteAt(p, off)
	return err
}

func (d *instanceStoreDisk) Flush(context.Context) error { return d.f.Sync() }

func (d *instanceStoreDisk) Trim(ctx context.Context, off, length int64) error {
	return d.WriteZeroes(ctx, off, length)
}

func (d *instanceStoreDisk) WriteZeroes(_ context.Context, off, length int64) error {
	zero := make([]byte, min(length, 1<<20))
	for done := int64(0); done < length; {
		n := min(int64(len(zero)), length-done)
		if _, err := d.f.WriteAt(zero[:n], off+done); err != nil {
			return err
		}
		done += n
	}
	return nil
}

func (d *instanceStoreDisk) Close() error {
	var err error
	d.once.Do(func() { err = d.f.Close() })
	return err
}
