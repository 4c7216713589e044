package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
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
	"github.com/openami/openami"
	"github.com/openami/openami/bundle"
)

// writeBundleIdentity writes an RSA key and a self-signed certificate
// for it into dir as NAME-key.pem and NAME-cert.pem.
func writeBundleIdentity(t *testing.T, dir, name string) (keyPath, certPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath, certPath = filepath.Join(dir, name+"-key.pem"), filepath.Join(dir, name+"-cert.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyPath, certPath
}

// runOpenami runs the openami binary with env (nil: the test's own) and
// returns its output, failing the test if it fails.
func runOpenami(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openami %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBundleUploadDownload: a bundle made by `openami bundle image`
// goes up with `openami bundle upload` (making the bucket, parts with
// aws-exec-read, the manifest last), is listed by the aws CLI, uploads
// again sending only a missing part, comes back with `openami bundle
// download` and unbundles to the image's bytes.
func TestBundleUploadDownload(t *testing.T) {
	s := start(t, "sqlite")
	c := s.account(t, "bundler")
	ctx := context.Background()
	dir := t.TempDir()
	userKey, userCert := writeBundleIdentity(t, dir, "user")
	_, ec2Cert := writeBundleIdentity(t, dir, "ec2")
	img := make([]byte, 3<<20)
	rand.Read(img[:2<<20])
	imgPath := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(imgPath, img, 0o600); err != nil {
		t.Fatal(err)
	}
	bdir := filepath.Join(dir, "bundle")
	os.Mkdir(bdir, 0o700)
	runOpenami(t, nil, "bundle", "image", "-i", imgPath, "-c", userCert, "-k", userKey, "-u", "123456789012",
		"--ec2cert", ec2Cert, "-d", bdir, "-p", "web", "--part-size", "1000000")

	// With flags, as the AMI tools take them.
	env := append(netCLIEnv(t, c), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
	keys := []string{"--endpoint", s.URL, "-a", c.AccessKeyID, "-s", c.SecretAccessKey, "--region", "us-east-1"}
	out := runOpenami(t, env, append([]string{"bundle", "upload", "-b", "bundles/v1", "-m", filepath.Join(bdir, "web.manifest.xml")}, keys...)...)
	if !strings.Contains(out, "Uploaded manifest to s3://bundles/v1/web.manifest.xml") {
		t.Fatalf("upload said:\n%s", out)
	}
	ls := mustCLI(t, s, c, dir, "s3", "ls", "s3://bundles/v1/")
	for _, name := range []string{"web.part.0", "web.manifest.xml"} {
		if !strings.Contains(ls, name) {
			t.Errorf("aws s3 ls lacks %s:\n%s", name, ls)
		}
	}
	acl := mustCLI(t, s, c, dir, "s3api", "get-object-acl", "--bucket", "bundles", "--key", "v1/web.part.00")
	if !strings.Contains(acl, "za-team@amazon.com") && !strings.Contains(acl, "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c") {
		t.Errorf("part 00's ACL grants EC2 nothing (aws-exec-read): %s", acl)
	}

	// Resumed: a part gone is sent again, the others are skipped.
	client := s3.NewFromConfig(s.awsConfig(c, "us-east-1"), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bundles"), Key: aws.String("v1/web.part.01")}); err != nil {
		t.Fatal(err)
	}
	out = runOpenami(t, env, append([]string{"bundle", "upload", "-b", "bundles", "--prefix", "v1", "-m", filepath.Join(bdir, "web.manifest.xml")}, keys...)...)
	if !strings.Contains(out, "Uploaded v1/web.part.01") || !strings.Contains(out, "Skipped v1/web.part.00") {
		t.Errorf("second upload said:\n%s", out)
	}

	// Down again with the data dir's files, as `openami serve` writes
	// them: no flag, no AWS_* variable.
	dataDir := t.TempDir()
	os.WriteFile(filepath.Join(dataDir, "credentials"), fmt.Appendf(nil, "[openami]\naws_access_key_id = %s\naws_secret_access_key = %s\n", c.AccessKeyID, c.SecretAccessKey), 0o600)
	os.WriteFile(filepath.Join(dataDir, "config"), fmt.Appendf(nil, "[profile openami]\nregion = us-east-1\nendpoint_url = %s\n", s.URL), 0o600)
	var plain []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			plain = append(plain, kv)
		}
	}
	plain = append(plain, "HOME="+t.TempDir())
	ddir := filepath.Join(dir, "down")
	runOpenami(t, plain, "--data-dir", dataDir, "bundle", "download", "-b", "bundles", "-m", "v1/web.manifest.xml", "-d", ddir)
	odir := filepath.Join(dir, "out")
	os.Mkdir(odir, 0o700)
	runOpenami(t, nil, "bundle", "unbundle", "-m", filepath.Join(ddir, "web.manifest.xml"), "-k", userKey, "-c", userCert, "-d", odir)
	got, err := os.ReadFile(filepath.Join(odir, "web"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, img) {
		t.Errorf("unbundled %d bytes, not the image's %d", len(got), len(img))
	}
}

// waitBundle polls DescribeBundleTasks until the task has ended.
func waitBundle(t *testing.T, e *ec2.Client, id string) types.BundleTask {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := e.DescribeBundleTasks(context.Background(), &ec2.DescribeBundleTasksInput{BundleIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.BundleTasks) != 1 {
			t.Fatalf("DescribeBundleTasks(%s) = %+v", id, out.BundleTasks)
		}
		task := out.BundleTasks[0]
		if task.State == types.BundleTaskStateComplete || task.State == types.BundleTaskStateFailed {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("bundle task %s still %s", id, task.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBundleInstance: an instance's root volume, with bytes written to
// it, is bundled with BundleInstance into a bucket the task makes; the
// task completes; `openami bundle download` fetches the bundle, whose
// manifest verifies under the region's EC2 certificate and whose parts
// open with the region's EC2 key to the volume's bytes; RegisterImage
// takes it and it launches instance store-backed, and that instance
// bundles and registers in turn. A task cancelled ends failed
// (Client.Cancelled) and leaves nothing; the aws CLI's bundle-instance
// works.
func TestBundleInstance(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "bundler")
		e := s.ec2(c, "us-east-1")
		img := registerTestImage(t, s, e, c, "to-bundle")
		run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		id := *run.Instances[0].InstanceId
		running := ec2.NewInstanceRunningWaiter(e, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		desc, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		vol := *desc.Reservations[0].Instances[0].BlockDeviceMappings[0].Ebs.VolumeId
		p := openami.Principal{AccountID: c.AccountID, Region: "us-east-1"}
		if err := s.svc.EBS().WriteVolumeBlock(ctx, p, vol, 9, textBlock("bundled with BundleInstance ")); err != nil {
			t.Fatal(err)
		}
		// The volume's bytes, as the bundle must hold them.
		want := sha256.New()
		buf := make([]byte, openami.BlockSize)
		for i := range int64(1<<30) / openami.BlockSize {
			if err := s.svc.EBS().ReadVolumeBlock(ctx, p, vol, i, buf); err != nil {
				t.Fatal(err)
			}
			want.Write(buf)
		}

		_, err = e.BundleInstance(ctx, &ec2.BundleInstanceInput{InstanceId: aws.String(id),
			Storage: &types.Storage{S3: &types.S3Storage{Bucket: aws.String("bundle-e2e"), Prefix: aws.String("web/x")}}})
		wantCode(t, err, "InvalidParameterValue")
		out, err := e.BundleInstance(ctx, &ec2.BundleInstanceInput{InstanceId: aws.String(id),
			Storage: &types.Storage{S3: &types.S3Storage{Bucket: aws.String("bundle-e2e"), Prefix: aws.String("web"),
				AWSAccessKeyId: aws.String(c.AccessKeyID), UploadPolicy: []byte("{}"), UploadPolicySignature: aws.String("sig")}}})
		if err != nil {
			t.Fatal(err)
		}
		task := out.BundleTask
		if !strings.HasPrefix(aws.ToString(task.BundleId), "bun-") || aws.ToString(task.InstanceId) != id ||
			aws.ToString(task.Storage.S3.Bucket) != "bundle-e2e" || aws.ToString(task.Storage.S3.Prefix) != "web" {
			t.Fatalf("BundleInstance = %+v", task)
		}
		done := waitBundle(t, e, *task.BundleId)
		if done.State != types.BundleTaskStateComplete || aws.ToString(done.Progress) != "100%" || done.BundleTaskError != nil {
			t.Fatalf("bundle task ended %+v", done)
		}
		filtered, err := e.DescribeBundleTasks(ctx, &ec2.DescribeBundleTasksInput{Filters: []types.Filter{
			{Name: aws.String("s3-bucket"), Values: []string{"bundle-e2e"}}, {Name: aws.String("state"), Values: []string{"complete"}}}})
		if err != nil || len(filtered.BundleTasks) != 1 {
			t.Fatalf("DescribeBundleTasks by bucket and state: %v %+v", err, filtered)
		}

		dir := t.TempDir()
		env := append(netCLIEnv(t, c), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
		runOpenami(t, env, "bundle", "download", "-b", "bundle-e2e", "-m", "web.manifest.xml", "-d", dir,
			"--endpoint", s.URL, "-a", c.AccessKeyID, "-s", c.SecretAccessKey, "--region", "us-east-1")
		f, err := os.Open(filepath.Join(dir, "web.manifest.xml"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := bundle.ParseManifest(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		cert, _, err := s.svc.Identity().EC2Certificate(ctx, "us-east-1")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Verify(cert); err != nil {
			t.Fatalf("the manifest does not verify under the region's EC2 certificate: %v", err)
		}
		key, iv, err := m.EC2Key(func(b []byte) ([]byte, error) { return s.svc.Identity().EC2Decrypt(ctx, "us-east-1", b) })
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.New()
		if err := bundle.Unbundle(ctx, m, key, iv, bundle.Dir(dir).Open, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) || m.Size != 1<<30 {
			t.Errorf("the bundle (%d bytes) is not the root volume", m.Size)
		}

		// RegisterImage takes it (signed by the region's EC2 key, parts
		// readable by EC2), and it launches instance store-backed.
		reg, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("bundled-instance"), ImageLocation: aws.String("bundle-e2e/web.manifest.xml")})
		if err != nil {
			t.Fatalf("RegisterImage of BundleInstance's manifest: %v", err)
		}
		launched, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeM1Small,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		storeID := *launched.Instances[0].InstanceId
		waitInstance(t, e, storeID, types.InstanceStateNameRunning)
		// That instance store-backed instance bundles too, and registers.
		again, err := e.BundleInstance(ctx, &ec2.BundleInstanceInput{InstanceId: aws.String(storeID),
			Storage: &types.Storage{S3: &types.S3Storage{Bucket: aws.String("bundle-e2e"), Prefix: aws.String("again")}}})
		if err != nil {
			t.Fatal(err)
		}
		if ended := waitBundle(t, e, *again.BundleTask.BundleId); ended.State != types.BundleTaskStateComplete {
			t.Fatalf("bundle of an instance-store instance ended %+v", ended)
		}
		if _, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("bundled-again"), ImageLocation: aws.String("bundle-e2e/again.manifest.xml")}); err != nil {
			t.Fatalf("RegisterImage of the instance-store instance's bundle: %v", err)
		}

		// Cancelled: it ends failed and leaves nothing in the bucket.
		out, err = e.BundleInstance(ctx, &ec2.BundleInstanceInput{InstanceId: aws.String(id),
			Storage: &types.Storage{S3: &types.S3Storage{Bucket: aws.String("bundle-e2e"), Prefix: aws.String("gone")}}})
		if err != nil {
			t.Fatal(err)
		}
		cancelled, err := e.CancelBundleTask(ctx, &ec2.CancelBundleTaskInput{BundleId: out.BundleTask.BundleId})
		if err != nil {
			// It may have ended already: then it cannot be cancelled.
			wantCode(t, err, "IncorrectState")
			t.Log("the second task ended before it could be cancelled")
		} else if cancelled.BundleTask.State != types.BundleTaskStateCancelling {
			t.Fatalf("CancelBundleTask = %+v", cancelled.BundleTask)
		} else {
			ended := waitBundle(t, e, *out.BundleTask.BundleId)
			if ended.State != types.BundleTaskStateFailed || ended.BundleTaskError == nil || aws.ToString(ended.BundleTaskError.Code) != "Client.Cancelled" {
				t.Fatalf("cancelled task ended %+v", ended)
			}
			client := s3.NewFromConfig(s.awsConfig(c, "us-east-1"), func(o *s3.Options) { o.UsePathStyle = true })
			list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bundle-e2e"), Prefix: aws.String("gone")})
			if err != nil || len(list.Contents) != 0 {
				t.Errorf("a cancelled task left %v (%v)", list, err)
			}
		}
		_, err = e.CancelBundleTask(ctx, &ec2.CancelBundleTaskInput{BundleId: task.BundleId})
		wantCode(t, err, "IncorrectState")

		// The aws CLI's own form, which signs an upload policy with the
		// secret key it is given.
		cli := runCLI(t, s, c, "ec2", "bundle-instance", "--instance-id", id, "--bucket", "bundle-e2e", "--prefix", "cli",
			"--owner-akid", c.AccessKeyID, "--owner-sak", c.SecretAccessKey)
		bt, _ := cli["BundleTask"].(map[string]any)
		if bt["State"] != "pending" || !strings.HasPrefix(fmt.Sprint(bt["BundleId"]), "bun-") {
			t.Fatalf("aws ec2 bundle-instance: %v", cli)
		}
		if ended := waitBundle(t, e, fmt.Sprint(bt["BundleId"])); ended.State != types.BundleTaskStateComplete {
			t.Fatalf("the CLI's task ended %+v", ended)
		}
		_, err = e.DescribeBundleTasks(ctx, &ec2.DescribeBundleTasksInput{BundleIds: []string{"bun-0123456789abcdef0"}})
		wantCode(t, err, "InvalidBundleID.NotFound")
	})
}
