package sshkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/openami/openami"
)

// The fixtures in testdata were made with OpenSSH 9.2p1, OpenSSL 3.0 and
// PuTTY 0.78 (puttygen), and the expected values below were computed with
// those tools, not with this package:
//
//	ssh-keygen -t rsa -b 2048 -m PEM -N '' -C '' -f rsa2048   → rsa2048.pem, rsa2048.pub
//	ssh-keygen -t ed25519 -N '' -C me@host -f ed25519          → ed25519.key, ed25519.pub
//	ssh-keygen -t rsa -b N -m PEM -C "rsaN comment"            → rsaN.pub (1024, 3072, 4096)
//	ssh-keygen -t rsa -b 1536 -C ''                            → rsa1536.pub
//	openssl genrsa 512 | openssl rsa -pubout | ssh-keygen -i -m PKCS8 → rsa512.pub
//	ssh-keygen -t dsa / -t ecdsa -b 256                        → dsa.pub, ecdsa.pub
//	ssh-keygen -e -f X.pub                                     → X.rfc4716
//	openssl rsa -in rsa2048.pem -pubout [-outform DER | base64] → rsa2048.spki.pem, .spki.b64
//	openssl rsa -in rsa2048.pem -pubout -RSAPublicKey_out -outform DER | base64 → rsa2048.pkcs1.b64
//	(302a300506032b6570032100 ‖ raw key) | base64              → ed25519.spki.b64
//	puttygen X -O private --ppk-param version=2 -o X.ppk       → rsa2048.ppk, ed25519.ppk
const (
	// openssl pkcs8 -in rsa2048.pem -topk8 -nocrypt -outform DER | openssl sha1 -c
	createdRSA2048 = "b4:b4:f7:83:7f:1b:ff:d8:4c:d3:69:98:69:de:e5:46:ed:67:dd:3a"
	// openssl rsa -in rsaN.pem -pubout -outform DER | openssl md5 -c, which
	// prints the same as the AWS guide's
	// ssh-keygen -ef rsaN.pub -m PEM | openssl rsa -RSAPublicKey_in -outform DER | openssl md5 -c
	importedRSA1024 = "f5:89:76:62:5c:96:18:c6:d1:24:02:74:9f:df:85:39"
	importedRSA2048 = "ce:d7:31:75:48:d8:61:5b:df:bf:08:ea:a5:7f:54:b7"
	importedRSA3072 = "60:b2:d2:f0:e9:a4:b7:ef:d1:a5:46:71:ac:d5:01:9a"
	importedRSA4096 = "e9:e2:3e:c7:86:5c:22:a2:5f:7f:ca:be:20:ea:8e:16"
	// ssh-keygen -l -E md5 -f rsa2048.pub: what AWS does NOT report.
	sshKeygenMD5RSA2048 = "9b:1c:44:25:93:dc:84:53:67:b0:da:11:37:c6:15:e0"
	// ssh-keygen -l -E sha256 -f ed25519.pub prints
	// SHA256:FNXfTVGTRXckZ4IzsDrqFMwdBPnELQ9cD+dKOK1g0Uc; AWS drops the
	// prefix and keeps the padding.
	ed25519FP = "FNXfTVGTRXckZ4IzsDrqFMwdBPnELQ9cD+dKOK1g0Uc="
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureKey(t testing.TB, name string) any {
	t.Helper()
	k, err := ssh.ParseRawPrivateKey(readFixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if p, ok := k.(*ed25519.PrivateKey); ok {
		return *p
	}
	return k
}

// pubLine is a fixture .pub file's first two fields: its key without comment.
func pubLine(t testing.TB, name string) string {
	t.Helper()
	f := strings.Fields(string(readFixture(t, name)))
	return f[0] + " " + f[1]
}

func TestCreatedFingerprintFixtures(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"rsa2048.pem", createdRSA2048},
		{"ed25519.key", ed25519FP},
	} {
		got, err := createdFingerprint(fixtureKey(t, tc.key))
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: created fingerprint %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestEncodeFixtures(t *testing.T) {
	rsaKey := fixtureKey(t, "rsa2048.pem")
	priv, pub, fp, err := encode(rsaKey, FormatPEM)
	if err != nil {
		t.Fatal(err)
	}
	// ssh-keygen -m PEM writes the same PKCS#1 PEM as AWS: 64-column base64
	// between RSA PRIVATE KEY lines. AWS ends KeyMaterial at the END line.
	if want := strings.TrimRight(string(readFixture(t, "rsa2048.pem")), "\n"); priv != want {
		t.Errorf("pem = %q, want the ssh-keygen fixture %q", priv, want)
	}
	if want := pubLine(t, "rsa2048.pub"); pub != want {
		t.Errorf("public key = %q, want %q", pub, want)
	}
	if fp != createdRSA2048 {
		t.Errorf("fingerprint = %q, want %q", fp, createdRSA2048)
	}

	// The same key with its primes the other way round, as Go may generate
	// it, comes out as the ssh-keygen fixture once Generate reorders it.
	k := rsaKey.(*rsa.PrivateKey)
	swapped := &rsa.PrivateKey{PublicKey: k.PublicKey, D: k.D, Primes: []*big.Int{k.Primes[1], k.Primes[0]}}
	swapped.Precompute()
	reordered, err := largerPrimeFirst(swapped)
	if err != nil {
		t.Fatal(err)
	}
	if priv2, _, fp2, _ := encode(reordered, FormatPEM); priv2 != priv || fp2 != createdRSA2048 {
		t.Errorf("reordered key encodes as %q (fingerprint %q), want the fixture", priv2, fp2)
	}

	_, pub, fp, err = encode(fixtureKey(t, "ed25519.key"), FormatPEM)
	if err != nil {
		t.Fatal(err)
	}
	if want := pubLine(t, "ed25519.pub"); pub != want {
		t.Errorf("public key = %q, want %q", pub, want)
	}
	if fp != ed25519FP {
		t.Errorf("fingerprint = %q, want %q", fp, ed25519FP)
	}
}

// TestPPKFixtures checks the PPK writer against puttygen's output for the
// same keys, byte for byte, MAC included.
func TestPPKFixtures(t *testing.T) {
	for _, tc := range []struct{ key, comment, ppk string }{
		// puttygen names a key read from a PEM file "imported-openssh-key"
		// and keeps an OpenSSH key file's own comment.
		{"rsa2048.pem", "imported-openssh-key", "rsa2048.ppk"},
		{"ed25519.key", "me@host", "ed25519.ppk"},
	} {
		got, err := marshalPPK(fixtureKey(t, tc.key), tc.comment)
		if err != nil {
			t.Fatal(err)
		}
		if want := readFixture(t, tc.ppk); !bytes.Equal(got, want) {
			t.Errorf("marshalPPK(%s) =\n%s\nwant puttygen's\n%s", tc.key, got, want)
		}
	}
}

func TestGenerateRoundTrip(t *testing.T) {
	fpRSA := regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){19}$`)
	fpED := regexp.MustCompile(`^[A-Za-z0-9+/]{43}=$`)
	for _, kt := range []openami.KeyType{openami.KeyTypeRSA, openami.KeyTypeED25519} {
		for _, format := range []string{FormatPEM, FormatPPK} {
			t.Run(string(kt)+"/"+format, func(t *testing.T) {
				priv, pub, fp, err := Generate(kt, format)
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasSuffix(priv, "\n") {
					t.Error("private key ends with a newline; AWS's KeyMaterial does not")
				}
				var key any
				switch format {
				case FormatPEM:
					header := map[openami.KeyType]string{
						openami.KeyTypeRSA:     "-----BEGIN RSA PRIVATE KEY-----\n",
						openami.KeyTypeED25519: "-----BEGIN OPENSSH PRIVATE KEY-----\n",
					}[kt]
					if !strings.HasPrefix(priv, header) {
						t.Fatalf("pem starts %q, want %q", priv[:min(len(priv), 40)], header)
					}
					k, err := ssh.ParseRawPrivateKey([]byte(priv))
					if err != nil {
						t.Fatalf("generated pem does not parse: %v", err)
					}
					if p, ok := k.(*ed25519.PrivateKey); ok {
						k = *p
					}
					key = k
				case FormatPPK:
					key = readPPK(t, priv+"\n")
				}

				signer, err := ssh.NewSignerFromKey(key)
				if err != nil {
					t.Fatal(err)
				}
				if got := authorizedKey(signer.PublicKey()); got != pub {
					t.Errorf("private key's public half %q, returned public key %q", got, pub)
				}
				switch kt {
				case openami.KeyTypeRSA:
					k, ok := key.(*rsa.PrivateKey)
					if !ok || k.N.BitLen() != 2048 {
						t.Fatalf("key is %T, want a 2048-bit *rsa.PrivateKey", key)
					}
					if k.Primes[0].Cmp(k.Primes[1]) <= 0 {
						t.Error("primes are not ordered p > q as OpenSSL and puttygen order them")
					}
					if !fpRSA.MatchString(fp) {
						t.Errorf("fingerprint %q is not 20 colon-separated hex bytes", fp)
					}
				case openami.KeyTypeED25519:
					if _, ok := key.(ed25519.PrivateKey); !ok {
						t.Errorf("key is %T, want ed25519.PrivateKey", key)
					}
					if !fpED.MatchString(fp) {
						t.Errorf("fingerprint %q is not padded base64 of 32 bytes", fp)
					}
				}
				if want, _ := createdFingerprint(key); fp != want {
					t.Errorf("fingerprint %q is not the private key's %q", fp, want)
				}

				// The public key can be imported again, as AWS users do to
				// use a key pair in another region. The imported ED25519
				// fingerprint is the created one; the RSA one differs.
				gotType, line, importedFP, err := ParsePublic([]byte(pub))
				if err != nil {
					t.Fatalf("ParsePublic(generated public key): %v", err)
				}
				if gotType != kt || line != pub {
					t.Errorf("ParsePublic = %q, %q; want %q, %q", gotType, line, kt, pub)
				}
				if sameFP := importedFP == fp; sameFP != (kt == openami.KeyTypeED25519) {
					t.Errorf("imported fingerprint %q vs created %q", importedFP, fp)
				}
			})
		}
	}
}

func TestGenerateInvalid(t *testing.T) {
	for _, tc := range []struct {
		kt     openami.KeyType
		format string
	}{
		{"dsa", FormatPEM},
		{"", FormatPEM},
		{openami.KeyTypeRSA, "der"},
		{openami.KeyTypeED25519, ""},
		{openami.KeyTypeRSA, "PEM"},
	} {
		_, _, _, err := Generate(tc.kt, tc.format)
		if !errors.Is(err, openami.ErrInvalidParameter) {
			t.Errorf("Generate(%q, %q) = %v, want an invalid-parameter error", tc.kt, tc.format, err)
		}
		if r := openami.ResourceOf(err); r == openami.ResourceKeyPair {
			t.Errorf("Generate(%q, %q): resource %q would be reported as InvalidKeyPair.Format", tc.kt, tc.format, r)
		}
	}
}

func TestParsePublicAccepts(t *testing.T) {
	rsa2048 := pubLine(t, "rsa2048.pub")
	ed := pubLine(t, "ed25519.pub")
	spki := string(readFixture(t, "rsa2048.spki.b64"))
	var wrapped strings.Builder
	for s := spki; len(s) > 0; {
		n := min(64, len(s))
		wrapped.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	blob := strings.Fields(rsa2048)[1]
	rfcByHand := "---- BEGIN SSH2 PUBLIC KEY ----\r\n" +
		"Subject: me\r\n" +
		"Comment: \"a comment that goes on \\\r\n" +
		"and on: with a colon\"\r\n" +
		blob[:70] + "\r\n" + blob[70:140] + "\r\n" + blob[140:] + "\r\n" +
		"---- END SSH2 PUBLIC KEY ----\r\n"

	for _, tc := range []struct {
		name     string
		material string
		kt       openami.KeyType
		line, fp string
	}{
		{"openssh rsa 2048 (empty comment)", string(readFixture(t, "rsa2048.pub")), openami.KeyTypeRSA, rsa2048, importedRSA2048},
		{"openssh rsa without comment", rsa2048, openami.KeyTypeRSA, rsa2048, importedRSA2048},
		{"openssh rsa 1024", string(readFixture(t, "rsa1024.pub")), openami.KeyTypeRSA, pubLine(t, "rsa1024.pub"), importedRSA1024},
		{"openssh rsa 3072", string(readFixture(t, "rsa3072.pub")), openami.KeyTypeRSA, pubLine(t, "rsa3072.pub"), importedRSA3072},
		{"openssh rsa 4096", string(readFixture(t, "rsa4096.pub")), openami.KeyTypeRSA, pubLine(t, "rsa4096.pub"), importedRSA4096},
		{"openssh rsa, spaces and CRLF around", "  \t" + rsa2048 + "  my key\r\n\r\n", openami.KeyTypeRSA, rsa2048, importedRSA2048},
		{"openssh ed25519 with comment", string(readFixture(t, "ed25519.pub")), openami.KeyTypeED25519, ed, ed25519FP},
		{"openssh ed25519 without comment", ed, openami.KeyTypeED25519, ed, ed25519FP},
		{"rfc4716 from ssh-keygen -e", string(readFixture(t, "rsa2048.rfc4716")), openami.KeyTypeRSA, rsa2048, importedRSA2048},
		{"rfc4716 with continued header and CRLF", rfcByHand, openami.KeyTypeRSA, rsa2048, importedRSA2048},
		{"base64 DER SubjectPublicKeyInfo", spki, openami.KeyTypeRSA, rsa2048, importedRSA2048},
		{"base64 DER SubjectPublicKeyInfo, wrapped", wrapped.String(), openami.KeyTypeRSA, rsa2048, importedRSA2048},
		{"base64 DER PKCS#1", string(readFixture(t, "rsa2048.pkcs1.b64")), openami.KeyTypeRSA, rsa2048, importedRSA2048},
		{"PEM PUBLIC KEY", string(readFixture(t, "rsa2048.spki.pem")), openami.KeyTypeRSA, rsa2048, importedRSA2048},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kt, line, fp, err := ParsePublic([]byte(tc.material))
			if err != nil {
				t.Fatalf("ParsePublic: %v", err)
			}
			if kt != tc.kt || line != tc.line || fp != tc.fp {
				t.Errorf("ParsePublic = %q, %q, %q\nwant           %q, %q, %q", kt, line, fp, tc.kt, tc.line, tc.fp)
			}
			if fp == sshKeygenMD5RSA2048 {
				t.Errorf("fingerprint is ssh-keygen's MD5 of the SSH blob, not AWS's MD5 of the DER key")
			}
		})
	}
}

func TestParsePublicRejects(t *testing.T) {
	rsa2048 := pubLine(t, "rsa2048.pub")
	ed := pubLine(t, "ed25519.pub")
	rsaBlob := strings.Fields(rsa2048)[1]
	edBlob := strings.Fields(ed)[1]
	cases := []struct{ name, material string }{
		{"empty", ""},
		{"blank", " \n\t\r\n"},
		{"garbage", "this is not a key"},
		{"dsa", string(readFixture(t, "dsa.pub"))},
		{"ecdsa", string(readFixture(t, "ecdsa.pub"))},
		{"rsa 512", string(readFixture(t, "rsa512.pub"))},
		{"rsa 1536", string(readFixture(t, "rsa1536.pub"))},
		{"ed25519 as rfc4716", string(readFixture(t, "ed25519.rfc4716"))},
		{"ed25519 as base64 DER", string(readFixture(t, "ed25519.spki.b64"))},
		{"type does not match blob", "ssh-ed25519 " + rsaBlob},
		{"unknown type name", "ssh-foo " + edBlob},
		{"authorized_keys options", `no-pty,from="10.0.0.1" ` + rsa2048},
		{"two keys", rsa2048 + "\n" + ed},
		{"blob only", rsaBlob},
		{"truncated blob", "ssh-rsa " + rsaBlob[:len(rsaBlob)-8]},
		{"bad base64", "ssh-rsa " + rsaBlob[:40] + "!" + rsaBlob[41:]},
		{"trailing junk in blob", "ssh-ed25519 " + base64.StdEncoding.EncodeToString(append(mustB64(t, edBlob), 0))},
		{"private key pem", string(readFixture(t, "rsa2048.pem"))},
		{"private key openssh", string(readFixture(t, "ed25519.key"))},
		{"ppk", string(readFixture(t, "rsa2048.ppk"))},
		{"rfc4716 without end", strings.TrimSuffix(strings.TrimSpace(string(readFixture(t, "rsa2048.rfc4716"))), "---- END SSH2 PUBLIC KEY ----")},
		{"rfc4716 dangling continuation", "---- BEGIN SSH2 PUBLIC KEY ----\nComment: x\\\n---- END SSH2 PUBLIC KEY ----\n"},
		{"pem with trailing data", string(readFixture(t, "rsa2048.spki.pem")) + "extra"},
		{"pem of the wrong type", strings.ReplaceAll(string(readFixture(t, "rsa2048.spki.pem")), "PUBLIC KEY", "CERTIFICATE")},
		{"not utf-8", "ssh-rsa \xff\xfe"},
		{"huge", "ssh-rsa " + strings.Repeat("A", maxMaterial)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kt, line, fp, err := ParsePublic([]byte(tc.material))
			if err == nil {
				t.Fatalf("ParsePublic accepted it: %q, %q, %q", kt, line, fp)
			}
			checkFormatError(t, err)
		})
	}
}

func checkFormatError(t *testing.T, err error) {
	t.Helper()
	var e *openami.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *openami.Error", err, err)
	}
	if e.Class != openami.InvalidParameter || e.Resource != openami.ResourceKeyPair ||
		e.Message != "Key is not in valid OpenSSH public key format" || e.Err != nil {
		t.Errorf("error = %+v, want InvalidParameter/key-pair \"Key is not in valid OpenSSH public key format\"", *e)
	}
}

func TestColonHex(t *testing.T) {
	if got := colonHex([]byte{0x0a, 0xff, 0x00}); got != "0a:ff:00" {
		t.Errorf("colonHex = %q", got)
	}
	if got := colonHex(nil); got != "" {
		t.Errorf("colonHex(nil) = %q", got)
	}
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readPPK is an independent reader of unencrypted PPK version 2 files, per
// the PuTTY manual's appendix: it checks the layout and the MAC and returns
// the private key, so that generated PPK files can be loaded back.
func readPPK(t *testing.T, text string) any {
	t.Helper()
	lines := strings.Split(text, "\n")
	next := func(prefix string) string {
		t.Helper()
		if len(lines) == 0 || !strings.HasPrefix(lines[0], prefix+": ") {
			t.Fatalf("ppk: want %q line, have %q", prefix, lines[:min(1, len(lines))])
		}
		v := strings.TrimPrefix(lines[0], prefix+": ")
		lines = lines[1:]
		return v
	}
	block := func(prefix string) []byte {
		t.Helper()
		n, err := strconv.Atoi(next(prefix))
		if err != nil || n > len(lines) {
			t.Fatalf("ppk: bad %s", prefix)
		}
		for _, l := range lines[:n] {
			if len(l) > 64 {
				t.Fatalf("ppk: %s line longer than 64 characters", prefix)
			}
		}
		b := mustB64(t, strings.Join(lines[:n], ""))
		lines = lines[n:]
		return b
	}
	alg := next("PuTTY-User-Key-File-2")
	enc := next("Encryption")
	comment := next("Comment")
	pubBlob := block("Public-Lines")
	privBlob := block("Private-Lines")
	mac := next("Private-MAC")
	if enc != "none" {
		t.Fatalf("ppk: Encryption %q", enc)
	}
	if len(lines) != 1 || lines[0] != "" {
		t.Fatalf("ppk: trailing lines %q", lines)
	}

	key := sha1.Sum([]byte("putty-private-key-file-mac-key"))
	h := hmac.New(sha1.New, key[:])
	for _, f := range [][]byte{[]byte(alg), []byte(enc), []byte(comment), pubBlob, privBlob} {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(f)))
		h.Write(l[:])
		h.Write(f)
	}
	if want := hex.EncodeToString(h.Sum(nil)); mac != want {
		t.Fatalf("ppk: Private-MAC %s, want %s", mac, want)
	}

	pub, err := ssh.ParsePublicKey(pubBlob)
	if err != nil || pub.Type() != alg {
		t.Fatalf("ppk: public blob: %v (type %v, header %q)", err, pub, alg)
	}
	take := func() []byte {
		t.Helper()
		if len(privBlob) < 4 {
			t.Fatal("ppk: private blob truncated")
		}
		n := binary.BigEndian.Uint32(privBlob)
		if uint64(len(privBlob)-4) < uint64(n) {
			t.Fatal("ppk: private blob truncated")
		}
		v := privBlob[4 : 4+n]
		privBlob = privBlob[4+n:]
		return v
	}
	var priv any
	switch k := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(type) {
	case *rsa.PublicKey:
		d, p, q, iqmp := new(big.Int).SetBytes(take()), new(big.Int).SetBytes(take()), new(big.Int).SetBytes(take()), new(big.Int).SetBytes(take())
		rk := &rsa.PrivateKey{PublicKey: *k, D: d, Primes: []*big.Int{p, q}}
		if err := rk.Validate(); err != nil {
			t.Fatalf("ppk: rsa key: %v", err)
		}
		if new(big.Int).Mod(new(big.Int).Mul(iqmp, q), p).Cmp(big.NewInt(1)) != 0 {
			t.Fatal("ppk: iqmp is not q⁻¹ mod p")
		}
		rk.Precompute()
		priv = rk
	case ed25519.PublicKey:
		seed := take()
		if len(seed) != ed25519.SeedSize {
			t.Fatalf("ppk: ed25519 seed of %d bytes", len(seed))
		}
		ek := ed25519.NewKeyFromSeed(seed)
		if !ek.Public().(ed25519.PublicKey).Equal(k) {
			t.Fatal("ppk: ed25519 seed does not match the public key")
		}
		priv = ek
	default:
		t.Fatalf("ppk: unexpected key %T", k)
	}
	if len(privBlob) != 0 {
		t.Fatalf("ppk: %d bytes after the private key", len(privBlob))
	}
	return priv
}

func ExampleParsePublic() {
	kt, line, fp, err := ParsePublic([]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILVA2gTB2ShY3H9Nf9GGMfhgyMQ/A9umfyLA60skpeOy me@host\n"))
	fmt.Println(kt, err)
	fmt.Println(line)
	fmt.Println(fp)
	// Output:
	// ed25519 <nil>
	// ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILVA2gTB2ShY3H9Nf9GGMfhgyMQ/A9umfyLA60skpeOy
	// FNXfTVGTRXckZ4IzsDrqFMwdBPnELQ9cD+dKOK1g0Uc=
}
