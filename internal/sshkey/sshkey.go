// Package sshkey implements the key-material half of EC2's CreateKeyPair and
// ImportKeyPair: it makes new key pairs, reads the public keys users import,
// and computes the fingerprints AWS reports for both, byte for byte.
//
// AWS fingerprints a key pair differently depending on where it came from
// (see "Verify the fingerprint of your key pair" in the Amazon EC2 User
// Guide, and the keyFingerprint field of CreateKeyPair and ImportKeyPair):
//
//   - RSA, created by EC2: the SHA-1 digest of the DER-encoded PKCS#8
//     private key, as `openssl pkcs8 -topk8 -nocrypt -outform DER | openssl
//     sha1 -c` prints it: lowercase hex bytes separated by colons.
//   - RSA, imported: the MD5 digest of the DER-encoded SubjectPublicKeyInfo,
//     as `openssl rsa -pubout -outform DER | openssl md5 -c` prints it. This
//     is not what `ssh-keygen -l -E md5` prints (that hashes the SSH wire
//     form of the key), which is why users so often find that the two differ.
//   - ED25519, created or imported: the SHA-256 digest of the SSH wire form
//     of the public key in standard base64, as OpenSSH 6.8 and later print
//     it, but without the "SHA256:" prefix and with the trailing '=' padding
//     that ssh-keygen drops.
//
// The same RSA key therefore has one fingerprint when EC2 created it and
// another once it is imported; callers must use the function for the case.
package sshkey

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/openami/openami"
)

// Private key file formats that Generate writes, named as CreateKeyPair's
// KeyFormat parameter names them.
const (
	// FormatPEM is what OpenSSH reads: a PKCS#1 "RSA PRIVATE KEY" for RSA
	// and an "OPENSSH PRIVATE KEY" for ED25519 (PKCS#1 cannot hold one).
	FormatPEM = "pem"
	// FormatPPK is PuTTY's private key file, version 2, unencrypted.
	FormatPPK = "ppk"
)

// rsaBits is the size of the RSA keys CreateKeyPair makes; AWS documents
// "ED25519 or 2048-bit RSA" and nothing else.
const rsaBits = 2048

// ppkComment is the Comment header of generated PPK files. Generate is not
// told the key pair's name, and puttygen writes this comment for every key
// converted from a PEM file, which is what a PPK made from a freshly
// generated PEM key amounts to.
const ppkComment = "imported-openssh-key"

// Generate creates a new key pair of type t: a 2048-bit RSA key for
// openami.KeyTypeRSA, an Ed25519 key for openami.KeyTypeED25519. It returns
// the private key in format (FormatPEM or FormatPPK) as CreateKeyPair returns
// it in KeyMaterial, without a trailing newline; the public key as an OpenSSH
// authorized_keys line with no comment and no newline; and the fingerprint
// AWS reports for a key pair it created.
//
// An unknown key type or format is an openami.InvalidParameter error (the
// rules refuse them first, in words the protocols render); a failure of
// the system's random source is an openami.Internal one.
func Generate(t openami.KeyType, format string) (privateKey, publicKey, fingerprint string, err error) {
	if format != FormatPEM && format != FormatPPK {
		return "", "", "", openami.Errorf(openami.InvalidParameter, "",
			"key format %q is neither pem nor ppk", format)
	}
	var priv any
	switch t {
	case openami.KeyTypeRSA:
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return "", "", "", internal("generating rsa key", err)
		}
		if priv, err = largerPrimeFirst(k); err != nil {
			return "", "", "", err
		}
	case openami.KeyTypeED25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return "", "", "", internal("generating ed25519 key", err)
		}
		priv = k
	default:
		return "", "", "", openami.Errorf(openami.InvalidParameter, "",
			"key type %q is neither rsa nor ed25519", t)
	}
	return encode(priv, format)
}

// largerPrimeFirst returns k with its primes ordered p > q, as OpenSSL and
// Java order them and as puttygen does when it converts a PPK file to PEM.
// Go's order is random; left alone, half of all PPK users who convert their
// key to PEM to check it would get a PKCS#1 encoding, and so a SHA-1
// fingerprint, different from the one reported at creation.
func largerPrimeFirst(k *rsa.PrivateKey) (*rsa.PrivateKey, error) {
	if len(k.Primes) != 2 || k.Primes[0].Cmp(k.Primes[1]) > 0 {
		return k, nil
	}
	s := &rsa.PrivateKey{PublicKey: k.PublicKey, D: k.D, Primes: []*big.Int{k.Primes[1], k.Primes[0]}}
	s.Precompute()
	if err := s.Validate(); err != nil {
		return nil, internal("reordering rsa primes", err)
	}
	return s, nil
}

// encode is Generate after the randomness: it is separate so that tests can
// feed it fixed keys.
func encode(priv any, format string) (privateKey, publicKey, fingerprint string, err error) {
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return "", "", "", internal("wrapping private key", err)
	}
	pub := signer.PublicKey()
	fingerprint, err = createdFingerprint(priv)
	if err != nil {
		return "", "", "", err
	}
	var out []byte
	switch format {
	case FormatPPK:
		out, err = marshalPPK(priv, ppkComment)
	default:
		out, err = marshalPEM(priv)
	}
	if err != nil {
		return "", "", "", err
	}
	// AWS's KeyMaterial ends with the END line, not a newline after it.
	return strings.TrimRight(string(out), "\r\n"), authorizedKey(pub), fingerprint, nil
}

// marshalPEM writes priv the way CreateKeyPair's "pem" format does.
func marshalPEM(priv any) ([]byte, error) {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	case ed25519.PrivateKey:
		b, err := ssh.MarshalPrivateKey(k, "")
		if err != nil {
			return nil, internal("encoding ed25519 private key", err)
		}
		return pem.EncodeToMemory(b), nil
	}
	return nil, internal("encoding private key", fmt.Errorf("unsupported key type %T", priv))
}

// createdFingerprint returns the fingerprint AWS reports for a key pair that
// EC2 created with private key priv.
func createdFingerprint(priv any) (string, error) {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return "", internal("encoding pkcs8 private key", err)
		}
		sum := sha1.Sum(der)
		return colonHex(sum[:]), nil
	case ed25519.PrivateKey:
		pub, err := ssh.NewPublicKey(k.Public())
		if err != nil {
			return "", internal("wrapping ed25519 public key", err)
		}
		return sha256Fingerprint(pub), nil
	}
	return "", internal("fingerprinting private key", fmt.Errorf("unsupported key type %T", priv))
}

// importedFingerprint returns the fingerprint AWS reports for an imported
// public key, which must be RSA or Ed25519.
func importedFingerprint(pub ssh.PublicKey) (string, error) {
	ck, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return "", internal("fingerprinting public key", fmt.Errorf("unsupported key type %s", pub.Type()))
	}
	switch k := ck.CryptoPublicKey().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", internal("encoding rsa public key", err)
		}
		sum := md5.Sum(der)
		return colonHex(sum[:]), nil
	case ed25519.PublicKey:
		return sha256Fingerprint(pub), nil
	}
	return "", internal("fingerprinting public key", fmt.Errorf("unsupported key type %s", pub.Type()))
}

// sha256Fingerprint is ssh.FingerprintSHA256 in AWS's spelling: padded
// standard base64 and no "SHA256:" prefix.
func sha256Fingerprint(pub ssh.PublicKey) string {
	sum := sha256.Sum256(pub.Marshal())
	return base64.StdEncoding.EncodeToString(sum[:])
}

// colonHex spells b as lowercase hex bytes joined by colons: "0a:1b:...".
func colonHex(b []byte) string {
	h := hex.EncodeToString(b)
	var sb strings.Builder
	sb.Grow(len(h) + len(b))
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}

// authorizedKey returns pub as an authorized_keys line without comment or
// newline: "ssh-ed25519 AAAA...".
func authorizedKey(pub ssh.PublicKey) string {
	return pub.Type() + " " + base64.StdEncoding.EncodeToString(pub.Marshal())
}

func internal(doing string, err error) error {
	return &openami.Error{Class: openami.Internal, Resource: openami.ResourceKeyPair, Message: doing, Err: err}
}
