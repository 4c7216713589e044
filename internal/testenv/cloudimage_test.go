package testenv

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

// TestCloudImage builds the cloud image (or finds it cached; .ci/run runs
// this test first to build it up front) and checks what the e2e tests
// rely on: a 2 GiB MBR disk whose second partition is the ext4 root file
// system labelled cloudimg-rootfs, with cloud-init and openssh-server in
// its package manifest.
func TestCloudImage(t *testing.T) {
	path := CloudImage(t)
	t.Logf("image: %s", path) // scripts/bench/packer.sh reads it
	if again := CloudImage(t); again != path {
		t.Fatalf("two calls returned %s and %s", path, again)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != 2<<30 {
		t.Fatalf("image size: %v %v, want 2 GiB", fi, err)
	}
	mbr := make([]byte, 512)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa || string(mbr[440:444]) != "OAMI" {
		t.Fatalf("no MBR with openami's disk signature: % x", mbr[440:])
	}
	root := mbr[446+16 : 446+32]
	if root[4] != 0x83 {
		t.Fatalf("partition 2 has type %#x, want 0x83", root[4])
	}
	start := int64(binary.LittleEndian.Uint32(root[8:])) * 512
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, start+1024); err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint16(sb[56:]) != 0xef53 {
		t.Fatalf("partition 2 (at %d) holds no ext4 file system", start)
	}
	if label := string(bytes.TrimRight(sb[120:136], "\x00")); label != "cloudimg-rootfs" {
		t.Fatalf("root file system label %q, want cloudimg-rootfs", label)
	}
	pkgs, err := os.ReadFile(CloudImagePackages(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cloud-init ", "openssh-server ", "sudo ", "curl ", "linux-image-cloud-amd64 "} {
		if !strings.Contains("\n"+string(pkgs), "\n"+want) {
			t.Errorf("package manifest lacks %s", want)
		}
	}
}
