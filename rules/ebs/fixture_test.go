package ebs

import (
	"context"
	"sync"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/rulestest"
)

// fixture is Volumes as service.New builds them, over a SQLite store and
// a directory blob store per region in a temp dir, serving us-east-1 and
// us-west-2, with rules/identity and rules/kms below them and an account
// whose principal in us-east-1 is p. Background work is not started: the
// copies and fills Volumes ask for are recorded (copies, fills) for the
// test to run, and ImagesUsing answers from usedBy.
type fixture struct {
	vols     *Volumes
	accounts *identity.Accounts
	keys     *kms.Keys
	store    metadata.Store
	dir      string
	clock    *rulestest.Clock
	p        openami.Principal

	mu     sync.Mutex
	copies [][2]openami.Snapshot // src, dst
	fills  []string              // volume ids
	usedBy map[string][]string   // snapshot id → image ids
	// enabledBy: snapshot id → ids of images not disabled that use it.
	enabledBy map[string][]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := rulestest.Open(t, "", nil)
	f := &fixture{store: env.Store, dir: env.Dir, clock: env.Clock, usedBy: map[string][]string{}, enabledBy: map[string][]string{}}
	f.accounts = env.Identity()
	f.keys = kms.New(kms.Config{Store: env.Store, Seal: env.Seal, Regions: env.Regions, Tokens: env.Tokens, Clock: env.Clock.Now,
		Purged: func(tx metadata.Tx, k openami.Key) error { return f.vols.ForgetDataKey(tx, k) }})
	var err error
	f.vols, err = New(Config{Store: env.Store, Regions: env.Regions, Blobs: env.Blobs, Identity: f.accounts, KMS: f.keys,
		Tokens: env.Tokens, Clock: env.Clock.Now,
		Copy: func(src, dst openami.Snapshot) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.copies = append(f.copies, [2]openami.Snapshot{src, dst})
		},
		Fill: func(region, volumeID string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.fills = append(f.fills, volumeID)
		},
		ImagesUsing: func(tx metadata.Tx, region, snapshotID string) ([]string, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.usedBy[snapshotID], nil
		},
		EnabledImagesUsing: func(tx metadata.Tx, region, snapshotID string) ([]string, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.enabledBy[snapshotID], nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.p = f.newAccount(t, "test")
	return f
}

// newAccount creates an account and returns its principal in us-east-1.
func (f *fixture) newAccount(t *testing.T, name string) openami.Principal {
	t.Helper()
	return rulestest.NewAccount(t, f.accounts, name)
}

// runCopies runs the copies Volumes asked for, as the service's worker
// does (CopyInto, then EndCopy), and forgets them.
func (f *fixture) runCopies(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	copies := f.copies
	f.copies = nil
	f.mu.Unlock()
	for _, c := range copies {
		_, err := f.vols.CopyInto(context.Background(), c[0], c[1])
		if err := f.vols.EndCopy(context.Background(), c[1], err); err != nil {
			t.Fatal(err)
		}
	}
	f.finishSnapshots(t)
}

// finishSnapshots builds the maps of the completing snapshots, as the
// worker's pass does.
func (f *fixture) finishSnapshots(t *testing.T) {
	t.Helper()
	pending, err := f.vols.PendingSnapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, snap := range pending {
		if !snap.Completing {
			continue
		}
		if err := f.vols.FinishSnapshot(context.Background(), snap.Region, snap.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// runFills runs the fills Volumes asked for, as the service's worker
// does, and forgets them.
func (f *fixture) runFills(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	fills := f.fills
	f.fills = nil
	f.mu.Unlock()
	for _, id := range fills {
		if err := f.vols.FillVolume(context.Background(), "us-east-1", id); err != nil {
			t.Fatal(err)
		}
	}
}

// chunkFiles counts the chunk files of us-east-1's blob store.
func (f *fixture) chunkFiles(t *testing.T) int { return rulestest.ChunkFiles(f.dir) }

// blockToken returns the token that reads block i of a snapshot, as
// ListSnapshotBlocks answers it ("" for a block without data).
func (f *fixture) blockToken(t *testing.T, p openami.Principal, id string, i int64) string {
	t.Helper()
	page, err := f.vols.ListSnapshotBlocks(context.Background(), p, id, i, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range page.Blocks {
		if b.Index == i {
			return b.Token
		}
	}
	return ""
}

// putSnapshot starts a snapshot with in, writes blocks into it and
// completes it; with finish, it also builds its map, as the worker does,
// and returns it completed.
func (f *fixture) putSnapshot(t *testing.T, p openami.Principal, in StartSnapshotInput, blocks map[int64][]byte, finish bool) openami.Snapshot {
	t.Helper()
	ctx := context.Background()
	if in.VolumeSize == 0 {
		in.VolumeSize = 1
	}
	snap, err := f.vols.StartSnapshot(ctx, p, in)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		if _, err := f.vols.PutSnapshotBlock(ctx, p, PutSnapshotBlockInput{
			SnapshotID: snap.ID, Index: i, Data: b, DataLength: openami.BlockSize,
			Checksum: rulestest.Checksum(b), ChecksumAlgorithm: "SHA256",
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.vols.CompleteSnapshot(ctx, p, CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: int64(len(blocks))}); err != nil {
		t.Fatal(err)
	}
	if finish {
		if err := f.vols.FinishSnapshot(ctx, p.Region, snap.ID); err != nil {
			t.Fatal(err)
		}
	}
	return f.snapshot(t, p.Region, snap.ID)
}

// snapshot reads a snapshot's record.
func (f *fixture) snapshot(t *testing.T, region, id string) openami.Snapshot {
	t.Helper()
	var snap openami.Snapshot
	err := f.store.View(context.Background(), func(tx metadata.Tx) (err error) {
		snap, err = f.vols.Snapshot(tx, region, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// volume reads a volume's record.
func (f *fixture) volume(t *testing.T, id string) openami.Volume {
	t.Helper()
	var v openami.Volume
	err := f.store.View(context.Background(), func(tx metadata.Tx) (err error) {
		v, err = f.vols.Volume(tx, "us-east-1", id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readVolume reads block index of a volume.
func (f *fixture) readVolume(t *testing.T, p openami.Principal, id string, index int64) []byte {
	t.Helper()
	buf := make([]byte, openami.BlockSize)
	if err := f.vols.ReadVolumeBlock(context.Background(), p, id, index, buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

// block returns one block: random bytes for seed 0, else a pattern of
// the seed.
var block = rulestest.Block

// wantClass fails unless err is an *openami.Error of the class about the
// resource.
var wantClass = rulestest.WantClass
