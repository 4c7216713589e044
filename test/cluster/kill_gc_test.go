package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// TestKillGCHolder kills -9 an `openami gc` at a random point of its
// collection (after a random number of its deletes, from none to half),
// and checks that a collection started beside another node is refused
// while the dead one's lease lives, then takes the lease over and
// finishes: every unreferenced chunk deleted, every live one kept and
// readable, no blob deleted twice but the one in flight at the kill.
func TestKillGCHolder(t *testing.T) {
	const garbage, live = 64, 5
	c := killCluster(t, 8)
	ctx := context.Background()
	alice := c.Account(t, "alice")
	db := c.DB(t)

	dead, _ := makeSnapshot(t, c.Nodes[0], alice, garbage)
	deadKeys := c.BlobWrites(t, "us-east-1", "chunks")
	keep, keepData := makeSnapshot(t, c.Nodes[1], alice, live)
	var liveKeys []string
	for key := range c.BlobWrites(t, "us-east-1", "chunks") {
		if deadKeys[key] == 0 {
			liveKeys = append(liveKeys, key)
		}
	}
	if len(deadKeys) != garbage || len(liveKeys) != live {
		t.Fatalf("%d and %d chunks stored for the two snapshots, want %d and %d", len(deadKeys), len(liveKeys), garbage, live)
	}
	if _, err := c.Nodes[2].EC2(alice).DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &dead}); err != nil {
		t.Fatal(err)
	}

	// The first collection, beside node 1, killed at a random delete.
	var out1 bytes.Buffer
	gc := c.CommandOn(c.Nodes[1], "gc", "--region", "us-east-1")
	gc.Env = append(gc.Env, "OPENAMI_LEASE_TTL="+killTTL.String())
	gc.Stdout, gc.Stderr = &out1, &out1
	if err := gc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { gc.Wait(); close(exited) }()
	t.Cleanup(func() { gc.Process.Kill(); <-exited })
	const name = "gc/us-east-1"
	first := waitHolder(t, db, name, "", time.Minute)
	killAt := mrand.IntN(garbage/2 + 1)
	for {
		deletes, _ := c.BlobDeletes(t, "us-east-1", "chunks")
		if len(deletes) >= killAt {
			break
		}
		select {
		case <-exited:
			t.Fatalf("openami gc ended before %d deletes: %s", killAt, out1.String())
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
	gc.Process.Kill()
	<-exited
	killed := time.Now()
	deletes, _ := c.BlobDeletes(t, "us-east-1", "chunks")
	t.Logf("killed openami gc (%s) after %d of %d deletes (aimed at %d)", first.holder, len(deletes), garbage, killAt)

	// A collection beside node 2: refused while the lease lives, then
	// it takes the lease over and finishes.
	refused := 0
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var out2 bytes.Buffer
		gc2 := c.CommandOn(c.Nodes[2], "gc", "--region", "us-east-1")
		gc2.Env = append(gc2.Env, "OPENAMI_LEASE_TTL="+killTTL.String())
		gc2.Stdout, gc2.Stderr = &out2, &out2
		err := gc2.Run()
		if err == nil {
			break
		}
		if !strings.Contains(out2.String(), "already running") || time.Now().After(deadline) {
			t.Fatalf("the second openami gc: %v: %s", err, out2.String())
		}
		refused++
	}
	t.Logf("the second collection ran %.1f s after the kill (lease TTL %s), refused %d times before", time.Since(killed).Seconds(), killTTL, refused)
	if l, _ := getLease(t, db, name); l.holder != "" || l.epoch != first.epoch+1 {
		t.Errorf("the collection's lease at the end: %+v, want released at epoch %d", l, first.epoch+1)
	}

	deletes, gone := c.BlobDeletes(t, "us-east-1", "chunks")
	twice := 0
	for key, n := range deletes {
		if n > 1 {
			twice++
		}
		if deadKeys[key] == 0 {
			t.Errorf("live chunk %s deleted", key)
		}
	}
	for key := range deadKeys {
		if !gone[key] {
			t.Errorf("unreferenced chunk %s still stored", key)
		}
	}
	if twice > 1 {
		t.Errorf("%d chunks deleted twice, want at most the one in flight at the kill", twice)
	}
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM chunks WHERE region = 'us-east-1'`).Scan(&rows); err != nil || rows != live {
		t.Errorf("%d chunk rows in us-east-1 (%v), want the %d live ones", rows, err, live)
	}
	readSnapshot(t, c.Nodes[0], alice, keep, keepData)
	for _, n := range c.Nodes {
		for _, line := range n.Errors() {
			t.Errorf("node %d logged an error: %s", n.Index, line)
		}
	}
}

// makeSnapshot writes a completed snapshot of blocks random blocks (at
// indices 0, 5, 10, …) in the node's first region through EBS direct,
// four blocks at a time, and returns its id and data.
func makeSnapshot(t *testing.T, n *Node, cr Credentials, blocks int) (string, map[int32][]byte) {
	t.Helper()
	ctx := context.Background()
	cl := n.EBS(cr)
	start, err := cl.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := *start.SnapshotId
	data := map[int32][]byte{}
	for i := range int32(blocks) {
		data[i*5] = randomBlock()
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan int32)
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sum := sha256Base64(data[i])
				if _, err := cl.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{SnapshotId: &id, BlockIndex: aws.Int32(i),
					BlockData: bytes.NewReader(data[i]), DataLength: aws.Int32(int32(len(data[i]))), Checksum: &sum,
					ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256}); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("block %d: %w", i, err))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range data {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if _, err := cl.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: &id, ChangedBlocksCount: aws.Int32(int32(blocks))}); err != nil {
		t.Fatal(err)
	}
	waitSnapshotState(t, n.EC2(cr), id, 2*time.Minute)
	return id, data
}

// readSnapshot checks through node n that the snapshot (in n's first
// region) holds exactly data.
func readSnapshot(t *testing.T, n *Node, cr Credentials, snap string, data map[int32][]byte) {
	t.Helper()
	readSnapshotWith(t, n.EBS(cr), snap, data)
}

func readSnapshotWith(t *testing.T, cl *ebs.Client, snap string, data map[int32][]byte) {
	t.Helper()
	ctx := context.Background()
	list, err := cl.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{SnapshotId: &snap})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Blocks) != len(data) || list.NextToken != nil {
		t.Fatalf("snapshot %s lists %d blocks (more: %v), want %d", snap, len(list.Blocks), list.NextToken != nil, len(data))
	}
	for _, b := range list.Blocks {
		got, err := cl.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: &snap, BlockIndex: b.BlockIndex, BlockToken: b.BlockToken})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(got.BlockData)
		if !bytes.Equal(body, data[*b.BlockIndex]) {
			t.Fatalf("block %d of snapshot %s differs from what was written", *b.BlockIndex, snap)
		}
	}
}
