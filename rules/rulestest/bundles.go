package rulestest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/bundle"
	"github.com/openami/openami/rules/identity"
)

// Bundle is a bundle made for a test, in memory: its manifest's bytes and
// its parts by file name, in order.
type Bundle struct {
	Manifest *bundle.Manifest
	XML      []byte
	Names    []string
	Parts    map[string][]byte
}

// bundleKeys caches the signing key of the tests' bundles: an RSA key
// takes a while to make.
var bundleKeys struct {
	once sync.Once
	key  *rsa.PrivateKey
	cert string
}

// NewBundle bundles img (named name, of type typ, "" for machine) for p's
// account as `openami bundle image` would: the key and IV encrypted to the
// EC2 certificate of p's region, the manifest signed with a key whose
// certificate it uploads as a signing certificate of p's account, parts of
// partSize bytes.
func NewBundle(t testing.TB, accounts *identity.Accounts, p openami.Principal, name, typ string, img []byte, partSize int64) Bundle {
	t.Helper()
	ctx := context.Background()
	bundleKeys.once.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bundler"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			panic(err)
		}
		bundleKeys.key, bundleKeys.cert = k, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	})
	if _, _, err := accounts.UploadSigningCertificate(ctx, p, "", bundleKeys.cert); err != nil && openami.ClassOf(err) != openami.Duplicate {
		t.Fatal(err)
	}
	ec2Cert, _, err := accounts.EC2Certificate(ctx, p.Region)
	if err != nil {
		t.Fatal(err)
	}
	sink := &memParts{parts: map[string][]byte{}}
	opts := bundle.Options{ImageName: name, User: p.AccountID, Type: typ, Architecture: "x86_64",
		BlockDeviceMapping: []bundle.Mapping{{Virtual: "ami", Device: "sda1"}, {Virtual: "root", Device: "/dev/sda1"}, {Virtual: "ephemeral0", Device: "sdb"}},
		EC2Cert:            ec2Cert, Signer: bundleKeys.key, PartSize: partSize}
	if typ == bundle.TypeKernel {
		opts.KernelName = "vmlinuz-test"
	}
	m, err := bundle.Create(ctx, bytes.NewReader(img), int64(len(img)), opts, sink)
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return Bundle{Manifest: m, XML: data, Names: sink.names, Parts: sink.parts}
}

// memParts keeps a bundle's parts in memory.
type memParts struct {
	mu    sync.Mutex
	names []string
	parts map[string][]byte
}

func (s *memParts) PutPart(_ context.Context, p bundle.Part, r io.ReadSeeker) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names = append(s.names, p.Filename)
	s.parts[p.Filename] = b
	return nil
}
