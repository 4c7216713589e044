package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// The copy and encryption benchmarks of issue 6. Run them with
//
//	go test -run '^$' -bench 'Encryption|Copy' -benchtime 1x -timeout 30m ./bench/
//
// docs/BENCHMARKS.md ("Copies and encryption") describes them and gives the
// latest results.

// encrypt makes a StartSnapshot request encrypted under the account's
// default key (alias/aws/ebs).
func encrypt(in *ebs.StartSnapshotInput) { in.Encrypted = aws.Bool(true) }

// BenchmarkEncryption measures the EBS direct API's throughput with and
// without encryption: each round ingests the same 1 GiB image (half
// random, half zeros) plain and then encrypted, each on a fresh server,
// and reads every block back with GetSnapshotBlock; the medians of the
// rounds and the encrypted/plain ratios are reported with each server's
// peak RSS.
func BenchmarkEncryption(b *testing.B) {
	rounds := intsEnv(b, "BENCH_ENC_ROUNDS", []int{3})[0]
	workers := intsEnv(b, "BENCH_INGEST_WORKERS", []int{8})[0]
	tmp := b.TempDir()
	bin := build(b, tmp)
	image := tmp + "/image.raw"
	writeImage(b, image, imageBytes)
	type run struct{ write, read, hwm float64 }
	results := map[string][]run{}
	for range b.N {
		for r := range rounds {
			for _, kind := range []string{"plain", "encrypted"} {
				t := startOpenami(b, bin, "openami-sqlite")
				var opts []func(*ebs.StartSnapshotInput)
				if kind == "encrypted" {
					opts = append(opts, encrypt)
				}
				in := ingest(b, t, image, imageBytes, workers, "us-east-1", opts...)
				readRate := readAll(b, t, in.snapshotID, workers)
				hwm := float64(procStatusKB(strconv.Itoa(t.pid), "VmHWM")) / 1024
				stop(t.cmd)
				results[kind] = append(results[kind], run{in.rate(), readRate, hwm})
				b.Logf("round %d %s: write %.0f MB/s, read %.0f MB/s, server peak RSS %.0f MB", r+1, kind, in.rate(), readRate, hwm)
			}
		}
	}
	med := func(kind string, f func(run) float64) float64 {
		var v []float64
		for _, r := range results[kind] {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	pw, ew := med("plain", func(r run) float64 { return r.write }), med("encrypted", func(r run) float64 { return r.write })
	pr, er := med("plain", func(r run) float64 { return r.read }), med("encrypted", func(r run) float64 { return r.read })
	b.ReportMetric(pw, "plain-write-MB/s")
	b.ReportMetric(ew, "enc-write-MB/s")
	b.ReportMetric(pr, "plain-read-MB/s")
	b.ReportMetric(er, "enc-read-MB/s")
	b.ReportMetric(pw/ew, "write-time-ratio")
	b.ReportMetric(pr/er, "read-time-ratio")
	b.ReportMetric(med("plain", func(r run) float64 { return r.hwm }), "plain-srv-peakRSS-MB")
	b.ReportMetric(med("encrypted", func(r run) float64 { return r.hwm }), "enc-srv-peakRSS-MB")
	fmt.Printf("\n| 1 GiB, %d workers, median of %d | write MB/s | read MB/s | server peak RSS MB |\n| --- | --- | --- | --- |\n", workers, rounds)
	for _, kind := range []string{"plain", "encrypted"} {
		fmt.Printf("| %s | %.0f | %.0f | %.0f |\n", kind, med(kind, func(r run) float64 { return r.write }),
			med(kind, func(r run) float64 { return r.read }), med(kind, func(r run) float64 { return r.hwm }))
	}
	fmt.Printf("| encrypted ÷ plain, time | %.2f× | %.2f× | |\n", pw/ew, pr/er)
}

// readAll reads every block of a snapshot that holds data through
// ListSnapshotBlocks and GetSnapshotBlock from the given number of
// workers, checking each checksum's length, and returns MB/s of blocks
// read.
func readAll(b *testing.B, t *target, id string, workers int) float64 {
	b.Helper()
	ctx := context.Background()
	eb := ebs.NewFromConfig(blockConfig(t, "us-east-1", workers))
	type ref struct {
		index int32
		token string
	}
	var refs []ref
	p := ebs.NewListSnapshotBlocksPaginator(eb, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(id), MaxResults: aws.Int32(10000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, bl := range page.Blocks {
			refs = append(refs, ref{*bl.BlockIndex, *bl.BlockToken})
		}
	}
	start := time.Now()
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(refs)) {
					return
				}
				out, err := eb.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String(id),
					BlockIndex: aws.Int32(refs[i].index), BlockToken: aws.String(refs[i].token)})
				if err == nil {
					var n int64
					n, err = io.Copy(io.Discard, out.BlockData)
					out.BlockData.Close()
					if err == nil && (n != blockSize || len(aws.ToString(out.Checksum)) != 44) {
						err = fmt.Errorf("block %d: %d bytes, checksum %q", refs[i].index, n, aws.ToString(out.Checksum))
					}
				}
				if err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
	return float64(len(refs)) * blockSize / time.Since(start).Seconds() / mb
}

// BenchmarkCopy measures cross-region CopyImage of a 4 GiB image (half
// random, half zeros), plain and encrypted: the time until the copy is
// available in us-west-2 and the bytes it added to us-west-2's block
// store, for the first copy and then for a copy of a child image with 1%
// of its blocks rewritten (random data, spread over the image). The goal
// is that the child's copy moves within 1.1× the changed bytes.
func BenchmarkCopy(b *testing.B) {
	size := int64(intsEnv(b, "BENCH_COPY_GIB", []int{4})[0]) << 30
	tmp := b.TempDir()
	bin := build(b, tmp)
	image := tmp + "/image.raw"
	writeImage(b, image, size)
	type row struct {
		kind, step    string
		took          time.Duration
		moved, change int64
		hwm           float64
	}
	var rows []row
	for range b.N {
		rows = rows[:0]
		for _, kind := range []string{"plain", "encrypted"} {
			t := startOpenami(b, bin, "openami-sqlite")
			var opts []func(*ebs.StartSnapshotInput)
			if kind == "encrypted" {
				opts = append(opts, encrypt)
			}
			in := ingest(b, t, image, size, 8, "us-east-1", opts...)
			east := blockConfig(t, "us-east-1", 2)
			ebE, ecE := ebs.NewFromConfig(east), ec2.NewFromConfig(east)
			ecW := ec2.NewFromConfig(blockConfig(t, "us-west-2", 2))
			parent := register(b, ecE, in.snapshotID, kind+"-parent", size)
			copyOnce := func(step, img string, change int64) {
				before := diskUsage(b, t.dataDir).blocks["us-west-2"]
				t0 := time.Now()
				out, err := ecW.CopyImage(context.Background(), &ec2.CopyImageInput{SourceImageId: aws.String(img),
					SourceRegion: aws.String("us-east-1"), Name: aws.String(step + "-" + kind)})
				if err != nil {
					b.Fatal(err)
				}
				waitImage(b, ecW, *out.ImageId)
				took := time.Since(t0)
				moved := diskUsage(b, t.dataDir).blocks["us-west-2"] - before
				hwm := float64(procStatusKB(strconv.Itoa(t.pid), "VmHWM")) / 1024
				rows = append(rows, row{kind, step, took, moved, change, hwm})
				b.Logf("%s %s copy: %.2fs, %.1f MiB moved (changed %.1f MiB), server peak RSS %.0f MB", kind, step, took.Seconds(), mib(moved), mib(change), hwm)
			}
			copyOnce("first", parent, size/2) // the image holds size/2 of data

			// A child with 1% of its blocks rewritten, spread evenly.
			n := int(size / blockSize)
			changed := n / 100
			child, err := ebE.StartSnapshot(context.Background(), &ebs.StartSnapshotInput{VolumeSize: aws.Int64(size >> 30),
				ParentSnapshotId: aws.String(in.snapshotID), Encrypted: aws.Bool(kind == "encrypted")})
			if err != nil {
				b.Fatal(err)
			}
			putBlocks(b, ebE, ecE, *child.SnapshotId, randomBlocks(uint64(len(kind)), 1, n/changed, changed))
			childImg := register(b, ecE, *child.SnapshotId, kind+"-child", size)
			copyOnce("child", childImg, int64(changed)*blockSize)
			stop(t.cmd)
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| %d GiB image, us-east-1 → us-west-2 | copy time s | bytes moved MiB | data changed MiB | moved ÷ changed | server peak RSS MB |\n| --- | --- | --- | --- | --- | --- |\n", size>>30)
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s, %s copy | %.2f | %.1f | %.1f | %.3f | %.0f |\n", r.kind, r.step, r.took.Seconds(), mib(r.moved), mib(r.change), float64(r.moved)/float64(r.change), r.hwm)
		if r.step == "child" {
			b.ReportMetric(float64(r.moved)/float64(r.change), r.kind+"-child-moved/changed")
			b.ReportMetric(r.took.Seconds(), r.kind+"-child-copy-s")
		} else {
			b.ReportMetric(r.took.Seconds(), r.kind+"-first-copy-s")
		}
	}
	fmt.Print(sb.String())
	if path := os.Getenv("BENCH_COPY_MARKDOWN"); path != "" {
		os.WriteFile(path, []byte(sb.String()), 0o644)
	}
}

// register registers an image over a snapshot and returns its id.
func register(b *testing.B, ec *ec2.Client, snap, name string, size int64) string {
	b.Helper()
	out, err := ec.RegisterImage(context.Background(), &ec2.RegisterImageInput{Name: aws.String(name), RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
			Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap), VolumeSize: aws.Int32(int32(max(1, size>>30)))}}}})
	if err != nil {
		b.Fatal(err)
	}
	return *out.ImageId
}

// waitImage polls DescribeImages every 20 ms until the image is available.
func waitImage(b *testing.B, ec *ec2.Client, id string) {
	b.Helper()
	deadline := time.Now().Add(20 * time.Minute)
	for {
		out, err := ec.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if err != nil {
			b.Fatal(err)
		}
		switch st := out.Images[0].State; {
		case st == types.ImageStateAvailable:
			return
		case st == types.ImageStateFailed || time.Now().After(deadline):
			b.Fatalf("image %s is %s", id, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
