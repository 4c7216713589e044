package cluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// killTTL is the lease TTL of the kill tests' nodes: short, so that a
// takeover comes within seconds, and long enough that a loaded machine
// does not cost a live holder its lease (service's lease tests use 3 s
// for the same reason).
const killTTL = 3 * time.Second

// killCluster starts three nodes serving us-east-1 and us-west-2 with
// node ids node0…node2 (so that a lease's holder names its node), the
// short lease TTL and copyBatch blocks per copy batch, on a versioned
// bucket (every blob write counted).
func killCluster(t *testing.T, copyBatch int) *Cluster {
	return Start(t, Options{Nodes: 3, Regions: "us-east-1,us-west-2", Versioned: true, Args: func(i int) []string {
		return []string{"--node-id", fmt.Sprintf("node%d", i), "--lease-ttl", killTTL.String(), "--copy-batch", strconv.Itoa(copyBatch)}
	}})
}

// node returns the node whose --node-id is id.
func (c *Cluster) nodeByID(t *testing.T, id string) *Node {
	t.Helper()
	for _, n := range c.Nodes {
		if id == fmt.Sprintf("node%d", n.Index) {
			return n
		}
	}
	t.Fatalf("no node has id %q", id)
	return nil
}

// leaseRow is one row of the leases table.
type leaseRow struct {
	holder string
	epoch  int64
}

func getLease(t *testing.T, db *sql.DB, name string) (leaseRow, bool) {
	t.Helper()
	var l leaseRow
	err := db.QueryRow(`SELECT holder, epoch FROM leases WHERE name = $1`, name).Scan(&l.holder, &l.epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return l, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return l, true
}

// waitHolder waits until the lease name is held by a node other than
// not ("" for any) and returns the row; it fails after timeout.
func waitHolder(t *testing.T, db *sql.DB, name, not string, timeout time.Duration) leaseRow {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l, ok := getLease(t, db, name); ok && l.holder != "" && l.holder != not {
			return l
		}
		if time.Now().After(deadline) {
			l, _ := getLease(t, db, name)
			t.Fatalf("lease %s not held by a node but %q within %s: %+v", name, not, timeout, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKillCopyHolder kills -9 the node that holds a cross-region copy's
// lease at a random point of the copy (after a random number of the
// copy's chunks reached the destination, from none to half), and checks
// that another node takes the copy over once the lease expires, that the
// copy completes and reads back identical through the third node, and
// that no chunk was written twice beyond the batch in flight at the kill
// (MinIO's versions count every write).
func TestKillCopyHolder(t *testing.T) {
	const blocks, batch = 48, 8 // 24 MiB, six batches
	c := killCluster(t, batch)
	ctx := context.Background()
	alice := c.Account(t, "alice")
	db := c.DB(t)

	// The source: 48 random blocks through node 0, completed.
	src, data := makeSnapshot(t, c.Nodes[0], alice, blocks)

	// The copy, asked of node 1 in us-west-2.
	out, err := c.Nodes[1].EC2In(alice, "us-west-2").CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceRegion: aws.String("us-east-1"), SourceSnapshotId: &src})
	if err != nil {
		t.Fatal(err)
	}
	dst := *out.SnapshotId
	name := "copy/" + dst
	first := waitHolder(t, db, name, "", time.Minute)
	victim := c.nodeByID(t, first.holder)

	// Kill its holder after killAt chunks reached us-west-2.
	killAt := rand.IntN(blocks/2 + 1)
	for len(c.BlobWrites(t, "us-west-2", "chunks")) < killAt {
		if l, _ := getLease(t, db, name); l.holder != first.holder || l.epoch != first.epoch {
			t.Fatalf("the copy's lease is %+v before %d chunks were written: the copy ended before the kill", l, killAt)
		}
		time.Sleep(5 * time.Millisecond)
	}
	victim.Kill(t)
	killed := time.Now()
	atKill := len(c.BlobWrites(t, "us-west-2", "chunks"))
	t.Logf("killed node %d (%s) after %d of %d chunks reached us-west-2 (aimed at %d)", victim.Index, first.holder, atKill, blocks, killAt)

	// Another node takes it over once the lease expires.
	taken := waitHolder(t, db, name, first.holder, 2*time.Minute)
	t.Logf("node %s took the copy over %.1f s after the kill (lease TTL %s), epoch %d", taken.holder, time.Since(killed).Seconds(), killTTL, taken.epoch)
	if taken.epoch != first.epoch+1 {
		t.Errorf("the taker's epoch is %d, want %d", taken.epoch, first.epoch+1)
	}
	taker := c.nodeByID(t, taken.holder)
	var reader *Node
	for _, n := range c.Nodes {
		if n != victim && n != taker {
			reader = n
		}
	}
	waitSnapshotState(t, reader.EC2In(alice, "us-west-2"), dst, 3*time.Minute)

	// It reads back identical through the third node.
	readSnapshotWith(t, reader.EBSIn(alice, "us-west-2"), dst, data)

	// Every chunk stored once, but at most the batch in flight at the
	// kill, which the taker wrote again.
	writes := c.BlobWrites(t, "us-west-2", "chunks")
	twice := 0
	for key, n := range writes {
		if n > 2 {
			t.Errorf("chunk %s written %d times", key, n)
		}
		if n > 1 {
			twice++
		}
	}
	t.Logf("chunks written twice: %d (one batch: %d)", twice, batch)
	if len(writes) != blocks || twice > batch {
		t.Errorf("%d chunks in us-west-2, %d of them written twice; want %d, at most one batch (%d) twice", len(writes), twice, blocks, batch)
	}
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM chunks WHERE region = 'us-west-2' AND state = 'live'`).Scan(&rows); err != nil || rows != blocks {
		t.Errorf("%d live chunk rows in us-west-2 (%v), want %d", rows, err, blocks)
	}
	// Exactly one takeover, and the lease released at the end.
	if l, _ := getLease(t, db, name); l.holder != "" || l.epoch != first.epoch+1 {
		t.Errorf("the copy's lease at the end: %+v, want released at epoch %d", l, first.epoch+1)
	}
	for _, n := range c.Nodes {
		if n == victim {
			continue
		}
		for _, line := range n.Errors() {
			t.Errorf("node %d logged an error: %s", n.Index, line)
		}
	}
}

// waitSnapshotState waits until the snapshot is completed, failing at
// once if it turns to error and after timeout.
func waitSnapshotState(t *testing.T, c *ec2.Client, snap string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Snapshots) == 1 {
			switch out.Snapshots[0].State {
			case types.SnapshotStateCompleted:
				return
			case types.SnapshotStateError:
				t.Fatalf("snapshot %s failed: %s", snap, aws.ToString(out.Snapshots[0].StateMessage))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot %s not completed within %s: %+v", snap, timeout, out.Snapshots)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCopyBatchRefused: serve refuses a --copy-batch below one block
// rather than copying nothing.
func TestCopyBatchRefused(t *testing.T) {
	cmd := exec.Command(Binary(t), "serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--copy-batch", "0")
	out, err := runWithin(cmd, time.Minute)
	if err == nil || !strings.Contains(out, "--copy-batch: want at least 1 block") {
		t.Fatalf("serve --copy-batch 0: %v\n%s", err, out)
	}
}
