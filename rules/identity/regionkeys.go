package identity

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Each region's EC2 key: an RSA 2048 key pair and a self-signed X.509
// certificate, the counterpart of the cert-ec2.pem AWS publishes with the
// AMI tools. A user bundling an image encrypts the bundle's AES key and IV
// to the region's certificate (RSA PKCS#1 v1.5), so that EC2 can decrypt
// the bundle when it registers and launches it; openami signs with the
// private key the manifests it makes itself (BundleInstance, CopyImage).
//
// A region's key is made on first use and stored with the private key
// sealed under the master key (internal/seal), so a stolen database alone
// reveals no key; `openami master-key rotate` re-seals it
// (ResealRegionKeys). Two nodes making one at once end with the one stored
// first. The private key never leaves this package: others decrypt and
// sign through EC2Decrypt and EC2Signer.

// RegionKeyValidity is how long a region's EC2 certificate is valid from
// its making: 30 years, since a bundle encrypted to it must stay
// registrable for as long as its image is kept, and AWS's own cert-ec2.pem
// was replaced only once a decade.
const RegionKeyValidity = 30 * 365 * 24 * time.Hour

// ec2Key is a region's EC2 key, opened.
type ec2Key struct {
	cert *x509.Certificate
	pem  []byte
	key  *rsa.PrivateKey
}

// regionKeys caches the opened EC2 keys of Accounts by region: a key never
// changes once made (re-sealing changes only how it is stored).
type regionKeys struct {
	mu   sync.Mutex
	keys map[string]*ec2Key
}

// regionKeyAD is the associated data a region's private key is sealed
// with, so that one region's sealed key cannot pass as another's.
func regionKeyAD(region string) []byte { return []byte("region-key/" + region) }

// EC2CertificateSubject returns the common name of a region's EC2
// certificate: ec2-REGION.openami.
func EC2CertificateSubject(region string) string { return "ec2-" + region + ".openami" }

// ec2Key returns the opened EC2 key of the served region, making and
// storing it on first use. NotFound (about openami.ResourceRegion) for a
// region this server does not serve. It runs its own transactions: call
// it outside the caller's.
func (s *Accounts) ec2Key(ctx context.Context, region string) (*ec2Key, error) {
	if _, ok := s.Region(region); !ok {
		return nil, openami.Errorf(openami.NotFound, openami.ResourceRegion, "The region '%s' is not served here", region)
	}
	s.ec2.mu.Lock()
	k := s.ec2.keys[region]
	s.ec2.mu.Unlock()
	if k != nil {
		return k, nil
	}
	var stored metadata.RegionKey
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		stored, err = tx.Certificates().RegionKey(region)
		return err
	})
	if errors.Is(err, openami.ErrNotFound) {
		var made metadata.RegionKey
		if made, err = s.makeRegionKey(region); err != nil {
			return nil, err
		}
		err = s.store.Update(ctx, func(tx metadata.Tx) error {
			var err error
			stored, err = tx.Certificates().CreateRegionKeyIfAbsent(made)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("region %s's EC2 key: %w", region, err)
	}
	if k, err = s.openRegionKey(stored); err != nil {
		return nil, err
	}
	s.ec2.mu.Lock()
	if s.ec2.keys == nil {
		s.ec2.keys = map[string]*ec2Key{}
	}
	s.ec2.keys[region] = k
	s.ec2.mu.Unlock()
	return k, nil
}

// makeRegionKey makes a new EC2 key for the region: an RSA 2048 key and
// its self-signed certificate, the private key sealed.
func (s *Accounts) makeRegionKey(region string) (metadata.RegionKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return metadata.RegionKey{}, fmt.Errorf("region key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return metadata.RegionKey{}, fmt.Errorf("region key: %w", err)
	}
	now := s.now().UTC()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         EC2CertificateSubject(region),
			Organization:       []string{"openami"},
			OrganizationalUnit: []string{"EC2 " + region},
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(RegionKeyValidity),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return metadata.RegionKey{}, fmt.Errorf("region key: certificate: %w", err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return metadata.RegionKey{}, fmt.Errorf("region key: %w", err)
	}
	sealed := s.seal.Seal(priv, regionKeyAD(region))
	clear(priv)
	return metadata.RegionKey{
		Region:      region,
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		SealedKey:   sealed,
		CreatedAt:   s.nowUTC(),
	}, nil
}

// openRegionKey opens a stored region key. Its errors never quote the
// sealed bytes.
func (s *Accounts) openRegionKey(k metadata.RegionKey) (*ec2Key, error) {
	block, _ := pem.Decode([]byte(k.Certificate))
	if block == nil {
		return nil, fmt.Errorf("region %s's EC2 certificate is not PEM", k.Region)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("region %s's EC2 certificate: %w", k.Region, err)
	}
	der, err := s.seal.Open(k.SealedKey, regionKeyAD(k.Region))
	if err != nil {
		return nil, fmt.Errorf("region %s's EC2 key does not open under the master key", k.Region)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	key, ok := parsed.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("region %s's EC2 key is not an RSA key", k.Region)
	}
	return &ec2Key{cert: cert, pem: []byte(k.Certificate), key: key}, nil
}

// EC2Certificate returns the served region's EC2 certificate, parsed and
// in PEM (what users fetch as cert-ec2.pem), making the region's key on
// first use. NotFound (about openami.ResourceRegion) for a region this
// server does not serve. Call it outside a transaction of the caller's.
func (s *Accounts) EC2Certificate(ctx context.Context, region string) (*x509.Certificate, []byte, error) {
	k, err := s.ec2Key(ctx, region)
	if err != nil {
		return nil, nil, err
	}
	return k.cert, append([]byte(nil), k.pem...), nil
}

// EC2Decrypt decrypts with the region's EC2 private key a value encrypted
// to its certificate with RSA PKCS#1 v1.5, as the AMI tools encrypt a
// bundle's key and IV. A ciphertext that does not decrypt is
// InvalidParameter (about openami.ResourceRegionKey, ReasonCiphertext).
// PKCS#1 v1.5 invites padding-oracle attacks: a caller must answer a
// value that does not decrypt exactly as one that decrypts to a wrong key,
// so that its answers tell nothing of the padding. Call it outside a
// transaction of the caller's.
func (s *Accounts) EC2Decrypt(ctx context.Context, region string, ciphertext []byte) ([]byte, error) {
	k, err := s.ec2Key(ctx, region)
	if err != nil {
		return nil, err
	}
	plain, err := rsa.DecryptPKCS1v15(nil, k.key, ciphertext)
	if err != nil {
		return nil, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceRegionKey, openami.ReasonCiphertext, "The value does not decrypt under the EC2 key of %s", region)
	}
	return plain, nil
}

// EC2Signer returns a signer with the region's EC2 private key, for the
// manifests openami makes itself (BundleInstance, CopyImage: RSA-SHA1
// over the manifest's elements, crypto.SHA1 with PKCS#1 v1.5). The signer
// signs; it does not give the key out. Call it outside a transaction of
// the caller's.
func (s *Accounts) EC2Signer(ctx context.Context, region string) (crypto.Signer, error) {
	k, err := s.ec2Key(ctx, region)
	if err != nil {
		return nil, err
	}
	return ec2Signer{k.key}, nil
}

// ec2Signer is a crypto.Signer over a region's private key that hides the
// key itself.
type ec2Signer struct{ key *rsa.PrivateKey }

func (e ec2Signer) Public() crypto.PublicKey { return &e.key.PublicKey }

func (e ec2Signer) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return e.key.Sign(r, digest, opts)
}

// ManifestSigners returns the certificates whose keys may sign a manifest
// of the account's in the region, read in the caller's transaction: the
// account's active signing certificates, then the region's EC2
// certificate (manifests openami made), if the region has a key yet — a
// region without one has signed nothing.
func (s *Accounts) ManifestSigners(tx metadata.Tx, accountID, region string) ([]*x509.Certificate, error) {
	certs, err := tx.Certificates().Signing(accountID)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, c := range certs {
		if c.Status != openami.CertificateActive {
			continue
		}
		parsed, _, err := ParseSigningCertificate(c.Body)
		if err != nil {
			return nil, fmt.Errorf("signing certificate %s: %w", c.ID, err)
		}
		out = append(out, parsed)
	}
	s.ec2.mu.Lock()
	k := s.ec2.keys[region]
	s.ec2.mu.Unlock()
	if k != nil {
		return append(out, k.cert), nil
	}
	stored, err := tx.Certificates().RegionKey(region)
	if errors.Is(err, openami.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode([]byte(stored.Certificate))
	if block == nil {
		return nil, fmt.Errorf("region %s's EC2 certificate is not PEM", region)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("region %s's EC2 certificate: %w", region, err)
	}
	return append(out, cert), nil
}
