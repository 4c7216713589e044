package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami/bundle"
)

// writeIdentity writes an RSA key (PKCS#8 when pkcs8) and a self-signed
// certificate for it into dir, returning their paths.
func writeIdentity(t *testing.T, dir, name string, pkcs8 bool) (keyPath, certPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	if pkcs8 {
		b, _ := x509.MarshalPKCS8PrivateKey(key)
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: b}
	}
	keyPath, certPath = filepath.Join(dir, name+"-key.pem"), filepath.Join(dir, name+"-cert.pem")
	os.WriteFile(keyPath, pem.EncodeToMemory(block), 0o600)
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return keyPath, certPath
}

// runBundle runs `openami bundle ARGS…` and returns its output.
func runBundle(args ...string) (string, error) {
	cmd := bundleCommand(&config{})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestBundleCommands(t *testing.T) {
	dir := t.TempDir()
	userKey, userCert := writeIdentity(t, dir, "user", false)
	otherKey, otherCert := writeIdentity(t, dir, "other", true)
	_, ec2Cert := writeIdentity(t, dir, "ec2", false)
	img := make([]byte, 3<<20)
	rand.Read(img[1<<20 : 2<<20])
	imgPath := filepath.Join(dir, "disk.img")
	os.WriteFile(imgPath, img, 0o644)
	bdir, odir := filepath.Join(dir, "bundle"), filepath.Join(dir, "out")
	os.Mkdir(bdir, 0o755)
	os.Mkdir(odir, 0o755)

	out, err := runBundle("image", "-i", imgPath, "-c", userCert, "-k", userKey, "-u", "1234-5678-9012", "--ec2cert", ec2Cert,
		"-d", bdir, "-p", "web", "-B", "ami=sda1,root=/dev/sda1", "--kernel", "aki-1", "--part-size", "500000")
	if err != nil {
		t.Fatalf("bundle image: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(bdir, "web.manifest.xml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseManifest(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "web" || m.User != "123456789012" || m.KernelID != "aki-1" || len(m.BlockDeviceMapping) != 2 || len(m.Parts) < 2 {
		t.Fatalf("manifest %+v", m)
	}
	for _, p := range m.Parts {
		if !strings.Contains(out, "Created "+p.Filename) {
			t.Errorf("output does not name %s:\n%s", p.Filename, out)
		}
		if _, err := os.Stat(filepath.Join(bdir, p.Filename)); err != nil {
			t.Error(err)
		}
	}

	manifest := filepath.Join(bdir, "web.manifest.xml")
	if out, err := runBundle("unbundle", "-m", manifest, "-k", userKey, "-c", userCert, "-d", odir); err != nil {
		t.Fatalf("unbundle: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(odir, "web")); !bytes.Equal(got, img) {
		t.Fatalf("unbundled %d bytes that are not the image", len(got))
	}

	// What must fail, and how.
	for _, c := range []struct {
		name string
		args []string
		want error
		text string
	}{
		{"another's key", []string{"unbundle", "-m", manifest, "-k", otherKey, "-d", odir}, bundle.ErrKey, ""},
		{"another's certificate", []string{"unbundle", "-m", manifest, "-k", userKey, "-c", otherCert, "-d", odir}, bundle.ErrSignature, ""},
		{"a key not the certificate's", []string{"image", "-i", imgPath, "-c", userCert, "-k", otherKey, "-u", "123456789012", "--ec2cert", ec2Cert, "-d", bdir}, nil, "is not the key of"},
		{"an access key id as user", []string{"image", "-i", imgPath, "-c", userCert, "-k", userKey, "-u", "AKIAIOSFODNN7EXAMPLE", "--ec2cert", ec2Cert, "-d", bdir}, nil, "12-digit"},
		{"a bad mapping", []string{"image", "-i", imgPath, "-c", userCert, "-k", userKey, "-u", "123456789012", "--ec2cert", ec2Cert, "-d", bdir, "-B", "ami"}, nil, "VIRTUAL=DEVICE"},
		{"no ec2cert", []string{"image", "-i", imgPath, "-c", userCert, "-k", userKey, "-u", "123456789012"}, nil, "ec2cert"},
	} {
		_, err := runBundle(c.args...)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: %v, want %v %q", c.name, err, c.want, c.text)
		}
	}

	// A damaged part is named, and no image is left behind.
	part := filepath.Join(bdir, m.Parts[1].Filename)
	b, _ := os.ReadFile(part)
	b[100] ^= 1
	os.WriteFile(part, b, 0o644)
	os.Remove(filepath.Join(odir, "web"))
	_, err = runBundle("unbundle", "-m", manifest, "-k", userKey, "-d", odir)
	var perr *bundle.PartError
	if !errors.Is(err, bundle.ErrDigest) || !errors.As(err, &perr) || perr.Part.Index != 1 {
		t.Errorf("damaged part 1: %v", err)
	}
	if left, _ := os.ReadDir(odir); len(left) != 0 {
		t.Errorf("left in the destination: %v", left)
	}
	os.Remove(part)
	if _, err := runBundle("unbundle", "-m", manifest, "-k", userKey, "-d", odir); !errors.Is(err, bundle.ErrMissingPart) {
		t.Errorf("missing part: %v", err)
	}
}

func TestParseBundleMappings(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "[]",
		"ami=sda1":                         "[{ami sda1}]",
		" ami = sda1 , root=/dev/sda1 ":    "[{ami sda1} {root /dev/sda1}]",
		"ami=0,root=/dev/dsk/c0d0s0,swap=": "error",
		"ami=sda1=x":                       "error",
		"ami":                              "error",
	} {
		m, err := parseBundleMappings(in)
		got := "error"
		if err == nil {
			got = fmtMappings(m)
		}
		if got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

func fmtMappings(ms []bundle.Mapping) string {
	var b strings.Builder
	b.WriteString("[")
	for i, m := range ms {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString("{" + m.Virtual + " " + m.Device + "}")
	}
	b.WriteString("]")
	return b.String()
}
