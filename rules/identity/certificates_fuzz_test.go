package identity

import (
	"crypto/rsa"
	"encoding/hex"
	"testing"
)

// FuzzParseSigningCertificate: whatever a client uploads, parsing never
// panics, and what it accepts is an RSA certificate with a SHA-256
// fingerprint.
func FuzzParseSigningCertificate(f *testing.F) {
	body, _ := testCertificate(f, true)
	ec, _ := testCertificate(f, false)
	for _, seed := range []string{body, ec, body + body, "", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", body[:len(body)/2]} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cert, fp, err := ParseSigningCertificate(s)
		if err != nil {
			return
		}
		if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
			t.Fatalf("accepted a %T key", cert.PublicKey)
		}
		if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 {
			t.Fatalf("fingerprint %q", fp)
		}
	})
}
