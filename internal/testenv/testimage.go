package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
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
	src := scriptsDir("testimage")
	h := sha256.New()
	if err := hashTree(h, src, ""); err != nil {
		return "", err
	}
	dir, err := cacheDir()
	if err != nil {
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

// scriptsDir returns the path of scripts/NAME in the source tree.
func scriptsDir(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", name)
}

// hashTree adds every file under root to h: its path relative to root
// after prefix, and the SHA-256 of its content.
func hashTree(h hash.Hash, root, prefix string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h.Write([]byte(prefix + rel + "\x00"))
		sum := sha256.Sum256(b)
		h.Write(sum[:])
		return nil
	})
}

// cacheDir returns (and makes) the directory built images are cached in:
// openami under the user's cache directory.
func cacheDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "openami")
	return dir, os.MkdirAll(dir, 0o755)
}
