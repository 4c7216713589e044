package instances

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// hostTTL is the heartbeat of the hosts of these tests.
const hostTTL = 30 * time.Second

// node is one openami node of a cluster the tests build: Machines over
// the fixture's stores, with a fake runtime of its own.
type node struct {
	m  *Machines
	rt *fakeRuntime
}

// node returns another node on the fixture's stores and clock, registered
// as the compute host name with h's capacity and zones.
func (f *fixture) node(t *testing.T, name string, h openami.Host) node {
	t.Helper()
	return f.nodeTTL(t, name, h, hostTTL)
}

// shortTTL is the heartbeat of a host a test lets die: its lease expires
// by the database's clock (real time), so the test waits that long.
const shortTTL = 3 * time.Second

// nodeTTL is node with a heartbeat of ttl.
func (f *fixture) nodeTTL(t *testing.T, name string, h openami.Host, ttl time.Duration) node {
	t.Helper()
	cfg := f.cfg
	rt := newFakeRuntime()
	cfg.Runtime = rt
	m := New(cfg)
	t.Cleanup(m.Wait)
	h.Node = name
	if _, err := m.RegisterHost(context.Background(), h, ttl); err != nil {
		t.Fatal(err)
	}
	return node{m: m, rt: rt}
}

// hostOf returns a host with room for n t3.micro instances (2 vCPUs,
// 1 GiB each) and no instance store.
func hostOf(n int) openami.Host {
	return openami.Host{VCPUs: 2 * n, MemoryMiB: 1024 * int64(n)}
}

// pass is one worker pass of the node, whole.
func (n node) pass(t *testing.T) {
	t.Helper()
	if err := n.m.AdvanceInstances(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.m.Wait()
}

// waitDead waits until the host's lease has expired (its heartbeat
// stopped), as another node sees it.
func (n node) waitDead(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		hosts, err := n.m.Hosts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts {
			if h.ID == n.id() && !h.Alive(time.Now()) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the host's lease did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// id is the node's host id.
func (n node) id() string {
	id, _ := n.m.Host()
	return id
}

// runN runs between least and most t3.micro instances of img through m.
func (f *fixture) runN(m *Machines, img string, least, most int) (Reservation, error) {
	return m.RunInstances(context.Background(), f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: least, MaxCount: most})
}

// count returns how many instances and volumes the region has.
func (f *fixture) count(t *testing.T) (instances, volumes int) {
	t.Helper()
	err := f.store.View(context.Background(), func(tx metadata.Tx) error {
		list, err := tx.Instances().List("us-east-1", metadata.InstanceQuery{})
		instances = len(list)
		if err != nil {
			return err
		}
		vols, err := tx.Volumes().List("us-east-1", metadata.VolumeQuery{})
		volumes = len(vols)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return instances, volumes
}

func TestPlacement(t *testing.T) {
	f := newFixture(t)
	img := f.image(t, "placed")
	a := f.node(t, "a", hostOf(2))
	b := f.node(t, "b", hostOf(2))

	// Spread: two instances go to two hosts.
	r, err := f.runN(a.m, img, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{r.Instances[0].HostID, r.Instances[1].HostID}
	slices.Sort(hosts)
	want := []string{a.id(), b.id()}
	slices.Sort(want)
	if !slices.Equal(hosts, want) {
		t.Errorf("hosts of two instances = %q, want %q", hosts, want)
	}

	// Each host's worker runs its own instances only.
	a.pass(t)
	for _, v := range r.Instances {
		i := f.instance(t, v.ID)
		wantState := openami.InstancePending
		if i.HostID == a.id() {
			wantState = openami.InstanceRunning
		}
		if i.State != wantState {
			t.Errorf("instance on %s after a's pass: %s", i.HostID, i.State)
		}
	}
	if calls := a.rt.Calls(); len(calls) != 1 {
		t.Errorf("a's runtime calls: %q", calls)
	}
	b.pass(t)
	if calls := b.rt.Calls(); len(calls) != 1 {
		t.Errorf("b's runtime calls: %q", calls)
	}

	// What is left: two more fit, MinCount 3 is refused, and leaves
	// nothing made.
	inst, vols := f.count(t)
	_, err = f.runN(b.m, img, 3, 3)
	wantClass(t, "launch beyond capacity", err, openami.LimitExceeded, openami.ResourceHost)
	if i, v := f.count(t); i != inst || v != vols {
		t.Errorf("after a refused launch: %d instances, %d volumes; want %d, %d", i, v, inst, vols)
	}
	// MaxCount beyond the room launches as many as fit.
	r, err = f.runN(b.m, img, 1, 5)
	if err != nil || len(r.Instances) != 2 {
		t.Fatalf("launch 1 to 5 with room for 2: %d, %v", len(r.Instances), err)
	}
	_, err = f.runN(b.m, img, 1, 1)
	wantClass(t, "launch beyond capacity", err, openami.LimitExceeded, openami.ResourceHost)

	// Terminated instances make room again.
	if _, err := f.machines.TerminateInstances(context.Background(), f.p, []string{r.Instances[0].ID}); err != nil {
		t.Fatal(err)
	}
	a.pass(t)
	b.pass(t)
	if _, err := f.runN(b.m, img, 1, 1); err != nil {
		t.Errorf("launch after a termination: %v", err)
	}
}

func TestPlacementZonesAndDrain(t *testing.T) {
	f := newFixture(t)
	img := f.image(t, "zones")
	hb := hostOf(4)
	hb.Zones = []string{"us-east-1b"}
	a := f.node(t, "a", hostOf(4))
	b := f.node(t, "b", hb)
	ctx := context.Background()

	// Zone a: only a serves it.
	r, err := a.m.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 2, MaxCount: 2, AvailabilityZone: "us-east-1a"})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range r.Instances {
		if i.HostID != a.id() {
			t.Errorf("instance in us-east-1a on %s, want %s", i.HostID, a.id())
		}
	}
	r, err = a.m.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, AvailabilityZone: "us-east-1b"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Instances[0].HostID != b.id() && r.Instances[0].HostID != a.id() {
		t.Errorf("instance in us-east-1b on %q", r.Instances[0].HostID)
	}

	// Drained, a takes no new instance; b does not serve zone a.
	if err := a.m.DrainHost(ctx, a.id()); err != nil {
		t.Fatal(err)
	}
	_, err = a.m.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, AvailabilityZone: "us-east-1a"})
	wantClass(t, "launch beyond capacity", err, openami.LimitExceeded, openami.ResourceHost)
	// A host that runs instances is not removed.
	wantClass(t, "remove a busy host", a.m.RemoveHost(ctx, a.id()), openami.InUse, openami.ResourceHost)
	hosts, err := a.m.Hosts(ctx)
	if err != nil || len(hosts) != 2 {
		t.Fatalf("hosts: %+v, %v", hosts, err)
	}
	// Once its instances are gone, it is.
	var ids []string
	for _, h := range hosts {
		if h.ID == a.id() && h.State != openami.HostDraining {
			t.Errorf("a's state: %s", h.State)
		}
	}
	list, _ := f.machines.InstanceStatuses(ctx, f.p, nil, true)
	for _, i := range list {
		if i.HostID == a.id() {
			ids = append(ids, i.ID)
		}
	}
	if _, err := f.machines.TerminateInstances(ctx, f.p, ids); err != nil {
		t.Fatal(err)
	}
	a.pass(t)
	if err := a.m.RemoveHost(ctx, a.id()); err != nil {
		t.Errorf("remove an empty host: %v", err)
	}
	wantClass(t, "remove a removed host", a.m.RemoveHost(ctx, a.id()), openami.NotFound, openami.ResourceHost)
}

// TestHostDeath: a host whose heartbeat lapses impairs its instances; an
// EBS-backed one stops without it and starts on another host; an
// instance store-backed one is terminated; the host, back, is fenced.
func TestHostDeath(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img := f.image(t, "ebs")
	storeImg, _ := f.storeImage(t, bundleImage())
	big := openami.Host{VCPUs: 8, MemoryMiB: 8192, InstanceStoreGiB: 1000}
	a := f.nodeTTL(t, "a", big, shortTTL)
	// b joins once a holds the instances.
	r, err := a.m.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 2, MaxCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := a.m.RunInstances(ctx, f.p, RunInstancesInput{ImageID: storeImg, InstanceType: "m1.small", MinCount: 1, MaxCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.m.HeartbeatHost(ctx, shortTTL); err != nil {
		t.Fatal(err)
	}
	a.pass(t)
	ebs1, ebs2, store := r.Instances[0].ID, r.Instances[1].ID, rs.Instances[0].ID
	for _, id := range []string{ebs1, ebs2, store} {
		if i := f.instance(t, id); i.State != openami.InstanceRunning || i.HostID != a.id() {
			t.Fatalf("%s: %s on %s", id, i.State, i.HostID)
		}
	}
	b := f.node(t, "b", big)
	checks := func(id string) (string, string) {
		t.Helper()
		st, err := b.m.InstanceStatuses(ctx, f.p, []string{id}, false)
		if err != nil || len(st) != 1 {
			t.Fatalf("status of %s: %+v, %v", id, st, err)
		}
		sys, _ := st[0].SystemCheck()
		inst, _ := st[0].InstanceCheck()
		return sys, inst
	}
	if err := a.m.HeartbeatHost(ctx, shortTTL); err != nil {
		t.Fatal(err)
	}
	if sys, inst := checks(ebs1); sys != "ok" || inst != "ok" {
		t.Errorf("checks while a lives: %s, %s", sys, inst)
	}

	// a stops heart-beating; b does (its lease is long).
	a.waitDead(t)
	if sys, inst := checks(ebs1); sys != "impaired" || inst != "impaired" {
		t.Errorf("checks once a is dead: %s, %s", sys, inst)
	}
	if _, err := f.machines.StopInstances(ctx, f.p, []string{ebs1}, false); err != nil {
		t.Fatal(err)
	}
	b.pass(t)
	i := f.instance(t, ebs1)
	if i.State != openami.InstanceStopped || i.HostID != "" || i.PublicIP != "" {
		t.Errorf("stopped without its host: %s on %q, %q", i.State, i.HostID, i.PublicIP)
	}
	s := f.instance(t, store)
	if s.State != openami.InstanceTerminated || s.StateReason.Cause != openami.CauseHostFailed {
		t.Errorf("instance store-backed instance of a dead host: %s, %+v", s.State, s.StateReason)
	}
	// The other EBS-backed one stays, impaired.
	if i := f.instance(t, ebs2); i.State != openami.InstanceRunning || i.HostID != a.id() {
		t.Errorf("running instance of a dead host: %s on %s", i.State, i.HostID)
	}
	if _, err := f.machines.StartInstances(ctx, f.p, []string{ebs1}); err != nil {
		t.Fatal(err)
	}
	b.pass(t)
	if i := f.instance(t, ebs1); i.State != openami.InstanceRunning || i.HostID != b.id() {
		t.Errorf("started again: %s on %s, want running on %s", i.State, i.HostID, b.id())
	}
	if calls := b.rt.Calls(); !slices.Contains(calls, "start "+ebs1) {
		t.Errorf("b's runtime calls: %q", calls)
	}

	// a comes back: its heartbeat is fenced, and so is any write of its.
	a.rt.ForgetCalls()
	if err := a.m.HeartbeatHost(ctx, hostTTL); !IsFenced(err) {
		t.Errorf("heartbeat of a host declared dead: %v", err)
	}
	a.rt.SetState(ebs2, openami.VMPoweredOff)
	a.pass(t)
	if i := f.instance(t, ebs2); i.State != openami.InstanceRunning {
		t.Errorf("a fenced host's write went through: %s", i.State)
	}
	a.rt.SetState(ebs2, openami.VMRunning)
	// Registering again kills the VMs of the instances that moved, and
	// only those.
	if _, err := a.m.RegisterHost(ctx, openami.Host{Node: "a", VCPUs: 8, MemoryMiB: 8192, InstanceStoreGiB: 1000}, hostTTL); err != nil {
		t.Fatal(err)
	}
	calls := a.rt.Calls()
	slices.Sort(calls)
	want := []string{"terminate " + ebs1, "terminate " + store}
	slices.Sort(want)
	if !slices.Equal(calls, want) {
		t.Errorf("a's runtime calls on its return: %q, want %q", calls, want)
	}
	if i := f.instance(t, ebs1); i.State != openami.InstanceRunning || i.HostID != b.id() {
		t.Errorf("moved instance after a's return: %s on %s", i.State, i.HostID)
	}
	if sys, _ := checks(ebs2); sys != "ok" {
		t.Errorf("a's own instance after its return: %s", sys)
	}
	if err := a.m.HeartbeatHost(ctx, hostTTL); err != nil {
		t.Errorf("heartbeat after registering again: %v", err)
	}
}

// TestNoHosts: without any host registered, instances are placed on none
// and the node runs them, as before hosts.
func TestNoHosts(t *testing.T) {
	f := newFixture(t)
	i := f.launch(t, "alone")
	if i.HostID != "" {
		t.Errorf("host of an instance with no host registered: %q", i.HostID)
	}
	if _, ok := f.machines.Host(); ok {
		t.Error("a node that did not register is a host")
	}
}

// TestSuspendedHost: a host suspended (cut off from the store) starts
// nothing; resumed, it does.
func TestSuspendedHost(t *testing.T) {
	f := newFixture(t)
	img := f.image(t, "suspended")
	a := f.node(t, "a", hostOf(2))
	r, err := f.runN(a.m, img, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	a.m.SuspendHost(true)
	a.pass(t)
	if i := f.instance(t, r.Instances[0].ID); i.State != openami.InstancePending || len(a.rt.Calls()) != 0 {
		t.Errorf("a suspended host acted: %s, %q", i.State, a.rt.Calls())
	}
	a.m.SuspendHost(false)
	a.pass(t)
	if i := f.instance(t, r.Instances[0].ID); i.State != openami.InstanceRunning {
		t.Errorf("a resumed host: %s", i.State)
	}
}

// TestHostJobsStayOnTheirHost: a bundle task of an instance on host a is
// run by a, not by another host's pass.
func TestHostJobsStayOnTheirHost(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img := f.image(t, "bundled")
	a := f.node(t, "a", hostOf(1))
	b := f.node(t, "b", hostOf(1))
	r, err := a.m.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 2, MaxCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	a.pass(t)
	b.pass(t)
	onA := r.Instances[0].ID
	if r.Instances[0].HostID != a.id() {
		onA = r.Instances[1].ID
	}
	task, err := f.machines.BundleInstance(ctx, f.p, BundleInstanceInput{InstanceID: onA, Bucket: "my-bundles", Prefix: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.m.AdvanceBundleTasks(ctx); err != nil {
		t.Fatal(err)
	}
	b.m.Wait()
	if got := f.bundleTask(t, task.ID); got.State != task.State {
		t.Errorf("another host ran the bundle task: %s, was %s", got.State, task.State)
	}
	if err := a.m.AdvanceBundleTasks(ctx); err != nil {
		t.Fatal(err)
	}
	a.m.Wait()
	if got := f.bundleTask(t, task.ID); got.State != openami.BundleComplete {
		t.Errorf("the host's bundle task: %s", got.State)
	}
}

// consoleRuntime is a fake runtime whose every VM wrote out to its
// console.
type consoleRuntime struct {
	*fakeRuntime
	out []byte
}

func (c consoleRuntime) ConsoleOutput(context.Context, openami.Instance) ([]byte, error) {
	return c.out, nil
}

// Health says every guest failed its check since 2026-01-02.
func (c consoleRuntime) Health(openami.Instance) openami.Health {
	return openami.Health{Status: openami.HealthImpaired, Reason: "no console output", Since: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}
}

// TestConsoleThroughAnotherNode: a host posts its VMs' console output, the
// last 64 KiB of it, and their health; another node answers
// GetConsoleOutput and DescribeInstanceStatus with them.
func TestConsoleThroughAnotherNode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img := f.image(t, "console")
	cfg := f.cfg
	out := make([]byte, consoleTail+100)
	for k := range out {
		out[k] = byte('a' + k%26)
	}
	cfg.Runtime = consoleRuntime{fakeRuntime: newFakeRuntime(), out: out}
	host := New(cfg)
	t.Cleanup(host.Wait)
	if _, err := host.RegisterHost(ctx, openami.Host{Node: "a", VCPUs: 2, MemoryMiB: 1024}, hostTTL); err != nil {
		t.Fatal(err)
	}
	r, err := f.runN(f.machines, img, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	id := r.Instances[0].ID
	if _, got, err := f.machines.ConsoleOutput(ctx, f.p, id); err != nil || len(got) != 0 {
		t.Errorf("console before the host posted: %d bytes, %v", len(got), err)
	}
	if err := host.AdvanceInstances(ctx); err != nil { // starts it
		t.Fatal(err)
	}
	host.Wait()
	if err := host.AdvanceInstances(ctx); err != nil { // posts
		t.Fatal(err)
	}
	_, got, err := f.machines.ConsoleOutput(ctx, f.p, id)
	if err != nil || string(got) != string(out[100:]) {
		t.Errorf("console through another node: %d bytes, %v; want the last %d", len(got), err, consoleTail)
	}
	st, err := f.machines.InstanceStatuses(ctx, f.p, []string{id}, false)
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if c, _ := st[0].InstanceCheck(); c != "impaired" || st[0].Health.Reason != "no console output" || !st[0].Health.Since.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("health through another node: %s, %+v", c, st[0].Health)
	}
}

// rebootRuntime is a fake runtime that counts its reboots.
type rebootRuntime struct {
	*fakeRuntime
	reboots *atomic.Int32
}

func (r rebootRuntime) Reboot(context.Context, openami.Instance) error {
	r.reboots.Add(1)
	return nil
}

// TestRebootThroughAnotherNode: a reboot asked of a node that is not the
// instance's host is carried out by the host's worker, once.
func TestRebootThroughAnotherNode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img := f.image(t, "reboot")
	cfg := f.cfg
	var reboots atomic.Int32
	cfg.Runtime = rebootRuntime{fakeRuntime: newFakeRuntime(), reboots: &reboots}
	host := New(cfg)
	t.Cleanup(host.Wait)
	if _, err := host.RegisterHost(ctx, openami.Host{Node: "a", VCPUs: 2, MemoryMiB: 1024}, hostTTL); err != nil {
		t.Fatal(err)
	}
	r, err := f.runN(f.machines, img, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	id := r.Instances[0].ID
	pass := func() {
		t.Helper()
		if err := host.AdvanceInstances(ctx); err != nil {
			t.Fatal(err)
		}
		host.Wait()
	}
	pass()
	if err := f.machines.RebootInstances(ctx, f.p, []string{id}); err != nil {
		t.Fatal(err)
	}
	if i := f.instance(t, id); !i.RebootAsked || reboots.Load() != 0 {
		t.Fatalf("after RebootInstances through another node: asked %v, %d reboots", i.RebootAsked, reboots.Load())
	}
	pass()
	pass()
	if i := f.instance(t, id); i.RebootAsked || reboots.Load() != 1 || i.State != openami.InstanceRunning {
		t.Errorf("after the host's passes: asked %v, %d reboots, %s", i.RebootAsked, reboots.Load(), i.State)
	}
}
