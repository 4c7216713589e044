package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/openami/openami"
	"github.com/openami/openami/internal/testenv"
)

// The block-storage benchmarks. Run them with
//
//	go test -run '^$' -bench Blocks -benchtime 1x -timeout 20m ./bench/
//
// Every leaf benchmark's operation is one whole measurement (an ingest, the
// footprint sequence, 200 CreateVolume calls per size), so -benchtime 1x
// runs each once; docs/BENCHMARKS.md ("Block storage") describes them and
// gives the latest results.

const (
	blockSize = openami.BlockSize
	// imageBytes is the size of the test image: half random, half zeros,
	// alternating block by block (even blocks random, odd blocks zero).
	imageBytes = 1 << 30
	mb         = 1e6 // throughput is in MB/s of 10^6 bytes
)

// BenchmarkBlocks measures openami's block store through the EBS direct
// API and the EC2 API, against the openami binary in its own process
// (SQLite metadata, blocks under DATA_DIR/blocks): ingest throughput
// against sha256sum of the same image, disk footprint after copies and a
// child snapshot, and CreateVolume latency against snapshot size. It
// prints Markdown tables at the end.
func BenchmarkBlocks(b *testing.B) {
	workers := intsEnv(b, "BENCH_INGEST_WORKERS", []int{8, 16})
	iters := intsEnv(b, "BENCH_VOLUME_ITERS", []int{200})[0]
	info := machine()
	tmp := b.TempDir()
	bin := build(b, tmp)
	image := filepath.Join(tmp, "image.raw")
	writeImage(b, image, imageBytes)
	var rep blockReport

	b.Run("Ingest", func(b *testing.B) {
		rep.sha = bestOf(b, 3, "sha256sum", image)
		if _, err := exec.LookPath("openssl"); err == nil {
			rep.openssl = bestOf(b, 3, "openssl", "dgst", "-sha256", image)
		}
		for _, size := range []int64{256 << 20, imageBytes} {
			for _, w := range workers {
				b.Run(fmt.Sprintf("size=%dMiB/workers=%d", size>>20, w), func(b *testing.B) {
					var r ingestResult
					for range b.N {
						b.StopTimer()
						t := startOpenami(b, bin, "openami-sqlite")
						b.StartTimer()
						r = ingest(b, t, image, size, w, "us-east-1")
						b.StopTimer()
						r.srvHWM = procStatusKB(strconv.Itoa(t.pid), "VmHWM")
						stop(t.cmd)
						b.StartTimer()
					}
					b.ReportMetric(r.rate(), "MB/s")
					b.ReportMetric(r.elapsed.Seconds()/(rep.sha.Seconds()*float64(size)/float64(imageBytes)), "×sha256sum")
					b.ReportMetric(float64(r.srvHWM)/1024, "srv-peakRSS-MB")
					b.ReportMetric(r.srvCPU.Seconds(), "srv-cpu-s")
					b.ReportMetric(r.genCPU.Seconds(), "gen-cpu-s")
					b.ReportMetric(float64(r.putP50.Microseconds())/1000, "put-p50-ms")
					b.ReportMetric(float64(r.putP99.Microseconds())/1000, "put-p99-ms")
					rep.ingests = append(rep.ingests, r)
				})
			}
		}
	})

	b.Run("Footprint", func(b *testing.B) {
		for range b.N {
			rep.footprint = footprint(b, bin, image, workers[0])
		}
	})

	b.Run("CreateVolume", func(b *testing.B) {
		for range b.N {
			rep.volumes = createVolumes(b, bin, iters)
		}
		for _, v := range rep.volumes {
			b.ReportMetric(float64(v.p50.Microseconds())/1000, v.name+"-p50-ms")
			b.ReportMetric(float64(v.p99.Microseconds())/1000, v.name+"-p99-ms")
		}
	})

	table := rep.markdown(info)
	fmt.Print("\n" + table)
	if path := os.Getenv("BENCH_BLOCKS_MARKDOWN"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			b.Error(err)
		}
	}
}

// intsEnv reads a comma-separated list of positive integers from the
// environment, or returns def.
func intsEnv(b *testing.B, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want numbers ≥ 1 separated by commas", name, v)
		}
		out = append(out, n)
	}
	return out
}

// writeImage writes a raw disk image of size bytes: even blocks hold
// random bytes (a seeded ChaCha8 stream, incompressible and the same on
// every run), odd blocks zeros, written out rather than left as holes.
func writeImage(b *testing.B, path string, size int64) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{'o', 'p', 'e', 'n', 'a', 'm', 'i'})
	buf := make([]byte, blockSize)
	zero := make([]byte, blockSize)
	for i := int64(0); i < size/blockSize; i++ {
		data := zero
		if i%2 == 0 {
			rng.Read(buf)
			data = buf
		}
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// bestOf times a command, such as `sha256sum FILE`, as a subprocess n
// times (the file is in the page cache, as it is for the ingest) and
// returns the fastest.
func bestOf(b *testing.B, n int, name string, args ...string) time.Duration {
	b.Helper()
	best := time.Duration(1<<63 - 1)
	for range n {
		t0 := time.Now()
		out, err := exec.Command(name, args...).CombinedOutput()
		d := time.Since(t0)
		if err != nil {
			b.Fatalf("%s: %v\n%s", name, err, out)
		}
		best = min(best, d)
	}
	b.Logf("%s %s: best of %d %.3fs", name, strings.Join(args, " "), n, best.Seconds())
	return best
}

// serverMetrics reads counters from the server's Prometheus endpoint:
// bytes its Go heap has allocated and the number of GC cycles.
func serverMetrics(t *target) (allocBytes, gcs float64) {
	resp, err := http.Get(t.endpoint + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		name, v, _ := strings.Cut(line, " ")
		f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		switch name {
		case "go_memstats_alloc_bytes_total":
			allocBytes = f
		case "go_gc_duration_seconds_count":
			gcs = f
		}
	}
	return allocBytes, gcs
}

// blockConfig is an AWS config for the target in a region, with retries
// off (a retry would hide an error and distort timings), idle connections
// for every worker, and the request-body shim newClient explains.
func blockConfig(t *target, region string, conns int) aws.Config {
	hc := awshttp.NewBuildableClient().WithTimeout(5 * time.Minute).WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = max(conns, 2)
		tr.MaxIdleConnsPerHost = max(conns, 2)
	})
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(t.key, t.secret, ""),
		BaseEndpoint: aws.String(t.endpoint),
		HTTPClient:   testenv.ReadOnlyBody{Client: hc},
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

func checksum(sum [32]byte) string { return base64.StdEncoding.EncodeToString(sum[:]) }

// ingestResult is one upload of an image through the EBS direct API.
type ingestResult struct {
	size           int64 // image bytes
	blocks         int
	workers        int
	elapsed        time.Duration // StartSnapshot to DescribeSnapshots saying completed
	puts           time.Duration // StartSnapshot to the last PutSnapshotBlock answered
	completion     time.Duration // CompleteSnapshot sent to completed
	putP50, putP99 time.Duration // PutSnapshotBlock latency
	srvCPU, genCPU time.Duration
	srvSys         time.Duration // the server's system (kernel) CPU time, part of srvCPU
	srvAlloc       float64       // bytes the server's Go heap allocated during the ingest
	srvGCs         float64       // GC cycles the server ran during the ingest
	srvHWM         int64         // server's VmHWM after the ingest, kB
	snapshotID     string
}

func (r ingestResult) rate() float64 { return float64(r.size) / r.elapsed.Seconds() / mb }

// ingest uploads the first size bytes of the image as a new snapshot, as
// a client would: StartSnapshot, PutSnapshotBlock for every block (zero
// blocks too) from the given number of workers, each reading its block
// from the file and computing its SHA-256, CompleteSnapshot with the
// LINEAR aggregate checksum, then DescribeSnapshots until completed.
// opts change the StartSnapshot request (to encrypt, say).
func ingest(b *testing.B, t *target, image string, size int64, workers int, region string, opts ...func(*ebs.StartSnapshotInput)) ingestResult {
	b.Helper()
	ctx := context.Background()
	f, err := os.Open(image)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	cfg := blockConfig(t, region, workers)
	eb, ec := ebs.NewFromConfig(cfg), ec2.NewFromConfig(cfg)
	n := int(size / blockSize)
	sums := make([][32]byte, n)
	lat := make([]time.Duration, n)
	pid := strconv.Itoa(t.pid)
	srv0, gen0, sys0 := procCPU(pid), procCPU("self"), statTicks(pid, 15)
	alloc0, gc0 := serverMetrics(t)

	start := time.Now()
	in := &ebs.StartSnapshotInput{VolumeSize: aws.Int64(max(1, size>>30)), Description: aws.String("bench ingest")}
	for _, o := range opts {
		o(in)
	}
	snap, err := eb.StartSnapshot(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	id := aws.ToString(snap.SnapshotId)
	var (
		next     atomic.Int64
		failed   atomic.Bool
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			buf := make([]byte, blockSize)
			for !failed.Load() {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				_, err := f.ReadAt(buf, i*blockSize)
				if err == nil {
					sums[i] = sha256.Sum256(buf)
					t0 := time.Now()
					_, err = eb.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{
						SnapshotId: aws.String(id), BlockIndex: aws.Int32(int32(i)), BlockData: bytes.NewReader(buf),
						DataLength: aws.Int32(blockSize), Checksum: aws.String(checksum(sums[i])),
						ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
					})
					lat[i] = time.Since(t0)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("block %d: %w", i, err) })
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatalf("PutSnapshotBlock with %d workers: %v", workers, firstErr)
	}
	puts := time.Since(start)
	t1 := time.Now()
	completeSnapshot(b, eb, id, sums)
	waitSnapshot(b, ec, id)
	elapsed := time.Since(start)

	r := ingestResult{
		size: size, blocks: n, workers: workers, elapsed: elapsed, puts: puts, completion: time.Since(t1),
		srvCPU: procCPU(pid) - srv0, genCPU: procCPU("self") - gen0, srvSys: statTicks(pid, 15) - sys0, snapshotID: id,
	}
	alloc1, gc1 := serverMetrics(t)
	r.srvAlloc, r.srvGCs = alloc1-alloc0, gc1-gc0
	slices.Sort(lat)
	r.putP50, r.putP99 = percentile(lat, 0.50), percentile(lat, 0.99)
	b.Logf("ingest %d MiB, %d workers: %.2fs (%.0f MB/s; puts %.2fs, completion %.3fs), PutSnapshotBlock p50 %.1fms p99 %.1fms, server CPU %.2fs (%.2fs system), %.0f MB allocated (%.2f MB per block), %.0f GCs, client CPU %.2fs",
		size>>20, workers, elapsed.Seconds(), r.rate(), puts.Seconds(), r.completion.Seconds(), ms(r.putP50), ms(r.putP99),
		r.srvCPU.Seconds(), r.srvSys.Seconds(), r.srvAlloc/mb, r.srvAlloc/mb/float64(n), r.srvGCs, r.genCPU.Seconds())
	return r
}

// completeSnapshot completes a snapshot whose written blocks' SHA-256s,
// in block-index order, are sums, with the LINEAR aggregate: the SHA-256
// of the concatenated sums.
func completeSnapshot(b *testing.B, eb *ebs.Client, id string, sums [][32]byte) {
	b.Helper()
	h := sha256.New()
	for _, s := range sums {
		h.Write(s[:])
	}
	_, err := eb.CompleteSnapshot(context.Background(), &ebs.CompleteSnapshotInput{
		SnapshotId: aws.String(id), ChangedBlocksCount: aws.Int32(int32(len(sums))),
		Checksum: aws.String(base64.StdEncoding.EncodeToString(h.Sum(nil))), ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
		ChecksumAggregationMethod: ebstypes.ChecksumAggregationMethodChecksumAggregationLinear,
	})
	if err != nil {
		b.Fatalf("CompleteSnapshot %s: %v", id, err)
	}
}

// waitSnapshot polls DescribeSnapshots every 5 ms until the snapshot is
// completed.
func waitSnapshot(b *testing.B, ec *ec2.Client, id string) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, err := ec.DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Snapshots) != 1 {
			b.Fatalf("DescribeSnapshots %s returned %d snapshots", id, len(out.Snapshots))
		}
		switch s := out.Snapshots[0]; {
		case s.State == types.SnapshotStateCompleted:
			return
		case s.State == types.SnapshotStateError || time.Now().After(deadline):
			b.Fatalf("snapshot %s is %s: %s", id, s.State, aws.ToString(s.StateMessage))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// putBlocks writes the given blocks (index → data) to a pending snapshot
// from one client, completes it and waits until it is completed.
func putBlocks(b *testing.B, eb *ebs.Client, ec *ec2.Client, id string, blocks map[int][]byte) {
	b.Helper()
	idx := make([]int, 0, len(blocks))
	for i := range blocks {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	sums := make([][32]byte, len(idx))
	for k, i := range idx {
		sums[k] = sha256.Sum256(blocks[i])
		_, err := eb.PutSnapshotBlock(context.Background(), &ebs.PutSnapshotBlockInput{
			SnapshotId: aws.String(id), BlockIndex: aws.Int32(int32(i)), BlockData: bytes.NewReader(blocks[i]),
			DataLength: aws.Int32(blockSize), Checksum: aws.String(checksum(sums[k])),
			ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
		})
		if err != nil {
			b.Fatalf("PutSnapshotBlock %s block %d: %v", id, i, err)
		}
	}
	completeSnapshot(b, eb, id, sums)
	waitSnapshot(b, ec, id)
}

// randomBlocks returns count blocks of fresh random data at the given
// indexes (every stride-th block from first).
func randomBlocks(seed uint64, first, stride, count int) map[int][]byte {
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'b', 'e', 'n', 'c', 'h'})
	out := make(map[int][]byte, count)
	for k := range count {
		buf := make([]byte, blockSize)
		rng.Read(buf)
		out[first+k*stride] = buf
	}
	return out
}

// usage is the disk space of a data directory.
type usage struct {
	blocks   map[string]int64 // region → bytes allocated under DATA_DIR/blocks/REGION (du)
	chunks   map[string]int   // region → files under it
	meta     int64            // sum of the apparent sizes of DATA_DIR/metadata.db*
	metaFile map[string]int64 // metadata.db, -wal, -shm
}

func (u usage) blockTotal() int64 {
	var n int64
	for _, v := range u.blocks {
		n += v
	}
	return n
}

// diskUsage measures the data directory: what du counts (allocated
// 512-byte sectors) under DATA_DIR/blocks per region, and the sizes of the
// SQLite files.
func diskUsage(b *testing.B, dataDir string) usage {
	b.Helper()
	u := usage{blocks: map[string]int64{}, chunks: map[string]int{}, metaFile: map[string]int64{}}
	root := filepath.Join(dataDir, "blocks")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		region, _, _ := strings.Cut(rel, string(filepath.Separator))
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		u.blocks[region] += info.Sys().(*syscall.Stat_t).Blocks * 512
		if d.Type().IsRegular() {
			u.chunks[region]++
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dataDir, "metadata.db*"))
	for _, m := range matches {
		info, err := os.Stat(m)
		if err != nil {
			continue // -wal and -shm come and go
		}
		u.meta += info.Size()
		u.metaFile[filepath.Base(m)] = info.Size()
	}
	return u
}

// footprintStep is the disk usage after one step of the footprint
// sequence.
type footprintStep struct {
	name   string
	unique int64 // new unique block data the step adds, bytes
	took   time.Duration
	u      usage
}

type footprintResult struct {
	steps []footprintStep
	fsck  string // openami fsck's verdict
	gc    string // what openami gc freed
	after usage  // after gc
}

// footprint runs the storage sequence on a new server: the image as a
// snapshot; three same-region copies; a copy to us-west-2; a child with
// 1% of its blocks rewritten. It measures the data directory after each
// step, then runs `openami fsck` and `openami gc` against it.
func footprint(b *testing.B, bin, image string, workers int) footprintResult {
	b.Helper()
	ctx := context.Background()
	t := startOpenami(b, bin, "openami-sqlite")
	defer stop(t.cmd)
	east := blockConfig(t, "us-east-1", 2)
	ebE, ecE := ebs.NewFromConfig(east), ec2.NewFromConfig(east)
	ecW := ec2.NewFromConfig(blockConfig(t, "us-west-2", 2))
	var res footprintResult
	step := func(name string, unique int64, fn func()) {
		t0 := time.Now()
		fn()
		s := footprintStep{name: name, unique: unique, took: time.Since(t0), u: diskUsage(b, t.dataDir)}
		b.Logf("%s (%.2fs): blocks %v (%v files), metadata %v", name, s.took.Seconds(), s.u.blocks, s.u.chunks, s.u.metaFile)
		res.steps = append(res.steps, s)
	}

	step("empty server", 0, func() {})
	var src string
	step("1 GiB snapshot (512 MiB random, 512 MiB zeros)", imageBytes/2, func() {
		src = ingest(b, t, image, imageBytes, workers, "us-east-1").snapshotID
	})
	step("+ 3 same-region copies", 0, func() {
		for range 3 {
			out, err := ecE.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: aws.String(src), SourceRegion: aws.String("us-east-1")})
			if err != nil {
				b.Fatal(err)
			}
			waitSnapshot(b, ecE, aws.ToString(out.SnapshotId))
		}
	})
	step("+ copy to us-west-2", imageBytes/2, func() {
		out, err := ecW.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceSnapshotId: aws.String(src), SourceRegion: aws.String("us-east-1")})
		if err != nil {
			b.Fatal(err)
		}
		waitSnapshot(b, ecW, aws.ToString(out.SnapshotId))
	})
	// 1% of the volume's 2048 blocks, spread over it: 21 blocks, every
	// 97th from block 7, so that they land alternately on zero blocks and
	// on data blocks of the parent.
	child := randomBlocks(1, 7, 97, 21)
	step("+ child with 1% of blocks changed (21 blocks)", int64(len(child))*blockSize, func() {
		out, err := ebE.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(1), ParentSnapshotId: aws.String(src)})
		if err != nil {
			b.Fatal(err)
		}
		putBlocks(b, ebE, ecE, aws.ToString(out.SnapshotId), child)
	})

	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "--data-dir", t.dataDir)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String() + errb.String(), err
	}
	t0 := time.Now()
	out, err := run("fsck")
	var fr struct {
		Regions []struct {
			Region                                     string
			Chunks, Nodes, Unreferenced                int
			MissingChunks, MissingNodes, CorruptChunks []string
		}
	}
	json.Unmarshal([]byte(out), &fr)
	var parts []string
	for _, r := range fr.Regions {
		if r.Chunks > 0 || r.Nodes > 0 {
			parts = append(parts, fmt.Sprintf("%s %d chunks, %d nodes, %d missing, %d corrupt, %d unreferenced", r.Region, r.Chunks, r.Nodes, len(r.MissingChunks)+len(r.MissingNodes), len(r.CorruptChunks), r.Unreferenced))
		}
	}
	res.fsck = fmt.Sprintf("%s in %.1fs (exit: %v)", strings.Join(parts, "; "), time.Since(t0).Seconds(), err)
	if err != nil {
		b.Errorf("openami fsck: %v\n%s", err, out)
	}
	out, err = run("gc")
	var gr struct {
		Regions []struct {
			Region                                      string
			DeletedChunks, DeletedNodes, DeletedOrphans int
			DeletedBytes                                int64
		}
	}
	json.Unmarshal([]byte(out), &gr)
	parts = nil
	for _, r := range gr.Regions {
		parts = append(parts, fmt.Sprintf("%s %d chunks (%d bytes), %d nodes, %d orphans", r.Region, r.DeletedChunks, r.DeletedBytes, r.DeletedNodes, r.DeletedOrphans))
	}
	res.gc = strings.Join(parts, "; ")
	if err != nil {
		b.Errorf("openami gc: %v\n%s", err, out)
	}
	res.after = diskUsage(b, t.dataDir)
	b.Logf("fsck: %s\ngc freed: %s", res.fsck, res.gc)
	return res
}

// volumeResult is CreateVolume's latency from one snapshot.
type volumeResult struct {
	name       string
	data       int64 // data bytes in the snapshot
	volumeSize int64 // GiB
	n          int
	p50, p99   time.Duration
	mean       time.Duration
}

// createVolumes makes two snapshots on a new server — 1 GiB with 16 MiB
// of data (32 random blocks at the start), and 4 GiB with one random
// block every 16 blocks (512 blocks, 256 MiB, spanning all 8192) — and
// times iters CreateVolume calls from each, alternating between them so
// that drift and noise fall on both alike, after 10 warm-up calls each.
func createVolumes(b *testing.B, bin string, iters int) []volumeResult {
	b.Helper()
	ctx := context.Background()
	t := startOpenami(b, bin, "openami-sqlite")
	defer stop(t.cmd)
	cfg := blockConfig(t, "us-east-1", 2)
	eb, ec := ebs.NewFromConfig(cfg), ec2.NewFromConfig(cfg)
	snaps := []struct {
		vr     volumeResult
		blocks map[int][]byte
		id     string
	}{
		{vr: volumeResult{name: "16MiB", data: 16 << 20, volumeSize: 1}, blocks: randomBlocks(2, 0, 1, 32)},
		{vr: volumeResult{name: "4GiB", data: 256 << 20, volumeSize: 4}, blocks: randomBlocks(3, 0, 16, 512)},
	}
	for i := range snaps {
		s := &snaps[i]
		out, err := eb.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64(s.vr.volumeSize)})
		if err != nil {
			b.Fatal(err)
		}
		s.id = aws.ToString(out.SnapshotId)
		putBlocks(b, eb, ec, s.id, s.blocks)
		s.blocks = nil
	}
	lat := make([][]time.Duration, len(snaps))
	for k := range iters + 10 {
		for i := range snaps {
			t0 := time.Now()
			out, err := ec.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), SnapshotId: aws.String(snaps[i].id)})
			d := time.Since(t0)
			if err != nil {
				b.Fatalf("CreateVolume from %s: %v", snaps[i].vr.name, err)
			}
			if aws.ToInt32(out.Size) != int32(snaps[i].vr.volumeSize) {
				b.Fatalf("CreateVolume from %s: size %d", snaps[i].vr.name, aws.ToInt32(out.Size))
			}
			if k >= 10 {
				lat[i] = append(lat[i], d)
			}
		}
	}
	var res []volumeResult
	for i, s := range snaps {
		var sum time.Duration
		for _, d := range lat[i] {
			sum += d
		}
		slices.Sort(lat[i])
		vr := s.vr
		vr.n = len(lat[i])
		vr.p50, vr.p99, vr.mean = percentile(lat[i], 0.5), percentile(lat[i], 0.99), sum/time.Duration(len(lat[i]))
		b.Logf("CreateVolume from %s: p50 %.2fms p99 %.2fms mean %.2fms over %d", vr.name, ms(vr.p50), ms(vr.p99), ms(vr.mean), vr.n)
		res = append(res, vr)
	}
	return res
}

// blockReport collects the block benchmarks' results for the summary.
type blockReport struct {
	sha       time.Duration // best sha256sum of the 1 GiB image
	openssl   time.Duration // best openssl dgst -sha256 of it, 0 without openssl
	ingests   []ingestResult
	footprint footprintResult
	volumes   []volumeResult
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func (r blockReport) markdown(info string) string {
	var s strings.Builder
	s.WriteString(info)
	shaRate := float64(imageBytes) / r.sha.Seconds() / mb
	fmt.Fprintf(&s, "\nsha256sum of the 1 GiB image (best of 3): %.3f s, %.0f MB/s", r.sha.Seconds(), shaRate)
	if r.openssl > 0 {
		fmt.Fprintf(&s, "; openssl dgst -sha256 (best of 3): %.3f s, %.0f MB/s", r.openssl.Seconds(), float64(imageBytes)/r.openssl.Seconds()/mb)
	}
	s.WriteString("\n\n| image | workers | wall s | MB/s | time ÷ sha256sum | time ÷ openssl | PutSnapshotBlock p50 / p99 ms | CompleteSnapshot → completed s | server CPU s (system) | server alloc MB/block, GCs | client CPU s | server peak RSS MB |\n")
	s.WriteString("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, g := range r.ingests {
		frac := float64(g.size) / float64(imageBytes)
		vsSSL := ""
		if r.openssl > 0 {
			vsSSL = fmt.Sprintf("%.1f×", g.elapsed.Seconds()/(r.openssl.Seconds()*frac))
		}
		fmt.Fprintf(&s, "| %d MiB | %d | %.2f | %.0f | %.1f× | %s | %.1f / %.1f | %.3f | %.2f (%.2f) | %.2f, %.0f | %.2f | %.1f |\n",
			g.size>>20, g.workers, g.elapsed.Seconds(), g.rate(), g.elapsed.Seconds()/(r.sha.Seconds()*frac), vsSSL,
			ms(g.putP50), ms(g.putP99), g.completion.Seconds(), g.srvCPU.Seconds(), g.srvSys.Seconds(),
			g.srvAlloc/mb/float64(g.blocks), g.srvGCs, g.genCPU.Seconds(), float64(g.srvHWM)/1024)
	}

	if steps := r.footprint.steps; len(steps) > 0 {
		s.WriteString("\n| step | took s | blocks/us-east-1 MiB | blocks/us-west-2 MiB | metadata.db* MiB | Δ blocks MiB | Δ metadata MiB | unique data added MiB | Δ total ÷ unique |\n")
		s.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for i, st := range steps {
			dBlocks, dMeta := "", ""
			ratio := ""
			if i > 0 {
				db := st.u.blockTotal() - steps[i-1].u.blockTotal()
				dm := st.u.meta - steps[i-1].u.meta
				dBlocks, dMeta = fmt.Sprintf("%+.2f", mib(db)), fmt.Sprintf("%+.2f", mib(dm))
				if st.unique > 0 {
					ratio = fmt.Sprintf("%.3f", float64(db+dm)/float64(st.unique))
				}
			}
			fmt.Fprintf(&s, "| %s | %.2f | %.2f | %.2f | %.2f | %s | %s | %.2f | %s |\n", st.name, st.took.Seconds(),
				mib(st.u.blocks["us-east-1"]), mib(st.u.blocks["us-west-2"]), mib(st.u.meta), dBlocks, dMeta, mib(st.unique), ratio)
		}
		last := steps[len(steps)-1].u
		fmt.Fprintf(&s, "\nChunk files at the end: %v. metadata files at the end: %v. `openami fsck`: %s. `openami gc` freed: %s; blocks after gc %.2f MiB, metadata %.2f MiB.\n",
			last.chunks, last.metaFile, r.footprint.fsck, r.footprint.gc, mib(r.footprint.after.blockTotal()), mib(r.footprint.after.meta))
	}

	if len(r.volumes) > 0 {
		s.WriteString("\n| snapshot | volume GiB | data MiB | calls | p50 ms | p99 ms | mean ms |\n")
		s.WriteString("|---|--:|--:|--:|--:|--:|--:|\n")
		for _, v := range r.volumes {
			fmt.Fprintf(&s, "| %s | %d | %.0f | %d | %.2f | %.2f | %.2f |\n", v.name, v.volumeSize, mib(v.data), v.n, ms(v.p50), ms(v.p99), ms(v.mean))
		}
		if len(r.volumes) == 2 {
			a, c := r.volumes[0], r.volumes[1]
			fmt.Fprintf(&s, "\nCreateVolume 4 GiB ÷ 16 MiB: p50 %.2f×, p99 %.2f×, mean %.2f×.\n",
				float64(c.p50)/float64(a.p50), float64(c.p99)/float64(a.p99), float64(c.mean)/float64(a.mean))
		}
	}
	return s.String()
}
