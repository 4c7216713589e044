package service

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/instances"
)

// fakeRuntime records calls; Stop can be held (hold) or fail (stopErr);
// as a Watcher it reports states.
type fakeRuntime struct {
	instances.NoneRuntime
	mu      sync.Mutex
	calls   []string
	hold    chan struct{}
	stopErr error
	states  map[string]openami.VMState
}

func (r *fakeRuntime) record(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *fakeRuntime) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *fakeRuntime) Start(_ context.Context, i openami.Instance) error {
	r.record("start " + i.ID)
	r.mu.Lock()
	delete(r.states, i.ID)
	r.mu.Unlock()
	return nil
}

func (r *fakeRuntime) Stop(_ context.Context, i openami.Instance, _ bool) error {
	r.record("stop " + i.ID)
	if r.hold != nil {
		<-r.hold
	}
	return r.stopErr
}

func (r *fakeRuntime) VMState(i openami.Instance) openami.VMState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.states[i.ID]
}

func (f *fixture) image(t *testing.T, id string) openami.Image {
	t.Helper()
	var img openami.Image
	err := f.store.View(context.Background(), func(tx metadata.Tx) error {
		var err error
		img, err = tx.Images().Get("us-east-1", id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func (f *fixture) snapshotState(t *testing.T, id string) openami.SnapshotState {
	t.Helper()
	var snap openami.Snapshot
	err := f.store.View(context.Background(), func(tx metadata.Tx) error {
		var err error
		snap, err = tx.Snapshots().Get("us-east-1", id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap.State
}

// TestCreateImageWithReboot: without NoReboot, CreateImage returns at once
// with the image and its snapshot pending; in the background the VM is
// stopped, the volume (with a write still in the device's buffer) is
// snapshotted, the image becomes available and the VM is started again.
func TestCreateImageWithReboot(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	rt := &fakeRuntime{hold: make(chan struct{})}
	f.svc.UseRuntime(rt)
	inst := f.launch(t, "base", f.snapshot(t, map[int64][]byte{0: block(1)}, true))
	dev, err := f.svc.EBS().OpenVolumeDevice(ctx, inst.BlockDevices[0].VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("written just before CreateImage")
	if err := dev.WriteAt(ctx, msg, 4096); err != nil {
		t.Fatal(err)
	}

	id, err := f.svc.Instances().CreateImage(ctx, f.p, instances.CreateImageInput{InstanceID: inst.ID, Name: "rebooted"})
	if err != nil {
		t.Fatal(err)
	}
	img := f.image(t, id)
	if img.State != openami.ImagePending || len(img.BlockDeviceMappings) != 1 {
		t.Fatalf("image while the instance shuts down: %+v", img)
	}
	snap := img.BlockDeviceMappings[0].Ebs.SnapshotID
	if st := f.snapshotState(t, snap); st != openami.SnapshotPending {
		t.Fatalf("snapshot while the instance shuts down: %s", st)
	}
	// A second pass while the job holds the instance starts nothing new.
	f.svc.completions.sweep(ctx)
	close(rt.hold)
	f.svc.instances.Wait()
	dev.Close()

	if img := f.image(t, id); img.State != openami.ImageAvailable {
		t.Fatalf("image after the job: %s %+v", img.State, img.StateReason)
	}
	if st := f.snapshotState(t, snap); st != openami.SnapshotCompleted {
		t.Fatalf("snapshot after the job: %s", st)
	}
	want := []string{"start " + inst.ID, "stop " + inst.ID, "start " + inst.ID}
	if got := rt.got(); !slices.Equal(got, want) {
		t.Fatalf("runtime calls %v, want %v", got, want)
	}
	child := f.run(t, id)
	cdev, err := f.svc.EBS().OpenVolumeDevice(ctx, child.BlockDevices[0].VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	defer cdev.Close()
	got := make([]byte, len(msg))
	if err := cdev.ReadAt(ctx, got, 4096); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("the image lacks the write: %v %q", err, got)
	}
}

// TestCreateImageResumed: a CreateImage whose shutdown fails stays pending
// and is finished by a later pass (as after a restart).
func TestCreateImageResumed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	rt := &fakeRuntime{stopErr: errors.New("the VM would not stop")}
	f.svc.UseRuntime(rt)
	snap0 := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	inst := f.launch(t, "base", snap0)
	id, err := f.svc.Instances().CreateImage(ctx, f.p, instances.CreateImageInput{InstanceID: inst.ID, Name: "resumed"})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.instances.Wait()
	if img := f.image(t, id); img.State != openami.ImagePending {
		t.Fatalf("image after a failed shutdown: %s", img.State)
	}
	// A new process: the same store, a runtime that works.
	rt.mu.Lock()
	rt.stopErr = nil
	rt.mu.Unlock()
	f.svc.completions.pass(ctx)
	if img := f.image(t, id); img.State != openami.ImageAvailable {
		t.Fatalf("image after a pass: %s", img.State)
	}

}

// TestWatcher: a running instance the runtime has no VM for is booted
// again; one whose guest powered off stops, or terminates when its
// InstanceInitiatedShutdownBehavior says so.
func TestWatcher(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	rt := &fakeRuntime{states: map[string]openami.VMState{}}
	f.svc.UseRuntime(rt)
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	a := f.launch(t, "watched", snap)
	img := f.image(t, a.ImageID)
	b, c := f.run(t, img.ID), f.run(t, img.ID)
	terminate := "terminate"
	if err := f.svc.Instances().ModifyInstanceAttribute(ctx, f.p, instances.ModifyInstanceAttributeInput{InstanceID: c.ID, InstanceInitiatedShutdownBehavior: &terminate}); err != nil {
		t.Fatal(err)
	}
	// a runs without a public address, as an instance launched before
	// them does: booted again, it gets one.
	if err := f.svc.store.Update(ctx, func(tx metadata.Tx) error {
		i, err := tx.Instances().Get("us-east-1", a.ID)
		if err != nil {
			return err
		}
		i.PublicIP = ""
		return tx.Instances().Update(i)
	}); err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	rt.calls = nil
	rt.states[a.ID], rt.states[b.ID], rt.states[c.ID] = openami.VMAbsent, openami.VMPoweredOff, openami.VMPoweredOff
	rt.mu.Unlock()
	f.svc.completions.pass(ctx)
	f.svc.completions.pass(ctx)
	if i, err := f.instanceNow(ctx, "us-east-1", a.ID); err != nil || i.PublicIP == "" {
		t.Errorf("a running instance booted again without a public address got none: %v %q", err, i.PublicIP)
	}
	if got := rt.got(); !slices.Contains(got, "start "+a.ID) || !slices.Contains(got, "stop "+b.ID) || slices.Contains(got, "start "+b.ID) {
		t.Fatalf("runtime calls %v", got)
	}
	for id, want := range map[string]openami.InstanceState{a.ID: openami.InstanceRunning, b.ID: openami.InstanceStopped, c.ID: openami.InstanceTerminated} {
		i, err := f.instanceNow(ctx, "us-east-1", id)
		if err != nil || i.State != want {
			t.Fatalf("%s: %v %s, want %s", id, err, i.State, want)
		}
		if want != openami.InstanceRunning && i.StateReason.Cause != openami.CauseGuestShutdown {
			t.Fatalf("%s: state reason %+v", id, i.StateReason)
		}
	}
}

// forceRecorder records the force flag of each Stop.
type forceRecorder struct {
	instances.NoneRuntime
	mu     sync.Mutex
	forced []bool
}

func (r *forceRecorder) Stop(_ context.Context, _ openami.Instance, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forced = append(r.forced, force)
	return nil
}

// TestStopForce: StopInstances' Force reaches the runtime.
func TestStopForce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	rt := &forceRecorder{}
	f.svc.UseRuntime(rt)
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	a := f.launch(t, "forced", snap)
	b := f.run(t, a.ImageID)
	if _, err := f.svc.Instances().StopInstances(ctx, f.p, []string{a.ID}, true); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	if _, err := f.svc.Instances().StopInstances(ctx, f.p, []string{b.ID}, false); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	if !slices.Equal(rt.forced, []bool{true, false}) {
		t.Fatalf("Stop force flags %v, want [true false]", rt.forced)
	}
	if i, _ := f.instanceNow(ctx, "us-east-1", a.ID); i.State != openami.InstanceStopped || i.ForceStop {
		t.Fatalf("after a forced stop: %s, ForceStop %v", i.State, i.ForceStop)
	}
}

// healthRuntime reports a fixed health for every instance.
type healthRuntime struct {
	instances.NoneRuntime
	health openami.Health
}

func (r healthRuntime) Health(openami.Instance) openami.Health { return r.health }

// TestInstanceStatusHealth: DescribeInstanceStatus's instance check is
// the runtime's word on a running guest; stopped instances get none, and
// runtimes that cannot tell report every running guest healthy.
func TestInstanceStatusHealth(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	a := f.launch(t, "checked", snap)
	b := f.run(t, a.ImageID)
	if _, err := f.svc.Instances().StopInstances(ctx, f.p, []string{b.ID}, false); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	statuses := func() map[string]instances.InstanceStatus {
		t.Helper()
		list, err := f.svc.Instances().InstanceStatuses(ctx, f.p, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]instances.InstanceStatus{}
		for _, s := range list {
			out[s.ID] = s
		}
		return out
	}
	if got := statuses(); got[a.ID].Health.Status != openami.HealthOK || got[b.ID].State != openami.InstanceStopped {
		t.Fatalf("with the none runtime: %+v", got)
	}
	impaired := openami.Health{Status: openami.HealthImpaired, Reason: "the guest wrote nothing", Since: time.Unix(1800000000, 0)}
	f.svc.UseRuntime(healthRuntime{health: impaired})
	got := statuses()
	if got[a.ID].Health != impaired {
		t.Fatalf("a running instance's health %+v, want the runtime's %+v", got[a.ID].Health, impaired)
	}
	if got[b.ID].Health != (openami.Health{}) {
		t.Fatalf("a stopped instance has a health: %+v", got[b.ID].Health)
	}
}

// instanceNow reads an instance from the store.
func (f *fixture) instanceNow(ctx context.Context, region, id string) (openami.Instance, error) {
	var i openami.Instance
	err := f.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		i, err = tx.Instances().Get(region, id)
		return err
	})
	return i, err
}
