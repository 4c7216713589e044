package exports

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
)

// TestFormatsReadByQemu writes a sparse disk (blocks of data, a block
// half zeros, gaps) in each format and has qemu-img check the file and
// compare it with the raw disk, byte for byte.
func TestFormatsReadByQemu(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed")
	}
	const size = 72 << 20 // past two VMDK grain tables, not a multiple of 32 MiB
	blocks := map[int64][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, i := range []int64{0, 1, 5, 63, 64, 65, 140, size/openami.BlockSize - 1} {
		b := make([]byte, openami.BlockSize)
		for j := range b {
			b[j] = byte(rng.IntN(4)) // compressible, never all zero
		}
		if i == 5 {
			clear(b[:openami.BlockSize/2])
		}
		blocks[i] = b
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	disk := make([]byte, size)
	for i, b := range blocks {
		copy(disk[i*openami.BlockSize:], b)
	}
	if err := os.WriteFile(raw, disk, 0o600); err != nil {
		t.Fatal(err)
	}
	for format, qfmt := range map[string]string{openami.DiskFormatRAW: "raw", openami.DiskFormatVHD: "vpc", openami.DiskFormatVMDK: "vmdk"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			var stored []int64
			for i := int64(0); i < size/openami.BlockSize; i++ {
				if _, ok := blocks[i]; ok {
					stored = append(stored, i)
				}
			}
			w, err := newDiskWriter(format, &out, size, time.Now(), stored)
			if err != nil {
				t.Fatal(err)
			}
			for i := int64(0); i < size/openami.BlockSize; i++ {
				if b, ok := blocks[i]; ok {
					if err := w.block(i, b); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := w.close(); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "disk."+format)
			if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			info, err := exec.Command("qemu-img", "info", "-f", qfmt, file).CombinedOutput()
			if err != nil || !strings.Contains(string(info), "virtual size: 72 MiB") {
				t.Fatalf("qemu-img info: %v\n%s", err, info)
			}
			if format == openami.DiskFormatVMDK && !strings.Contains(string(info), "streamOptimized") {
				t.Errorf("not stream-optimized:\n%s", info)
			}
			if cmp, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", qfmt, raw, file).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img compare: %v\n%s", err, cmp)
			}
			if format != openami.DiskFormatRAW && int64(out.Len()) > size/2 {
				t.Errorf("%s of a mostly empty disk is %d bytes", format, out.Len())
			}
			if format == openami.DiskFormatVHD {
				// qemu finds a dynamic VHD by its content, without -f.
				probed, err := exec.Command("qemu-img", "info", "--output=json", file).CombinedOutput()
				if err != nil || !strings.Contains(string(probed), `"format": "vpc"`) {
					t.Errorf("qemu-img info without -f: %v\n%s", err, probed)
				}
			}
		})
	}
}
