package instances

import (
	"context"
	"crypto/rand"
	"os"
	"strconv"
	"testing"

	"github.com/openami/openami"
)

// BenchmarkBundleInstance bundles an instance's root volume of
// OPENAMI_BUNDLE_GIB GiB (default 1) holding 64 MiB of random blocks,
// zeros elsewhere: BundleInstance, then the worker's run of the task into
// a bucket (docs/BENCHMARKS.md "BundleInstance"). Bytes are the
// volume's.
func BenchmarkBundleInstance(b *testing.B) {
	gib := int64(1)
	if v, err := strconv.ParseInt(os.Getenv("OPENAMI_BUNDLE_GIB"), 10, 64); err == nil && v > 0 {
		gib = v
	}
	t := b
	f := newFixture(t)
	ctx := context.Background()
	img := f.image(t, "bench")
	r, err := f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
		BlockDeviceMappings: []MappingOverride{{DeviceName: "/dev/xvda", Ebs: &EbsOverride{VolumeSize: gib}}}})
	if err != nil {
		b.Fatal(err)
	}
	f.pass(t)
	inst := f.instance(t, r.Instances[0].ID)
	vol := inst.BlockDevices[0].VolumeID
	block := make([]byte, openami.BlockSize)
	for i := range int64(128) {
		rand.Read(block)
		if err := f.vols.WriteVolumeBlock(ctx, f.p, vol, i*(gib<<30/openami.BlockSize)/128, block); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(gib << 30)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		task, err := f.machines.BundleInstance(ctx, f.p, BundleInstanceInput{InstanceID: inst.ID, Bucket: "bench-bundles", Prefix: "run" + strconv.Itoa(i)})
		if err != nil {
			b.Fatal(err)
		}
		if err := f.machines.AdvanceBundleTasks(ctx); err != nil {
			b.Fatal(err)
		}
		f.machines.Wait()
		if got := f.bundleTask(t, task.ID); got.State != openami.BundleComplete {
			b.Fatalf("task ended %+v", got)
		}
	}
}
