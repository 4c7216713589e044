package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/internal/testenv"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/postgres"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/rulestest"
	"github.com/openami/openami/service"
)

// BenchmarkTakeover measures what a node's death mid-copy costs (issue
// 17's measure): two nodes (service.Service values, each its own pool on
// one PostgreSQL database, blob stores over one shared directory per
// region); node a runs a cross-region copy of a snapshot of random
// blocks and is cut off (its pool closed: no renewal, no release, no
// commit) after half its chunks; node b, started then, takes the copy
// over once a's lease expires and finishes it. It reports, per lease TTL,
// the time from the crash to b's holding the lease and to the copy's
// completion, and the bytes copied twice (source chunks read again) next
// to one batch. BENCH_TAKEOVER_BLOCKS (128) sets the snapshot's blocks,
// BENCH_TAKEOVER_BATCH (32) ebs.CopyBatch.
func BenchmarkTakeover(b *testing.B) {
	blocks := envInt("BENCH_TAKEOVER_BLOCKS", 128)
	batch := envInt("BENCH_TAKEOVER_BATCH", 32)
	defer func(n int) { ebs.CopyBatch = n }(ebs.CopyBatch)
	ebs.CopyBatch = batch
	data := randomBlocks(17, 0, 1, blocks)
	for _, ttl := range []time.Duration{time.Second, 3 * time.Second, 10 * time.Second} {
		b.Run("ttl="+ttl.String(), func(b *testing.B) {
			for range b.N {
				r := takeoverRun(b, ttl, data, blocks/2+batch/2)
				b.ReportMetric(r.takeover.Seconds(), "takeover-s")
				b.ReportMetric(r.takeover.Seconds()/ttl.Seconds(), "takeover/ttl")
				b.ReportMetric(r.done.Seconds(), "crash-to-done-s")
				b.ReportMetric(float64(r.reread)*openami.BlockSize/(1<<20), "copied-twice-MiB")
				b.ReportMetric(float64(batch)*openami.BlockSize/(1<<20), "batch-MiB")
				b.ReportMetric(float64(procStatusKB("self", "VmHWM"))/1024, "peakRSS-MB")
			}
		})
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

type takeoverResult struct {
	takeover, done time.Duration
	reread         int
}

// tally counts Gets and Puts by region and key, and crashes a node after
// its crashAt-th Put into region "us-west-2".
type tally struct {
	mu      sync.Mutex
	gets    map[string]int
	puts    int
	crashAt int
	crash   func()
	crashed time.Time
}

type tallyStore struct {
	blob.Store
	region string
	node   int
	t      *tally
}

func (s tallyStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	err := s.Store.Put(ctx, key, r, size)
	if err != nil || s.region != "us-west-2" || s.node != 0 {
		return err
	}
	s.t.mu.Lock()
	s.t.puts++
	fire := s.t.puts == s.t.crashAt
	if fire {
		s.t.crashed = time.Now()
	}
	s.t.mu.Unlock()
	if fire {
		s.t.crash()
	}
	return nil
}

func (s tallyStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := s.Store.Get(ctx, key)
	if err == nil && s.region == "us-east-1" {
		s.t.mu.Lock()
		s.t.gets[key]++
		s.t.mu.Unlock()
	}
	return r, err
}

func takeoverRun(b *testing.B, ttl time.Duration, data map[int][]byte, crashAt int) takeoverResult {
	ctx := context.Background()
	dsn := testenv.Postgres(b)
	shared := b.TempDir()
	key, _ := seal.New(make([]byte, seal.KeySize))
	regions, err := identity.ParseRegions([]string{"us-east-1", "us-west-2"})
	if err != nil {
		b.Fatal(err)
	}
	t := &tally{gets: map[string]int{}, crashAt: crashAt}
	var (
		svcs   []*service.Service
		stores []metadata.Store
	)
	for i := range 2 {
		store, err := postgres.Open(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		blobs := map[string]blob.Store{}
		for _, r := range regions {
			d, err := dir.New(filepath.Join(shared, "blocks", r.Name))
			if err != nil {
				b.Fatal(err)
			}
			blobs[r.Name] = tallyStore{Store: d, region: r.Name, node: i, t: t}
		}
		svc, err := service.New(ctx, service.Config{Store: store, Seal: key, Regions: regions, Blobs: blobs,
			LocalDir: filepath.Join(b.TempDir(), "node"), NodeID: fmt.Sprint("node-", i), LeaseTTL: ttl})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			svc.Close()
			store.Close()
		})
		svcs, stores = append(svcs, svc), append(stores, store)
	}
	t.crash = func() { stores[0].Close() }
	acct, _, err := svcs[0].Identity().CreateAccount(ctx, "bench", false)
	if err != nil {
		b.Fatal(err)
	}
	p := openami.Principal{AccountID: acct.ID, Region: "us-east-1"}
	e := svcs[0].EBS()
	snap, err := e.StartSnapshot(ctx, p, ebs.StartSnapshotInput{VolumeSize: int64(len(data))*openami.BlockSize>>30 + 1})
	if err != nil {
		b.Fatal(err)
	}
	for i, blk := range data {
		if _, err := e.PutSnapshotBlock(ctx, p, ebs.PutSnapshotBlockInput{SnapshotID: snap.ID, Index: int64(i), Data: blk,
			DataLength: openami.BlockSize, Checksum: rulestest.Checksum(blk), ChecksumAlgorithm: "SHA256"}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := e.CompleteSnapshot(ctx, p, ebs.CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: int64(len(data))}); err != nil {
		b.Fatal(err)
	}
	if err := e.FinishSnapshot(ctx, p.Region, snap.ID); err != nil {
		b.Fatal(err)
	}
	west := p
	west.Region = "us-west-2"
	cp, err := e.CopySnapshot(ctx, west, ebs.CopySnapshotInput{SourceSnapshotID: snap.ID, SourceRegion: "us-east-1"})
	if err != nil {
		b.Fatal(err)
	}
	name := "copy/" + cp.ID
	holder := func() (openami.Lease, openami.Snapshot) {
		var (
			l openami.Lease
			s openami.Snapshot
		)
		stores[1].View(ctx, func(tx metadata.Tx) error {
			l, _ = tx.Leases().Get(name)
			s, _ = tx.Snapshots().Get("us-west-2", cp.ID)
			return nil
		})
		return l, s
	}
	for l, _ := holder(); l.Holder != "node-0"; l, _ = holder() {
		time.Sleep(time.Millisecond)
	}
	svcs[1].Start(ctx, slog.New(slog.DiscardHandler))
	var r takeoverResult
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		l, s := holder()
		t.mu.Lock()
		crashed := t.crashed
		t.mu.Unlock()
		if !crashed.IsZero() && r.takeover == 0 && l.Epoch >= 2 {
			r.takeover = time.Since(crashed)
		}
		if s.State != openami.SnapshotPending {
			if s.State != openami.SnapshotCompleted || crashed.IsZero() || l.Epoch != 2 {
				b.Fatalf("the copy ended %s (%s), crashed %v, lease %+v", s.State, s.StateReason, !crashed.IsZero(), l)
			}
			r.done = time.Since(crashed)
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if r.done == 0 {
		b.Fatal("the copy never completed")
	}
	t.mu.Lock()
	for _, n := range t.gets {
		r.reread += n - 1
	}
	t.mu.Unlock()
	return r
}
