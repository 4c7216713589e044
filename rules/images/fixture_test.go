package images

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/sqlite"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
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

// fixture is a Registry as service.New builds it, over a SQLite store and
// a directory blob store per region in a temp dir, serving us-east-1 and
// us-west-2, with rules/identity, rules/kms and rules/ebs below it (EBS
// asks the Registry which images use a snapshot, as in the service) and
// an account whose principal in us-east-1 is p. No worker runs: pass does
// what its pass does for snapshots and images.
type fixture struct {
	images   *Registry
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
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.images = New(Config{Store: store, Regions: regions, Identity: f.accounts, EBS: f.vols, Tokens: tokens, Clock: f.clock.now})
	f.p = f.newAccount(t, "test")
	return f
}

// newAccount creates an account and returns its principal in us-east-1.
func (f *fixture) newAccount(t *testing.T, name string) openami.Principal {
	t.Helper()
	a, _, err := f.accounts.CreateAccount(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	return openami.Principal{AccountID: a.ID, Region: "us-east-1"}
}

// pass does what the service's worker does for images in one pass:
// empty the Recycle Bin of what is due, finish completing snapshots,
// expire overdue ones, settle pending images.
func (f *fixture) pass(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	pending, err := f.vols.PendingSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.images.EmptyRecycleBin(ctx); err != nil {
		t.Fatal(err)
	}
	for _, snap := range pending {
		switch {
		case snap.Completing:
			err = f.vols.FinishSnapshot(ctx, snap.Region, snap.ID)
		case f.clock.now().After(snap.Deadline):
			err = f.vols.ExpireSnapshot(ctx, snap.Region, snap.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.images.SettleImages(ctx); err != nil {
		t.Fatal(err)
	}
}

// snapshot writes a random block into a new snapshot of p's and
// completes it; with finish, it also builds its map, as the worker does.
func (f *fixture) snapshot(t *testing.T, p openami.Principal, finish bool) string {
	t.Helper()
	ctx := context.Background()
	snap, err := f.vols.StartSnapshot(ctx, p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, openami.BlockSize)
	rand.Read(b)
	sum := sha256.Sum256(b)
	if _, err := f.vols.PutSnapshotBlock(ctx, p, ebs.PutSnapshotBlockInput{
		SnapshotID: snap.ID, Index: 0, Data: b, DataLength: openami.BlockSize,
		Checksum: base64.StdEncoding.EncodeToString(sum[:]), ChecksumAlgorithm: "SHA256",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.vols.CompleteSnapshot(ctx, p, ebs.CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: 1}); err != nil {
		t.Fatal(err)
	}
	if finish {
		if err := f.vols.FinishSnapshot(ctx, p.Region, snap.ID); err != nil {
			t.Fatal(err)
		}
	}
	return snap.ID
}

// registerInput is a RegisterImage of one EBS root device over snap.
func registerInput(name, snap string) RegisterImageInput {
	return RegisterImageInput{Name: name, RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap}}}}
}

// register registers an image of p's over a new completed snapshot.
func (f *fixture) register(t *testing.T, p openami.Principal, name string) string {
	t.Helper()
	id, err := f.images.RegisterImage(context.Background(), p, registerInput(name, f.snapshot(t, p, true)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// image reads an image's record.
func (f *fixture) image(t *testing.T, id string) openami.Image {
	t.Helper()
	var img openami.Image
	err := f.store.View(context.Background(), func(tx metadata.Tx) (err error) {
		img, err = f.images.ImageOf(tx, "us-east-1", id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// launchable reports what LaunchableImage says of the image for p.
func (f *fixture) launchable(p openami.Principal, id string) error {
	return f.store.View(context.Background(), func(tx metadata.Tx) error {
		_, err := f.images.LaunchableImage(tx, p, id)
		return err
	})
}

// visible returns the ids DescribeImages shows p of all it may see.
func (f *fixture) visible(t *testing.T, p openami.Principal, in DescribeImagesInput) map[string]ImageView {
	t.Helper()
	list, _, err := f.images.DescribeImages(context.Background(), p, in)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ImageView{}
	for _, v := range list {
		out[v.ID] = v
	}
	return out
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
