package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	cloudOnce sync.Once
	cloudPath string
	cloudErr  error
)

// CloudImage returns the path of the Debian 12 cloud image
// (scripts/cloudimage/build.sh, docs/CLOUDIMAGE.md): a 2 GiB sparse raw
// disk with cloud-init, openssh-server and sudo, its package manifest
// beside it (CloudImagePackages). It is built the first time (about 2.5
// minutes from an empty package cache, 1.5 minutes from a full one) and
// cached under the user's cache directory (openami/cloudimage-HASH.raw),
// keyed by the SHA-256 of scripts/cloudimage/ and scripts/lib/, so a
// change to either builds a new one; build.sh keeps its own cache of
// Debian packages. It fails the test when the image cannot be built
// (mmdebstrap, fakechroot or fakeroot missing, no network on the first
// build); .ci/run installs those and builds it up front.
func CloudImage(t testing.TB) string {
	t.Helper()
	cloudOnce.Do(func() { cloudPath, cloudErr = buildCloudImage() })
	if cloudErr != nil {
		t.Fatalf("cloud image: %v", cloudErr)
	}
	return cloudPath
}

// CloudImagePackages returns the path of the cloud image's package
// manifest: one "PACKAGE VERSION" a line.
func CloudImagePackages(t testing.TB) string {
	t.Helper()
	return strings.TrimSuffix(CloudImage(t), ".raw") + ".packages"
}

func buildCloudImage() (string, error) {
	src := scriptsDir("cloudimage")
	h := sha256.New()
	if err := hashTree(h, src, "cloudimage/"); err != nil {
		return "", err
	}
	if err := hashTree(h, scriptsDir("lib"), "lib/"); err != nil {
		return "", err
	}
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "cloudimage-"+hex.EncodeToString(h.Sum(nil))[:16]+".raw")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	tmp, err := os.CreateTemp(dir, ".cloudimage-*.raw")
	if err != nil {
		return "", err
	}
	tmp.Close()
	tmpPackages := strings.TrimSuffix(tmp.Name(), ".raw") + ".packages"
	defer os.Remove(tmp.Name())
	defer os.Remove(tmpPackages)
	cmd := exec.Command("bash", filepath.Join(src, "build.sh"), tmp.Name())
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", &cloudBuildError{string(b)}
	}
	// The manifest first: the image's presence says both are there.
	if err := os.Rename(tmpPackages, strings.TrimSuffix(out, ".raw")+".packages"); err != nil {
		return "", err
	}
	return out, os.Rename(tmp.Name(), out)
}

type cloudBuildError struct{ out string }

func (e *cloudBuildError) Error() string { return "scripts/cloudimage/build.sh failed:\n" + e.out }
