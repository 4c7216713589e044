package autoscaling

import (
	"context"
	"sync"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/localdisk"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/network"
	"github.com/openami/openami/rules/rulestest"
	"github.com/openami/openami/rules/templates"
)

// fixture is Groups as service.New builds them, over a SQLite store in
// a temp dir (rulestest), with every subsystem below them, the fake
// runtime (rulestest.Runtime over the none runtime, which can also say
// an instance is impaired) and an account whose principal in us-east-1
// is p. No worker runs: pass plays its pass by hand.
type fixture struct {
	groups    *Groups
	machines  *instances.Machines
	templates *templates.Templates
	networks  *network.Networks
	images    *images.Registry
	vols      *ebs.Volumes
	store     metadata.Store
	clock     *rulestest.Clock
	rt        *healthRuntime
	env       *rulestest.Env
	p         openami.Principal
}

// healthRuntime is the fake runtime that reports the instances in
// impaired as failing their status check.
type healthRuntime struct {
	*rulestest.Runtime
	mu       sync.Mutex
	impaired map[string]bool
}

func (r *healthRuntime) Health(i openami.Instance) openami.Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.impaired[i.ID] {
		return openami.Health{Status: openami.HealthImpaired, Reason: "test"}
	}
	return openami.Health{Status: openami.HealthOK}
}

func (r *healthRuntime) impair(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.impaired[id] = true
}

// newFixture builds the fixture over a new temp dir, or over env's (a
// restart: the same store, new rules).
func newFixture(t testing.TB, env *rulestest.Env) *fixture {
	t.Helper()
	fresh := env == nil
	if fresh {
		env = rulestest.Open(t, "", nil)
	}
	f := &fixture{store: env.Store, clock: env.Clock, env: env}
	accounts := identity.New(identity.Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Clock: env.Clock.Now})
	keys := kms.New(kms.Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Tokens: env.Tokens, Clock: env.Clock.Now,
		Purged: func(tx metadata.Tx, k openami.Key) error { return f.vols.ForgetDataKey(tx, k) }})
	var err error
	f.vols, err = ebs.New(ebs.Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Identity: accounts, KMS: keys,
		Tokens: env.Tokens, Clock: env.Clock.Now,
		ImagesUsing: func(tx metadata.Tx, region, snapshotID string) ([]string, error) {
			return f.images.UsingSnapshot(tx, region, snapshotID)
		},
		InstanceMayRun: func(tx metadata.Tx, region, instanceID string) (bool, error) {
			return f.machines.MayRun(tx, region, instanceID)
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.images = images.New(images.Config{Store: env.Store, Regions: env.Regions, Identity: accounts, EBS: f.vols, Tokens: env.Tokens, Clock: env.Clock.Now})
	f.networks = network.New(network.Config{Store: env.Store, Identity: accounts, Tokens: env.Tokens,
		Instances: func(tx metadata.Tx, region, accountID string) ([]openami.Instance, error) {
			return f.machines.LiveInstances(tx, region, accountID)
		}})
	f.templates = templates.New(templates.Config{Store: env.Store, Tokens: env.Tokens, Clock: env.Clock.Now})
	f.machines = instances.New(instances.Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Identity: accounts, EBS: f.vols,
		Images: f.images, Networks: f.networks, Templates: f.templates, Tokens: env.Tokens, Clock: env.Clock.Now, Disks: localdisk.New(env.Dir)})
	f.rt = &healthRuntime{Runtime: &rulestest.Runtime{Runtime: instances.NoneRuntime{}}, impaired: map[string]bool{}}
	f.machines.UseRuntime(f.rt)
	t.Cleanup(f.machines.Wait)
	f.groups = New(Config{Store: env.Store, Identity: accounts, Networks: f.networks, Templates: f.templates, Instances: f.machines, Clock: env.Clock.Now})
	if fresh {
		f.p = rulestest.NewAccount(t, accounts, "test")
	}
	return f
}

// pass is the worker's pass: the controller, then the instances' (their
// runtime jobs waited for), then the controller again, which sees what
// the instances' pass did.
func (f *fixture) pass(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.groups.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.machines.AdvanceInstances(ctx); err != nil {
		t.Fatal(err)
	}
	f.machines.Wait()
	if _, err := f.groups.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
}

// image registers an image over a new completed snapshot of one block.
func (f *fixture) image(t testing.TB, name string) string {
	t.Helper()
	ctx := context.Background()
	snap, err := f.vols.StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := rulestest.Block(0)
	if _, err := f.vols.PutSnapshotBlock(ctx, f.p, ebs.PutSnapshotBlockInput{SnapshotID: snap.ID, Index: 0, Data: b,
		DataLength: openami.BlockSize, Checksum: rulestest.Checksum(b), ChecksumAlgorithm: "SHA256"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.vols.CompleteSnapshot(ctx, f.p, ebs.CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: 1}); err != nil {
		t.Fatal(err)
	}
	if err := f.vols.FinishSnapshot(ctx, f.p.Region, snap.ID); err != nil {
		t.Fatal(err)
	}
	id, err := f.images.RegisterImage(ctx, f.p, images.RegisterImageInput{Name: name, RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap.ID, DeleteOnTermination: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// template makes a launch template "web" of the image and returns its id.
func (f *fixture) template(t testing.TB, img string) string {
	t.Helper()
	lt, err := f.templates.CreateLaunchTemplate(context.Background(), f.p, templates.CreateInput{LaunchTemplateName: "web",
		LaunchTemplateData: &openami.LaunchTemplateData{ImageID: img, InstanceType: "t3.micro"}})
	if err != nil {
		t.Fatal(err)
	}
	return lt.ID
}

// newVersion adds a version of the template with another image.
func (f *fixture) newVersion(t testing.TB, id, img string) {
	t.Helper()
	if _, err := f.templates.CreateLaunchTemplateVersion(context.Background(), f.p, templates.VersionInput{TemplateID: id, SourceVersion: "$Latest",
		LaunchTemplateData: &openami.LaunchTemplateData{ImageID: img}}); err != nil {
		t.Fatal(err)
	}
}

// group reads a group's record.
func (f *fixture) group(t testing.TB, name string) openami.AutoScalingGroup {
	t.Helper()
	grps, _, err := f.groups.DescribeAutoScalingGroups(context.Background(), f.p, []string{name}, nil, Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(grps) != 1 {
		t.Fatalf("group %s: %d groups", name, len(grps))
	}
	return grps[0]
}

// instance reads an instance as DescribeInstances does.
func (f *fixture) instance(t testing.TB, id string) instances.InstanceView {
	t.Helper()
	rs, _, err := f.machines.DescribeInstances(context.Background(), f.p, []string{id}, nil, nil, instances.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return rs[0].Instances[0]
}

func intp(n int) *int { return &n }
