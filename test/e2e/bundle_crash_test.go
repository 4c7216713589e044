package e2e

import (
	"context"
	pathpkg "path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/openami/openami/bundle"
)

// bundleKeys checks that the bucket holds, under prefix, exactly a
// manifest that parses and the parts it lists (no part left over from
// an interrupted run), and returns the manifest.
func bundleKeys(t *testing.T, cl *s3.Client, bucket, manifestKey string) *bundle.Manifest {
	t.Helper()
	ctx := context.Background()
	got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(manifestKey)})
	if err != nil {
		t.Fatalf("the manifest %s/%s: %v", bucket, manifestKey, err)
	}
	m, err := bundle.ParseManifest(got.Body)
	got.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	prefix := strings.TrimSuffix(manifestKey, ".manifest.xml")
	want := []string{manifestKey}
	for _, p := range m.Parts {
		want = append(want, pathpkg.Join(pathpkg.Dir(manifestKey), p.Filename))
	}
	list, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + ".")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, *o.Key)
	}
	sort.Strings(want)
	sort.Strings(keys)
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Fatalf("%s holds %q, want the manifest and its parts %q", bucket, keys, want)
	}
	return m
}

// TestBundleCrash kills `openami serve` with SIGKILL while a
// BundleInstance task runs and right after a CopyImage of an instance
// store-backed image starts. After each restart the work resumes (at
// once: the server takes its own tasks back) and ends whole: the task
// completes with a bundle that is exactly a manifest and its parts, and
// registers; the copy becomes available and launches, and a launch of it
// killed while pending runs after the restart.
func TestBundleCrash(t *testing.T) {
	ctx := context.Background()
	c := newCrashServer(t, "us-east-1,us-west-2")
	e := c.s.ec2(c.creds, "us-east-1")
	img := registerTestImage(t, c.s, e, c.creds, "to-bundle")
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	waitInstance(t, e, id, types.InstanceStateNameRunning)
	out, err := e.BundleInstance(ctx, &ec2.BundleInstanceInput{InstanceId: aws.String(id),
		Storage: &types.Storage{S3: &types.S3Storage{Bucket: aws.String("crash-bundles"), Prefix: aws.String("web"),
			AWSAccessKeyId: aws.String(c.creds.AccessKeyID), UploadPolicy: []byte("{}"), UploadPolicySignature: aws.String("sig")}}})
	if err != nil {
		t.Fatal(err)
	}
	task := *out.BundleTask.BundleId
	var state types.BundleTaskState
	waitFor(t, "the bundle task to start", func() bool {
		d, err := e.DescribeBundleTasks(ctx, &ec2.DescribeBundleTasksInput{BundleIds: []string{task}})
		if err == nil && len(d.BundleTasks) == 1 {
			state = d.BundleTasks[0].State
		}
		return state != "" && state != types.BundleTaskStatePending
	})
	c.crash()
	t.Logf("killed with the bundle task %s", state)
	e = c.s.ec2(c.creds, "us-east-1")
	if done := waitBundle(t, e, task); done.State != types.BundleTaskStateComplete {
		t.Fatalf("the bundle task after the crash: %+v", done)
	}
	cl := c.client()
	bundleKeys(t, cl, "crash-bundles", "web.manifest.xml")
	reg, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("bundled"), ImageLocation: aws.String("crash-bundles/web.manifest.xml")})
	if err != nil {
		t.Fatal(err)
	}

	west := c.s.ec2(c.creds, "us-west-2")
	cp, err := west.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: reg.ImageId, SourceRegion: aws.String("us-east-1"), Name: aws.String("copied")})
	if err != nil {
		t.Fatal(err)
	}
	c.crash()
	west = c.s.ec2(c.creds, "us-west-2")
	waiter := ec2.NewImageAvailableWaiter(west, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
	if err := waiter.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*cp.ImageId}}, time.Minute); err != nil {
		t.Fatalf("the copy after the crash: %v", err)
	}
	d, err := west.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*cp.ImageId}})
	if err != nil {
		t.Fatal(err)
	}
	bucket, key, _ := strings.Cut(*d.Images[0].ImageLocation, "/")
	bundleKeys(t, c.client(), bucket, key)
	run, err = west.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: cp.ImageId, InstanceType: types.InstanceTypeM1Small, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	// Killed while the launch fetches and unpacks the bundle: after the
	// restart the launch runs again and the instance runs.
	c.crash()
	west = c.s.ec2(c.creds, "us-west-2")
	waitInstance(t, west, *run.Instances[0].InstanceId, types.InstanceStateNameRunning)
	c.stop()
	if out, err := c.run("fsck"); err != nil {
		t.Fatalf("fsck after the crashes: %v\n%s", err, out)
	}
}
