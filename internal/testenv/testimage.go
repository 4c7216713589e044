package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	imageOnce sync.Once
	imagePath string
	imageErr  error
)

// TestImage returns the path of the bootable test image
// (scripts/testimage/build.sh, docs/TESTIMAGE.md), building it the first
// time (with its kernel and initramfs beside it, TestImageBootFiles). Built images are cached under the user's cache directory
// (openami/testimage-HASH.raw), keyed by the SHA-256 of the build script
// and the guest's files, so a change to either builds a new one; the
// script keeps its own cache of Debian packages beside it. It fails the
// test when the image cannot be built (no apt-get on a fresh machine, no
// network on the first build).
func TestImage(t testing.TB) string {
	t.Helper()
	imageOnce.Do(func() { imagePath, imageErr = buildTestImage() })
	if imageErr != nil {
		t.Fatalf("test image: %v", imageErr)
	}
	return imagePath
}

func buildTestImage() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "testimage")
	h := sha256.New()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h.Write([]byte(rel + "\x00"))
		sum := sha256.Sum256(b)
		h.Write(sum[:])
		return nil
	})
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "openami")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "testimage-"+hex.EncodeToString(h.Sum(nil))[:16]+".raw")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	tmp, err := os.CreateTemp(dir, ".testimage-*.raw")
	if err != nil {
		return "", err
	}
	tmp.Close()
	tmpBase := strings.TrimSuffix(tmp.Name(), ".raw")
	defer os.Remove(tmp.Name())
	defer os.Remove(tmpBase + ".vmlinuz")
	defer os.Remove(tmpBase + ".initrd.gz")
	cmd := exec.Command("bash", filepath.Join(src, "build.sh"), tmp.Name())
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{string(b)}
	}
	// The kernel and initramfs first: the image's presence says all three are there.
	base := strings.TrimSuffix(out, ".raw")
	for _, ext := range []string{".vmlinuz", ".initrd.gz"} {
		if err := os.Rename(tmpBase+ext, base+ext); err != nil {
			return "", err
		}
	}
	return out, os.Rename(tmp.Name(), out)
}

// TestImageBootFiles returns the test image's kernel and initramfs (the
// files its boot partition holds), for booting it as a paravirtual guest.
func TestImageBootFiles(t testing.TB) (kernel, initrd string) {
	t.Helper()
	base := strings.TrimSuffix(TestImage(t), ".raw")
	return base + ".vmlinuz", base + ".initrd.gz"
}

type buildError struct{ out string }

func (e *buildError) Error() string { return "scripts/testimage/build.sh failed:\n" + e.out }
