package service

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/postgres"
	"github.com/openami/openami/rules/autoscaling"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/rulestest"
	"github.com/openami/openami/rules/templates"
)

// hostCluster is several services on one PostgreSQL database and one shared
// blob store per region, each with a data directory of its own and a
// fake runtime: a real multi-node openami, in one process.
type hostCluster struct {
	dsn   string
	blobs map[string]blob.Store
	seal  *seal.Key
	regs  []openami.Region
	clock *rulestest.Clock
	// now is the nodes' clock: clock's, or time.Now when nil.
	now openami.Clock
	// wakeups gives nodes PostgreSQL wake-ups, and leaseTTL their
	// leases' lifetime (wakeups_test.go).
	wakeups  bool
	leaseTTL time.Duration
}

func newHostCluster(t testing.TB) *hostCluster {
	t.Helper()
	dsn := testenv.Postgres(t)
	key, _ := seal.New(make([]byte, seal.KeySize))
	regs, err := identity.ParseRegions([]string{"us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	shared := t.TempDir()
	blobs := map[string]blob.Store{}
	for _, r := range regs {
		if blobs[r.Name], err = dir.New(filepath.Join(shared, r.Name)); err != nil {
			t.Fatal(err)
		}
	}
	clock := rulestest.NewClock(time.Now())
	return &hostCluster{dsn: dsn, blobs: blobs, seal: key, regs: regs, clock: clock, now: clock.Now}
}

// member is one node of a cluster.
type member struct {
	svc   *Service
	store metadata.Store
	rt    *rulestest.Runtime
}

// node starts a node; with host, it registers as a compute host of that
// capacity.
// accountImage makes an account through api and registers, as it, an
// EBS-backed image of one block (named name); it returns the account's
// fixture and the image's id.
func (c *hostCluster) accountImage(t *testing.T, api member, name string) (*fixture, string) {
	t.Helper()
	ctx := context.Background()
	acct, _, err := api.svc.Identity().CreateAccount(ctx, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: api.svc, store: api.store, clock: c.clock, p: openami.Principal{AccountID: acct.ID, Region: "us-east-1"}}
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	img, err := api.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: name, RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap, DeleteOnTermination: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	return f, img
}

func (c *hostCluster) node(t testing.TB, host *HostConfig) member {
	t.Helper()
	ctx := context.Background()
	store, err := postgres.Open(ctx, c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := Config{Store: store, Seal: c.seal, Regions: c.regs, Blobs: c.blobs, Clock: c.now, LocalDir: t.TempDir(), LeaseTTL: c.leaseTTL}
	if c.wakeups {
		w := postgres.NewWakeups(c.dsn)
		t.Cleanup(func() { w.Close() })
		cfg.Wakeups = w
	}
	svc, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt := newFakeRuntime(nil, nil)
	svc.UseRuntime(rt)
	if host != nil {
		if _, err := svc.RegisterHost(ctx, *host); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(svc.Close)
	return member{svc: svc, store: store, rt: rt}
}

func (m member) pass() { m.svc.completions.pass(context.Background()) }

func (m member) hostID() string {
	id, _ := m.svc.Instances().Host()
	return id
}

func (m member) instance(t *testing.T, id string) openami.Instance {
	t.Helper()
	var i openami.Instance
	err := m.store.View(context.Background(), func(tx metadata.Tx) (err error) {
		i, err = tx.Instances().Get("us-east-1", id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestClusterHostDeath: three nodes on one PostgreSQL (an API node and two
// hosts). Instances launched through the API node run on the hosts; one
// host dies with an acknowledged write on its instance's volume; through
// the API node its instance is impaired, stops without it, and starts on
// the other host with the write intact; the dead host, back, is fenced.
func TestClusterHostDeath(t *testing.T) {
	ctx := context.Background()
	c := newHostCluster(t)
	// a's heartbeat is short: the test waits for it to lapse, by the
	// database's clock. b's outlasts the test.
	cfgA := HostConfig{Node: "node-a", VCPUs: 4, MemoryMiB: 4096, TTL: 3 * time.Second}
	cfgB := cfgA
	cfgB.Node, cfgB.TTL = "node-b", time.Minute
	api := c.node(t, nil)
	a := c.node(t, &cfgA)
	b := c.node(t, &cfgB)

	f, img := c.accountImage(t, api, "img")
	r, err := api.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 2, MaxCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []member{api, a, b} {
		m.pass()
	}
	var onA, onB string
	for _, v := range r.Instances {
		i := api.instance(t, v.ID)
		if i.State != openami.InstanceRunning {
			t.Fatalf("%s after the passes: %s", i.ID, i.State)
		}
		switch i.HostID {
		case a.hostID():
			onA = i.ID
		case b.hostID():
			onB = i.ID
		}
	}
	if onA == "" || onB == "" {
		t.Fatalf("instances not spread over the two hosts")
	}
	if calls := api.rt.Calls(); len(calls) != 0 {
		t.Errorf("the API node's runtime ran %q", calls)
	}
	if calls := a.rt.Calls(); !slices.Equal(calls, []string{"start " + onA}) {
		t.Errorf("a's runtime: %q", calls)
	}

	// An acknowledged, flushed write on a's instance's root, through a.
	vol := api.instance(t, onA).BlockDevices[0].VolumeID
	dev, err := a.svc.Instances().OpenDevice(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	written := bytes.Repeat([]byte("host a wrote this"), 100)
	if err := dev.WriteAt(ctx, written, 4096); err != nil {
		t.Fatal(err)
	}
	if err := dev.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// a dies: its heartbeat lapses; b's goes on.
	a.svc.Close()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		hosts, err := api.svc.Instances().Hosts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(hosts, func(h openami.Host) bool { return h.ID == a.hostID() }); i >= 0 && !hosts[i].Alive(time.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a's heartbeat did not lapse")
		}
	}
	st, err := api.svc.Instances().InstanceStatuses(ctx, f.p, []string{onA, onB}, false)
	if err != nil || len(st) != 2 {
		t.Fatalf("statuses: %+v, %v", st, err)
	}
	for _, s := range st {
		sys, _ := s.SystemCheck()
		want := "ok"
		if s.ID == onA {
			want = "impaired"
		}
		if sys != want {
			t.Errorf("system status of %s: %s, want %s", s.ID, sys, want)
		}
	}

	// Stopped without its host, started on the other one.
	if _, err := api.svc.Instances().StopInstances(ctx, f.p, []string{onA}, false); err != nil {
		t.Fatal(err)
	}
	api.pass()
	if i := api.instance(t, onA); i.State != openami.InstanceStopped {
		t.Fatalf("stop without the host: %s", i.State)
	}
	if _, err := api.svc.Instances().StartInstances(ctx, f.p, []string{onA}); err != nil {
		t.Fatal(err)
	}
	api.pass()
	b.pass()
	if i := api.instance(t, onA); i.State != openami.InstanceRunning || i.HostID != b.hostID() {
		t.Fatalf("started again: %s on %s, want running on %s", i.State, i.HostID, b.hostID())
	}
	// a's device, still open, cannot write into the volume its instance
	// took to b.
	err = dev.WriteAt(ctx, []byte("stale"), 0)
	if err == nil {
		err = dev.Flush(ctx)
	}
	if !errors.Is(err, ebs.ErrRevoked) {
		t.Errorf("a dead host's device wrote into the moved volume: %v", err)
	}
	dev.Close()
	devB, err := b.svc.Instances().OpenDevice(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	defer devB.Close()
	got := make([]byte, len(written))
	if err := devB.ReadAt(ctx, got, 4096); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, written) {
		t.Error("the write acknowledged on a is not what b reads")
	}

	// a comes back (restarted: same node id, a new epoch): it does not
	// take back the instance that moved, and b's are undisturbed.
	back := c.node(t, &cfgA)
	if back.hostID() != a.hostID() {
		t.Fatalf("a restarted is host %s, was %s", back.hostID(), a.hostID())
	}
	back.pass()
	b.pass()
	if calls := back.rt.Calls(); len(calls) != 0 {
		t.Errorf("a, back, ran %q", calls)
	}
	for _, id := range []string{onA, onB} {
		if i := api.instance(t, id); i.State != openami.InstanceRunning || i.HostID != b.hostID() {
			t.Errorf("%s after a's return: %s on %s", id, i.State, i.HostID)
		}
	}
	// The API node says where each runs.
	list, err := api.svc.Instances().Hosts(ctx)
	if err != nil || len(list) != 2 || list[0].Lost || list[1].Lost {
		t.Errorf("hosts after a's return: %+v, %v", list, err)
	}
}

// TestClusterAutoScalingReplacesADeadHostsInstance: an Auto Scaling
// group's instance on a host that dies is impaired, taken out of service
// and terminated without its host, and replaced on a live host.
func TestClusterAutoScalingReplacesADeadHostsInstance(t *testing.T) {
	ctx := context.Background()
	c := newHostCluster(t)
	api := c.node(t, nil)
	a := c.node(t, &HostConfig{Node: "node-a", VCPUs: 4, MemoryMiB: 4096, TTL: 3 * time.Second})
	f, img := c.accountImage(t, api, "fleet")
	lt, err := api.svc.Templates().CreateLaunchTemplate(ctx, f.p, templates.CreateInput{LaunchTemplateName: "fleet",
		LaunchTemplateData: &openami.LaunchTemplateData{ImageID: img, InstanceType: "t3.micro"}})
	if err != nil {
		t.Fatal(err)
	}
	one := 1
	if err := api.svc.AutoScaling().CreateAutoScalingGroup(ctx, f.p, autoscaling.GroupInput{Name: "g", Template: &autoscaling.TemplateSpec{ID: lt.ID, Version: "$Latest"},
		MinSize: &one, MaxSize: &one, Zones: []string{"us-east-1a"}}); err != nil {
		t.Fatal(err)
	}
	running := func(host string) []string {
		t.Helper()
		st, err := api.svc.Instances().InstanceStatuses(ctx, f.p, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range st {
			if s.HostID == host {
				ids = append(ids, s.ID)
			}
		}
		return ids
	}
	for range 3 {
		api.pass()
		a.pass()
	}
	first := running(a.hostID())
	if len(first) != 1 {
		t.Fatalf("the group's instance on a: %q", first)
	}
	b := c.node(t, &HostConfig{Node: "node-b", VCPUs: 4, MemoryMiB: 4096, TTL: time.Minute})

	a.svc.Close()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if st, err := api.svc.Instances().InstanceStatuses(ctx, f.p, first, false); err == nil && len(st) == 1 && st[0].HostDead {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a's heartbeat did not lapse")
		}
	}
	var replaced []string
	for k := 0; k < 10 && len(replaced) == 0; k++ {
		c.clock.Add(10 * time.Minute) // past the health check's grace period
		api.pass()
		b.pass()
		replaced = running(b.hostID())
	}
	if len(replaced) != 1 {
		t.Fatalf("no replacement on b: %q", replaced)
	}
	if i := api.instance(t, first[0]); i.State != openami.InstanceTerminated {
		t.Errorf("the dead host's instance: %s", i.State)
	}
}
