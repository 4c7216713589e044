package parameters

import (
	"context"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/rulestest"
)

// fixture is Parameters as service.New builds them, over a SQLite store
// with rules/identity, kms, ebs and images below, and an account whose
// principal in us-east-1 is p.
type fixture struct {
	params   *Parameters
	images   *images.Registry
	vols     *ebs.Volumes
	accounts *identity.Accounts
	store    metadata.Store
	p        openami.Principal
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	env := rulestest.Open(t, "", nil)
	f := &fixture{store: env.Store, accounts: env.Identity()}
	keys := kms.New(kms.Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Tokens: env.Tokens, Clock: env.Clock.Now})
	var err error
	f.vols, err = ebs.New(ebs.Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Identity: f.accounts, KMS: keys,
		Tokens: env.Tokens, Clock: env.Clock.Now,
		ImagesUsing: func(tx metadata.Tx, region, snapshotID string) ([]string, error) {
			return f.images.UsingSnapshot(tx, region, snapshotID)
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.images = images.New(images.Config{Store: env.Store, Regions: env.Regions, Identity: f.accounts, EBS: f.vols, Tokens: env.Tokens, Clock: env.Clock.Now})
	f.params = New(Config{Store: env.Store, Identity: f.accounts, Images: f.images, Tokens: env.Tokens, Clock: env.Clock.Now})
	f.p = rulestest.NewAccount(t, f.accounts, "test")
	return f
}

// image registers an available image of p's over a new completed
// snapshot; with public, every account may launch it.
func (f *fixture) image(t testing.TB, p openami.Principal, public bool) string {
	t.Helper()
	ctx := context.Background()
	snap, err := f.vols.StartSnapshot(ctx, p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := rulestest.Block(0)
	if _, err := f.vols.PutSnapshotBlock(ctx, p, ebs.PutSnapshotBlockInput{SnapshotID: snap.ID, Index: 0, Data: b,
		DataLength: openami.BlockSize, Checksum: rulestest.Checksum(b), ChecksumAlgorithm: "SHA256"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.vols.CompleteSnapshot(ctx, p, ebs.CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: 1}); err != nil {
		t.Fatal(err)
	}
	if err := f.vols.FinishSnapshot(ctx, p.Region, snap.ID); err != nil {
		t.Fatal(err)
	}
	id, err := f.images.RegisterImage(ctx, p, images.RegisterImageInput{Name: "img-" + snap.ID, RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	if public {
		if err := f.images.ModifyImageAttribute(ctx, p, images.ModifyImageAttributeInput{ImageID: id,
			Add: []openami.LaunchPermission{{Group: "all"}}}); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// history returns the values of every version of a parameter of p's,
// oldest first: what a refusal must leave unchanged.
func (f *fixture) history(t *testing.T, p openami.Principal, name string) []string {
	t.Helper()
	var out []string
	err := f.store.View(context.Background(), func(tx metadata.Tx) error {
		h, err := tx.Parameters().History(p.Region, ownerOf(p, name), name)
		for _, prm := range h {
			out = append(out, prm.Value)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
