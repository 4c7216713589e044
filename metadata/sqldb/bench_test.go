package sqldb_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/sqlite"
)

// The block-storage data path on SQLite: every 512 KiB block written to a
// volume records its overlay entry and touches its chunk in one Update;
// every block read looks up the overlay in a View.

const (
	benchRegion = "us-east-1"
	benchVolume = "vol-0123456789abcdef0"
)

func benchDigest(i int64) openami.Digest {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

func benchStore(b *testing.B) metadata.Store {
	b.Helper()
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "m.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	err = s.Update(context.Background(), func(tx metadata.Tx) error {
		return tx.Volumes().Create(openami.Volume{
			ID: benchVolume, Region: benchRegion, AccountID: "111111111111", Size: 1024,
			Type: "gp3", State: openami.VolumeInUse,
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// writeBlock is the metadata of one block write.
func writeBlock(tx metadata.Tx, i int64) error {
	d := benchDigest(i)
	if err := tx.Volumes().PutBlock(benchVolume, metadata.BlockRef{Index: i, Digest: d}); err != nil {
		return err
	}
	return tx.Chunks().Touch(benchRegion, []metadata.Chunk{{Digest: d, Size: openami.BlockSize, Stored: openami.BlockSize}}, 1)
}

// BenchmarkVolumeWrite runs PutBlock and Touch of a new chunk in one
// Update per block, as the write path does: the time includes the commit
// (and its fsync).
func BenchmarkVolumeWrite(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var i int64
	for b.Loop() {
		if err := s.Update(ctx, func(tx metadata.Tx) error { return writeBlock(tx, i%(1<<21)) }); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkVolumeWriteStatements runs PutBlock and Touch b.N times in one
// Update: the cost of the statements alone, without a commit each.
func BenchmarkVolumeWriteStatements(b *testing.B) {
	s := benchStore(b)
	err := s.Update(context.Background(), func(tx metadata.Tx) error {
		var i int64
		for b.Loop() {
			if err := writeBlock(tx, i); err != nil {
				return err
			}
			i++
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVolumeBlock reads one overlay entry per View from a volume with
// 64 Ki written blocks (32 GiB).
func BenchmarkVolumeBlock(b *testing.B) {
	const blocks = 1 << 16
	s := benchStore(b)
	err := s.Update(context.Background(), func(tx metadata.Tx) error {
		for i := range int64(blocks) {
			if err := tx.Volumes().PutBlock(benchVolume, metadata.BlockRef{Index: 2 * i, Digest: benchDigest(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var i int64
	for b.Loop() {
		// Alternately a written block and a hole.
		idx := (i * 7919) % (2 * blocks)
		err := s.View(ctx, func(tx metadata.Tx) error {
			ref, ok, err := tx.Volumes().Block(benchVolume, idx)
			if err == nil && ok != (idx%2 == 0) || ok && ref.Index != idx {
				b.Fatalf("Block(%d) = %v, %v", idx, ref, ok)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}
