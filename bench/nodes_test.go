package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/openami/openami/test/cluster"
)

// nodesImages is how many images BenchmarkNodes registers; its
// DescribeImages filter matches nodesImagesMatched of them.
const (
	nodesImages        = 300
	nodesImagesMatched = 10
)

// nodesOp is one API call BenchmarkNodes measures: prepare runs once per
// client (outside the clock) and returns the call.
type nodesOp struct {
	name    string
	prepare func(b *testing.B, n *cluster.Node, client int) func(ctx context.Context) error
}

// BenchmarkNodes measures API throughput with 1, 2 and 3 API nodes on
// one PostgreSQL and one MinIO (test/cluster: real `openami serve`
// binaries), the clients spread evenly over the nodes in use:
// DescribeImages with a name filter (the read path), RunInstances with
// the none runtime, and EBS direct PutSnapshotBlock of distinct 512 KiB
// blocks. For each it reports requests per second, p50 and p99 latency,
// and the CPU seconds the nodes, PostgreSQL, MinIO and the clients
// (this process) spent, so that where the time goes is on the page;
// and each node's peak RSS. Run it with
//
//	go test -run '^$' -bench Nodes -benchtime 1x -timeout 20m ./bench/
//
// BENCH_NODES_CLIENTS (default 12) sets the clients, BENCH_NODES_SECONDS
// (default 5) each measurement's length, BENCH_NODES_CALLS a part of the
// name of the one call to measure, BENCH_NODES_OUT a file for the
// markdown table.
func BenchmarkNodes(b *testing.B) {
	clients := 12
	if v, err := strconv.Atoi(os.Getenv("BENCH_NODES_CLIENTS")); err == nil && v > 0 {
		clients = v
	}
	secs := 5
	if v, err := strconv.Atoi(os.Getenv("BENCH_NODES_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	for range b.N {
		report := benchNodes(b, clients, time.Duration(secs)*time.Second)
		fmt.Print(report)
		if out := os.Getenv("BENCH_NODES_OUT"); out != "" {
			os.WriteFile(out, []byte(report), 0o644)
		}
	}
}

func benchNodes(b *testing.B, clients int, d time.Duration) string {
	ctx := context.Background()
	info := machine()
	c := cluster.Start(b, cluster.Options{Nodes: 3})
	creds := c.Account(b, "bench")
	n0 := c.Nodes[0]

	// A one-block snapshot behind every image.
	start, err := n0.EBS(creds).StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1)})
	if err != nil {
		b.Fatal(err)
	}
	blk := distinctBlock(0)
	if err := putNodeBlock(ctx, n0.EBS(creds), *start.SnapshotId, 0, blk); err != nil {
		b.Fatal(err)
	}
	if _, err := n0.EBS(creds).CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: start.SnapshotId, ChangedBlocksCount: aws.Int32(1)}); err != nil {
		b.Fatal(err)
	}
	waitSnapshot(b, n0.EC2(creds), *start.SnapshotId)
	var image string
	for i := range nodesImages {
		out, err := c.Nodes[i%3].EC2(creds).RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String(imageName(i)),
			RootDeviceName: aws.String("/dev/xvda"),
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
				Ebs: &types.EbsBlockDevice{SnapshotId: start.SnapshotId}}}})
		if err != nil {
			b.Fatal(err)
		}
		image = *out.ImageId
	}

	// The image is public, for the tenants' launches: launches of one
	// account contend for its default subnet's addresses, those of many
	// accounts do not.
	if _, err := n0.EC2(creds).ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(image),
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}}); err != nil {
		b.Fatal(err)
	}
	tenants := make([]cluster.Credentials, clients)
	for i := range tenants {
		tenants[i] = c.Account(b, fmt.Sprintf("tenant%d", i))
	}
	filter := &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"app1-build00*"}}}}
	ops := []nodesOp{
		{"DescribeImages (name filter, 10 of 300)", func(b *testing.B, n *cluster.Node, _ int) func(context.Context) error {
			ec := n.EC2(creds)
			return func(ctx context.Context) error {
				out, err := ec.DescribeImages(ctx, filter)
				if err == nil && len(out.Images) != nodesImagesMatched {
					err = fmt.Errorf("DescribeImages matched %d images, want %d", len(out.Images), nodesImagesMatched)
				}
				return err
			}
		}},
		{"RunInstances (none runtime)", func(b *testing.B, n *cluster.Node, _ int) func(context.Context) error {
			ec := n.EC2(creds)
			return func(ctx context.Context) error {
				_, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), InstanceType: types.InstanceTypeT3Micro,
					MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
				return err
			}
		}},
		{"RunInstances (none runtime, an account per client)", func(b *testing.B, n *cluster.Node, client int) func(context.Context) error {
			ec := n.EC2(tenants[client%len(tenants)])
			return func(ctx context.Context) error {
				_, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), InstanceType: types.InstanceTypeT3Micro,
					MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
				return err
			}
		}},
		{"PutSnapshotBlock (512 KiB, distinct)", func(b *testing.B, n *cluster.Node, client int) func(context.Context) error {
			eb := n.EBS(creds)
			s, err := eb.StartSnapshot(context.Background(), &ebs.StartSnapshotInput{VolumeSize: aws.Int64(64)})
			if err != nil {
				b.Fatal(err)
			}
			index := int32(0)
			return func(ctx context.Context) error {
				// Distinct across clients and runs: the block store would
				// store an equal block once.
				err := putNodeBlock(ctx, eb, *s.SnapshotId, index, distinctBlock(blockSeq.Add(1)))
				index++
				return err
			}
		}},
	}

	var s strings.Builder
	fmt.Fprintf(&s, "BenchmarkNodes, %s", info)
	fmt.Fprintf(&s, "\n%d clients spread evenly over the nodes in use, %s per measurement; CPU s are of the whole measurement.\n\n", clients, d)
	s.WriteString("| call | API nodes | req/s | ×1 node | p50 ms | p99 ms | nodes CPU s | PostgreSQL CPU s | MinIO CPU s | clients CPU s | machine busy % | errors |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, op := range ops {
		if only := os.Getenv("BENCH_NODES_CALLS"); only != "" && !strings.Contains(op.name, only) {
			continue
		}
		var base float64
		for k := 1; k <= 3; k++ {
			calls := make([]func(context.Context) error, clients)
			for i := range calls {
				calls[i] = op.prepare(b, c.Nodes[i%k], i)
			}
			cpu0 := cpuByComm()
			busy0, all0 := machineBusy()
			self0 := procCPU("self")
			r := runClients(calls, d)
			cpu1 := cpuByComm()
			busy1, all1 := machineBusy()
			self1 := procCPU("self")
			rate := float64(r.n) / r.elapsed.Seconds()
			if k == 1 {
				base = rate
			}
			fmt.Fprintf(&s, "| %s | %d | %.0f | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %d |\n", op.name, k, rate, rate/base,
				ms(r.p50), ms(r.p99), (cpu1["openami"] - cpu0["openami"]).Seconds(), (cpu1["postgres"] - cpu0["postgres"]).Seconds(),
				(cpu1["minio"] - cpu0["minio"]).Seconds(), (self1 - self0).Seconds(), 100*float64(busy1-busy0)/float64(max(all1-all0, 1)), r.errs)
			if r.firstErr != nil {
				b.Logf("%s on %d nodes: %d errors, the first: %v", op.name, k, r.errs, r.firstErr)
			}
		}
	}
	for _, n := range c.Nodes {
		for _, line := range n.Errors() {
			b.Logf("node %d: %s", n.Index, line)
		}
	}
	s.WriteString("\nPeak RSS per node (VmHWM, MB, over the whole run): ")
	for i, n := range c.Nodes {
		if i > 0 {
			s.WriteString(", ")
		}
		fmt.Fprintf(&s, "node %d %.0f", i, float64(procStatusKB(strconv.Itoa(n.PID()), "VmHWM"))/1024)
	}
	s.WriteString("\n")
	return s.String()
}

// runResult is what runClients measured.
type runResult struct {
	n, errs  int
	elapsed  time.Duration
	p50, p99 time.Duration
	firstErr error
}

// runClients runs each call in a loop of its own for d and returns the
// completed calls, their latencies' percentiles and the errors.
func runClients(calls []func(context.Context) error, d time.Duration) runResult {
	ctx := context.Background()
	var (
		mu   sync.Mutex
		lat  []time.Duration
		res  runResult
		wg   sync.WaitGroup
		t0   = time.Now()
		stop = t0.Add(d)
	)
	for _, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var errs int
			var first error
			for time.Now().Before(stop) {
				s := time.Now()
				if err := call(ctx); err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			res.errs += errs
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(t0)
	res.n = len(lat)
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p50, res.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return res
}

// cpuByComm returns the user+system CPU time of every live process of
// this machine by command name (openami, postgres, minio): PostgreSQL's
// backends are processes of their own. A process that exits between two
// readings takes its time with it, so connections are kept open
// (pooled) across a measurement.
func cpuByComm() map[string]time.Duration {
	out := map[string]time.Duration{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		comm, err := os.ReadFile(dir + "/comm")
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		if name != "openami" && name != "postgres" && name != "minio" {
			continue
		}
		out[name] += procCPU(filepath.Base(dir))
	}
	return out
}

// machineBusy returns the machine's busy and total CPU ticks since boot
// (/proc/stat's first line; idle and iowait are not busy): the share of
// the cores a measurement kept busy, whoever used them.
func machineBusy() (busy, total int64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total
}

// distinctBlock returns a 512 KiB block no other seed gives: random
// bytes (made once) with the seed in its first 8 bytes.
func distinctBlock(seed uint64) []byte {
	blockOnce.Do(func() {
		blockBase = make([]byte, 512<<10)
		rand.Read(blockBase)
	})
	b := bytes.Clone(blockBase)
	binary.LittleEndian.PutUint64(b, seed)
	return b
}

var (
	blockOnce sync.Once
	blockBase []byte
	blockSeq  atomic.Uint64 // the seeds of distinctBlock, 0 for the images' block
)

func putNodeBlock(ctx context.Context, eb *ebs.Client, snap string, index int32, data []byte) error {
	sum := sha256.Sum256(data)
	_, err := eb.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{SnapshotId: &snap, BlockIndex: aws.Int32(index),
		BlockData: bytes.NewReader(data), DataLength: aws.Int32(int32(len(data))),
		Checksum: aws.String(base64.StdEncoding.EncodeToString(sum[:])), ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256})
	return err
}
