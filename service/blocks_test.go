package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/sqlite"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
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

type fixture struct {
	svc   *Service
	store metadata.Store
	key   *seal.Key // the service's master key
	dir   string
	clock *testClock
	p     openami.Principal
}

// newFixture opens a service over SQLite and directory blob stores in dir
// (a new temp dir when ""), with a hand-moved clock.
func newFixture(t *testing.T, dir0 string, clock *testClock) *fixture {
	t.Helper()
	return newFixtureWith(t, dir0, clock, nil)
}

// newFixtureWith is newFixture with the service's store wrapped by wrap
// (when not nil); f.store stays the unwrapped one.
func newFixtureWith(t *testing.T, dir0 string, clock *testClock, wrap func(metadata.Store) metadata.Store) *fixture {
	t.Helper()
	if dir0 == "" {
		dir0 = t.TempDir()
	}
	if clock == nil {
		clock = &testClock{t: time.Now()}
	}
	store, err := sqlite.Open(filepath.Join(dir0, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key, _ := seal.New(make([]byte, seal.KeySize))
	regions, _ := identity.ParseRegions([]string{"us-east-1", "us-west-2"})
	blobs := map[string]blob.Store{}
	for _, r := range regions {
		b, err := dir.New(filepath.Join(dir0, "blocks", r.Name))
		if err != nil {
			t.Fatal(err)
		}
		blobs[r.Name] = b
	}
	svcStore := metadata.Store(store)
	if wrap != nil {
		svcStore = wrap(store)
	}
	svc, err := New(context.Background(), Config{Store: svcStore, Seal: key, Regions: regions, Blobs: blobs, Clock: clock.now, LocalDir: dir0})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: svc, store: store, key: key, dir: dir0, clock: clock}
	accts, _ := svc.Identity().ListAccounts(context.Background())
	if len(accts) > 0 {
		f.p = openami.Principal{AccountID: accts[0].ID, Region: "us-east-1"}
	} else {
		a, _, err := svc.Identity().CreateAccount(context.Background(), "test", false)
		if err != nil {
			t.Fatal(err)
		}
		f.p = openami.Principal{AccountID: a.ID, Region: "us-east-1"}
	}
	return f
}

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

// snapshot writes blocks into a new snapshot and, when finish is set,
// completes it and builds its map.
func (f *fixture) snapshot(t *testing.T, blocks map[int64][]byte, finish bool) string {
	t.Helper()
	ctx := context.Background()
	snap, err := f.svc.EBS().StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		sum := sha256.Sum256(b)
		if _, err := f.svc.EBS().PutSnapshotBlock(ctx, f.p, ebs.PutSnapshotBlockInput{
			SnapshotID: snap.ID, Index: i, Data: b, DataLength: openami.BlockSize,
			Checksum: base64.StdEncoding.EncodeToString(sum[:]), ChecksumAlgorithm: "SHA256",
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.EBS().CompleteSnapshot(ctx, f.p, ebs.CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: int64(len(blocks))}); err != nil {
		t.Fatal(err)
	}
	if finish {
		if err := f.svc.EBS().FinishSnapshot(ctx, "us-east-1", snap.ID); err != nil {
			t.Fatal(err)
		}
	}
	return snap.ID
}

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

func (f *fixture) readVolume(t *testing.T, vol string, index int64) []byte {
	t.Helper()
	buf := make([]byte, openami.BlockSize)
	if err := f.svc.EBS().ReadVolumeBlock(context.Background(), f.p, vol, index, buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

func TestGCFreesOnlyGarbage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	data := map[int64][]byte{}
	for i := int64(0); i < 10; i++ {
		data[i] = block(0)
	}
	a := f.snapshot(t, data, true)
	vol, err := f.svc.EBS().CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: a})
	if err != nil {
		t.Fatal(err)
	}
	x := block(0)
	if err := f.svc.EBS().WriteVolumeBlock(ctx, f.p, vol.ID, 3, x); err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.EBS().CreateSnapshot(ctx, f.p, vol.ID, "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.chunkFiles(t); got != 11 {
		t.Fatalf("%d chunk files, want 11", got)
	}
	if res, err := f.svc.EBS().GC(ctx, "us-east-1"); err != nil || res.DeletedChunks != 0 {
		t.Fatalf("GC with nothing to free: %+v %v", res, err)
	}
	if err := f.svc.EBS().DeleteSnapshot(ctx, f.p, a); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.EBS().GC(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	// Only A's original block 3 is garbage; its other blocks live on in B.
	if res.DeletedChunks != 1 || res.LiveChunks != 10 || res.DeletedNodes == 0 {
		t.Fatalf("GC after deleting A: %+v", res)
	}
	if got := f.chunkFiles(t); got != 10 {
		t.Fatalf("%d chunk files after GC, want 10", got)
	}
	for i, want := range data {
		if i == 3 {
			want = x
		}
		if !bytes.Equal(f.readVolume(t, vol.ID, i), want) {
			t.Fatalf("volume block %d changed by GC", i)
		}
	}
	rep, err := f.svc.EBS().Fsck(ctx, "us-east-1", true)
	if err != nil || rep.Damaged() || rep.Unreferenced != 0 {
		t.Fatalf("fsck after GC: %+v %v", rep, err)
	}

	// Everything deleted: everything freed.
	if err := f.svc.EBS().DeleteVolume(ctx, f.p, vol.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.EBS().DeleteSnapshot(ctx, f.p, b.ID); err != nil {
		t.Fatal(err)
	}
	if res, err := f.svc.EBS().GC(ctx, "us-east-1"); err != nil || res.DeletedChunks != 10 || res.LiveNodes != 0 {
		t.Fatalf("final GC: %+v %v", res, err)
	}
	if got := f.chunkFiles(t); got != 0 {
		t.Fatalf("%d chunk files left", got)
	}
}

func TestGCOrphansAndFsckDamage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	// A chunk stored by a writer that crashed before committing.
	east, err := dir.New(filepath.Join(f.dir, "blocks", "us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	orphan, _, _, err := blockstore.NewChunks(east).Put(ctx, nil, block(9))
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := f.svc.EBS().GC(ctx, "us-east-1"); res.DeletedOrphans != 0 {
		t.Fatal("GC deleted a fresh orphan a writer may still commit")
	}
	// The orphan's file time decides; age it.
	old := time.Now().Add(-2 * blockstore.OrphanAge)
	path := filepath.Join(f.dir, "blocks", "us-east-1", blockstore.ChunkKey(orphan))
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if res, err := f.svc.EBS().GC(ctx, "us-east-1"); err != nil || res.DeletedOrphans != 1 {
		t.Fatalf("GC of an old orphan: %+v %v", res, err)
	}

	// fsck finds a corrupt chunk and a missing one.
	data := map[int64][]byte{0: block(1), 1: block(2)}
	id := f.snapshot(t, data, true)
	if rep, err := f.svc.EBS().Fsck(ctx, "us-east-1", true); err != nil || rep.Damaged() {
		t.Fatalf("fsck of a healthy store: %+v %v", rep, err)
	}
	d0 := sha256.Sum256(data[0])
	p0 := filepath.Join(f.dir, "blocks", "us-east-1", blockstore.ChunkKey(d0))
	raw, _ := os.ReadFile(p0)
	raw[len(raw)-1] ^= 0xff
	os.WriteFile(p0, raw, 0o644)
	d1 := sha256.Sum256(data[1])
	os.Remove(filepath.Join(f.dir, "blocks", "us-east-1", blockstore.ChunkKey(d1)))
	rep, err := f.svc.EBS().Fsck(ctx, "us-east-1", true)
	if err != nil || len(rep.CorruptChunks) != 1 || len(rep.MissingChunks) != 1 || !rep.Damaged() {
		t.Fatalf("fsck of a damaged store: %+v %v", rep, err)
	}
	// A corrupt chunk is an error, never data.
	_, err = f.svc.EBS().GetSnapshotBlock(ctx, f.p, id, 0, f.blockToken(t, f.p, id, 0), make([]byte, openami.BlockSize))
	if err == nil {
		t.Fatal("read of a corrupt chunk succeeded")
	}
}

func TestPendingSnapshotsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir0 := t.TempDir()
	clock := &testClock{t: time.Now()}
	f := newFixture(t, dir0, clock)
	done := f.snapshot(t, map[int64][]byte{0: block(1), 7: block(2)}, false)
	abandoned, err := f.svc.EBS().StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.store.Close()

	// A new server on the same store finishes the completed one and, once
	// its timeout has passed, errors the abandoned one.
	clock.add(2 * time.Hour)
	g := newFixture(t, dir0, clock)
	g.svc.Start(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer g.svc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var a, b openami.Snapshot
		err := g.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			if a, err = tx.Snapshots().Get("us-east-1", done); err != nil {
				return err
			}
			b, err = tx.Snapshots().Get("us-east-1", abandoned.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if a.State == openami.SnapshotCompleted && b.State == openami.SnapshotError {
			if a.DataBytes != 2*openami.BlockSize {
				t.Fatalf("completed snapshot holds %d bytes", a.DataBytes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %s is %s, %s is %s", a.ID, a.State, b.ID, b.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCompleted runs the completer until the snapshot is completed.
func (f *fixture) waitCompleted(t *testing.T, region, id string) openami.Snapshot {
	t.Helper()
	for i := 0; i < 500; i++ {
		f.svc.completions.pass(context.Background())
		var sn openami.Snapshot
		f.store.View(context.Background(), func(tx metadata.Tx) error {
			var err error
			sn, err = tx.Snapshots().Get(region, id)
			return err
		})
		if sn.State == openami.SnapshotCompleted {
			return sn
		}
		if sn.State == openami.SnapshotError {
			t.Fatalf("snapshot %s failed: %s", id, sn.StateReason)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("snapshot %s did not complete", id)
	return openami.Snapshot{}
}

func TestCrossRegionCopyMovesOnlyMissingBlocks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	data := map[int64][]byte{}
	for i := int64(0); i < 100; i++ {
		data[i] = block(0)
	}
	parent := f.snapshot(t, data, true)
	west := f.p
	west.Region = "us-west-2"
	first, err := f.svc.EBS().CopySnapshot(ctx, west, ebs.CopySnapshotInput{SourceSnapshotID: parent, SourceRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	// A child with one block changed: its copy moves that block only.
	vol, err := f.svc.EBS().CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: parent})
	if err != nil {
		t.Fatal(err)
	}
	changed := block(0)
	if err := f.svc.EBS().WriteVolumeBlock(ctx, f.p, vol.ID, 42, changed); err != nil {
		t.Fatal(err)
	}
	child, err := f.svc.EBS().CreateSnapshot(ctx, f.p, vol.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.waitCompleted(t, "us-west-2", first.ID)
	// Copy the child by hand to see what moves.
	second, err := f.svc.EBS().CopySnapshot(ctx, west, ebs.CopySnapshotInput{SourceSnapshotID: child.ID, SourceRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	f.waitCompleted(t, "us-west-2", second.ID)
	probe := second.Snapshot
	probe.ID = "snap-0000000000000000a"
	probe.Deadline = f.clock.now().Add(time.Hour)
	f.store.Update(ctx, func(tx metadata.Tx) error { return tx.Snapshots().Create(probe) })
	stats, err := f.svc.EBS().CopyInto(ctx, child.Snapshot, probe)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Blocks != 100 || stats.ChunksCopied != 0 {
		t.Fatalf("a third copy moved chunks: %+v", stats)
	}
	// Both copies read right in the west, after the sources are gone.
	f.svc.EBS().DeleteVolume(ctx, f.p, vol.ID)
	f.svc.EBS().DeleteSnapshot(ctx, f.p, parent)
	f.svc.EBS().DeleteSnapshot(ctx, f.p, child.ID)
	if _, err := f.svc.EBS().GC(ctx, "us-east-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.EBS().GC(ctx, "us-west-2"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, openami.BlockSize)
	for _, c := range []struct {
		id   string
		at42 []byte
	}{{first.ID, data[42]}, {second.ID, changed}} {
		for _, i := range []int64{0, 42, 99} {
			want := data[i]
			if i == 42 {
				want = c.at42
			}
			tok := f.blockToken(t, west, c.id, i)
			if _, err := f.svc.EBS().GetSnapshotBlock(ctx, west, c.id, i, tok, buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, want) {
				t.Fatalf("copy %s block %d differs", c.id, i)
			}
		}
	}
	rep, err := f.svc.EBS().Fsck(ctx, "us-west-2", true)
	if err != nil || rep.Damaged() || rep.Chunks != 101 {
		t.Fatalf("fsck of the west: %+v %v", rep, err)
	}
}

func TestRecycleBinExpires(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	id, err := f.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "binned", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Images().CreateRetentionRule(ctx, f.p, images.RetentionRule{ResourceType: "EC2_IMAGE", RetentionDays: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Images().DeregisterImage(ctx, f.p, id, false); err != nil {
		t.Fatal(err)
	}
	f.svc.completions.pass(ctx)
	if imgs, _, _ := f.svc.Images().ImagesInRecycleBin(ctx, f.p, nil, images.Page{}); len(imgs) != 1 {
		t.Fatalf("%d images in the bin before their time, want 1", len(imgs))
	}
	f.clock.add(25 * time.Hour)
	f.svc.completions.pass(ctx)
	if imgs, _, _ := f.svc.Images().ImagesInRecycleBin(ctx, f.p, nil, images.Page{}); len(imgs) != 0 {
		t.Fatalf("%d images in the bin after their time", len(imgs))
	}
	if err := f.svc.EBS().DeleteSnapshot(ctx, f.p, snap); err != nil {
		t.Fatalf("the snapshot of an image deleted for good is still in use: %v", err)
	}
}

// Temporary files of interrupted blob writes are litter: fsck reports
// those older than blockstore.LitterAge, and GC and CleanLitter remove them; younger
// ones may belong to a write under way and stay.
func TestGCAndFsckTemporaryFiles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	root := filepath.Join(f.dir, "blocks", "us-east-1")
	write := func(name string, size int, age time.Duration) string {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := write("chunks/ab/.put~123", 1000, 2*blockstore.LitterAge)
	fresh := write("chunks/ab/.put~456", 10, time.Minute)

	rep, err := f.svc.EBS().Fsck(ctx, "us-east-1", true)
	if err != nil || rep.TemporaryFiles != 1 || rep.TemporaryBytes != 1000 || rep.Damaged() {
		t.Fatalf("fsck with a stale temporary file: %+v %v", rep, err)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Fatalf("fsck removed the temporary file: %v", err)
	}
	res, err := f.svc.EBS().GC(ctx, "us-east-1")
	if err != nil || res.DeletedTemporaryFiles != 1 || res.DeletedTemporaryBytes != 1000 {
		t.Fatalf("GC with a stale temporary file: %+v %v", res, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("GC left the stale temporary file: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("GC removed a fresh temporary file: %v", err)
	}

	again := write(".put~789", 5, 2*blockstore.LitterAge)
	if l, err := f.svc.EBS().CleanLitter(ctx, "us-east-1"); err != nil || l != (blob.Litter{Files: 1, Bytes: 5}) {
		t.Fatalf("CleanLitter: %+v %v", l, err)
	}
	if _, err := os.Stat(again); !os.IsNotExist(err) {
		t.Fatalf("CleanLitter left the stale temporary file: %v", err)
	}
}

// blockToken returns the token that reads block i of a snapshot, as
// ListSnapshotBlocks answers it ("" for a block without data).
func (f *fixture) blockToken(t *testing.T, p openami.Principal, id string, i int64) string {
	t.Helper()
	page, err := f.svc.EBS().ListSnapshotBlocks(context.Background(), p, id, i, 100, "")
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
