package bundle

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// identity is an RSA key with a self-signed certificate, like a user's
// signing certificate or a region's cert-ec2.pem.
type identity struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	idsOnce sync.Once
	ids     map[string]identity
)

// ids returns the test identities "user", "ec2" and "other", made once.
func testIDs(t testing.TB) (user, ec2, other identity) {
	t.Helper()
	idsOnce.Do(func() {
		ids = map[string]identity{}
		for i, name := range []string{"user", "ec2", "other"} {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: name},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
			if err != nil {
				panic(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				panic(err)
			}
			ids[name] = identity{key, cert}
		}
	})
	return ids["user"], ids["ec2"], ids["other"]
}

// writePEM writes the identity's key and certificate as PEM files in dir
// and returns their paths.
func (id identity) writePEM(t testing.TB, dir, name string) (keyPath, certPath string) {
	t.Helper()
	keyPath, certPath = filepath.Join(dir, name+"-key.pem"), filepath.Join(dir, name+"-cert.pem")
	k := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(id.key)})
	c := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.cert.Raw})
	if err := os.WriteFile(keyPath, k, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, c, 0o644); err != nil {
		t.Fatal(err)
	}
	return keyPath, certPath
}

// memSink keeps parts in memory, by file name.
type memSink struct {
	mu    sync.Mutex
	parts map[string][]byte
	order []string
}

func (s *memSink) PutPart(_ context.Context, p Part, r io.ReadSeeker) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(b)) != p.Size {
		return fmt.Errorf("part %s: %d bytes, told %d", p.Filename, len(b), p.Size)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parts == nil {
		s.parts = map[string][]byte{}
	}
	s.parts[p.Filename] = b
	s.order = append(s.order, p.Filename)
	return nil
}

func (s *memSink) open(p Part) (io.ReadCloser, error) {
	b, ok := s.parts[p.Filename]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", p.Filename, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// all returns the parts concatenated in order.
func (s *memSink) all() []byte {
	var b []byte
	for _, name := range s.order {
		b = append(b, s.parts[name]...)
	}
	return b
}

// options returns Options for a bundle signed by user, for ec2.
func options(t testing.TB, name string, partSize int64) Options {
	user, ec2, _ := testIDs(t)
	return Options{
		ImageName: name, User: "123456789012", Architecture: "x86_64",
		BlockDeviceMapping: []Mapping{{"root", "/dev/sda1"}, {"ami", "sda1"}, {"ephemeral0", "sda2"}},
		KernelID:           "aki-12345678",
		EC2Cert:            ec2.cert, UserCert: user.cert, Signer: user.key, PartSize: partSize,
	}
}

// randomImage returns n bytes: random, with runs of zeros and text, so
// that gzip has something to do.
func randomImage(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	for i := 0; i+8192 <= n; i += 32768 {
		switch (i / 32768) % 3 {
		case 0:
			clear(b[i : i+8192])
		case 1:
			copy(b[i:i+8192], bytes.Repeat([]byte("openami bundle "), 600))
		}
	}
	return b
}

// bundleOf makes a bundle of img in memory.
func bundleOf(t testing.TB, img []byte, opts Options) (*Manifest, *memSink) {
	t.Helper()
	sink := &memSink{}
	m, err := Create(context.Background(), bytes.NewReader(img), int64(len(img)), opts, sink)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return m, sink
}
