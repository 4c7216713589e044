package bundle

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
)

// KeySize is the size of the AES key and of the IV: AES-128-CBC.
const KeySize = 16

// The key and IV travel encrypted as their 32 hex digits, not as 16 raw
// bytes: the AMI tools make them with bin2hex and hand the decrypted text
// straight to `openssl enc -K … -iv …`, and euca2ools does the same
// ('{0:0>32x}'). Both encrypt with RSA PKCS#1 v1.5, which the format fixes
// (and which Go marks deprecated for new designs).

// EC2Key decrypts the AES key and IV that were encrypted to the EC2
// certificate, with decrypt: an RSA PKCS#1 v1.5 decryption by the EC2
// private key, wherever that is kept (see Decrypter; rules/identity's
// EC2Decrypt). It returns ErrKey itself, and nothing more, when decrypt
// fails or the result is not 128 bits in hex, so that its answer tells
// nothing of the padding.
func (m *Manifest) EC2Key(decrypt func([]byte) ([]byte, error)) (key, iv []byte, err error) {
	return openKey(decrypt, m.EC2EncryptedKey, m.EC2EncryptedIV)
}

// UserKey is EC2Key for the key and IV encrypted to the bundler's own
// certificate: the user's way to unbundle. It returns an ErrKey error too
// when the manifest holds no user-encrypted key.
func (m *Manifest) UserKey(decrypt func([]byte) ([]byte, error)) (key, iv []byte, err error) {
	return openKey(decrypt, m.UserEncryptedKey, m.UserEncryptedIV)
}

// Decrypter adapts a crypto.Decrypter holding an RSA private key (an
// *rsa.PrivateKey, or a key kept in a KMS or HSM) to the function EC2Key
// and UserKey take: PKCS#1 v1.5 decryption.
func Decrypter(d crypto.Decrypter) func([]byte) ([]byte, error) {
	return func(c []byte) ([]byte, error) { return d.Decrypt(rand.Reader, c, nil) }
}

func openKey(decrypt func([]byte) ([]byte, error), encKey, encIV []byte) (key, iv []byte, err error) {
	if len(encKey) == 0 || len(encIV) == 0 {
		return nil, nil, fmt.Errorf("%w: the manifest holds no such key", ErrKey)
	}
	// One answer for every failure, whatever decrypt said: telling a bad
	// padding from a bad value would make PKCS#1 v1.5 a padding oracle.
	if key, err = openHex(decrypt, encKey); err != nil {
		return nil, nil, ErrKey
	}
	if iv, err = openHex(decrypt, encIV); err != nil {
		return nil, nil, ErrKey
	}
	return key, iv, nil
}

func openHex(decrypt func([]byte) ([]byte, error), c []byte) ([]byte, error) {
	text, err := decrypt(c)
	if err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(string(bytes.TrimSpace(text)))
	if err != nil || len(b) != KeySize {
		return nil, fmt.Errorf("not %d bytes in hex", KeySize)
	}
	return b, nil
}

// SetEC2Key encrypts key and iv to cert's RSA key and stores them as the
// EC2-encrypted key and IV: with EC2Key and Sign, how a copy of a bundle
// moves to another region's EC2 certificate without touching its parts.
// The manifest must be signed again afterwards.
func (m *Manifest) SetEC2Key(key, iv []byte, cert *x509.Certificate) error {
	k, v, err := sealKey(key, iv, cert)
	if err != nil {
		return err
	}
	m.EC2EncryptedKey, m.EC2EncryptedIV = k, v
	return nil
}

// SetUserKey is SetEC2Key for the user's certificate; a nil certificate
// removes the user-encrypted key and IV (a bundle only EC2 can open).
func (m *Manifest) SetUserKey(key, iv []byte, cert *x509.Certificate) error {
	if cert == nil {
		m.UserEncryptedKey, m.UserEncryptedIV = nil, nil
		return nil
	}
	k, v, err := sealKey(key, iv, cert)
	if err != nil {
		return err
	}
	m.UserEncryptedKey, m.UserEncryptedIV = k, v
	return nil
}

func sealKey(key, iv []byte, cert *x509.Certificate) (k, v []byte, err error) {
	if len(key) != KeySize || len(iv) != KeySize {
		return nil, nil, fmt.Errorf("bundle key and iv must be %d bytes", KeySize)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("bundle certificate %q holds a %T, not an RSA key", cert.Subject, cert.PublicKey)
	}
	if k, err = rsa.EncryptPKCS1v15(rand.Reader, pub, []byte(hex.EncodeToString(key))); err != nil {
		return nil, nil, fmt.Errorf("encrypting bundle key: %w", err)
	}
	if v, err = rsa.EncryptPKCS1v15(rand.Reader, pub, []byte(hex.EncodeToString(iv))); err != nil {
		return nil, nil, fmt.Errorf("encrypting bundle iv: %w", err)
	}
	return k, v, nil
}

// newKey returns a random AES key and IV read from r.
func newKey(r io.Reader) (key, iv []byte, err error) {
	b := make([]byte, 2*KeySize)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, nil, fmt.Errorf("making bundle key: %w", err)
	}
	return b[:KeySize], b[KeySize:], nil
}
