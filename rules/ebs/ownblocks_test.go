package ebs

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"github.com/openami/openami"
)

// PutOwnSnapshotBlocks records a batch of blocks, plain or encrypted, that
// read back as written, stores a repeated block once, and refuses a batch
// with a block outside the snapshot without storing any of it.
func TestPutOwnSnapshotBlocks(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "encrypted"}[encrypted], func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			snap, err := f.vols.StartSnapshot(ctx, f.p, StartSnapshotInput{VolumeSize: 1, Encrypted: encrypted})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			data := make([][]byte, 3)
			for i := range data {
				data[i] = make([]byte, openami.BlockSize)
				for j := range data[i] {
					data[i][j] = byte(rng.Uint32())
				}
			}
			data = append(data, data[0], make([]byte, openami.BlockSize)) // a repeat, a zero block
			var blocks []OwnBlock
			for i, d := range data {
				blocks = append(blocks, OwnBlock{Index: int64(10 + i), Data: d, Sum: sha256.Sum256(d)})
			}

			before := f.chunkFiles(t)
			bad := append([]OwnBlock{}, blocks...)
			bad = append(bad, OwnBlock{Index: 1 << 20, Data: data[1], Sum: sha256.Sum256(data[1])})
			if err := f.vols.PutOwnSnapshotBlocks(ctx, f.p, snap.ID, bad); openami.ClassOf(err) != openami.InvalidParameter {
				t.Fatalf("a block outside the snapshot: %v, want InvalidParameter", err)
			}
			if n := f.chunkFiles(t); n != before {
				t.Fatalf("a refused batch stored %d chunks", n-before)
			}

			if err := f.vols.PutOwnSnapshotBlocks(ctx, f.p, snap.ID, blocks); err != nil {
				t.Fatal(err)
			}
			if n := f.chunkFiles(t) - before; n != 3 {
				t.Fatalf("%d chunks stored, want 3", n)
			}
			if _, err := f.vols.CompleteSnapshot(ctx, f.p, CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: int64(len(blocks))}); err != nil {
				t.Fatal(err)
			}
			if err := f.vols.FinishSnapshot(ctx, f.p.Region, snap.ID); err != nil {
				t.Fatal(err)
			}
			for i, d := range data[:4] {
				if got := f.readSnapshotBlock(t, f.p, snap.ID, int64(10+i)); string(got) != string(d) {
					t.Fatalf("block %d reads back different", 10+i)
				}
			}
		})
	}
}
