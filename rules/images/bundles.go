package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/bundle"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/objects"
)

// Instance store-backed images are registered from a bundle in a bucket
// (docs/BUNDLES.md): RegisterImage with ImageLocation BUCKET/KEY names
// the bundle's manifest. The caller must be able to read the manifest;
// it must parse, be signed by one of the caller's active signing
// certificates or by the region's EC2 key (identity.ManifestSigners), and
// carry an AES key and IV that the region's EC2 key decrypts; every part
// it names must be in the manifest's folder, readable by EC2 (the canned
// ACL aws-exec-read), with the manifest's total size. Parts are not read
// here (a launch reads them and checks every digest). Any failure is
// InvalidManifest, and no image is made.

// MaxRootSize bounds the image of an instance store-backed AMI: an
// instance-store root device holds at most 10 GiB on EC2.
const MaxRootSize = 10 << 30

// badManifest is the error of a manifest that cannot be used.
func badManifest(format string, args ...any) error {
	return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceImage, openami.ReasonManifest, format, args...)
}

// SplitLocation splits an ImageLocation BUCKET/KEY into the bucket and
// the manifest's key.
func SplitLocation(loc string) (bucket, key string, err error) {
	bucket, key, ok := strings.Cut(loc, "/")
	if !ok || bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return "", "", badManifest("The image location '%s' must be a bucket and the key of a manifest: BUCKET/PATH/NAME.manifest.xml.", loc)
	}
	return bucket, key, nil
}

// PartKey is the key of a bundle's part: the part's file name in the
// manifest's folder.
func PartKey(manifestKey, filename string) string {
	if dir := path.Dir(manifestKey); dir != "." {
		return dir + "/" + filename
	}
	return filename
}

// ReadManifest reads and parses the manifest key of a bucket as c, and
// returns it with the SHA-256 of its bytes. A manifest c may not read,
// that is not there, or that does not parse is InvalidManifest.
func ReadManifest(ctx context.Context, objs *objects.Buckets, c objects.Caller, bucketName, key string) (*bundle.Manifest, string, error) {
	r, _, err := objs.Open(ctx, c, bucketName, key)
	if err != nil {
		switch openami.ClassOf(err) {
		case openami.NotFound, openami.Unauthorized, openami.Malformed, openami.InvalidParameter:
			return nil, "", badManifest("The manifest %s/%s cannot be read: %s", bucketName, key, err)
		}
		return nil, "", err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, bundle.MaxManifestSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("read manifest %s/%s: %w", bucketName, key, err)
	}
	m, err := bundle.ParseManifest(bytes.NewReader(data))
	if err != nil {
		return nil, "", badManifest("The manifest %s/%s is unparsable: %v", bucketName, key, err)
	}
	sum := sha256.Sum256(data)
	return m, hex.EncodeToString(sum[:]), nil
}

// registerBundle checks the bundle in.ImageLocation names and fills in
// what img takes from its manifest: the type, architecture, ephemeral
// mappings and the record of the bundle. It reads outside a transaction.
func (s *Registry) registerBundle(ctx context.Context, p openami.Principal, in RegisterImageInput, img *openami.Image) error {
	if s.objects == nil {
		return openami.Errorf(openami.Unsupported, "", "This server has no object storage to register bundles from.")
	}
	if len(in.BlockDeviceMappings) > 0 {
		for _, m := range in.BlockDeviceMappings {
			if m.Ebs != nil {
				return BadMapping("An instance store-backed image cannot map EBS volumes (%s).", m.DeviceName)
			}
		}
	}
	bucketName, key, err := SplitLocation(in.ImageLocation)
	if err != nil {
		return err
	}
	b, err := s.objects.HeadBucket(ctx, objects.As(p), bucketName)
	if err != nil {
		if openami.ClassOf(err) == openami.Internal {
			return err
		}
		return badManifest("The manifest %s cannot be read: %s", in.ImageLocation, err)
	}
	if b.Region != p.Region {
		return badManifest("The bucket %s is in %s: register its bundles in that region, or copy them.", bucketName, b.Region)
	}
	m, sum, err := ReadManifest(ctx, s.objects, objects.As(p), bucketName, key)
	if err != nil {
		return err
	}
	var certs []*x509.Certificate
	if err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		certs, err = s.identity.ManifestSigners(tx, p.AccountID, p.Region)
		return err
	}); err != nil {
		return err
	}
	if err := m.Verify(certs...); err != nil {
		return badManifest("The manifest %s is not signed by a signing certificate of account %s (UploadSigningCertificate) or by this region's EC2 key.", in.ImageLocation, p.AccountID)
	}
	if _, _, err := m.EC2Key(func(c []byte) ([]byte, error) { return s.identity.EC2Decrypt(ctx, p.Region, c) }); err != nil {
		// One answer for every key failure: it must tell nothing of why.
		return badManifest("The manifest %s has no key for this region's EC2 certificate (bundle with cert-ec2.pem of %s).", in.ImageLocation, p.Region)
	}
	for _, part := range m.Parts {
		if strings.ContainsAny(part.Filename, "/\\") || part.Filename == ".." || part.Filename == "." {
			return badManifest("The manifest %s names a part outside its folder: %q.", in.ImageLocation, part.Filename)
		}
	}
	err = bundle.CheckPartSizes(m, func(part bundle.Part) (int64, error) {
		o, err := s.objects.HeadObject(ctx, objects.EC2(), bucketName, PartKey(key, part.Filename), objects.Conditions{})
		if err == nil {
			return o.Size, nil
		}
		switch openami.ClassOf(err) {
		case openami.NotFound:
			return 0, fs.ErrNotExist
		case openami.Unauthorized:
			return 0, fmt.Errorf("missing, or EC2 may not read it (upload parts with the canned ACL aws-exec-read)")
		}
		return 0, err
	})
	var perr *bundle.PartError
	switch {
	case err == nil:
	case errors.As(err, &perr) || errors.Is(err, bundle.ErrSize):
		return badManifest("The bundle %s is not whole: %v", in.ImageLocation, err)
	default:
		return err
	}

	if m.Size > MaxRootSize {
		return badManifest("The image of %s is %d bytes: an instance-store root device holds at most 10 GiB.", in.ImageLocation, m.Size)
	}
	switch m.Type {
	case bundle.TypeMachine, bundle.TypeKernel, bundle.TypeRamdisk:
		img.ImageType = m.Type
	default:
		return badManifest("The manifest %s is of image type %q, not machine, kernel or ramdisk.", in.ImageLocation, m.Type)
	}
	if img.Architecture == "" {
		img.Architecture = m.Architecture
	}
	if img.KernelID == "" {
		img.KernelID = m.KernelID
	}
	if img.RamdiskID == "" {
		img.RamdiskID = m.RamdiskID
	}
	img.RootDeviceType, img.ImageLocation = "instance-store", in.ImageLocation
	img.BlockDeviceMappings = in.BlockDeviceMappings
	if len(img.BlockDeviceMappings) == 0 {
		img.BlockDeviceMappings = manifestMappings(m)
	}
	if img.RootDeviceName == "" {
		img.RootDeviceName = manifestRoot(m)
	}
	img.Bundle = &openami.ImageBundle{Owner: p.AccountID, Bucket: bucketName, ManifestKey: key, ManifestSHA256: sum, Digest: hex.EncodeToString(m.Digest),
		Size: m.Size, BundledSize: m.BundledSize, Parts: len(m.Parts)}
	return nil
}

// devicePath makes a manifest's device name (sda1, /dev/sdb) a device
// name of a block device mapping.
func devicePath(dev string) string {
	if strings.HasPrefix(dev, "/dev/") {
		return dev
	}
	return "/dev/" + dev
}

// manifestMappings are the ephemeral devices of a manifest's block
// device mapping, as the image's mapping.
func manifestMappings(m *bundle.Manifest) []openami.BlockDeviceMapping {
	var out []openami.BlockDeviceMapping
	for _, bm := range m.BlockDeviceMapping {
		if IsEphemeralName(bm.Virtual) && IsDeviceName(devicePath(bm.Device)) {
			out = append(out, openami.BlockDeviceMapping{DeviceName: devicePath(bm.Device), VirtualName: bm.Virtual})
		}
	}
	return out
}

// manifestRoot is the root device a manifest's mapping names (virtual
// name root, else ami), else /dev/sda1, the AMI tools' default.
func manifestRoot(m *bundle.Manifest) string {
	for _, virtual := range []string{"root", "ami"} {
		for _, bm := range m.BlockDeviceMapping {
			if bm.Virtual == virtual && IsDeviceName(devicePath(bm.Device)) {
				return devicePath(bm.Device)
			}
		}
	}
	return "/dev/sda1"
}

// checkStoreMappings validates an instance store-backed image's mapping:
// ephemeral devices and NoDevice entries only (its root is the bundle),
// each device once, none of them the root device.
func checkStoreMappings(_ metadata.Tx, _ openami.Principal, img *openami.Image) error {
	seen := map[string]bool{}
	for _, m := range img.BlockDeviceMappings {
		switch {
		case !IsDeviceName(m.DeviceName):
			return BadMapping("Invalid device name %s.", m.DeviceName)
		case seen[m.DeviceName]:
			return BadMapping("The device name %s is mapped twice.", m.DeviceName)
		case m.DeviceName == img.RootDeviceName:
			return BadMapping("The root device %s of an instance store-backed image is its bundle.", m.DeviceName)
		case m.Ebs != nil:
			return BadMapping("An instance store-backed image cannot map EBS volumes (%s).", m.DeviceName)
		case m.NoDevice == (m.VirtualName != ""):
			return BadMapping("The mapping of %s must have exactly one of VirtualName and NoDevice.", m.DeviceName)
		case m.VirtualName != "" && !IsEphemeralName(m.VirtualName):
			return BadMapping("Invalid virtual name %s: expecting ephemeral0 to ephemeral23.", m.VirtualName)
		}
		seen[m.DeviceName] = true
	}
	return nil
}

// Unbundle writes the image of a registered bundle b (an image's Bundle)
// of the region to w, verified and decrypted: the manifest read again as
// b's owner and used only if it is still the bytes verified at
// registration, the key opened by the region's EC2 key, every part read
// as EC2 (its ACL must grant it) and checked (bundle.Unbundle). progress,
// when not nil, is told of each part as it is opened. Bytes reach w
// before the whole image is verified: on an error, w's bytes are to be
// thrown away. Errors are plain errors saying what failed (a launch's
// StateReason), or ctx's.
func (s *Registry) Unbundle(ctx context.Context, region string, b *openami.ImageBundle, w io.Writer, progress func(part, parts int)) error {
	if s.objects == nil {
		return errors.New("this server has no object storage")
	}
	owner := objects.As(openami.Principal{AccountID: b.Owner, Region: region})
	m, sum, err := ReadManifest(ctx, s.objects, owner, b.Bucket, b.ManifestKey)
	if err != nil {
		return err
	}
	if sum != b.ManifestSHA256 {
		return fmt.Errorf("the manifest %s/%s changed since the image was registered", b.Bucket, b.ManifestKey)
	}
	key, iv, err := m.EC2Key(func(c []byte) ([]byte, error) { return s.identity.EC2Decrypt(ctx, region, c) })
	if err != nil {
		return errors.New("the bundle's key does not open under this region's EC2 key")
	}
	open := func(p bundle.Part) (io.ReadCloser, error) {
		if progress != nil {
			progress(p.Index, len(m.Parts))
		}
		r, _, err := s.objects.Open(ctx, objects.EC2(), b.Bucket, PartKey(b.ManifestKey, p.Filename))
		if c := openami.ClassOf(err); c == openami.NotFound || c == openami.Unauthorized {
			return nil, fmt.Errorf("%w, or EC2 may not read it", fs.ErrNotExist)
		}
		return r, err
	}
	if err := bundle.Unbundle(ctx, m, key, iv, open, w); err != nil {
		return fmt.Errorf("the bundle %s/%s: %w", b.Bucket, b.ManifestKey, err)
	}
	return nil
}
