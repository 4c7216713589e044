package ebs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
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
	clock    *testClock
	p        openami.Principal

	mu     sync.Mutex
	copies [][2]openami.Snapshot // src, dst
	fills  []string              // volume ids
	usedBy map[string][]string   // snapshot id → image ids
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
	f := &fixture{store: store, dir: d, clock: &testClock{t: time.Now()}, usedBy: map[string][]string{}}
	tokens := pagetoken.New(make([]byte, pagetoken.MinSecretSize))
	f.accounts = identity.New(identity.Config{Store: store, Seal: key, Regions: regions, Clock: f.clock.now})
	f.keys = kms.New(kms.Config{Store: store, Seal: key, Regions: regions, Tokens: tokens, Clock: f.clock.now,
		Purged: func(tx metadata.Tx, k openami.Key) error { return f.vols.ForgetDataKey(tx, k) }})
	f.vols, err = New(Config{Store: store, Regions: regions, Blobs: blobs, Identity: f.accounts, KMS: f.keys,
		Tokens: tokens, Clock: f.clock.now,
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
	a, _, err := f.accounts.CreateAccount(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	return openami.Principal{AccountID: a.ID, Region: "us-east-1"}
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

// block returns one block: random bytes for seed 0, else a pattern of
// the seed.
func block(seed byte) []byte {
	b := make([]byte, openami.BlockSize)
	if seed == 0 {
		rand.Read(b)
		return b
	}
	for i := range b {
		b[i] = seed + byte(i%7)
	}
	return b
}

// chunkFiles counts the chunk files of us-east-1's blob store.
func (f *fixture) chunkFiles(t *testing.T) int {
	n := 0
	filepath.WalkDir(filepath.Join(f.dir, "blocks", "us-east-1"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(filepath.Dir(path))) == "chunks" {
			n++
		}
		return nil
	})
	return n
}

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
		sum := sha256.Sum256(b)
		if _, err := f.vols.PutSnapshotBlock(ctx, p, PutSnapshotBlockInput{
			SnapshotID: snap.ID, Index: i, Data: b, DataLength: openami.BlockSize,
			Checksum: base64.StdEncoding.EncodeToString(sum[:]), ChecksumAlgorithm: "SHA256",
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

// wantClass fails unless err is an *openami.Error of the class about the
// resource.
func wantClass(t *testing.T, what string, err error, class openami.Class, resource openami.ResourceType) {
	t.Helper()
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != class || e.Resource != resource {
		t.Fatalf("%s: got %v, want %v on %v", what, err, class, resource)
	}
}
