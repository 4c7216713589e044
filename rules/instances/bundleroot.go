package instances

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/localdisk"
	"github.com/openami/openami/metadata"
)

// Instance store-backed instances (docs/BUNDLES.md): the root of an
// instance launched from an instance store-backed AMI is its bundle,
// unpacked. The launch's runtime job, before it starts the VM, reads the
// manifest again (as the image's owner; it must still be the bytes that
// were verified at registration), has EC2 decrypt the bundle's key, and
// fills the host's base cache (localdisk.Bases) with the image: every part
// read from its bucket as EC2 (the parts' ACL must grant it, as
// aws-exec-read does), its SHA-1 checked, decrypted, gunzipped, untarred,
// the image's SHA-1 checked. Only a whole, verified image is published in
// the cache, under the image's BaseKey; a second launch of the image on
// this host finds it and reads nothing. The instance's root is then a
// copy-on-write disk over the base (Disks.OpenOverlay), the NBD export
// INSTANCE/root, deleted with the instance's other instance-store disks;
// deleting it is what lets the base be evicted. While the bundle is
// fetched, the pending instance's StateReason says how far it is. A
// bundle that fails (a part missing or damaged, a key that does not
// open) terminates the instance with a launch-failed StateReason, as EC2
// does with a launch that cannot complete.

// rootDisk is the name of an instance store-backed instance's root disk
// among its instance-store disks (NBD export INSTANCE/root).
const rootDisk = "root"

// rootSize is the size of an instance-store root disk over an image of
// size bytes: whole 512-byte sectors.
func rootSize(size int64) int64 { return (size + 511) &^ 511 }

// checkStoreRoot applies EC2's rules to launching an instance store-backed
// image on a type: the type must be of a family that takes instance-store
// roots, and the image must fit its instance store.
func checkStoreRoot(img openami.Image, it InstanceType) error {
	if !slices.Contains(it.RootDeviceTypes(), "instance-store") {
		return openami.Errorf(openami.Unsupported, "", "AMI '%s' with an instance-store root device is not supported for the instance type '%s'.", img.ID, it.Name)
	}
	if img.Bundle == nil {
		return openami.Errorf(openami.InvalidParameter, "", "The image '%s' has no bundle to launch from.", img.ID)
	}
	if img.Bundle.Size > it.InstanceStore.TotalGB()<<30 {
		return openami.Errorf(openami.InvalidParameter, "", "The image '%s' (%d bytes) does not fit the instance store of the instance type '%s' (%d GB).", img.ID, img.Bundle.Size, it.Name, it.InstanceStore.TotalGB())
	}
	return nil
}

// prepareRoot makes a pending instance store-backed instance's root disk:
// its base in the host's cache (filled from the bundle unless there), and
// the copy-on-write disk over it. An error that is not ctx's means the
// launch cannot succeed.
func (s *Machines) prepareRoot(ctx context.Context, i openami.Instance) error {
	b := i.RootBundle
	if s.bases == nil || s.disks == nil {
		return errors.New("this server keeps no bundle cache (no data directory)")
	}
	var failed error // the bundle's own error, without the cache's words
	base, err := s.bases.Fill(ctx, i.RootBase, b.Size, func(w io.Writer) error {
		failed = s.unbundle(ctx, i, w)
		return failed
	})
	if failed != nil {
		return failed
	}
	if err != nil {
		return err
	}
	defer base.Release()
	ov, err := s.disks.OpenOverlay(i.ID, rootDisk, base, rootSize(b.Size))
	if err != nil {
		return err
	}
	return ov.Close()
}

// unbundle writes an instance's bundle, verified and decrypted, to w
// (rules/images' Unbundle), its progress in the instance's StateReason.
func (s *Machines) unbundle(ctx context.Context, i openami.Instance, w io.Writer) error {
	b := i.RootBundle
	s.progress(ctx, i, fmt.Sprintf("Fetching the bundle %s/%s (%d parts, %d bytes)", b.Bucket, b.ManifestKey, b.Parts, b.BundledSize))
	var last time.Time
	err := s.images.Unbundle(ctx, i.Region, b, w, func(part, parts int) {
		// A write to the store at most every second, whatever the parts.
		if now := time.Now(); now.Sub(last) >= time.Second {
			last = now
			s.progress(ctx, i, fmt.Sprintf("Fetching bundle part %d of %d", part+1, parts))
		}
	})
	if err == nil {
		s.progress(ctx, i, "Bundle verified and unpacked; booting")
	}
	return err
}

// progress records how far a pending instance's launch is, in its
// StateReason (best effort: a failure to record it does not stop the
// launch).
func (s *Machines) progress(ctx context.Context, i openami.Instance, msg string) {
	s.store.Update(ctx, func(tx metadata.Tx) error {
		cur, err := tx.Instances().Get(i.Region, i.ID)
		if err != nil || cur.State != openami.InstancePending {
			return err
		}
		cur.StateReason = openami.StateReason{Cause: openami.CauseLaunching, Message: msg}
		return tx.Instances().Update(cur)
	})
}

// openRoot opens the root disk of an instance store-backed instance, over
// its base in the cache.
func (s *Machines) openRoot(i openami.Instance) (Device, error) {
	if s.bases == nil || i.RootBundle == nil {
		return nil, fmt.Errorf("instance %s has no instance-store root", i.ID)
	}
	base, ok := s.bases.Get(i.RootBase)
	if !ok {
		return nil, fmt.Errorf("instance %s: its base %s is not in the bundle cache", i.ID, i.RootBase)
	}
	defer base.Release()
	return s.disks.OpenOverlay(i.ID, rootDisk, base, rootSize(i.RootBundle.Size))
}

// BaseCache returns the host's base cache (nil without one), for tests
// and the service's reports.
func (s *Machines) BaseCache() *localdisk.Bases { return s.bases }
