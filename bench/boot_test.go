package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/openami/openami/internal/testenv"
)

// The boot benchmark: issue 7's measures. Run it with
//
//	go test -run '^$' -bench Boot -benchtime 1x -timeout 60m ./bench/
//
// It needs qemu-system-x86_64 and what scripts/testimage/build.sh needs,
// python3 (the fake metadata service of the direct boots), and about
// 10 GiB free under $TMPDIR. docs/BENCHMARKS.md ("Boot") gives the
// latest results.
//
// The guest is the test image (docs/TESTIMAGE.md). Two images: its 48 MiB
// on a 1 GiB snapshot, and the same disk grown to 4 GiB with random data
// after its partitions (4 GiB of real data in the block store). For each,
// BENCH_BOOT_RUNS (5) launches under `serve --runtime qemu` (t2.micro: 1
// vCPU, 1 GiB), alternating, each terminated before the next: the time
// from sending RunInstances to the console's first marker line
// (`openami-testimage: booting`, written by the MBR) and to `init done`,
// read from the console file as GetConsoleOutput reads it (polled every
// 10 ms), and the bytes the server read with read(2) meanwhile (/proc's
// rchar: chunk files, SQLite pages, sockets). Against QEMU booting the
// same raw file directly with the same options (a local file instead of
// NBD, the test image's fake_imds.py instead of openami's metadata
// service), alternating with the openami launches.
func BenchmarkBoot(b *testing.B) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		b.Fatal("qemu-system-x86_64 not found: apt-get install -y qemu-system-x86")
	}
	runs := intsEnv(b, "BENCH_BOOT_RUNS", []int{5})[0]
	info := machine()
	bin := build(b, b.TempDir())
	img := testenv.TestImage(b)
	files := b.TempDir()
	small := filepath.Join(files, "small.raw")
	big := filepath.Join(files, "big.raw")
	copyRaw(b, img, small, 0)
	copyRaw(b, img, big, 4<<30)
	var report strings.Builder

	for range b.N {
		// A short data dir: the VMs' unix sockets live under it.
		dataDir, err := os.MkdirTemp("", "ob-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dataDir) })
		t := startOpenamiIn(b, bin, "qemu", dataDir, "--runtime", "qemu", "--qemu-accel", "tcg")
		c := ec2.NewFromConfig(blockConfig(t, "us-east-1", 8))
		sizes := map[string]int64{"64 MiB": 48 << 20, "4 GiB": 4 << 30}
		raws := map[string]string{"64 MiB": small, "4 GiB": big}
		images := map[string]string{}
		for _, name := range []string{"64 MiB", "4 GiB"} {
			r := ingest(b, t, raws[name], sizes[name], 8, "us-east-1")
			out, err := c.RegisterImage(context.Background(), &ec2.RegisterImageInput{Name: aws.String("boot-" + strings.ReplaceAll(name, " ", "")),
				RootDeviceName: aws.String("/dev/xvda"), BootMode: types.BootModeValuesLegacyBios,
				BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(r.snapshotID)}}}})
			if err != nil {
				b.Fatal(err)
			}
			images[name] = *out.ImageId
		}
		type sample struct {
			first, done       time.Duration
			readMB, qemuRSSMB float64
		}
		got := map[string][]sample{}
		var order []string
		for _, name := range []string{"64 MiB", "4 GiB"} {
			order = append(order, "openami "+name, "direct "+name)
		}
		for k := range runs * len(order) {
			what := order[k%len(order)]
			name := strings.SplitN(what, " ", 2)[1]
			var s sample
			if strings.HasPrefix(what, "openami") {
				s.first, s.done, s.readMB, s.qemuRSSMB = bootOpenami(b, t, c, images[name])
			} else {
				s.first, s.done, s.qemuRSSMB = bootDirect(b, raws[name])
			}
			got[what] = append(got[what], s)
		}
		hwm := procStatusKB(strconv.Itoa(t.pid), "VmHWM")
		fmt.Fprintf(&report, "\nBoot of the test image, %d runs each, alternating (openami peak RSS %.1f MB over the whole run, ingests included):\n\n", runs, float64(hwm)/1024)
		fmt.Fprintf(&report, "| boot | root volume data | first line p50 s | `init done` p50 s | `init done` min–max s | server rchar MB p50 | QEMU peak RSS MB p50 |\n|---|---|--:|--:|--:|--:|--:|\n")
		p50 := map[string]float64{}
		for _, what := range order {
			ss := got[what]
			pick := func(f func(sample) float64) []float64 {
				var v []float64
				for _, s := range ss {
					v = append(v, f(s))
				}
				slices.Sort(v)
				return v
			}
			first := pick(func(s sample) float64 { return s.first.Seconds() })
			done := pick(func(s sample) float64 { return s.done.Seconds() })
			read := pick(func(s sample) float64 { return s.readMB })
			rss := pick(func(s sample) float64 { return s.qemuRSSMB })
			p50[what] = median(done)
			readCol := fmt.Sprintf("%.1f", median(read))
			if strings.HasPrefix(what, "direct") {
				readCol = "–"
			}
			kind, name, _ := strings.Cut(what, " ")
			fmt.Fprintf(&report, "| %s | %s | %.2f | %.2f | %.2f–%.2f | %s | %.0f |\n", kind, name, median(first), median(done), done[0], done[len(done)-1], readCol, median(rss))
			b.ReportMetric(median(done), strings.ReplaceAll(what, " ", "-")+"-initdone-s")
		}
		fmt.Fprintf(&report, "\nRatios of `init done` p50s: openami 4 GiB ÷ 64 MiB %.2f; openami ÷ direct: 64 MiB %.2f, 4 GiB %.2f.\n",
			p50["openami 4 GiB"]/p50["openami 64 MiB"], p50["openami 64 MiB"]/p50["direct 64 MiB"], p50["openami 4 GiB"]/p50["direct 4 GiB"])
	}
	fmt.Printf("\n%s\n%s", info, report.String())
	if path := os.Getenv("BENCH_BOOT_MARKDOWN"); path != "" {
		if err := os.WriteFile(path, []byte(info+"\n"+report.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

// copyRaw copies the image to dst; with size, the copy is grown to size
// with random data after the image (the test image's partitions do not
// depend on the disk's size).
func copyRaw(b *testing.B, src, dst string, size int64) {
	b.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		b.Fatal(err)
	}
	if size == 0 {
		return
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size-int64(len(data))); err != nil {
		b.Fatal(err)
	}
}

// rchar is the bytes a process read with read(2) and friends.
func rchar(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// waitMarkers polls a console file every 10 ms until it holds `init
// done`, and returns when the first marker and `init done` appeared,
// measured from t0.
func waitMarkers(b *testing.B, path string, t0 time.Time, exited <-chan struct{}) (first, done time.Duration) {
	b.Helper()
	for {
		data, _ := os.ReadFile(path)
		if first == 0 && strings.Contains(string(data), "openami-testimage: booting") {
			first = time.Since(t0)
		}
		if strings.Contains(string(data), "openami-testimage: init done") {
			return first, time.Since(t0)
		}
		select {
		case <-exited:
			b.Fatalf("the VM exited before init done:\n%s", data)
		default:
		}
		if time.Since(t0) > 5*time.Minute {
			b.Fatalf("no init done after 5 minutes:\n%s", data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// bootOpenami launches the image, waits for init done on its console,
// and terminates it.
func bootOpenami(b *testing.B, t *target, c *ec2.Client, image string) (first, done time.Duration, readMB, qemuRSSMB float64) {
	b.Helper()
	ctx := context.Background()
	r0 := rchar(t.pid)
	t0 := time.Now()
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), InstanceType: types.InstanceTypeT2Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		b.Fatal(err)
	}
	id := *run.Instances[0].InstanceId
	first, done = waitMarkers(b, filepath.Join(t.dataDir, "vms", id, "console.log"), t0, nil)
	readMB = float64(rchar(t.pid)-r0) / mb
	if pid, err := os.ReadFile(filepath.Join(t.dataDir, "vms", id, "qemu.pid")); err == nil {
		qemuRSSMB = float64(procStatusKB(strings.TrimSpace(string(pid)), "VmHWM")) / 1024
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		b.Fatal(err)
	}
	for {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			b.Fatal(err)
		}
		if out.Reservations[0].Instances[0].State.Name == types.InstanceStateNameTerminated {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return first, done, readMB, qemuRSSMB
}

// bootDirect boots the raw file with QEMU as the qemu runtime would (the
// same machine, accelerator, size, console and network), but from the
// local file, with the test image's fake metadata service; it kills QEMU
// once init is done.
func bootDirect(b *testing.B, raw string) (first, done time.Duration, qemuRSSMB float64) {
	b.Helper()
	dir := b.TempDir()
	console := filepath.Join(dir, "console.log")
	out, err := os.Create(console)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	_, file, _, _ := runtime.Caller(0)
	imds := filepath.Join(filepath.Dir(file), "..", "scripts", "testimage", "fake_imds.py")
	cmd := exec.Command("qemu-system-x86_64", "-no-user-config", "-nodefaults", "-display", "none", "-accel", "tcg",
		"-smp", "1", "-m", "1024", "-rtc", "base=utc", "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
		"-machine", "pc",
		"-drive", "file="+raw+",format=raw,cache=writeback,if=none,id=disk0,snapshot=on", "-device", "virtio-blk-pci,drive=disk0,bootindex=0",
		"-netdev", "user,id=net0,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:python3 -I "+imds,
		"-device", "virtio-net-pci,netdev=net0,romfile=,mac=02:00:00:00:00:01")
	cmd.Stdout = out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	first, done = waitMarkers(b, console, t0, exited)
	qemuRSSMB = float64(procStatusKB(strconv.Itoa(cmd.Process.Pid), "VmHWM")) / 1024
	cmd.Process.Kill()
	<-exited
	return first, done, qemuRSSMB
}
