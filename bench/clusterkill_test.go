package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/openami/openami/test/cluster"
)

// BenchmarkCopyKill measures, with real binaries (test/cluster: three
// `openami serve` on one PostgreSQL and MinIO), what a kill -9 of the
// node holding a cross-region copy costs: the copy of a snapshot of
// BENCH_COPYKILL_BLOCKS (128) random blocks, --copy-batch
// BENCH_COPYKILL_BATCH (32), is asked of node 1, whose process is killed
// once half the blocks and half a batch reached the destination. It
// reports per lease TTL the time from the kill to another node's holding
// the copy's lease (takeover-s) and to the copy's completion
// (kill-to-done-s), the source chunks the taker read that the dead node
// had already stored at the destination (copied-twice-MiB, from the
// taker's openami_blob_reads_total), chunks written twice at the
// destination (MinIO's versions), and the nodes' peak RSS.
func BenchmarkCopyKill(b *testing.B) {
	blocks := envInt("BENCH_COPYKILL_BLOCKS", 128)
	batch := envInt("BENCH_COPYKILL_BATCH", 32)
	for _, ttl := range []time.Duration{3 * time.Second, 10 * time.Second} {
		b.Run("ttl="+ttl.String(), func(b *testing.B) {
			for range b.N {
				copyKillRun(b, ttl, blocks, batch)
			}
		})
	}
}

func copyKillRun(b *testing.B, ttl time.Duration, blocks, batch int) {
	c := cluster.Start(b, cluster.Options{Nodes: 3, Regions: "us-east-1,us-west-2", Versioned: true, Args: func(i int) []string {
		return []string{"--node-id", fmt.Sprintf("node%d", i), "--lease-ttl", ttl.String(), "--copy-batch", strconv.Itoa(batch)}
	}})
	ctx := context.Background()
	alice := c.Account(b, "alice")
	db := c.DB(b)
	src := benchSnapshot(b, c.Nodes[0], alice, blocks)
	out, err := c.Nodes[1].EC2In(alice, "us-west-2").CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceRegion: aws.String("us-east-1"), SourceSnapshotId: &src})
	if err != nil {
		b.Fatal(err)
	}
	dst := *out.SnapshotId
	name := "copy/" + dst
	first := benchWaitLease(b, db, name, "")
	var victim *cluster.Node
	for _, n := range c.Nodes {
		if first == fmt.Sprintf("node%d", n.Index) {
			victim = n
		}
	}
	reads := map[int]float64{}
	for _, n := range c.Nodes {
		reads[n.Index] = blobReads(b, n, "us-east-1")
	}
	for len(c.BlobWrites(b, "us-west-2", "chunks")) < blocks/2+batch/2 {
		time.Sleep(5 * time.Millisecond)
	}
	rss := map[int]int64{}
	for _, n := range c.Nodes {
		rss[n.Index] = procStatusKB(strconv.Itoa(n.PID()), "VmHWM")
	}
	victim.Kill(b)
	killed := time.Now()
	atKill := len(c.BlobWrites(b, "us-west-2", "chunks"))
	taker := benchWaitLease(b, db, name, first)
	takeover := time.Since(killed)
	for {
		d, err := c.Nodes[0].EC2In(alice, "us-west-2").DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{dst}})
		if err != nil {
			b.Fatal(err)
		}
		if d.Snapshots[0].State == types.SnapshotStateCompleted {
			break
		}
		if d.Snapshots[0].State == types.SnapshotStateError || time.Since(killed) > 5*time.Minute {
			b.Fatalf("copy %s: %s", dst, d.Snapshots[0].State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	done := time.Since(killed)
	var takerNode *cluster.Node
	for _, n := range c.Nodes {
		if taker == fmt.Sprintf("node%d", n.Index) {
			takerNode = n
		}
		if n.PID() != 0 {
			rss[n.Index] = max(rss[n.Index], procStatusKB(strconv.Itoa(n.PID()), "VmHWM"))
		}
	}
	takerReads := int(blobReads(b, takerNode, "us-east-1") - reads[takerNode.Index])
	twice := 0
	for _, n := range c.BlobWrites(b, "us-west-2", "chunks") {
		if n > 1 {
			twice++
		}
	}
	b.ReportMetric(takeover.Seconds(), "takeover-s")
	b.ReportMetric(takeover.Seconds()/ttl.Seconds(), "takeover/ttl")
	b.ReportMetric(done.Seconds(), "kill-to-done-s")
	b.ReportMetric(float64(takerReads-(blocks-atKill))*0.5, "copied-twice-MiB")
	b.ReportMetric(float64(batch)*0.5, "batch-MiB")
	b.ReportMetric(float64(twice), "chunks-written-twice")
	b.ReportMetric(float64(atKill), "chunks-at-kill")
	var peak int64
	for _, v := range rss {
		peak = max(peak, v)
	}
	b.ReportMetric(float64(peak)/1024, "node-peakRSS-MB")
}

// BenchmarkHostKill measures, with real binaries, the time from a
// compute host's kill -9 to its EBS-backed instances running again on
// another host: two hosts (--host, the none runtime: no guest, so the
// time is openami's and not a boot's; TestHostKill in test/cluster does
// it with qemu) and an API node; BENCH_HOSTKILL_INSTANCES (8) instances
// spread over both; host A killed; each of A's instances stopped as soon
// as its system status is impaired, and started again. Reported per
// --host-ttl: kill to the last impaired, to the last running on host B.
func BenchmarkHostKill(b *testing.B) {
	count := envInt("BENCH_HOSTKILL_INSTANCES", 8)
	for _, ttl := range []time.Duration{6 * time.Second, 15 * time.Second} {
		b.Run("host-ttl="+ttl.String(), func(b *testing.B) {
			for range b.N {
				hostKillRun(b, ttl, count)
			}
		})
	}
}

func hostKillRun(b *testing.B, ttl time.Duration, count int) {
	c := cluster.Start(b, cluster.Options{Nodes: 3, Args: func(i int) []string {
		args := []string{"--node-id", fmt.Sprintf("node%d", i), "--runtime", "none", "--lease-ttl", "3s"}
		if i > 0 {
			args = append(args, "--host", "--host-ttl", ttl.String(), "--host-vcpus", "64", "--host-memory", "256GiB")
		}
		return args
	}})
	ctx := context.Background()
	alice := c.Account(b, "alice")
	e := c.Nodes[0].EC2(alice)
	snap := benchSnapshot(b, c.Nodes[0], alice, 4)
	reg, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("img"), RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: &snap}}}})
	if err != nil {
		b.Fatal(err)
	}
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: reg.ImageId, InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(int32(count)), MaxCount: aws.Int32(int32(count))})
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for _, in := range run.Instances {
		ids = append(ids, *in.InstanceId)
	}
	describe := func() map[string]types.Instance {
		out, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil {
			b.Fatal(err)
		}
		m := map[string]types.Instance{}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				m[*in.InstanceId] = in
			}
		}
		return m
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		all := true
		for _, in := range describe() {
			all = all && in.State.Name == types.InstanceStateNameRunning
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("instances not running within 2 minutes")
		}
	}
	hostA := ""
	var onA []string
	for _, in := range describe() {
		if hostA == "" {
			hostA = aws.ToString(in.Placement.HostId)
		}
		if aws.ToString(in.Placement.HostId) == hostA {
			onA = append(onA, *in.InstanceId)
		}
	}
	out, err := c.Command("host", "list").Output()
	if err != nil {
		b.Fatal(err)
	}
	var list struct {
		Hosts []struct{ HostId, Node string }
	}
	json.Unmarshal(out, &list)
	var victim *cluster.Node
	for _, h := range list.Hosts {
		for _, n := range c.Nodes {
			if h.HostId == hostA && h.Node == fmt.Sprintf("node%d", n.Index) {
				victim = n
			}
		}
	}
	if victim == nil {
		b.Fatalf("no node runs host %s: %s", hostA, out)
	}
	victim.Kill(b)
	killed := time.Now()
	var impaired, running time.Duration
	stopped, started := map[string]bool{}, map[string]bool{}
	for {
		if time.Since(killed) > 5*time.Minute {
			b.Fatal("A's instances not running elsewhere within 5 minutes")
		}
		st, err := e.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: onA, IncludeAllInstances: aws.Bool(true)})
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range st.InstanceStatuses {
			id := *s.InstanceId
			if !stopped[id] && s.SystemStatus != nil && s.SystemStatus.Status == types.SummaryStatusImpaired {
				if _, err := e.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
					b.Fatal(err)
				}
				stopped[id] = true
				if len(stopped) == len(onA) {
					impaired = time.Since(killed)
				}
			}
		}
		all := true
		for id, in := range describe() {
			if !stopped[id] {
				continue
			}
			if in.State.Name == types.InstanceStateNameStopped && !started[id] {
				if _, err := e.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
					b.Fatal(err)
				}
				started[id] = true
			}
			all = all && started[id] && in.State.Name == types.InstanceStateNameRunning && aws.ToString(in.Placement.HostId) != hostA
		}
		if all && len(stopped) == len(onA) {
			running = time.Since(killed)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var peak int64
	for _, n := range c.Nodes {
		if n.PID() != 0 {
			peak = max(peak, procStatusKB(strconv.Itoa(n.PID()), "VmHWM"))
		}
	}
	b.ReportMetric(float64(len(onA)), "instances-moved")
	b.ReportMetric(impaired.Seconds(), "kill-to-impaired-s")
	b.ReportMetric(running.Seconds(), "kill-to-running-s")
	b.ReportMetric(running.Seconds()/ttl.Seconds(), "running/host-ttl")
	b.ReportMetric(float64(peak)/1024, "node-peakRSS-MB")
}

// benchSnapshot writes a completed snapshot of blocks random blocks
// through node n's EBS direct API, four at a time.
func benchSnapshot(b *testing.B, n *cluster.Node, cr cluster.Credentials, blocks int) string {
	ctx := context.Background()
	cl := n.EBS(cr)
	start, err := cl.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
	if err != nil {
		b.Fatal(err)
	}
	id := *start.SnapshotId
	var (
		wg   sync.WaitGroup
		next = make(chan int32)
		errs = make(chan error, blocks)
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				blk := make([]byte, 512<<10)
				rand.Read(blk)
				sum := sha256.Sum256(blk)
				s := base64.StdEncoding.EncodeToString(sum[:])
				if _, err := cl.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{SnapshotId: &id, BlockIndex: aws.Int32(i), BlockData: bytes.NewReader(blk),
					DataLength: aws.Int32(int32(len(blk))), Checksum: &s, ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range int32(blocks) {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	if _, err := cl.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: &id, ChangedBlocksCount: aws.Int32(int32(blocks))}); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		out, err := n.EC2(cr).DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		if err != nil {
			b.Fatal(err)
		}
		if out.Snapshots[0].State == types.SnapshotStateCompleted {
			return id
		}
		if time.Now().After(deadline) {
			b.Fatalf("snapshot %s: %s", id, out.Snapshots[0].State)
		}
	}
}

// benchWaitLease waits until the lease name is held by a holder other
// than not ("" for any) and returns it.
func benchWaitLease(b *testing.B, db *sql.DB, name, not string) string {
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(5 * time.Millisecond) {
		var holder string
		err := db.QueryRow(`SELECT holder FROM leases WHERE name = $1`, name).Scan(&holder)
		if err == nil && holder != "" && holder != not {
			return holder
		}
		if time.Now().After(deadline) {
			b.Fatalf("lease %s not taken by a holder but %q: %v", name, not, err)
		}
	}
}

// blobReads is node n's openami_blob_reads_total for region, from its
// /metrics.
func blobReads(b *testing.B, n *cluster.Node, region string) float64 {
	resp, err := http.Get(n.Endpoint + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := `openami_blob_reads_total{region="` + region + `"} `
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
