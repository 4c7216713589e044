package exports

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/ebs"
)

// peakRSSMB returns this process's peak RSS (VmHWM) in MB, 0 if unknown;
// resetPeakRSS starts a new peak (Linux: /proc/self/clear_refs).
func peakRSSMB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			return kb / 1024
		}
	}
	return 0
}

func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// BenchmarkExportVMDK is issue 16's measure: ExportImage to VMDK of a
// 2 GiB image (half of it data, half never written), against `qemu-img
// convert -O vmdk` of the same disk from a raw file to local disk (the
// default monolithic sparse, and stream-optimized as the export writes
// it), in the same run, with the process's peak RSS during the export.
// The data is text-like (compresses about 3:1), as an OS image does. The
// export runs in process (the rules with a SQLite store and a directory
// blob store), so its peak RSS is the server's part.
//
//	nice go test -run '^$' -bench ExportVMDK -benchtime 1x -timeout 30m ./rules/exports/
func BenchmarkExportVMDK(b *testing.B) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		b.Skip("qemu-img not installed")
	}
	const size = 2 << 30
	f := newFixture(b)
	ctx := context.Background()
	blocks := benchDisk(size)
	snapIn := ebs.StartSnapshotInput{VolumeSize: 2}
	img := f.image(b, f.p, snapIn, blocks)
	dir := b.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	fh, err := os.Create(raw)
	if err != nil {
		b.Fatal(err)
	}
	fh.Truncate(size)
	for i, d := range blocks {
		fh.WriteAt(d, i*openami.BlockSize)
	}
	fh.Close()
	blocks = nil // the benchmark's copy is not the export's memory
	runtime.GC()
	debug.FreeOSMemory()
	for range b.N {
		resetPeakRSS()
		start := time.Now()
		task, err := f.exports.ExportImage(ctx, f.p, ExportImageInput{ImageID: img, DiskImageFormat: "VMDK", S3Bucket: "bkt"})
		if err != nil {
			b.Fatal(err)
		}
		f.run(b)
		export := time.Since(start)
		rss := peakRSSMB()
		if got := f.task(b, task.ID); got.State != openami.ExportCompleted {
			b.Fatalf("task %+v", got)
		}
		obj := f.object(b, task.Key)
		times := map[string]time.Duration{}
		for _, sub := range []string{"monolithicSparse", "streamOptimized"} {
			start := time.Now()
			out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, raw, filepath.Join(dir, sub+".vmdk")).CombinedOutput()
			if err != nil {
				b.Fatalf("qemu-img convert: %v\n%s", err, out)
			}
			times[sub] = time.Since(start)
		}
		b.ReportMetric(export.Seconds(), "export-s")
		b.ReportMetric(rss, "export-peak-rss-MB")
		b.ReportMetric(times["monolithicSparse"].Seconds(), "qemu-sparse-s")
		b.ReportMetric(times["streamOptimized"].Seconds(), "qemu-stream-s")
		b.ReportMetric(float64(len(obj))/(1<<20), "vmdk-MiB")
	}
}

// benchDisk returns the blocks of the benchmark's disk: every other
// 1 MiB of its size written, with text-like bytes.
func benchDisk(size int64) map[int64][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"kernel ", "module ", "libc.so ", "usr/bin/", "0x7f3a ", "ELF\x02\x01", "\x00\x00\x00\x00", "systemd "}
	blocks := map[int64][]byte{}
	for i := int64(0); i < size/openami.BlockSize; i++ {
		if (i/2)%2 == 1 {
			continue
		}
		var sb strings.Builder
		for sb.Len() < openami.BlockSize {
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(byte(rng.IntN(256)))
		}
		blocks[i] = []byte(sb.String()[:openami.BlockSize])
	}
	return blocks
}
