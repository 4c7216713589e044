package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// The instances benchmark: issue 5's measures. Run it with
//
//	go test -run '^$' -bench Instances -benchtime 1x -timeout 30m ./bench/
//
// It needs qemu-img and qemu-io (Debian's qemu-utils), dd, and about
// 3 × BENCH_INSTANCES_GIB + BENCH_INSTANCES_BIG_MIB/1024 GiB free under
// $TMPDIR. docs/BENCHMARKS.md ("Instances") gives the latest results.
//
//   - launch: RunInstances to running, for an image holding 16 MiB of
//     random data and one holding BENCH_INSTANCES_BIG_MIB (4096) MiB,
//     alternating, BENCH_INSTANCES_LAUNCHES (30) launches each.
//   - nbd: on an instance whose root volume is BENCH_INSTANCES_GIB (8)
//     GiB: qemu-img writes a file of random data to the volume over NBD,
//     then reads the volume back over NBD, against dd writing the same
//     file to a local file (with fsync) and reading it back.
//   - createimage: CreateImage of that instance after the full write,
//     then after rewriting 1% of the volume's blocks (scattered), with the
//     bytes each adds to the block store.

// writeRandom writes size bytes of random data to path.
func writeRandom(b *testing.B, path string, size int64, seed byte) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{'i', 'n', 's', 't', seed})
	buf := make([]byte, 4<<20)
	for done := int64(0); done < size; done += int64(len(buf)) {
		n := min(int64(len(buf)), size-done)
		rng.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// timed runs a command and returns how long it took.
func timed(b *testing.B, name string, args ...string) time.Duration {
	b.Helper()
	t0 := time.Now()
	out, err := exec.Command(name, args...).CombinedOutput()
	d := time.Since(t0)
	if err != nil || strings.Contains(string(out), "failed") {
		b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return d
}

func qemuTool(b *testing.B, name string) string {
	b.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		b.Fatalf("%s not found: install qemu-utils (apt-get install -y qemu-utils)", name)
	}
	return p
}

// benchImageOf registers an image over a snapshot.
func benchImageOf(b *testing.B, c *ec2.Client, name, snap string) string {
	b.Helper()
	out, err := c.RegisterImage(context.Background(), &ec2.RegisterImageInput{Name: aws.String(name), RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap), VolumeType: types.VolumeTypeGp3}}}})
	if err != nil {
		b.Fatal(err)
	}
	return *out.ImageId
}

// runAndWait launches one instance and polls DescribeInstances every
// 2 ms until it is running; it returns the instance, its root volume and
// the time from RunInstances sent to running seen.
func runAndWait(b *testing.B, c *ec2.Client, image string, rootGiB int32) (string, string, time.Duration) {
	b.Helper()
	ctx := context.Background()
	in := &ec2.RunInstancesInput{ImageId: aws.String(image), InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
	if rootGiB > 0 {
		in.BlockDeviceMappings = []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(rootGiB)}}}
	}
	t0 := time.Now()
	run, err := c.RunInstances(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	for {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			b.Fatal(err)
		}
		inst := out.Reservations[0].Instances[0]
		if inst.State.Name == types.InstanceStateNameRunning {
			return id, *inst.BlockDeviceMappings[0].Ebs.VolumeId, time.Since(t0)
		}
		if time.Since(t0) > time.Minute {
			b.Fatalf("instance %s still %s after a minute", id, inst.State.Name)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func BenchmarkInstances(b *testing.B) {
	bigMiB := int64(intsEnv(b, "BENCH_INSTANCES_BIG_MIB", []int{4096})[0])
	launches := intsEnv(b, "BENCH_INSTANCES_LAUNCHES", []int{30})[0]
	volGiB := int64(intsEnv(b, "BENCH_INSTANCES_GIB", []int{8})[0])
	info := machine()
	bin := build(b, b.TempDir())
	qemuImg := qemuTool(b, "qemu-img")
	qemuIO := qemuTool(b, "qemu-io")
	files := b.TempDir()
	var report strings.Builder

	b.Run("launch", func(b *testing.B) {
		for range b.N {
			t := startOpenami(b, bin, "sqlite")
			c := ec2.NewFromConfig(blockConfig(t, "us-east-1", 2))
			small, big := filepath.Join(files, "small.raw"), filepath.Join(files, "big.raw")
			writeRandom(b, small, 16<<20, 1)
			writeRandom(b, big, bigMiB<<20, 2)
			images := map[string]string{}
			for _, f := range []struct {
				name, path string
				size       int64
			}{{"16 MiB", small, 16 << 20}, {fmt.Sprintf("%d MiB", bigMiB), big, bigMiB << 20}} {
				r := ingest(b, t, f.path, f.size, 8, "us-east-1")
				images[f.name] = benchImageOf(b, c, "bench-"+strings.ReplaceAll(f.name, " ", ""), r.snapshotID)
			}
			os.Remove(big)
			lat := map[string][]time.Duration{}
			names := []string{"16 MiB", fmt.Sprintf("%d MiB", bigMiB)}
			for k := range 2 * launches {
				name := names[k%2]
				id, _, d := runAndWait(b, c, images[name], 0)
				lat[name] = append(lat[name], d)
				if _, err := c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
					b.Fatal(err)
				}
			}
			hwm := procStatusKB(strconv.Itoa(t.pid), "VmHWM")
			fmt.Fprintf(&report, "\nRunInstances to running (%d launches each, alternating; server peak RSS %.1f MB):\n\n", launches, float64(hwm)/1024)
			fmt.Fprintf(&report, "| image data | p50 ms | p99 ms | mean ms |\n|---|--:|--:|--:|\n")
			var p50s []float64
			for _, name := range names {
				l := slices.Clone(lat[name])
				slices.Sort(l)
				var sum time.Duration
				for _, d := range l {
					sum += d
				}
				p50s = append(p50s, ms(percentile(l, 0.5)))
				fmt.Fprintf(&report, "| %s | %.2f | %.2f | %.2f |\n", name, ms(percentile(l, 0.5)), ms(percentile(l, 0.99)), ms(sum/time.Duration(len(l))))
			}
			fmt.Fprintf(&report, "\nRatio of p50s, big ÷ small: %.2f\n", p50s[1]/p50s[0])
			b.ReportMetric(p50s[0], "small-p50-ms")
			b.ReportMetric(p50s[1], "big-p50-ms")
			b.ReportMetric(float64(hwm)/1024, "srv-peakRSS-MB")
		}
	})

	b.Run("nbd+createimage", func(b *testing.B) {
		for range b.N {
			t := startOpenami(b, bin, "sqlite")
			c := ec2.NewFromConfig(blockConfig(t, "us-east-1", 2))
			ctx := context.Background()
			small := filepath.Join(files, "small.raw")
			writeRandom(b, small, 16<<20, 1)
			img := benchImageOf(b, c, "bench-base", ingest(b, t, small, 16<<20, 4, "us-east-1").snapshotID)
			id, vol, _ := runAndWait(b, c, img, int32(volGiB))
			uri := fmt.Sprintf("nbd+unix:///%s?socket=%s", vol, filepath.Join(t.dataDir, "nbd.sock"))
			size := volGiB << 30
			src := filepath.Join(files, "src.raw")
			writeRandom(b, src, size, 3)
			pid := strconv.Itoa(t.pid)

			// Sequential write and read over NBD, and dd on a local file.
			u0 := diskUsage(b, t.dataDir)
			cpu0 := procCPU(pid)
			write := timed(b, qemuImg, "convert", "-n", "-f", "raw", "-O", "raw", "-t", "writeback", src, uri)
			writeCPU := procCPU(pid) - cpu0
			hwmWrite := procStatusKB(pid, "VmHWM")
			u1 := diskUsage(b, t.dataDir)
			cpu0 = procCPU(pid)
			read := timed(b, qemuImg, "convert", "-n", "-f", "raw", uri, "--target-image-opts", fmt.Sprintf("driver=null-co,size=%d", size))
			readCPU := procCPU(pid) - cpu0
			hwmRead := procStatusKB(pid, "VmHWM")
			local := filepath.Join(files, "local.raw")
			ddWrite := timed(b, "dd", "if="+src, "of="+local, "bs=1M", "conv=fsync", "status=none")
			ddRead := timed(b, "dd", "if="+local, "of=/dev/null", "bs=1M", "status=none")
			ddDirect := timed(b, "dd", "if="+local, "of=/dev/null", "bs=1M", "iflag=direct", "status=none")
			os.Remove(local)
			rate := func(d time.Duration) float64 { return float64(size) / d.Seconds() / mb }
			fmt.Fprintf(&report, "\nNBD sequential throughput, %d GiB volume (qemu-img convert, 2 MiB requests, up to 16 in flight) against dd on a local file (bs=1M; the write with fsync; the read from the page cache, as the volume's chunks are):\n\n", volGiB)
			fmt.Fprintf(&report, "| | NBD s | NBD MB/s | dd s | dd MB/s | NBD ÷ dd time | server CPU s | server peak RSS MB |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
			fmt.Fprintf(&report, "| write | %.1f | %.0f | %.1f | %.0f | %.2f | %.1f | %.1f |\n", write.Seconds(), rate(write), ddWrite.Seconds(), rate(ddWrite), write.Seconds()/ddWrite.Seconds(), writeCPU.Seconds(), float64(hwmWrite)/1024)
			fmt.Fprintf(&report, "| read | %.1f | %.0f | %.1f | %.0f | %.2f | %.1f | %.1f |\n", read.Seconds(), rate(read), ddRead.Seconds(), rate(ddRead), read.Seconds()/ddRead.Seconds(), readCPU.Seconds(), float64(hwmRead)/1024)
			fmt.Fprintf(&report, "| read (dd iflag=direct, from disk) | | | %.1f | %.0f | %.2f | | |\n", ddDirect.Seconds(), rate(ddDirect), read.Seconds()/ddDirect.Seconds())
			b.ReportMetric(rate(write), "nbd-write-MB/s")
			b.ReportMetric(rate(read), "nbd-read-MB/s")

			// CreateImage after the full write, then after 1%.
			createImage := func(name string) (time.Duration, time.Duration) {
				t0 := time.Now()
				out, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String(name), NoReboot: aws.Bool(true)})
				if err != nil {
					b.Fatal(err)
				}
				call := time.Since(t0)
				w := ec2.NewImageAvailableWaiter(c, func(o *ec2.ImageAvailableWaiterOptions) {
					o.MinDelay, o.MaxDelay = 5*time.Millisecond, 50*time.Millisecond
				})
				if err := w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*out.ImageId}}, 10*time.Minute); err != nil {
					b.Fatal(err)
				}
				return call, time.Since(t0)
			}
			fullCall, fullAvail := createImage("bench-full")
			u2 := diskUsage(b, t.dataDir)

			blocks := size / blockSize
			n := int(blocks / 100)
			rng := rand.New(rand.NewPCG(5, 5))
			picked := map[int64]bool{}
			var cmds []string
			for len(picked) < n {
				k := rng.Int64N(blocks)
				if picked[k] {
					continue
				}
				picked[k] = true
				// Random data, different for every block: a pattern
				// would compress to nothing and dedupe.
				piece := filepath.Join(files, fmt.Sprintf("piece-%d.raw", len(picked)))
				writeRandom(b, piece, blockSize, byte(10+len(picked)))
				cmds = append(cmds, "-c", fmt.Sprintf("write -s %s %d %d", piece, k*blockSize, blockSize))
			}
			onePct := timed(b, qemuIO, append([]string{"-f", "raw", "-t", "writeback", uri}, append(cmds, "-c", "flush")...)...)
			pctCall, pctAvail := createImage("bench-1pct")
			u4 := diskUsage(b, t.dataDir)
			fullBytes := u1.blockTotal() - u0.blockTotal() + u2.blockTotal() - u1.blockTotal()
			pctBytes := u4.blockTotal() - u2.blockTotal()
			fmt.Fprintf(&report, "\nCreateImage of the %d GiB volume (NoReboot) after writing all of it, and after rewriting 1%% of its blocks (%d scattered 512 KiB blocks, %.0f MiB, written with qemu-io in %.1fs):\n\n", volGiB, n, float64(n*blockSize)/(1<<20), onePct.Seconds())
			fmt.Fprintf(&report, "| | CreateImage call ms | to available ms | block store bytes added (write + image) |\n|---|--:|--:|--:|\n")
			fmt.Fprintf(&report, "| full | %.1f | %.1f | %.1f MiB |\n", ms(fullCall), ms(fullAvail), float64(fullBytes)/(1<<20))
			fmt.Fprintf(&report, "| 1%% | %.1f | %.1f | %.1f MiB |\n", ms(pctCall), ms(pctAvail), float64(pctBytes)/(1<<20))
			fmt.Fprintf(&report, "| 1%% ÷ full | %.1f%% | %.1f%% | %.2f%% |\n", 100*ms(pctCall)/ms(fullCall), 100*ms(pctAvail)/ms(fullAvail), 100*float64(pctBytes)/float64(fullBytes))
			fmt.Fprintf(&report, "\nA full snapshot's real cost is the ingest: writing the %d GiB took %.1fs and stored the chunks; CreateImage then only builds the map. The 1%% image's write plus CreateImage took %.1fs, %.1f%% of the full write plus its CreateImage (%.1fs).\n",
				volGiB, write.Seconds(), (onePct + pctAvail).Seconds(), 100*(onePct+pctAvail).Seconds()/(write+fullAvail).Seconds(), (write + fullAvail).Seconds())
			b.ReportMetric(100*float64(pctBytes)/float64(fullBytes), "1pct-bytes-%")
			b.ReportMetric(100*ms(pctAvail)/ms(fullAvail), "1pct-time-%")
			os.Remove(src)
		}
	})
	fmt.Printf("\n%s\n%s", info, report.String())
	if path := os.Getenv("BENCH_INSTANCES_MARKDOWN"); path != "" {
		if err := os.WriteFile(path, []byte(info+"\n"+report.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
}
