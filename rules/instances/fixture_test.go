package instances

import (
	"context"
	"io"
	"sync"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/localdisk"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

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
	objects  *objects.Buckets
	gate     *blobGate
	bases    *localdisk.Bases
	dir      string
	store    metadata.Store
	clock    *rulestest.Clock
	p        openami.Principal
	// cfg is what machines were built from: other nodes on the same
	// stores are built from it too (hosts_test.go).
	cfg Config
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	env := rulestest.Open(t, "", nil)
	f := &fixture{store: env.Store, clock: env.Clock, accounts: env.Identity(), dir: env.Dir}
	keys := kms.New(kms.Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Tokens: env.Tokens, Clock: env.Clock.Now,
		Purged: func(tx metadata.Tx, k openami.Key) error { return f.vols.ForgetDataKey(tx, k) }})
	var err error
	f.vols, err = ebs.New(ebs.Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Identity: f.accounts, KMS: keys,
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
	f.gate = &blobGate{}
	objectBlobs := map[string]blob.Store{}
	for r, st := range env.Blobs {
		objectBlobs[r] = gatedStore{Store: st, gate: f.gate}
	}
	// Object storage writes through a gate a test may close (bundle
	// tasks caught in the middle of storing a part).
	f.objects = objects.New(objects.Config{Store: env.Store, Regions: env.Regions, Blobs: objectBlobs, Clock: env.Clock.Now})
	if f.bases, err = localdisk.NewBases(env.Dir, 1<<30); err != nil {
		t.Fatal(err)
	}
	f.images = images.New(images.Config{Store: env.Store, Regions: env.Regions, Identity: f.accounts, EBS: f.vols, Tokens: env.Tokens,
		Objects: f.objects, Clock: env.Clock.Now})
	f.cfg = Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Identity: f.accounts, EBS: f.vols, Images: f.images,
		Objects: f.objects, Tokens: env.Tokens, Clock: env.Clock.Now, Disks: localdisk.New(env.Dir), Bases: f.bases}
	f.machines = New(f.cfg)
	t.Cleanup(f.machines.Wait)
	f.p = rulestest.NewAccount(t, f.accounts, "test")
	return f
}

// pass is the worker's pass over instances, whole: AdvanceInstances and
// the runtime jobs it started.
func (f *fixture) pass(t testing.TB) {
	t.Helper()
	if err := f.machines.AdvanceInstances(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.machines.Wait()
}

// image registers an image over a new completed snapshot of one block,
// its root volume deleted on termination.
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
func (f *fixture) instance(t testing.TB, id string) openami.Instance {
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
var wantClass = rulestest.WantClass

// fakeRuntime records calls; Stop can be held (Hold) or fail
// (SetStopErr); as a Watcher it reports states (SetState).
type fakeRuntime = rulestest.Runtime

// newFakeRuntime returns a fakeRuntime over the none runtime.
func newFakeRuntime() *fakeRuntime { return &fakeRuntime{Runtime: NoneRuntime{}} }

// blobGate holds the object blob Puts while closed: Close makes the next
// Put signal entered and wait for Open.
type blobGate struct {
	mu      sync.Mutex
	entered chan struct{}
	open    chan struct{}
}

// Close closes the gate and returns a channel closed once a Put waits at
// it.
func (g *blobGate) Close() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.entered, g.open = make(chan struct{}), make(chan struct{})
	return g.entered
}

// Open lets the waiting Put (and every later one) through.
func (g *blobGate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open != nil {
		close(g.open)
		g.entered, g.open = nil, nil
	}
}

func (g *blobGate) wait() {
	g.mu.Lock()
	entered, open := g.entered, g.open
	if entered != nil {
		g.entered = nil // one Put signals
	}
	g.mu.Unlock()
	if entered != nil {
		close(entered)
	}
	if open != nil {
		<-open
	}
}

// gatedStore is a blob store whose Puts pass the gate first.
type gatedStore struct {
	blob.Store
	gate *blobGate
}

func (g gatedStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	g.gate.wait()
	return g.Store.Put(ctx, key, r, size)
}
