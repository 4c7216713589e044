package ebs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/metadata"
)

func TestGCFreesOnlyGarbage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	data := map[int64][]byte{}
	for i := int64(0); i < 10; i++ {
		data[i] = block(0)
	}
	a := f.putSnapshot(t, f.p, StartSnapshotInput{}, data, true).ID
	vol, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: a})
	if err != nil {
		t.Fatal(err)
	}
	x := block(0)
	if err := f.vols.WriteVolumeBlock(ctx, f.p, vol.ID, 3, x); err != nil {
		t.Fatal(err)
	}
	b, err := f.vols.CreateSnapshot(ctx, f.p, vol.ID, "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.chunkFiles(t); got != 11 {
		t.Fatalf("%d chunk files, want 11", got)
	}
	if res, err := f.vols.GC(ctx, "us-east-1"); err != nil || res.DeletedChunks != 0 {
		t.Fatalf("GC with nothing to free: %+v %v", res, err)
	}
	if err := f.vols.DeleteSnapshot(ctx, f.p, a); err != nil {
		t.Fatal(err)
	}
	res, err := f.vols.GC(ctx, "us-east-1")
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
		if !bytes.Equal(f.readVolume(t, f.p, vol.ID, i), want) {
			t.Fatalf("volume block %d changed by GC", i)
		}
	}
	rep, err := f.vols.Fsck(ctx, "us-east-1", true)
	if err != nil || rep.Damaged() || rep.Unreferenced != 0 {
		t.Fatalf("fsck after GC: %+v %v", rep, err)
	}

	// Everything deleted: everything freed.
	if err := f.vols.DeleteVolume(ctx, f.p, vol.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.vols.DeleteSnapshot(ctx, f.p, b.ID); err != nil {
		t.Fatal(err)
	}
	if res, err := f.vols.GC(ctx, "us-east-1"); err != nil || res.DeletedChunks != 10 || res.LiveNodes != 0 {
		t.Fatalf("final GC: %+v %v", res, err)
	}
	if got := f.chunkFiles(t); got != 0 {
		t.Fatalf("%d chunk files left", got)
	}
}

func TestGCOrphansAndFsckDamage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// A chunk stored by a writer that crashed before committing.
	east, err := dir.New(filepath.Join(f.dir, "blocks", "us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	orphan, _, _, err := blockstore.NewChunks(east).Put(ctx, nil, block(9))
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := f.vols.GC(ctx, "us-east-1"); res.DeletedOrphans != 0 {
		t.Fatal("GC deleted a fresh orphan a writer may still commit")
	}
	// The orphan's file time decides; age it.
	old := time.Now().Add(-2 * blockstore.OrphanAge)
	path := filepath.Join(f.dir, "blocks", "us-east-1", blockstore.ChunkKey(orphan))
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if res, err := f.vols.GC(ctx, "us-east-1"); err != nil || res.DeletedOrphans != 1 {
		t.Fatalf("GC of an old orphan: %+v %v", res, err)
	}

	// fsck finds a corrupt chunk and a missing one.
	data := map[int64][]byte{0: block(1), 1: block(2)}
	id := f.putSnapshot(t, f.p, StartSnapshotInput{}, data, true).ID
	if rep, err := f.vols.Fsck(ctx, "us-east-1", true); err != nil || rep.Damaged() {
		t.Fatalf("fsck of a healthy store: %+v %v", rep, err)
	}
	d0 := sha256.Sum256(data[0])
	p0 := filepath.Join(f.dir, "blocks", "us-east-1", blockstore.ChunkKey(d0))
	raw, _ := os.ReadFile(p0)
	raw[len(raw)-1] ^= 0xff
	os.WriteFile(p0, raw, 0o644)
	d1 := sha256.Sum256(data[1])
	os.Remove(filepath.Join(f.dir, "blocks", "us-east-1", blockstore.ChunkKey(d1)))
	rep, err := f.vols.Fsck(ctx, "us-east-1", true)
	if err != nil || len(rep.CorruptChunks) != 1 || len(rep.MissingChunks) != 1 || !rep.Damaged() {
		t.Fatalf("fsck of a damaged store: %+v %v", rep, err)
	}
	// A corrupt chunk is an error, never data.
	_, err = f.vols.GetSnapshotBlock(ctx, f.p, id, 0, f.blockToken(t, f.p, id, 0), make([]byte, openami.BlockSize))
	if err == nil {
		t.Fatal("read of a corrupt chunk succeeded")
	}
}

func TestCrossRegionCopyMovesOnlyMissingBlocks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	data := map[int64][]byte{}
	for i := int64(0); i < 100; i++ {
		data[i] = block(0)
	}
	parent := f.putSnapshot(t, f.p, StartSnapshotInput{}, data, true).ID
	west := f.p
	west.Region = "us-west-2"
	first, err := f.vols.CopySnapshot(ctx, west, CopySnapshotInput{SourceSnapshotID: parent, SourceRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	// A child with one block changed: its copy moves that block only.
	vol, err := f.vols.CreateVolume(ctx, f.p, CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: parent})
	if err != nil {
		t.Fatal(err)
	}
	changed := block(0)
	if err := f.vols.WriteVolumeBlock(ctx, f.p, vol.ID, 42, changed); err != nil {
		t.Fatal(err)
	}
	child, err := f.vols.CreateSnapshot(ctx, f.p, vol.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.runCopies(t)
	if s := f.snapshot(t, "us-west-2", first.ID); s.State != openami.SnapshotCompleted {
		t.Fatalf("first copy: %s", s.State)
	}
	// Copy the child by hand to see what moves.
	second, err := f.vols.CopySnapshot(ctx, west, CopySnapshotInput{SourceSnapshotID: child.ID, SourceRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	f.runCopies(t)
	if s := f.snapshot(t, "us-west-2", second.ID); s.State != openami.SnapshotCompleted {
		t.Fatalf("second copy: %s", s.State)
	}
	probe := second.Snapshot
	probe.ID = "snap-0000000000000000a"
	probe.Deadline = f.clock.Now().Add(time.Hour)
	f.store.Update(ctx, func(tx metadata.Tx) error { return tx.Snapshots().Create(probe) })
	stats, err := f.vols.CopyInto(ctx, child.Snapshot, probe)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Blocks != 100 || stats.ChunksCopied != 0 {
		t.Fatalf("a third copy moved chunks: %+v", stats)
	}
	// Both copies read right in the west, after the sources are gone.
	f.vols.DeleteVolume(ctx, f.p, vol.ID)
	f.vols.DeleteSnapshot(ctx, f.p, parent)
	f.vols.DeleteSnapshot(ctx, f.p, child.ID)
	if _, err := f.vols.GC(ctx, "us-east-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.vols.GC(ctx, "us-west-2"); err != nil {
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
			if _, err := f.vols.GetSnapshotBlock(ctx, west, c.id, i, tok, buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, want) {
				t.Fatalf("copy %s block %d differs", c.id, i)
			}
		}
	}
	rep, err := f.vols.Fsck(ctx, "us-west-2", true)
	if err != nil || rep.Damaged() || rep.Chunks != 101 {
		t.Fatalf("fsck of the west: %+v %v", rep, err)
	}
}

// Temporary files of interrupted blob writes are litter: fsck reports
// those older than blockstore.LitterAge, and GC and CleanLitter remove them; younger
// ones may belong to a write under way and stay.
func TestGCAndFsckTemporaryFiles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
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

	rep, err := f.vols.Fsck(ctx, "us-east-1", true)
	if err != nil || rep.TemporaryFiles != 1 || rep.TemporaryBytes != 1000 || rep.Damaged() {
		t.Fatalf("fsck with a stale temporary file: %+v %v", rep, err)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Fatalf("fsck removed the temporary file: %v", err)
	}
	res, err := f.vols.GC(ctx, "us-east-1")
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
	if l, err := f.vols.CleanLitter(ctx, "us-east-1"); err != nil || l != (blob.Litter{Files: 1, Bytes: 5}) {
		t.Fatalf("CleanLitter: %+v %v", l, err)
	}
	if _, err := os.Stat(again); !os.IsNotExist(err) {
		t.Fatalf("CleanLitter left the stale temporary file: %v", err)
	}
}
