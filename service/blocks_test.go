package service

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/rulestest"
)

type fixture struct {
	svc   *Service
	store metadata.Store
	key   *seal.Key // the service's master key
	dir   string
	clock *rulestest.Clock
	p     openami.Principal
}

// newFixture opens a service over SQLite and directory blob stores in dir
// (a new temp dir when ""), with a hand-moved clock.
func newFixture(t *testing.T, dir0 string, clock *rulestest.Clock) *fixture {
	t.Helper()
	return newFixtureWith(t, dir0, clock, nil)
}

// newFixtureWith is newFixture with the service's store wrapped by wrap
// (when not nil); f.store stays the unwrapped one.
func newFixtureWith(t *testing.T, dir0 string, clock *rulestest.Clock, wrap func(metadata.Store) metadata.Store) *fixture {
	t.Helper()
	env := rulestest.Open(t, dir0, clock)
	store, key, dir0, clock := env.Store, env.Seal, env.Dir, env.Clock
	svcStore := metadata.Store(store)
	if wrap != nil {
		svcStore = wrap(store)
	}
	svc, err := New(context.Background(), Config{Store: svcStore, Seal: key, Regions: env.Regions, Blobs: env.Blobs, Clock: clock.Now, LocalDir: dir0})
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

var block = rulestest.Block

// snapshot writes blocks into a new snapshot and, when finish is set,
// completes it and builds its map.
func (f *fixture) snapshot(t *testing.T, blocks map[int64][]byte, finish bool) string {
	t.Helper()
	return f.putSnapshot(t, ebs.StartSnapshotInput{VolumeSize: 1}, blocks, finish)
}

// putSnapshot starts a snapshot with in (of 1 GiB when in has no size),
// writes blocks into it and completes it; with finish, it also builds its
// map, as the worker does.
func (f *fixture) putSnapshot(t *testing.T, in ebs.StartSnapshotInput, blocks map[int64][]byte, finish bool) string {
	t.Helper()
	ctx := context.Background()
	if in.VolumeSize == 0 {
		in.VolumeSize = 1
	}
	snap, err := f.svc.EBS().StartSnapshot(ctx, f.p, in)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		if _, err := f.svc.EBS().PutSnapshotBlock(ctx, f.p, ebs.PutSnapshotBlockInput{
			SnapshotID: snap.ID, Index: i, Data: b, DataLength: openami.BlockSize,
			Checksum: rulestest.Checksum(b), ChecksumAlgorithm: "SHA256",
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

func (f *fixture) chunkFiles(t *testing.T) int { return rulestest.ChunkFiles(f.dir) }

func (f *fixture) readVolume(t *testing.T, vol string, index int64) []byte {
	t.Helper()
	buf := make([]byte, openami.BlockSize)
	if err := f.svc.EBS().ReadVolumeBlock(context.Background(), f.p, vol, index, buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

func TestPendingSnapshotsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir0 := t.TempDir()
	clock := rulestest.NewClock(time.Now())
	f := newFixture(t, dir0, clock)
	done := f.snapshot(t, map[int64][]byte{0: block(1), 7: block(2)}, false)
	abandoned, err := f.svc.EBS().StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.store.Close()

	// A new server on the same store finishes the completed one and, once
	// its timeout has passed, errors the abandoned one.
	clock.Add(2 * time.Hour)
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
