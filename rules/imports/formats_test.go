package imports

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDetect: the magic numbers decide, whatever else the data holds.
func TestDetect(t *testing.T) {
	pad := func(s string) []byte { return append([]byte(s), make([]byte, 600)...) }
	tar := make([]byte, 600)
	copy(tar[257:], "ustar")
	cases := []struct {
		name       string
		head, tail []byte
		want       string
	}{
		{"qcow2", pad("QFI\xfb\x00\x00\x00\x03"), nil, FormatQCOW2},
		{"vmdk", pad("KDMV\x01"), nil, FormatVMDK},
		{"vhdx", pad("vhdxfile"), nil, FormatVHDX},
		{"vhd-dynamic", pad("conectix"), nil, FormatVHD},
		{"vhd-fixed", pad("\x00\x00"), pad("conectix"), FormatVHD},
		{"ova", tar, nil, FormatOVA},
		{"raw", pad("\xeb\x63\x90"), pad("\x00"), FormatRAW},
	}
	for _, c := range cases {
		if got, err := Detect(c.head, c.tail); err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %s", c.name, got, err, c.want)
		}
	}
	if _, err := Detect(pad("# Disk DescriptorFile\n"), nil); err == nil {
		t.Error("a VMDK descriptor was taken")
	}
}

// TestParseURL: s3://, path-style and virtual-hosted-style URLs of the
// endpoint; other schemes and URLs without a key are refused.
func TestParseURL(t *testing.T) {
	for raw, want := range map[string][2]string{
		"s3://b/k/x.qcow2":                   {"b", "k/x.qcow2"},
		"http://127.0.0.1:8080/b/dir/x.vmdk": {"b", "dir/x.vmdk"},
		"https://b.s3.example.com/x.vhd":     {"b", "x.vhd"},
	} {
		b, k, ok := parseURL(raw)
		if !ok || b != want[0] || k != want[1] {
			t.Errorf("%s: %q %q %v", raw, b, k, ok)
		}
	}
	for _, raw := range []string{"ftp://h/b/k", "s3://b", "http://h/b", "::"} {
		if _, _, ok := parseURL(raw); ok {
			t.Errorf("%s was taken", raw)
		}
	}
}

// TestQemuLimits: the programs run through Imports.qemu get the address
// space and CPU limits, as the child itself sees them.
func TestQemuLimits(t *testing.T) {
	s := New(Config{})
	out, err := s.qemu(context.Background(), probeLimits, nil, "sh", "-c", "ulimit -v; ulimit -t").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "1048576\n60\n"; got != want {
		t.Fatalf("the child's limits: %q, want %q", got, want)
	}
	out, err = s.qemu(context.Background(), convertLimits, nil, "sh", "-c", "ulimit -v; ulimit -t").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "2097152\nunlimited\n"; got != want {
		t.Fatalf("the child's limits: %q, want %q", got, want)
	}
}

// TestQemuUser: as root, the qemu programs run as nobody, and read the
// disk they are handed although they could not open its path.
func TestQemuUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands qemu to another user")
	}
	s := New(Config{})
	dir := t.TempDir() // 0700, root's
	path := filepath.Join(dir, "disk")
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil { // as under serve's umask 077
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := s.qemu(context.Background(), probeLimits, f, "sh", "-c", "id -u; cat "+diskArg+"; cat "+path+" 2>&1 || echo refused").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(int(unprivileged().Uid)) + "\ndata"
	if got := string(out); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "refused\n") || unprivileged().Uid == 0 {
		t.Fatalf("the child: %q, want %q then a refusal", got, want)
	}
}
