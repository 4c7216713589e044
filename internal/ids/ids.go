// Package ids makes and checks identifiers in AWS's forms: resource ids
// (key-0123456789abcdef0), 12-digit account ids, and access keys.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// New returns a new resource id: prefix, a dash, and 17 random lowercase
// hexadecimal digits, as AWS's current ids are.
func New(prefix string) string {
	var b [9]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}

// Derived returns the resource id that parts name, always the same for
// the same parts: prefix, a dash, and 17 hexadecimal digits of their
// SHA-256. It names resources that exist by definition rather than by a
// request, such as an account's default VPC in a region.
func Derived(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + "-" + hex.EncodeToString(h.Sum(nil))[:17]
}

// Valid reports whether id is prefix, a dash, and 8 or 17 lowercase
// hexadecimal digits (AWS's short and long id forms).
func Valid(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"-")
	if !ok || (len(rest) != 8 && len(rest) != 17) {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Prefix returns the part of id before its first dash, or "" if it has none.
func Prefix(id string) string {
	p, _, ok := strings.Cut(id, "-")
	if !ok {
		return ""
	}
	return p
}

// NewAccountID returns a random 12-digit account id that does not start
// with zero.
func NewAccountID() string {
	var b [12]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	return string(b[:])
}

// ValidAccountID reports whether s is exactly 12 decimal digits.
func ValidAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

const base32Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// NewAccessKeyID returns an access key id in AWS's long-term form: "AKIA"
// followed by 16 characters of [A-Z2-7].
func NewAccessKeyID() string {
	return "AKIA" + randomFrom(base32Upper, 16)
}

// NewSecretAccessKey returns a 40-character secret access key.
func NewSecretAccessKey() string {
	return randomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)
}

// randomFrom returns n characters drawn uniformly from alphabet, whose
// length must divide 256.
func randomFrom(alphabet string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
