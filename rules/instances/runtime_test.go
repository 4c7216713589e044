package instances

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// TestWatcher: a running instance the runtime has no VM for is booted
// again; one whose guest powered off stops, or terminates when its
// InstanceInitiatedShutdownBehavior says so.
func TestWatcher(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rt := newFakeRuntime()
	f.machines.UseRuntime(rt)
	a := f.launch(t, "watched")
	b, c := f.run(t, a.ImageID), f.run(t, a.ImageID)
	terminate := "terminate"
	if err := f.machines.ModifyInstanceAttribute(ctx, f.p, ModifyInstanceAttributeInput{InstanceID: c.ID, InstanceInitiatedShutdownBehavior: &terminate}); err != nil {
		t.Fatal(err)
	}
	// a runs without a public address, as an instance launched before
	// them does: booted again, it gets one.
	if err := f.store.Update(ctx, func(tx metadata.Tx) error {
		i, err := tx.Instances().Get("us-east-1", a.ID)
		if err != nil {
			return err
		}
		i.PublicIP = ""
		return tx.Instances().Update(i)
	}); err != nil {
		t.Fatal(err)
	}
	rt.ForgetCalls()
	rt.SetState(a.ID, openami.VMAbsent)
	rt.SetState(b.ID, openami.VMPoweredOff)
	rt.SetState(c.ID, openami.VMPoweredOff)
	f.pass(t)
	f.pass(t)
	if i, err := f.instanceNow(ctx, "us-east-1", a.ID); err != nil || i.PublicIP == "" {
		t.Errorf("a running instance booted again without a public address got none: %v %q", err, i.PublicIP)
	}
	if got := rt.Calls(); !slices.Contains(got, "start "+a.ID) || !slices.Contains(got, "stop "+b.ID) || slices.Contains(got, "start "+b.ID) {
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
	NoneRuntime
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
	f := newFixture(t)
	rt := &forceRecorder{}
	f.machines.UseRuntime(rt)
	a := f.launch(t, "forced")
	b := f.run(t, a.ImageID)
	if _, err := f.machines.StopInstances(ctx, f.p, []string{a.ID}, true); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	if _, err := f.machines.StopInstances(ctx, f.p, []string{b.ID}, false); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	if !slices.Equal(rt.forced, []bool{true, false}) {
		t.Fatalf("Stop force flags %v, want [true false]", rt.forced)
	}
	if i, _ := f.instanceNow(ctx, "us-east-1", a.ID); i.State != openami.InstanceStopped || i.ForceStop {
		t.Fatalf("after a forced stop: %s, ForceStop %v", i.State, i.ForceStop)
	}
}

// healthRuntime reports a fixed health for every instance.
type healthRuntime struct {
	NoneRuntime
	health openami.Health
}

func (r healthRuntime) Health(openami.Instance) openami.Health { return r.health }

// TestInstanceStatusHealth: DescribeInstanceStatus's instance check is
// the runtime's word on a running guest; stopped instances get none, and
// runtimes that cannot tell report every running guest healthy.
func TestInstanceStatusHealth(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := f.launch(t, "checked")
	b := f.run(t, a.ImageID)
	if _, err := f.machines.StopInstances(ctx, f.p, []string{b.ID}, false); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	statuses := func() map[string]InstanceStatus {
		t.Helper()
		list, err := f.machines.InstanceStatuses(ctx, f.p, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]InstanceStatus{}
		for _, s := range list {
			out[s.ID] = s
		}
		return out
	}
	if got := statuses(); got[a.ID].Health.Status != openami.HealthOK || got[b.ID].State != openami.InstanceStopped {
		t.Fatalf("with the none runtime: %+v", got)
	}
	impaired := openami.Health{Status: openami.HealthImpaired, Reason: "the guest wrote nothing", Since: time.Unix(1800000000, 0)}
	f.machines.UseRuntime(healthRuntime{health: impaired})
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
