package e2e

import (
	"bytes"
	"context"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/rules/identity"
)

// bundleAndUpload bundles the image file as a user would (openssl's
// certificate, `openami bundle image` with the region's cert-ec2.pem
// fetched from the endpoint), registers the certificate with IAM
// (UploadSigningCertificate, through the aws CLI), and uploads the bundle
// into bucket/prefix with the aws-sdk-go-v2 S3 client: the parts
// aws-exec-read, the manifest private. It returns the ImageLocation.
func bundleAndUpload(t *testing.T, s *server, c identity.Credentials, image, bucket, prefix string, extra ...string) string {
	t.Helper()
	ctx := context.Background()
	if c.AccountID == "" { // credentials read from a file
		who, err := s.sts(c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		c.AccountID = *who.Account
	}
	dir := t.TempDir()
	cert := userCertificate(t, dir, "bundler")
	resp, err := http.Get(s.URL + "/cert-ec2.pem?region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	ec2Cert, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	os.WriteFile(filepath.Join(dir, "cert-ec2.pem"), ec2Cert, 0o644)
	out := filepath.Join(dir, "bundle")
	os.Mkdir(out, 0o755)
	args := append([]string{"bundle", "image", "-i", image, "-c", cert, "-k", filepath.Join(dir, "bundler-key.pem"), "-u", c.AccountID,
		"--ec2cert", filepath.Join(dir, "cert-ec2.pem"), "-d", out, "-p", "image", "-B", "ami=sda1,root=/dev/sda1,ephemeral0=sdb"}, extra...)
	if b, err := exec.Command(binary(t), args...).CombinedOutput(); err != nil {
		t.Fatalf("openami bundle image: %v\n%s", err, b)
	}
	runCLI(t, s, c, "iam", "upload-signing-certificate", "--certificate-body", "file://"+cert)

	cl := s.s3Client(c, false)
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(out)
	for _, f := range files {
		body, err := os.ReadFile(filepath.Join(out, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + "/" + f.Name()), Body: bytes.NewReader(body)}
		if strings.Contains(f.Name(), ".part.") {
			in.ACL = s3types.ObjectCannedACLAwsExecRead
		}
		if _, err := cl.PutObject(ctx, in); err != nil {
			t.Fatalf("PutObject %s: %v", f.Name(), err)
		}
	}
	return bucket + "/" + prefix + "/image.manifest.xml"
}

// TestInstanceStoreAMI: the seeds' instance store-backed cycle through
// the clients, with the none runtime: bundle, upload, register (refused
// for a manifest that is not there), DescribeImages by root device type
// and manifest location, launch (the bundle fetched, verified and
// unpacked before the instance runs), no stop and no CreateImage,
// termination; deregistering leaves the bundle in its bucket.
func TestInstanceStoreAMI(t *testing.T) {
	eachStore(t, testInstanceStoreAMI)
}

func testInstanceStoreAMI(t *testing.T, s *server) {
	ctx := context.Background()
	c := s.account(t, "bundler")
	e := s.ec2(c, "us-east-1")
	image := filepath.Join(t.TempDir(), "disk.img")
	data := make([]byte, 3<<20)
	mrand.NewChaCha8([32]byte{3}).Read(data[:2<<20])
	os.WriteFile(image, data, 0o644)
	loc := bundleAndUpload(t, s, c, image, "e2e-bundles", "images/one", "--part-size", "1048576")

	_, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("nothing"), ImageLocation: aws.String("e2e-bundles/images/none.manifest.xml")})
	wantCode(t, err, "InvalidManifest")
	reg, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("from-bundle"), ImageLocation: aws.String(loc)})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []types.Filter{
		{Name: aws.String("root-device-type"), Values: []string{"instance-store"}},
		{Name: aws.String("manifest-location"), Values: []string{loc}},
	} {
		out, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{f}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Images) != 1 || *out.Images[0].ImageId != *reg.ImageId || out.Images[0].RootDeviceType != types.DeviceTypeInstanceStore ||
			*out.Images[0].ImageLocation != loc || out.Images[0].ImageType != types.ImageTypeValuesMachine {
			t.Fatalf("DescribeImages %s: %+v", *f.Name, out.Images)
		}
	}
	out, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{{Name: aws.String("root-device-type"), Values: []string{"ebs"}}}})
	if err != nil || len(out.Images) != 0 {
		t.Fatalf("ebs images: %+v %v", out, err)
	}

	_, err = e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	wantCode(t, err, "UnsupportedOperation")
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeM1Small, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	if run.Instances[0].RootDeviceType != types.DeviceTypeInstanceStore {
		t.Fatalf("launched with root %s", run.Instances[0].RootDeviceType)
	}
	waitInstance(t, e, id, types.InstanceStateNameRunning)

	_, err = e.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "UnsupportedOperation")
	_, err = e.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("of-store")})
	wantCode(t, err, "UnsupportedOperation")
	if _, err := e.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, e, id, types.InstanceStateNameTerminated)

	// CopyImage to another region: the bundle is copied and re-sealed
	// there; the copy launches.
	west := s.ec2(c, "us-west-2")
	cp, err := west.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: reg.ImageId, SourceRegion: aws.String("us-east-1"), Name: aws.String("copied")})
	if err != nil {
		t.Fatal(err)
	}
	waiter := ec2.NewImageAvailableWaiter(west, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
	if err := waiter.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*cp.ImageId}}, time.Minute); err != nil {
		t.Fatalf("the copy: %v", err)
	}
	run, err = west.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: cp.ImageId, InstanceType: types.InstanceTypeM1Small, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	waitInstance(t, west, *run.Instances[0].InstanceId, types.InstanceStateNameRunning)

	if _, err := e.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: reg.ImageId}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.s3Client(c, false).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("e2e-bundles"), Key: aws.String("images/one/image.manifest.xml")}); err != nil {
		t.Fatalf("the manifest after DeregisterImage: %v", err)
	}
}

// TestQemuInstanceStore boots the test image (docs/TESTIMAGE.md) from a
// bundle under `openami serve --runtime qemu`: the launch fetches and
// unpacks the bundle into the bundle cache, the VM boots from the
// copy-on-write root (NBD export INSTANCE/root) and its guest's init
// finishes; termination leaves no QEMU process. One boot, to keep it
// short.
func TestQemuInstanceStore(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not on the PATH (Debian: apt-get install qemu-system-x86; .ci/run installs it)")
	}
	img := testenv.TestImage(t)
	ctx := context.Background()
	dataDir, err := os.MkdirTemp("", "oqs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	q := startQemuServer(t, dataDir)
	creds := readCredentials(t, filepath.Join(dataDir, "credentials"))
	s := &server{URL: q.url}
	e := s.ec2(creds, "us-east-1")

	loc := bundleAndUpload(t, s, creds, img, "qemu-bundles", "testimage")
	reg, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("testimage-bundle"), ImageLocation: aws.String(loc),
		Architecture: types.ArchitectureValuesX8664, VirtualizationType: aws.String("hvm"), BootMode: types.BootModeValuesLegacyBios})
	if err != nil {
		t.Fatal(err)
	}
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeM1Small, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	text := waitConsole(t, e, q, id, "openami-testimage: init done", 1)
	if !strings.Contains(text, "openami-testimage: instance-id "+id) {
		t.Fatalf("the console lacks the instance id:\n%s", text)
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "bundle-cache")); len(entries) < 2 { // the base and tmp/
		t.Fatalf("bundle cache after a launch: %v", entries)
	}
	if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, e, id, types.InstanceStateNameTerminated)
	if n := len(qemuProcesses(dataDir)); n != 0 {
		t.Fatalf("%d QEMU processes after termination", n)
	}
}
