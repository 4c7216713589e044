package identity

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
)

// TestEC2CertificateMadeOnce: a region's certificate is made on first
// use, self-signed with the region's name, long valid, the same every
// time and for every Accounts over the store (nodes racing to make it end
// with one); an unserved region has none.
func TestEC2CertificateMadeOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// Several nodes at once.
	nodes := make([]*Accounts, 4)
	pems := make([][]byte, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i := range nodes {
		nodes[i] = New(Config{Store: f.store, Seal: f.seal, Regions: f.regions})
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, pems[i], errs[i] = nodes[i].EC2Certificate(ctx, "us-west-2")
		}()
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(pems[i], pems[0]) {
			t.Fatalf("node %d has another certificate", i)
		}
	}
	cert, pemBytes, err := f.accounts.EC2Certificate(ctx, "us-west-2")
	if err != nil || !bytes.Equal(pemBytes, pems[0]) {
		t.Fatalf("EC2Certificate after the race: %v (same: %v)", err, bytes.Equal(pemBytes, pems[0]))
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", pemBytes)
	}
	selfSigned := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature)
	if cert.Subject.CommonName != "ec2-us-west-2.openami" || selfSigned != nil {
		t.Errorf("certificate %v, self-signed: %v", cert.Subject, selfSigned)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 2048 {
		t.Errorf("public key %T", cert.PublicKey)
	}
	if cert.NotAfter.Before(time.Now().Add(29 * 365 * 24 * time.Hour)) {
		t.Errorf("valid until %v only", cert.NotAfter)
	}
	other, _, err := f.accounts.EC2Certificate(ctx, "us-east-1")
	if err != nil || bytes.Equal(other.Raw, cert.Raw) {
		t.Errorf("us-east-1's certificate: %v (same as us-west-2's: %v)", err, err == nil && bytes.Equal(other.Raw, cert.Raw))
	}
	_, _, err = f.accounts.EC2Certificate(ctx, "eu-west-1")
	wantClass(t, "an unserved region", err, openami.NotFound, openami.ResourceRegion)

	// The private key is stored sealed: the PKCS#8 DER of the key is not
	// in the record, and the record opens only under the master key.
	f.store.View(ctx, func(tx metadata.Tx) error {
		k, err := tx.Certificates().RegionKey("us-west-2")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x509.ParsePKCS8PrivateKey(k.SealedKey); err == nil {
			t.Error("the region key is stored in the clear")
		}
		other, _ := seal.New(bytes.Repeat([]byte{9}, seal.KeySize))
		if _, err := other.Open(k.SealedKey, regionKeyAD("us-west-2")); err == nil {
			t.Error("the region key opens under another master key")
		}
		return nil
	})
}

// TestEC2DecryptOpenSSL: a value encrypted to cert-ec2.pem by openssl
// with PKCS#1 v1.5 padding, as the AMI tools encrypt a bundle's key and
// IV, decrypts through EC2Decrypt; another region's key refuses it.
func TestEC2DecryptOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	ctx := context.Background()
	f := newFixture(t)
	_, pemBytes, err := f.accounts.EC2Certificate(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath := filepath.Join(dir, "cert-ec2.pem")
	if err := os.WriteFile(certPath, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	const secret = "00112233445566778899aabbccddeeff"
	cmd := exec.Command("openssl", "pkeyutl", "-encrypt", "-certin", "-inkey", certPath, "-pkeyopt", "rsa_padding_mode:pkcs1")
	cmd.Stdin = strings.NewReader(secret)
	ct, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl pkeyutl: %v", err)
	}
	plain, err := f.accounts.EC2Decrypt(ctx, "us-east-1", ct)
	if err != nil || string(plain) != secret {
		t.Fatalf("EC2Decrypt = %q, %v", plain, err)
	}
	_, err = f.accounts.EC2Decrypt(ctx, "us-west-2", ct)
	wantClass(t, "another region's key", err, openami.InvalidParameter, openami.ResourceRegionKey)
	if openami.ReasonOf(err) != openami.ReasonCiphertext {
		t.Errorf("reason %q", openami.ReasonOf(err))
	}
}

// TestEC2SignerAndManifestSigners: what EC2Signer signs verifies with the
// region's certificate, which ManifestSigners lists after the account's
// active certificates (and not before the region has a key); the signer
// does not hand out its key.
func TestEC2SignerAndManifestSigners(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	signers := func() []*x509.Certificate {
		var out []*x509.Certificate
		err := f.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			out, err = f.accounts.ManifestSigners(tx, f.p.AccountID, "us-east-1")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := signers(); len(got) != 0 {
		t.Fatalf("ManifestSigners of a new account in a region without a key: %d", len(got))
	}
	body, _ := testCertificate(t, true)
	userCert, _, err := ParseSigningCertificate(body)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := f.accounts.UploadSigningCertificate(ctx, f.p, "", body)
	if err != nil {
		t.Fatal(err)
	}
	inactive, _ := testCertificate(t, true)
	c2, _, err := f.accounts.UploadSigningCertificate(ctx, f.p, "", inactive)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.accounts.UpdateSigningCertificate(ctx, f.p, "", c2.ID, openami.CertificateInactive); err != nil {
		t.Fatal(err)
	}
	if got := signers(); len(got) != 1 || !got[0].Equal(userCert) {
		t.Fatalf("ManifestSigners: %d certificates", len(got))
	}

	signer, err := f.accounts.EC2Signer(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := signer.(*rsa.PrivateKey); ok {
		t.Error("EC2Signer hands out the private key")
	}
	digest := sha1.Sum([]byte("<machine_configuration/><image/>"))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA1)
	if err != nil {
		t.Fatal(err)
	}
	ec2Cert, _, _ := f.accounts.EC2Certificate(ctx, "us-east-1")
	if err := rsa.VerifyPKCS1v15(ec2Cert.PublicKey.(*rsa.PublicKey), crypto.SHA1, digest[:], sig); err != nil {
		t.Errorf("EC2Signer's signature: %v", err)
	}
	// Another node, with nothing cached, reads the same from the store.
	fresh := New(Config{Store: f.store, Seal: f.seal, Regions: f.regions})
	var got []*x509.Certificate
	f.store.View(ctx, func(tx metadata.Tx) error {
		got, err = fresh.ManifestSigners(tx, f.p.AccountID, "us-east-1")
		return err
	})
	if err != nil || len(got) != 2 || !got[0].Equal(userCert) || !got[1].Equal(ec2Cert) {
		t.Fatalf("ManifestSigners with the region's key: %d, %v", len(got), err)
	}
	if err := f.accounts.DeleteSigningCertificate(ctx, f.p, "", c.ID); err != nil {
		t.Fatal(err)
	}
	if got := signers(); len(got) != 1 || !got[0].Equal(ec2Cert) {
		t.Fatalf("ManifestSigners after deleting the user's: %d", len(got))
	}
}

// TestResealRegionKeys: after a master-key rotation the regions' keys
// open under the new key only, decrypt as before, and a second run
// re-seals nothing.
func TestResealRegionKeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, pemBytes, err := f.accounts.EC2Certificate(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, _ := x509.ParseCertificate(block.Bytes)
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, cert.PublicKey.(*rsa.PublicKey), []byte("key and iv"))
	if err != nil {
		t.Fatal(err)
	}
	next, _ := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	rotated := New(Config{Store: retryStore{f.store}, Seal: next, Regions: f.regions})
	if n, err := rotated.ResealRegionKeys(ctx, f.seal); err != nil || n != 1 {
		t.Fatalf("ResealRegionKeys = %d, %v; want 1", n, err)
	}
	if n, err := rotated.ResealRegionKeys(ctx, f.seal); err != nil || n != 0 {
		t.Fatalf("ResealRegionKeys again = %d, %v; want 0", n, err)
	}
	if plain, err := rotated.EC2Decrypt(ctx, "us-east-1", ct); err != nil || string(plain) != "key and iv" {
		t.Fatalf("EC2Decrypt under the new master key: %q, %v", plain, err)
	}
	stale := New(Config{Store: f.store, Seal: f.seal, Regions: f.regions})
	_, err = stale.EC2Decrypt(ctx, "us-east-1", ct)
	if err == nil {
		t.Errorf("EC2Decrypt under the old master key after rotation: %v", err)
	}
	_, _, err = stale.EC2Certificate(ctx, "us-east-1")
	if err == nil {
		t.Error("the old master key still opens the region key")
	}
}
