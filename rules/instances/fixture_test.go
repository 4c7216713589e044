package instances

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/localdisk"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/sqlite"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/kms"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is Machines as service.New builds them, over a SQLite store, a
// directory blob store per region and instance-store disks in a temp dir,
// serving us-east-1 and us-west-2, with rules/identity, rules/kms,
// rules/ebs and rules/images below them (EBS asks images which of them
// use a snapshot, and Machines whether an instance may run, as in the
// service), the none runtime, and an account whose principal in
// us-east-1 is p. No worker runs: pass is the worker's pass over
// instances (AdvanceInstances, then Wait for its runtime jobs).
type fixture struct {
	machines *Machines
	images   *images.Registry
	vols     *ebs.Volumes
	accounts *identity.Accounts
	store    metadata.Store
	clock    *testClock
	p        openami.Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	d := t.TempDir()
	store, err := sqlite.Open(filepath.Join(d, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key, _ := seal.New(make([]byte, seal.KeySize))
	regions, err := identity.ParseRegions([]string{"us-east-1", "us-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string]blob.Store{}
	for _, r := range regions {
		b, err := dir.New(filepath.Join(d, "blocks", r.Name))
		if err != nil {
			t.Fatal(err)
		}
		blobs[r.Name] = b
	}
	f := &fixture{store: store, clock: &testClock{t: time.Now()}}
	tokens := pagetoken.New(make([]byte, pagetoken.MinSecretSize))
	f.accounts = identity.New(identity.Config{Store: store, Seal: key, Regions: regions, Clock: f.clock.now})
	keys := kms.New(kms.Config{Store: store, Seal: key, Regions: regions, Tokens: tokens, Clock: f.clock.now,
		Purged: func(tx metadata.Tx, k openami.Key) error { return f.vols.ForgetDataKey(tx, k) }})
	f.vols, err = ebs.New(ebs.Config{Store: store, Regions: regions, Blobs: blobs, Identity: f.accounts, KMS: keys,
		Tokens: tokens, Clock: f.clock.now,
		ImagesUsing: func(tx metadata.Tx, region, snapshotID string) ([]string, error) {
			return f.images.UsingSnapshot(tx, region, snapshotID)
		},
		InstanceMayRun: func(tx metadata.Tx, region, instanceID string) (bool, error) {
			return f.machines.MayRun(tx, region, instanceID)
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.images = images.New(images.Config{Store: store, Regions: regions, Identity: f.accounts, EBS: f.vols, Tokens: tokens, Clock: f.clock.now})
	f.machines = New(Config{Store: store, Seal: key, Regions: regions, Identity: f.accounts, EBS: f.vols, Images: f.images,
		Tokens: tokens, Clock: f.clock.now, Disks: localdisk.New(d)})
	t.Cleanup(f.machines.Wait)
	a, _, err := f.accounts.CreateAccount(context.Background(), "test", false)
	if err != nil {
		t.Fatal(err)
	}
	f.p = openami.Principal{AccountID: a.ID, Region: "us-east-1"}
	return f
}

// pass is the worker's pass over instances, whole: AdvanceInstances and
// the runtime jobs it started.
func (f *fixture) pass(t *testing.T) {
	t.Helper()
	if err := f.machines.AdvanceInstances(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.machines.Wait()
}

// image registers an image over a new completed snapshot of one block,
// its root volume deleted on termination.
func (f *fixture) image(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	snap, err := f.vols.StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, openami.BlockSize)
	rand.Read(b)
	sum := sha256.Sum256(b)
	if _, err := f.vols.PutSnapshotBlock(ctx, f.p, ebs.PutSnapshotBlockInput{SnapshotID: snap.ID, Index: 0, Data: b,
		DataLength: openami.BlockSize, Checksum: base64.StdEncoding.EncodeToString(sum[:]), ChecksumAlgorithm: "SHA256"}); err != nil {
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

// run runs one instance of the image and a pass, which makes it running.
func (f *fixture) run(t *testing.T, img string) openami.Instance {
	t.Helper()
	r, err := f.machines.RunInstances(context.Background(), f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	i := f.instance(t, r.Instances[0].ID)
	if i.State != openami.InstanceRunning {
		t.Fatalf("instance after a pass: %s", i.State)
	}
	return i
}

// launch registers an image and runs one instance of it.
func (f *fixture) launch(t *testing.T, name string) openami.Instance {
	t.Helper()
	return f.run(t, f.image(t, name))
}

// instance reads an instance's record.
func (f *fixture) instance(t *testing.T, id string) openami.Instance {
	t.Helper()
	var i openami.Instance
	err := f.store.View(context.Background(), func(tx metadata.Tx) (err error) {
		i, err = tx.Instances().Get("us-east-1", id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// volume reads a volume's record.
func (f *fixture) volume(t *testing.T, id string) (openami.Volume, error) {
	t.Helper()
	var v openami.Volume
	err := f.store.View(context.Background(), func(tx metadata.Tx) (err error) {
		v, err = f.vols.Volume(tx, "us-east-1", id)
		return err
	})
	return v, err
}

// wantClass fails unless err is an *openami.Error of the class about the
// resource.
func wantClass(t *testing.T, what string, err error, class openami.Class, resource openami.ResourceType) {
	t.Helper()
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != class || e.Resource != resource {
		t.Fatalf("%s: got %v, want %v on %q", what, err, class, resource)
	}
}

// fakeRuntime records calls; Stop can be held (hold) or fail (stopErr);
// as a Watcher it reports states.
type fakeRuntime struct {
	NoneRuntime
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

func (r *fakeRuntime) Terminate(_ context.Context, i openami.Instance) error {
	r.record("terminate " + i.ID)
	return nil
}

func (r *fakeRuntime) VMState(i openami.Instance) openami.VMState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.states[i.ID]
}
