package sshkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/openami/openami"
)

// maxMaterial bounds the input ParsePublic looks at. A 4096-bit RSA key, the
// largest AWS accepts, takes under 1 KiB in any accepted format; the bound
// keeps a hostile request from buying unbounded parsing work.
const maxMaterial = 16 << 10

// rsaSizes are the RSA modulus sizes ImportKeyPair accepts. The EC2 User
// Guide ("Create a key pair using a third-party tool", Requirements) lists
// 1024, 2048 and 4096; 3072 is accepted too because it has been ssh-keygen's
// default RSA size since OpenSSH 8.0, and refusing the default key of the
// most common tool would turn away the very users import exists for.
var rsaSizes = map[int]bool{1024: true, 2048: true, 3072: true, 4096: true}

// ParsePublic parses ImportKeyPair's PublicKeyMaterial, already
// base64-decoded by the caller, in each format AWS documents:
//
//   - OpenSSH public key format, the authorized_keys line "ssh-rsa AAAA...
//     comment", with or without the comment, RSA or ED25519;
//   - base64-encoded DER, RSA only: a SubjectPublicKeyInfo (what `openssl rsa
//     -pubout` writes) or a PKCS#1 RSAPublicKey, bare or in PEM armor;
//   - the SSH public key file format of RFC 4716 ("---- BEGIN SSH2 PUBLIC
//     KEY ----"), RSA only.
//
// AWS limits DER and RFC 4716 to RSA; ED25519 keys must come as OpenSSH
// lines. RSA keys must have a 1024, 2048, 3072 or 4096-bit modulus. DSA,
// ECDSA, security-key and certificate types are refused.
//
// It returns the key type, the key as an authorized_keys line without
// comment or newline, and the fingerprint AWS reports for an imported key
// pair. Anything it cannot accept yields an openami.InvalidParameter error
// about openami.ResourceKeyPair with AWS's message "Key is not in valid
// OpenSSH public key format", which the API layer reports as
// InvalidKeyPair.Format.
func ParsePublic(material []byte) (openami.KeyType, string, string, error) {
	pub, err := parsePublic(material)
	if err != nil {
		return "", "", "", errFormat()
	}
	var kt openami.KeyType
	switch k := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(type) {
	case *rsa.PublicKey:
		if !rsaSizes[k.N.BitLen()] {
			return "", "", "", errFormat()
		}
		kt = openami.KeyTypeRSA
	case ed25519.PublicKey:
		kt = openami.KeyTypeED25519
	default:
		return "", "", "", errFormat()
	}
	fp, err := importedFingerprint(pub)
	if err != nil {
		return "", "", "", err
	}
	return kt, authorizedKey(pub), fp, nil
}

// errFormat returns the one answer to every unacceptable key, as on AWS. It
// makes a new error each time so that no caller can alter a shared one.
func errFormat() error {
	return openami.Errorf(openami.InvalidParameter, openami.ResourceKeyPair, "Key is not in valid OpenSSH public key format")
}

// errUnsupported is parsePublic's internal "no": ParsePublic turns every
// failure into errFormat, so the details only matter while debugging.
var errUnsupported = errors.New("unsupported public key")

// parsePublic recognises the format and returns an RSA or Ed25519 key.
func parsePublic(material []byte) (ssh.PublicKey, error) {
	if len(material) == 0 || len(material) > maxMaterial || !utf8.Valid(material) {
		return nil, errUnsupported
	}
	text := strings.TrimSpace(string(material))
	switch {
	case strings.HasPrefix(text, "---- BEGIN SSH2 PUBLIC KEY ----"):
		return onlyRSA(parseRFC4716(text))
	case strings.HasPrefix(text, "-----BEGIN "):
		return onlyRSA(parsePEM(text))
	}
	// An OpenSSH line has at least two fields on its first line; base64 DER,
	// wrapped or not, has one per line.
	first, _, _ := strings.Cut(text, "\n")
	if len(strings.Fields(first)) >= 2 {
		return parseOpenSSH(text)
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
	if err != nil {
		return nil, err
	}
	return onlyRSA(parseDER(der))
}

// parseOpenSSH reads one authorized_keys line without options:
// "<type> <base64 blob> [comment]". The type named must be the blob's.
func parseOpenSSH(text string) (ssh.PublicKey, error) {
	if strings.ContainsAny(text, "\r\n") {
		return nil, errUnsupported // one key, one line
	}
	fields := strings.Fields(text)
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return nil, err
	}
	pub, err := parseBlob(blob)
	if err != nil {
		return nil, err
	}
	if pub.Type() != fields[0] {
		return nil, errUnsupported
	}
	return pub, nil
}

// parseRFC4716 reads the SSH2 public key file of RFC 4716: BEGIN line,
// header lines "Tag: value" (a trailing backslash continues one onto the
// next line), the base64 blob, END line.
func parseRFC4716(text string) (ssh.PublicKey, error) {
	lines := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' })
	if len(lines) < 3 || strings.TrimSpace(lines[len(lines)-1]) != "---- END SSH2 PUBLIC KEY ----" {
		return nil, errUnsupported
	}
	var body strings.Builder
	inHeader, continued := true, false
	for _, line := range lines[1 : len(lines)-1] {
		line = strings.TrimSpace(line)
		if inHeader {
			if continued || strings.Contains(line, ":") {
				continued = strings.HasSuffix(line, `\`)
				continue
			}
			inHeader = false
		}
		body.WriteString(line)
	}
	if continued {
		return nil, errUnsupported
	}
	blob, err := base64.StdEncoding.DecodeString(body.String())
	if err != nil {
		return nil, err
	}
	return parseBlob(blob)
}

// parsePEM reads base64 DER in PEM armor, as `openssl rsa -pubout` writes it.
func parsePEM(text string) (ssh.PublicKey, error) {
	block, rest := pem.Decode([]byte(text))
	if block == nil || len(bytes.TrimSpace(rest)) != 0 || len(block.Headers) != 0 {
		return nil, errUnsupported
	}
	if block.Type != "PUBLIC KEY" && block.Type != "RSA PUBLIC KEY" {
		return nil, errUnsupported
	}
	return parseDER(block.Bytes)
}

// parseDER reads a SubjectPublicKeyInfo or, failing that, a PKCS#1
// RSAPublicKey.
func parseDER(der []byte) (ssh.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		if k, err = x509.ParsePKCS1PublicKey(der); err != nil {
			return nil, err
		}
	}
	switch k.(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, errUnsupported
	}
	// Round-trip through the SSH wire form so that DER keys meet the same
	// checks (exponent size and parity) as keys that arrive as SSH blobs.
	pub, err := ssh.NewPublicKey(k)
	if err != nil {
		return nil, err
	}
	return parseBlob(pub.Marshal())
}

// parseBlob parses an SSH wire-format key and keeps it only if it is a plain
// ssh-rsa or ssh-ed25519 key.
func parseBlob(blob []byte) (ssh.PublicKey, error) {
	pub, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, err
	}
	if t := pub.Type(); t != ssh.KeyAlgoRSA && t != ssh.KeyAlgoED25519 {
		return nil, errUnsupported
	}
	if _, ok := pub.(ssh.CryptoPublicKey); !ok {
		return nil, errUnsupported
	}
	return pub, nil
}

// onlyRSA passes on RSA keys; AWS takes the DER and RFC 4716 formats for
// RSA keys only.
func onlyRSA(pub ssh.PublicKey, err error) (ssh.PublicKey, error) {
	if err != nil {
		return nil, err
	}
	if pub.Type() != ssh.KeyAlgoRSA {
		return nil, errUnsupported
	}
	return pub, nil
}
