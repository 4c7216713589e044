package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/param"
)

// Boot images are EC2's kernel (AKI) and ramdisk (ARI) images: a
// paravirtual machine image names one of each (KernelId, RamdiskId) and
// boots that kernel with that initial ramdisk instead of its root volume's
// boot loader. EC2 registers them from S3 bundles; openami keeps each as
// an image of type kernel or ramdisk over a snapshot that holds the file
// from byte 0, zero-padded to a whole block (a kernel and an initramfs
// both ignore trailing zeros). RegisterBootImage makes one from a file
// (`openami image register-kernel|register-ramdisk`); BootFile reads one
// back for the runtime.

// maxBootFileSize bounds a kernel or ramdisk file.
const maxBootFileSize = 1 << 30

// RegisterBootImageInput are RegisterBootImage's parameters.
type RegisterBootImageInput struct {
	ImageType    string // kernel or ramdisk
	Name         string
	Description  string
	Architecture string // x86_64 (default) or i386
	Size         int64
	Data         io.Reader
}

// RegisterBootImage stores a kernel or ramdisk file as a snapshot of the
// caller's and registers a kernel or ramdisk image over it, available at
// once. It fails on a bad type, name or size, or a short read.
func (s *Registry) RegisterBootImage(ctx context.Context, p openami.Principal, in RegisterBootImageInput) (string, error) {
	if in.ImageType != "kernel" && in.ImageType != "ramdisk" {
		return "", param.OneOf("ImageType", in.ImageType, "kernel", "ramdisk")
	}
	if err := checkImageName(in.Name); err != nil {
		return "", err
	}
	if in.Size < 1 || in.Size > maxBootFileSize {
		return "", openami.Errorf(openami.InvalidParameter, "", "A %s file must hold 1 byte to 1 GiB, not %d bytes.", in.ImageType, in.Size)
	}
	if in.Architecture == "" {
		in.Architecture = "x86_64"
	}
	snap, err := s.ebs.StartSnapshot(ctx, p, ebs.StartSnapshotInput{VolumeSize: (in.Size + (1 << 30) - 1) >> 30,
		Description: fmt.Sprintf("%s file of %s (%d bytes)", in.ImageType, in.Name, in.Size), Plain: true})
	if err != nil {
		return "", err
	}
	buf := make([]byte, openami.BlockSize)
	zero := make([]byte, openami.BlockSize)
	h := sha256.New()
	written := int64(0)
	for i := int64(0); i*openami.BlockSize < in.Size; i++ {
		clear(buf)
		n := min(in.Size-i*openami.BlockSize, openami.BlockSize)
		if _, err := io.ReadFull(in.Data, buf[:n]); err != nil {
			return "", fmt.Errorf("read the %s file: %w", in.ImageType, err)
		}
		if bytes.Equal(buf, zero) {
			continue
		}
		sum := sha256.Sum256(buf)
		h.Write(sum[:])
		if _, err := s.ebs.PutSnapshotBlock(ctx, p, ebs.PutSnapshotBlockInput{SnapshotID: snap.ID, Index: i, Data: buf,
			DataLength: openami.BlockSize, Checksum: base64.StdEncoding.EncodeToString(sum[:]), ChecksumAlgorithm: "SHA256"}); err != nil {
			return "", err
		}
		written++
	}
	if _, err := s.ebs.CompleteSnapshot(ctx, p, ebs.CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: written,
		Checksum: base64.StdEncoding.EncodeToString(h.Sum(nil)), ChecksumAlgorithm: "SHA256", ChecksumAggregationMethod: "LINEAR"}); err != nil {
		return "", err
	}
	// Built here rather than by a server's worker, so that the image is
	// available at once (this also runs in the CLI, which has no worker).
	if err := s.ebs.FinishSnapshot(ctx, p.Region, snap.ID); err != nil {
		return "", err
	}
	return s.RegisterImage(ctx, p, RegisterImageInput{Name: in.Name, Description: in.Description, Architecture: in.Architecture,
		RootDeviceName: "/dev/sda1", VirtualizationType: "paravirtual", ImageType: in.ImageType,
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/sda1", Ebs: &openami.EbsBlockDevice{SnapshotID: snap.ID, DeleteOnTermination: true}}}})
}

// checkBootImages checks the kernel and ramdisk a machine image names:
// each must be an image the caller may launch, available, of the right
// type; a kernel or ramdisk image names neither.
func (s *Registry) checkBootImages(tx metadata.Tx, p openami.Principal, img openami.Image) error {
	if img.ImageType != "machine" {
		if img.KernelID != "" || img.RamdiskID != "" {
			return openami.Errorf(openami.InvalidParameter, "", "A %s image cannot name a kernel or ramdisk.", img.ImageType)
		}
		return nil
	}
	for _, ref := range []struct{ id, typ, field string }{{img.KernelID, "kernel", "KernelId"}, {img.RamdiskID, "ramdisk", "RamdiskId"}} {
		if ref.id == "" {
			continue
		}
		b, err := s.LaunchableImage(tx, p, ref.id)
		if err != nil {
			return err
		}
		if b.ImageType != ref.typ {
			return openami.FieldErrorf(openami.InvalidParameter, ref.field, "The image '%s' is a %s image, not a %s image.", ref.id, b.ImageType, ref.typ)
		}
	}
	return nil
}

// BootFile writes the file a kernel or ramdisk image holds (zero-padded
// to a whole block; a bundle's image exactly) to w. NotFound if there is no such image in the
// region; InvalidParameter if it is not a kernel or ramdisk image. It has
// no principal: the runtime calls it for an instance that was launched
// with the image.
func (s *Registry) BootFile(ctx context.Context, region, imageID string, w io.Writer) error {
	var (
		snap   openami.Snapshot
		blocks []metadata.BlockRef
		bundle *openami.ImageBundle
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		img, err := tx.Images().Get(region, imageID)
		if errors.Is(err, openami.ErrNotFound) {
			return imageNotFound(imageID)
		}
		if err != nil {
			return err
		}
		if (img.ImageType == "kernel" || img.ImageType == "ramdisk") && img.Bundle != nil {
			bundle = img.Bundle // from a bundle: unbundled below
			return nil
		}
		if img.ImageType != "kernel" && img.ImageType != "ramdisk" || len(img.Snapshots()) != 1 {
			return openami.Errorf(openami.InvalidParameter, "", "The image '%s' is not a kernel or ramdisk image.", imageID)
		}
		snap, err = s.ebs.Snapshot(tx, region, img.Snapshots()[0])
		if err != nil {
			return fmt.Errorf("the snapshot of %s image %s: %w", img.ImageType, imageID, err)
		}
		blocks, err = s.ebs.SnapshotBlocks(tx, snap)
		return err
	})
	if err != nil {
		return err
	}
	if bundle != nil {
		return s.Unbundle(ctx, region, bundle, w, nil)
	}
	if snap.KmsKeyID != "" {
		// The runtime hands QEMU the file: it would be plaintext at rest.
		return openami.Errorf(openami.Unsupported, "", "The %s image '%s' is encrypted; kernel and ramdisk images must not be.", "boot", imageID)
	}
	return s.ebs.WritePlainBlocks(ctx, region, blocks, w)
}
