package sshkey

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openami/openami"
)

// FuzzParsePublic feeds ParsePublic arbitrary bytes, seeded with every
// fixture. It must never panic; it must either refuse with the format error
// or return a key that parses back to itself.
func FuzzParsePublic(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("---- BEGIN SSH2 PUBLIC KEY ----\nComment: \\\n---- END SSH2 PUBLIC KEY ----"))
	f.Add([]byte("-----BEGIN RSA PUBLIC KEY-----\n-----END RSA PUBLIC KEY-----"))
	f.Add([]byte("ssh-rsa AAAA"))

	f.Fuzz(func(t *testing.T, material []byte) {
		kt, line, fp, err := ParsePublic(material)
		if err != nil {
			if !errors.Is(err, openami.ErrInvalidParameter) || openami.ResourceOf(err) != openami.ResourceKeyPair {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if kt != openami.KeyTypeRSA && kt != openami.KeyTypeED25519 {
			t.Fatalf("accepted key type %q", kt)
		}
		if strings.ContainsAny(line, "\r\n") || fp == "" {
			t.Fatalf("bad result %q, %q", line, fp)
		}
		kt2, line2, fp2, err := ParsePublic([]byte(line))
		if err != nil || kt2 != kt || line2 != line || fp2 != fp {
			t.Fatalf("normalized line %q does not parse back to itself: %v", line, err)
		}
	})
}
