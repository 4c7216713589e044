package kms

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/seal"
)

func testMaterial(seed byte) []byte { return bytes.Repeat([]byte{seed}, keyMaterialSize) }

func wantBadCiphertext(t *testing.T, what string, err error) {
	t.Helper()
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != openami.Malformed || e.Reason != openami.ReasonCiphertext {
		t.Fatalf("%s: %v, want Malformed ciphertext", what, err)
	}
}

// TestCiphertextFormat pins the layout of a version 1 blob: version byte,
// the key id's 16 bytes, a 12-byte nonce, the ciphertext and a 16-byte tag.
func TestCiphertextFormat(t *testing.T) {
	id := "0b7a1c8e-8f3e-4a55-9d1e-0123456789ab"
	for _, n := range []int{1, 16, 32, 4096} {
		pt := make([]byte, n)
		rand.Read(pt)
		blob, err := encryptBlob(id, testMaterial(1), pt, map[string]string{"a": "b"})
		if err != nil {
			t.Fatal(err)
		}
		if len(blob) != n+blobOverhead || blobOverhead != 45 {
			t.Fatalf("%d-byte plaintext: %d-byte blob, want %d", n, len(blob), n+45)
		}
		if blob[0] != 1 {
			t.Fatalf("version byte %d", blob[0])
		}
		if got := uuid.Must(uuid.FromBytes(blob[1:17])).String(); got != id {
			t.Fatalf("key id in the blob %s, want %s", got, id)
		}
		b, err := parseCiphertext(blob)
		if err != nil {
			t.Fatal(err)
		}
		if b.keyID != id || !bytes.Equal(b.nonce, blob[17:29]) || len(b.sealed) != n+16 {
			t.Fatalf("parsed %+v", b)
		}
		got, err := decryptBlob(b, testMaterial(1), map[string]string{"a": "b"})
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("round trip of %d bytes: %v", n, err)
		}
	}
	// Two encryptions of one plaintext differ (random nonces).
	a, _ := encryptBlob(id, testMaterial(1), []byte("same"), nil)
	b, _ := encryptBlob(id, testMaterial(1), []byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions are identical")
	}
}

// TestCiphertextRejects: every way a blob can be wrong fails the same way.
func TestCiphertextRejects(t *testing.T) {
	id := uuid.NewString()
	ctx := map[string]string{"volume": "vol-1", "snapshot": "snap-1"}
	blob, err := encryptBlob(id, testMaterial(1), []byte("plaintext"), ctx)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := bytes.Clone(blob); b[i] ^= 0x80; return b }
	for _, c := range []struct {
		name     string
		blob     []byte
		material []byte
		ctx      map[string]string
	}{
		{"empty", nil, testMaterial(1), ctx},
		{"too short for a tag", blob[:blobOverhead-1], testMaterial(1), ctx},
		{"version 0", flip(0), testMaterial(1), ctx},
		{"version 2", append([]byte{2}, blob[1:]...), testMaterial(1), ctx},
		{"key id altered", flip(5), testMaterial(1), ctx},
		{"nonce altered", flip(20), testMaterial(1), ctx},
		{"ciphertext altered", flip(30), testMaterial(1), ctx},
		{"tag altered", flip(len(blob) - 1), testMaterial(1), ctx},
		{"truncated", blob[:len(blob)-1], testMaterial(1), ctx},
		{"extended", append(bytes.Clone(blob), 0), testMaterial(1), ctx},
		{"other key material", blob, testMaterial(2), ctx},
		{"no context", blob, testMaterial(1), nil},
		{"context value differs", blob, testMaterial(1), map[string]string{"volume": "vol-2", "snapshot": "snap-1"}},
		{"context pair missing", blob, testMaterial(1), map[string]string{"volume": "vol-1"}},
		{"context pair added", blob, testMaterial(1), map[string]string{"volume": "vol-1", "snapshot": "snap-1", "x": ""}},
		{"context key and value swapped", blob, testMaterial(1), map[string]string{"vol-1": "volume", "snap-1": "snapshot"}},
	} {
		b, err := parseCiphertext(c.blob)
		if err == nil {
			_, err = decryptBlob(b, c.material, c.ctx)
		}
		wantBadCiphertext(t, c.name, err)
	}
}

// TestEncodeContext: the canonical encoding does not depend on map order
// and keeps pairs apart that concatenation would confuse.
func TestEncodeContext(t *testing.T) {
	for _, c := range []struct {
		a, b  map[string]string
		equal bool
	}{
		{nil, map[string]string{}, true},
		{map[string]string{"a": "1", "b": "2"}, map[string]string{"b": "2", "a": "1"}, true},
		{map[string]string{"ab": "c"}, map[string]string{"a": "bc"}, false},
		{map[string]string{"a": "b", "c": "d"}, map[string]string{"a": "bcd"}, false},
		{map[string]string{"": ""}, nil, false},
		{map[string]string{"a": ""}, map[string]string{"a": "\x00"}, false},
	} {
		if got := bytes.Equal(encodeContext(c.a), encodeContext(c.b)); got != c.equal {
			t.Errorf("encodeContext(%q) == encodeContext(%q): %v, want %v", c.a, c.b, got, c.equal)
		}
	}
	if got := encodeContext(map[string]string{"b": "2", "a": "1"}); !bytes.Equal(got, []byte("\x02\x01a\x011\x01b\x012")) {
		t.Errorf("encoding %q", got)
	}
}

// TestKeyMaterialSealing: sealed material opens only for the key it was
// made for and under the master key that sealed it.
func TestKeyMaterialSealing(t *testing.T) {
	master, _ := seal.New(testMaterial(7))
	other, _ := seal.New(testMaterial(8))
	k := openami.Key{ID: uuid.NewString(), Region: "us-east-1", AccountID: "111111111111"}
	k.SealedMaterial = newKeyMaterial(master, k.Region, k.AccountID, k.ID)
	m, err := openKeyMaterial(master, k)
	if err != nil || len(m) != keyMaterialSize || bytes.Equal(m, make([]byte, keyMaterialSize)) {
		t.Fatalf("open: %v", err)
	}
	if bytes.Contains(k.SealedMaterial, m) {
		t.Fatal("sealed material contains the material")
	}
	for name, moved := range map[string]openami.Key{
		"another key id":  {ID: uuid.NewString(), Region: k.Region, AccountID: k.AccountID, SealedMaterial: k.SealedMaterial},
		"another account": {ID: k.ID, Region: k.Region, AccountID: "222222222222", SealedMaterial: k.SealedMaterial},
		"another region":  {ID: k.ID, Region: "us-west-2", AccountID: k.AccountID, SealedMaterial: k.SealedMaterial},
	} {
		if _, err := openKeyMaterial(master, moved); err == nil {
			t.Errorf("material opened for %s", name)
		}
	}
	if _, err := openKeyMaterial(other, k); err == nil {
		t.Error("material opened under another master key")
	}
	if k2 := newKeyMaterial(master, k.Region, k.AccountID, k.ID); bytes.Equal(k2, k.SealedMaterial) {
		t.Error("two keys got the same sealed material")
	}
}

// FuzzParseCiphertext: parsing and decrypting arbitrary bytes never panics,
// and nothing but a blob made with the material and context decrypts.
func FuzzParseCiphertext(f *testing.F) {
	id := "0b7a1c8e-8f3e-4a55-9d1e-0123456789ab"
	good, _ := encryptBlob(id, testMaterial(1), []byte("hello"), map[string]string{"k": "v"})
	f.Add(good, "k", "v")
	f.Add([]byte{}, "", "")
	f.Add([]byte{1}, "k", "v")
	f.Add(make([]byte, blobOverhead), "", "")
	f.Fuzz(func(t *testing.T, b []byte, k, v string) {
		blob, err := parseCiphertext(b)
		if err != nil {
			wantBadCiphertext(t, "parse", err)
			if len(b) >= blobOverhead && b[0] == blobVersion {
				t.Fatalf("a well-sized version 1 blob was refused: %v", err)
			}
			return
		}
		if len(b) < blobOverhead || b[0] != blobVersion || blob.keyID == "" {
			t.Fatalf("parsed a blob that should be refused: %x", b)
		}
		pt, err := decryptBlob(blob, testMaterial(1), map[string]string{k: v})
		if err != nil {
			wantBadCiphertext(t, "decrypt", err)
			return
		}
		// The only blob ever made with this material is the seed's (its
		// nonce differs from process to process), so anything else that
		// decrypts is a forgery.
		if k != "k" || v != "v" || string(pt) != "hello" {
			t.Fatalf("decrypted a blob that was not made with this material and context: %x %q=%q → %q", b, k, v, pt)
		}
	})
}
