package sqldb_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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

// BenchmarkImageListVisibleTo lists, in one View, the images one account
// may see among 10,000 images of 100 accounts: its own 100, the public
// tenth of the others', and those shared with it or its organization.
func BenchmarkImageListVisibleTo(b *testing.B) {
	const (
		accounts = 100
		images   = 10000
		org      = "arn:aws:organizations::000000000000:organization/o-bench"
	)
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "m.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	acct := func(i int) string { return fmt.Sprintf("%012d", i%accounts) }
	err = s.Update(context.Background(), func(tx metadata.Tx) error {
		for i := range images {
			id := fmt.Sprintf("ami-%017x", uint64(i)*0x9e3779b97f4a7c15>>4)
			img := openami.Image{
				ID: id, Region: benchRegion, AccountID: acct(i), Name: fmt.Sprintf("image-%d", i),
				State: openami.ImageAvailable, Architecture: "x86_64", VirtualizationType: "hvm",
				RootDeviceName: "/dev/xvda", RootDeviceType: "ebs", ImageType: "machine",
				BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda",
					Ebs: &openami.EbsBlockDevice{SnapshotID: "snap-" + id[4:], VolumeSize: 8, VolumeType: "gp3", DeleteOnTermination: true}}},
				CreatedAt: time.Unix(int64(i), 0),
				Public:    i%10 == 0,
			}
			if err := tx.Images().Create(img); err != nil {
				return err
			}
			perms := []openami.LaunchPermission{{AccountID: acct(i + 1)}}
			if i%50 == 1 {
				perms = append(perms, openami.LaunchPermission{OrganizationArn: org})
			}
			if err := tx.Images().AddPermissions(id, perms); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		limit int
	}{{"all", 0}, {"page", 100}} {
		b.Run(c.name, func(b *testing.B) {
			var n, i int
			for b.Loop() {
				err := s.View(ctx, func(tx metadata.Tx) error {
					list, err := tx.Images().List(benchRegion, metadata.ImageQuery{
						VisibleTo: acct(i), VisibleOrgs: []string{org}, Limit: c.limit,
					})
					n = len(list)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(n), "images/op")
		})
	}
}
