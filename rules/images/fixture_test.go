package images

import (
	"context"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

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
	objects  *objects.Buckets
	store    metadata.Store
	clock    *rulestest.Clock
	p        openami.Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := rulestest.Open(t, "", nil)
	f := &fixture{store: env.Store, clock: env.Clock, accounts: env.Identity()}
	keys := kms.New(kms.Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Tokens: env.Tokens, Clock: env.Clock.Now,
		Purged: func(tx metadata.Tx, k openami.Key) error { return f.vols.ForgetDataKey(tx, k) }})
	var err error
	f.vols, err = ebs.New(ebs.Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Identity: f.accounts, KMS: keys,
		Tokens: env.Tokens, Clock: env.Clock.Now,
		ImagesUsing: func(tx metadata.Tx, region, snapshotID string) ([]string, error) {
			return f.images.UsingSnapshot(tx, region, snapshotID)
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.objects = objects.New(objects.Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Clock: env.Clock.Now})
	f.images = New(Config{Store: env.Store, Regions: env.Regions, Identity: f.accounts, EBS: f.vols, Tokens: env.Tokens,
		Objects: f.objects, Clock: env.Clock.Now})
	f.p = f.newAccount(t, "test")
	return f
}

// newAccount creates an account and returns its principal in us-east-1.
func (f *fixture) newAccount(t *testing.T, name string) openami.Principal {
	t.Helper()
	return rulestest.NewAccount(t, f.accounts, name)
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
		case f.clock.Now().After(snap.Deadline):
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
	b := rulestest.Block(0)
	if _, err := f.vols.PutSnapshotBlock(ctx, p, ebs.PutSnapshotBlockInput{
		SnapshotID: snap.ID, Index: 0, Data: b, DataLength: openami.BlockSize,
		Checksum: rulestest.Checksum(b), ChecksumAlgorithm: "SHA256",
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
var wantClass = rulestest.WantClass
