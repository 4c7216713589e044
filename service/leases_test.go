package service

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
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
	"github.com/openami/openami/metadata/sqldb"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/exports"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/imports"
	"github.com/openami/openami/rules/kms"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The tests here run several nodes in one process: each a Service with
// its own pool on one PostgreSQL database and its own blob stores over
// one shared directory per region. A node crashes when its pool is
// closed: its renewals, its release and its work's transactions fail,
// as a killed process's would (its goroutines may still write blobs,
// as a dying process may).

// leaseTTL is the nodes' lease TTL: short, so that takeovers come soon.
const leaseTTL = time.Second

// puts counts the blob Puts of every node, by region and key.
type puts struct {
	mu  sync.Mutex
	n   map[string]int
	got map[string]int // Gets, by region and key
	del map[string]int // Deletes, by region and key
	// onDelete makes after fire on Deletes rather than Puts.
	onDelete bool
	// after, when set, is called (once) after node's nth Put of region.
	node   int
	region string
	nth    int
	seen   int
	after  func()
}

func (p *puts) put(node int, region, key string) {
	p.mu.Lock()
	p.n[region+"/"+key]++
	var fire func()
	if node == p.node && region == p.region && p.after != nil && !p.onDelete {
		if p.seen++; p.seen == p.nth {
			fire, p.after = p.after, nil
		}
	}
	p.mu.Unlock()
	if fire != nil {
		fire()
	}
}

// twice returns how many Puts of region wrote a key a Put had already
// written, and how many keys were written.
func (p *puts) twice(region string) (again, keys int) {
	return p.repeats(p.n, region)
}

// readTwice returns how many Gets of region read a key a Get had already
// read, and how many keys were read.
func (p *puts) readTwice(region string) (again, keys int) {
	return p.repeats(p.got, region)
}

func (p *puts) repeats(m map[string]int, region string) (again, keys int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, n := range m {
		if len(k) > len(region) && k[:len(region)+1] == region+"/" {
			keys++
			again += n - 1
		}
	}
	return again, keys
}

// countingStore is a blob.Store that reports every Put to puts.
type countingStore struct {
	blob.Store
	node   int
	region string
	puts   *puts
}

func (c countingStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	err := c.Store.Put(ctx, key, r, size)
	if err == nil {
		c.puts.put(c.node, c.region, key)
	}
	return err
}

func (c countingStore) Delete(ctx context.Context, key string) error {
	err := c.Store.Delete(ctx, key)
	if err == nil {
		p := c.puts
		p.mu.Lock()
		p.del[c.region+"/"+key]++
		var fire func()
		if c.node == p.node && c.region == p.region && p.after != nil && p.onDelete {
			if p.seen++; p.seen == p.nth {
				fire, p.after = p.after, nil
			}
		}
		p.mu.Unlock()
		if fire != nil {
			fire()
		}
	}
	return err
}

func (c countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := c.Store.Get(ctx, key)
	if err == nil {
		c.puts.mu.Lock()
		c.puts.got[c.region+"/"+key]++
		c.puts.mu.Unlock()
	}
	return r, err
}

// node is one openami node of a cluster test.
type node struct {
	svc   *Service
	store *sqldb.Store
}

// crash cuts the node off the database, without releasing anything.
func (n *node) crash() { n.store.Close() }

// cluster starts n nodes on one new PostgreSQL database and shared blob
// directories, and returns them with an account's principal in
// us-east-1 and the Put counter.
func cluster(t *testing.T, n int) ([]*node, openami.Principal, *puts) {
	t.Helper()
	dsn := testenv.Postgres(t)
	shared := t.TempDir()
	key, _ := seal.New(make([]byte, seal.KeySize))
	regions, err := identity.ParseRegions([]string{"us-east-1", "us-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	counter := &puts{n: map[string]int{}, got: map[string]int{}, del: map[string]int{}}
	var nodes []*node
	for i := range n {
		store, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		blobs := map[string]blob.Store{}
		for _, r := range regions {
			b, err := dir.New(filepath.Join(shared, "blocks", r.Name))
			if err != nil {
				t.Fatal(err)
			}
			blobs[r.Name] = countingStore{Store: b, node: i, region: r.Name, puts: counter}
		}
		svc, err := New(context.Background(), Config{Store: store, Seal: key, Regions: regions, Blobs: blobs,
			LocalDir: filepath.Join(t.TempDir(), "node"), NodeID: string(rune('a' + i)), LeaseTTL: leaseTTL})
		if err != nil {
			t.Fatal(err)
		}
		nd := &node{svc: svc, store: store}
		t.Cleanup(func() {
			svc.Close()
			store.Close()
		})
		nodes = append(nodes, nd)
	}
	a, _, err := nodes[0].svc.Identity().CreateAccount(context.Background(), "test", false)
	if err != nil {
		t.Fatal(err)
	}
	return nodes, openami.Principal{AccountID: a.ID, Region: "us-east-1"}, counter
}

// start runs the node's background worker until the test ends.
func (n *node) start(t *testing.T) {
	n.svc.Start(context.Background(), slog.New(slog.DiscardHandler))
}

// distinctBlock returns a block unlike every other index's.
func distinctBlock(i int64) []byte {
	b := make([]byte, openami.BlockSize)
	for j := 0; j < len(b); j += 4096 {
		b[j], b[j+1], b[j+2] = byte(i), byte(i>>8), 0x5a
	}
	return b
}

// sourceSnapshot makes a completed snapshot of n distinct blocks through
// nd, and returns its id.
func sourceSnapshot(t *testing.T, nd *node, p openami.Principal, n int64) string {
	t.Helper()
	ctx := context.Background()
	e := nd.svc.EBS()
	snap, err := e.StartSnapshot(ctx, p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		b := distinctBlock(i)
		if _, err := e.PutSnapshotBlock(ctx, p, ebs.PutSnapshotBlockInput{SnapshotID: snap.ID, Index: i, Data: b,
			DataLength: openami.BlockSize, Checksum: rulestest.Checksum(b), ChecksumAlgorithm: "SHA256"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.CompleteSnapshot(ctx, p, ebs.CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: n}); err != nil {
		t.Fatal(err)
	}
	if err := e.FinishSnapshot(ctx, p.Region, snap.ID); err != nil {
		t.Fatal(err)
	}
	return snap.ID
}

// waitSnapshot waits until the snapshot is no longer pending and returns
// it (it fails the test after a generous while; it asserts no time).
func waitSnapshot(t *testing.T, s metadata.Store, region, id string) openami.Snapshot {
	t.Helper()
	for range 1200 {
		var snap openami.Snapshot
		err := s.View(context.Background(), func(tx metadata.Tx) error {
			var err error
			snap, err = tx.Snapshots().Get(region, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if snap.State != openami.SnapshotPending {
			return snap
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("snapshot %s still pending", id)
	return openami.Snapshot{}
}

// readBlocks returns the snapshot's blocks, read through nd.
func readBlocks(t *testing.T, nd *node, p openami.Principal, id string) map[int64][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[int64][]byte{}
	token := ""
	for {
		page, err := nd.svc.EBS().ListSnapshotBlocks(ctx, p, id, 0, 100, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Blocks {
			buf := make([]byte, openami.BlockSize)
			if _, err := nd.svc.EBS().GetSnapshotBlock(ctx, p, id, b.Index, b.Token, buf); err != nil {
				t.Fatal(err)
			}
			out[b.Index] = buf
		}
		if token = page.NextToken; token == "" {
			return out
		}
	}
}

// lease returns the lease name as it stands.
func leaseOf(t *testing.T, s metadata.Store, name string) openami.Lease {
	t.Helper()
	var l openami.Lease
	if err := s.View(context.Background(), func(tx metadata.Tx) error {
		var err error
		l, err = tx.Leases().Get(name)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return l
}

// waitLease waits until holder has held the lease name (it fails the
// test after a generous while; it asserts no time).
func waitLease(t *testing.T, s metadata.Store, name, holder string) {
	t.Helper()
	for range 1200 {
		var l openami.Lease
		err := s.View(context.Background(), func(tx metadata.Tx) error {
			var err error
			l, err = tx.Leases().Get(name)
			return err
		})
		if err == nil && l.Holder == holder {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never held %s", holder, name)
}

// TestCopyTakeover crashes the node running a cross-region copy at a
// random point, and checks that another node takes the copy over once
// the lease expires and finishes it: the copy completes once, with every
// block, and no more than one batch of blocks is stored twice.
func TestCopyTakeover(t *testing.T) {
	defer func(b int) { ebs.CopyBatch = b }(ebs.CopyBatch)
	ebs.CopyBatch = 4
	const blocks = 40
	for round := range 3 {
		nodes, p, counter := cluster(t, 3)
		a, b := nodes[0], nodes[1]
		src := sourceSnapshot(t, a, p, blocks)

		crashAt := 1 + rand.IntN(blocks-2)
		counter.mu.Lock()
		counter.node, counter.region, counter.nth, counter.after = 0, "us-west-2", crashAt, a.crash
		counter.mu.Unlock()
		west := p
		west.Region = "us-west-2"
		cp, err := a.svc.EBS().CopySnapshot(context.Background(), west, ebs.CopySnapshotInput{SourceSnapshotID: src, SourceRegion: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		// Node a runs it (it holds the lease) before the others start.
		waitLease(t, b.store, copyLease(cp.ID), "a")
		nodes[1].start(t)
		nodes[2].start(t)
		snap := waitSnapshot(t, b.store, "us-west-2", cp.ID)
		if snap.State != openami.SnapshotCompleted {
			t.Fatalf("round %d (crash at put %d): the copy ended %s (%s)", round, crashAt, snap.State, snap.StateReason)
		}
		got := readBlocks(t, b, west, cp.ID)
		if len(got) != blocks {
			t.Fatalf("round %d: the copy has %d blocks, want %d", round, len(got), blocks)
		}
		for i := range int64(blocks) {
			if !bytes.Equal(got[i], distinctBlock(i)) {
				t.Fatalf("round %d: block %d of the copy differs", round, i)
			}
		}
		again, keys := counter.twice("us-west-2")
		if keys != blocks {
			t.Errorf("round %d: %d chunks stored in us-west-2, want %d", round, keys, blocks)
		}
		if again > ebs.CopyBatch {
			t.Errorf("round %d (crash at put %d): %d chunks stored twice, more than one batch (%d)", round, crashAt, again, ebs.CopyBatch)
		}
		// Bytes copied twice: source chunks read again after the takeover.
		reread, read := counter.readTwice("us-east-1")
		if read != blocks || reread > ebs.CopyBatch {
			t.Errorf("round %d (crash at put %d): %d source chunks read, %d of them twice; want %d, at most one batch (%d)",
				round, crashAt, read, reread, blocks, ebs.CopyBatch)
		}
		l := leaseOf(t, b.store, copyLease(cp.ID))
		if l.Epoch != 2 || l.Holder != "" {
			t.Errorf("round %d: the copy's lease ended as %+v, want released at epoch 2 (one takeover)", round, l)
		}
		t.Logf("round %d: crash at put %d, %d chunks stored twice, %d read twice", round, crashAt, again, reread)
	}
}

// waitVolume waits until the volume is no longer creating and returns it
// (it fails the test after a generous while; it asserts no time).
func waitVolume(t *testing.T, s metadata.Store, region, id string) openami.Volume {
	t.Helper()
	for range 1200 {
		var v openami.Volume
		err := s.View(context.Background(), func(tx metadata.Tx) error {
			var err error
			v, err = tx.Volumes().Get(region, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if v.State != openami.VolumeCreating {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("volume %s still creating", id)
	return openami.Volume{}
}

// TestFillTakeover crashes the node filling a volume (a plain snapshot's
// blocks re-sealed under a KMS key) at a random point, and checks that
// another node takes the fill over and finishes it: the volume becomes
// available once, reads back every block, and no chunk is stored twice
// beyond one batch.
func TestFillTakeover(t *testing.T) {
	defer func(b int) { ebs.FillBatch = b }(ebs.FillBatch)
	ebs.FillBatch = 4
	const blocks = 40
	ctx := context.Background()
	nodes, p, counter := cluster(t, 2)
	a, b := nodes[0], nodes[1]
	src := sourceSnapshot(t, a, p, blocks)
	key, err := a.svc.KMS().CreateKey(ctx, p, kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	crashAt := 1 + rand.IntN(blocks-2)
	counter.mu.Lock()
	counter.node, counter.region, counter.nth, counter.after = 0, "us-east-1", crashAt, a.crash
	counter.seen = 0
	counter.n, counter.got = map[string]int{}, map[string]int{}
	counter.mu.Unlock()
	vol, err := a.svc.EBS().CreateVolume(ctx, p, ebs.CreateVolumeInput{AvailabilityZone: "us-east-1a", SnapshotID: src,
		Encrypted: true, KmsKeyID: key.ARN()})
	if err != nil {
		t.Fatal(err)
	}
	waitLease(t, b.store, fillLease(vol.ID), "a")
	b.start(t)
	v := waitVolume(t, b.store, "us-east-1", vol.ID)
	if v.State != openami.VolumeAvailable {
		t.Fatalf("crash at put %d: the volume ended %s", crashAt, v.State)
	}
	// Bytes filled twice: source chunks read again after the takeover.
	counter.mu.Lock()
	reread := 0
	for k, n := range counter.got {
		if strings.HasPrefix(k, "us-east-1/") {
			reread += n - 1
		}
	}
	counter.mu.Unlock()
	if reread > ebs.FillBatch {
		t.Errorf("crash at put %d: %d source chunks read twice, more than one batch (%d)", crashAt, reread, ebs.FillBatch)
	}
	buf := make([]byte, openami.BlockSize)
	for i := range int64(blocks) {
		if err := b.svc.EBS().ReadVolumeBlock(ctx, p, vol.ID, i, buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, distinctBlock(i)) {
			t.Fatalf("crash at put %d: block %d of the volume differs", crashAt, i)
		}
	}
	again, keys := counter.twice("us-east-1")
	if keys != blocks || again > ebs.FillBatch {
		t.Errorf("crash at put %d: %d chunks stored, %d of them twice; want %d, at most one batch (%d)", crashAt, keys, again, blocks, ebs.FillBatch)
	}
	if l := leaseOf(t, b.store, fillLease(vol.ID)); l.Epoch != 2 || l.Holder != "" {
		t.Errorf("the fill's lease ended as %+v, want released at epoch 2 (one takeover)", l)
	}
}

// imageOf registers an image over the snapshot through nd and settles it.
func imageOf(t *testing.T, nd *node, p openami.Principal, snapshotID string) string {
	t.Helper()
	ctx := context.Background()
	id, err := nd.svc.Images().RegisterImage(ctx, p, images.RegisterImageInput{Name: "img-" + snapshotID, RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snapshotID}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := nd.svc.Images().SettleImages(ctx); err != nil {
		t.Fatal(err)
	}
	return id
}

// waitImage waits until the image is no longer pending and returns it
// (it fails the test after a generous while; it asserts no time).
func waitImage(t *testing.T, s metadata.Store, region, id string) openami.Image {
	t.Helper()
	for range 1200 {
		var img openami.Image
		err := s.View(context.Background(), func(tx metadata.Tx) error {
			var err error
			img, err = tx.Images().Get(region, id)
			return err
		})
		if err == nil && img.State != openami.ImagePending {
			return img
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("image %s still pending", id)
	return openami.Image{}
}

// waitTask waits until the export task is no longer active and returns
// it (it fails the test after a generous while; it asserts no time).
func waitTask(t *testing.T, s metadata.Store, region, id string) openami.ExportTask {
	t.Helper()
	for range 1200 {
		var task openami.ExportTask
		err := s.View(context.Background(), func(tx metadata.Tx) error {
			var err error
			task, err = tx.ExportTasks().Get(region, id)
			return err
		})
		if err == nil && task.State != openami.ExportActive {
			return task
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("export task %s still active", id)
	return openami.ExportTask{}
}

// TestStoreTaskTakeover crashes the node running a CreateStoreImageTask
// after it stored its first object blob, and checks that another node
// takes the task over and completes it: one object, which restores (on
// the other node) to an image with every block.
func TestStoreTaskTakeover(t *testing.T) {
	const blocks = 40
	ctx := context.Background()
	nodes, p, counter := cluster(t, 2)
	a, b := nodes[0], nodes[1]
	if _, err := a.svc.Objects().CreateBucket(ctx, objects.As(p), "bkt", "us-east-1", objects.ACLInput{}); err != nil {
		t.Fatal(err)
	}
	src := imageOf(t, a, p, sourceSnapshot(t, a, p, blocks))
	counter.mu.Lock()
	counter.node, counter.region, counter.nth, counter.after, counter.seen = 0, "us-east-1", 1, a.crash, 0
	counter.mu.Unlock()
	key, err := a.svc.Exports().CreateStoreImageTask(ctx, p, exports.CreateStoreImageTaskInput{ImageID: src, ImageBucket: "bkt"})
	if err != nil {
		t.Fatal(err)
	}
	var list []openami.ExportTask
	if err := b.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		list, err = tx.ExportTasks().Active()
		return err
	}); err != nil || len(list) != 1 {
		t.Fatalf("active export tasks: %v, %v", list, err)
	}
	task := list[0]
	a.start(t)
	waitLease(t, b.store, exportLease(task.ID), "a")
	b.start(t)
	if done := waitTask(t, b.store, "us-east-1", task.ID); done.State != openami.ExportCompleted {
		t.Fatalf("the store task ended %s (%s)", done.State, done.StatusMessage)
	}
	if l := leaseOf(t, b.store, exportLease(task.ID)); l.Epoch != 2 || l.Holder != "" {
		t.Errorf("the task's lease ended as %+v, want released at epoch 2 (one takeover)", l)
	}
	if _, err := b.svc.Objects().HeadObject(ctx, objects.As(p), "bkt", key, objects.Conditions{}); err != nil {
		t.Fatalf("the stored object: %v", err)
	}
	restored, err := b.svc.Exports().CreateRestoreImageTask(ctx, p, exports.CreateRestoreImageTaskInput{ImageBucket: "bkt", ObjectKey: key, Name: "restored"})
	if err != nil {
		t.Fatal(err)
	}
	img := waitImage(t, b.store, "us-east-1", restored)
	if img.State != openami.ImageAvailable {
		t.Fatalf("the restored image is %s (%s)", img.State, img.StateReason)
	}
	got := readBlocks(t, b, p, img.BlockDeviceMappings[0].Ebs.SnapshotID)
	if len(got) != blocks {
		t.Fatalf("the restored image has %d blocks, want %d", len(got), blocks)
	}
	for i := range int64(blocks) {
		if !bytes.Equal(got[i], distinctBlock(i)) {
			t.Fatalf("block %d of the restored image differs", i)
		}
	}
}

// rawDisk is a 5 MiB raw disk with an MBR and one partition, data in a
// few blocks and zeros elsewhere.
func rawDisk() []byte {
	disk := make([]byte, 5<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, off := range []int{0, 1 << 20, 3<<20 + 4096} {
		for i := off; i < off+300_000; i++ {
			disk[i] = byte(rng.Uint32())
		}
	}
	clear(disk[446:512])
	disk[446+4] = 0x83 // a Linux partition
	disk[510], disk[511] = 0x55, 0xAA
	return disk
}

// TestImportTakeover crashes the node running an ImportImage task after
// it stored its first blocks, and checks that another node takes the
// task over and completes it: one image and one snapshot in the account,
// which reads back as the disk.
func TestImportTakeover(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img (Debian's qemu-utils) is needed: ", err)
	}
	ctx := context.Background()
	nodes, p, counter := cluster(t, 2)
	a, b := nodes[0], nodes[1]
	if _, err := a.svc.Objects().CreateBucket(ctx, objects.As(p), "disks", "us-east-1", objects.ACLInput{}); err != nil {
		t.Fatal(err)
	}
	disk := rawDisk()
	if _, err := a.svc.Objects().Put(ctx, objects.As(p), "disks", "disk.raw", bytes.NewReader(disk), int64(len(disk)), openami.ObjectHeaders{}, ""); err != nil {
		t.Fatal(err)
	}
	counter.mu.Lock()
	counter.node, counter.region, counter.nth, counter.after, counter.seen = 0, "us-east-1", 1+rand.IntN(2), a.crash, 0
	counter.mu.Unlock()
	task, err := a.svc.Imports().ImportImage(ctx, p, imports.ImportImageInput{
		Disks: []imports.DiskContainer{{Format: "RAW", Bucket: "disks", Key: "disk.raw"}}})
	if err != nil {
		t.Fatal(err)
	}
	a.start(t)
	waitLease(t, b.store, importLease(task.ID), "a")
	b.start(t)
	var done openami.ImportTask
	for range 1200 {
		if err := b.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			done, err = tx.ImportTasks().Get(task.Region, task.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if done.Status != openami.ImportActive {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if done.Status != openami.ImportCompleted {
		t.Fatalf("the import ended %s (%s)", done.Status, done.StatusMessage)
	}
	if l := leaseOf(t, b.store, importLease(task.ID)); l.Epoch != 2 || l.Holder != "" {
		t.Errorf("the task's lease ended as %+v, want released at epoch 2 (one takeover)", l)
	}
	var (
		imgs  []openami.Image
		snaps []openami.Snapshot
	)
	if err := b.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if imgs, err = tx.Images().List("us-east-1", metadata.ImageQuery{}); err != nil {
			return err
		}
		snaps, err = tx.Snapshots().List("us-east-1", metadata.SnapshotQuery{OwnerIDs: []string{p.AccountID}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].ID != done.ImageID {
		t.Fatalf("images after the import: %d (%+v), want the task's one", len(imgs), imgs)
	}
	if len(snaps) != 1 || snaps[0].ID != done.Disks[0].SnapshotID {
		t.Fatalf("snapshots after the import: %d, want the task's one", len(snaps))
	}
	waitSnapshot(t, b.store, "us-east-1", snaps[0].ID)
	got := readBlocks(t, b, p, snaps[0].ID)
	for i := int64(0); i*openami.BlockSize < int64(len(disk)); i++ {
		want := disk[i*openami.BlockSize : (i+1)*openami.BlockSize]
		if g, ok := got[i]; ok && !bytes.Equal(g, want) || !ok && !allZero(want) {
			t.Fatalf("block %d of the imported snapshot differs from the disk's", i)
		}
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestGCTakeover crashes a node at a random point of a garbage
// collection's sweep, and checks that another node's collection takes
// over once the lease expires (not after the block store's own, hours
// long lease) and finishes: every unreferenced chunk gone, every live one
// kept, no blob deleted twice but the one in flight.
func TestGCTakeover(t *testing.T) {
	const garbage = 30
	ctx := context.Background()
	nodes, p, counter := cluster(t, 2)
	a, b := nodes[0], nodes[1]
	dead := sourceSnapshot(t, a, p, garbage)
	e := a.svc.EBS()
	keep, err := e.StartSnapshot(ctx, p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	const live = 5
	for i := range int64(live) {
		blk := distinctBlock(1000 + i)
		if _, err := e.PutSnapshotBlock(ctx, p, ebs.PutSnapshotBlockInput{SnapshotID: keep.ID, Index: i, Data: blk,
			DataLength: openami.BlockSize, Checksum: rulestest.Checksum(blk), ChecksumAlgorithm: "SHA256"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.CompleteSnapshot(ctx, p, ebs.CompleteSnapshotInput{SnapshotID: keep.ID, ChangedBlocksCount: live}); err != nil {
		t.Fatal(err)
	}
	if err := e.FinishSnapshot(ctx, p.Region, keep.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteSnapshot(ctx, p, dead); err != nil {
		t.Fatal(err)
	}
	crashAt := 1 + rand.IntN(garbage-1)
	counter.mu.Lock()
	counter.node, counter.region, counter.nth, counter.after, counter.seen, counter.onDelete = 0, "us-east-1", crashAt, a.crash, 0, true
	counter.mu.Unlock()
	if _, err := a.svc.CollectGarbage(ctx, "us-east-1"); err == nil {
		t.Fatal("the crashed node's collection succeeded")
	}
	var res ebs.GCResult
	for i := 0; ; i++ {
		res, err = b.svc.CollectGarbage(ctx, "us-east-1")
		if err == nil {
			break
		}
		if openami.ClassOf(err) != openami.IncorrectState || i == 1000 {
			t.Fatalf("the other node's collection: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := res.DeletedChunks + crashAt - 1; got != garbage {
		t.Errorf("crash at delete %d: chunks deleted %d + %d before the crash, want %d", crashAt, res.DeletedChunks, crashAt-1, garbage)
	}
	var count int64
	if err := b.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		count, _, err = tx.Chunks().Stats("us-east-1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if count != live {
		t.Errorf("chunks left %d, want the %d live ones", count, live)
	}
	got := readBlocks(t, b, p, keep.ID)
	for i := range int64(live) {
		if !bytes.Equal(got[i], distinctBlock(1000+i)) {
			t.Fatalf("block %d of the live snapshot differs after the collections", i)
		}
	}
	twice := 0
	counter.mu.Lock()
	for _, n := range counter.del {
		twice += n - 1
	}
	counter.mu.Unlock()
	if twice > 1 {
		t.Errorf("%d blobs deleted twice, want at most the one in flight", twice)
	}
}
