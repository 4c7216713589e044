// Package pagetoken makes the NextToken values of paginated Describe calls:
// opaque, URL-safe strings that carry a store cursor back to the server.
//
// A token is signed, so a client can neither forge a cursor nor edit one
// (cursors may name rows the client must not reach directly); it is bound
// to a scope, so a token issued for one query (action, account, region,
// filters) is refused by another, where its cursor would mean something
// else; and it expires, so old cursors need not stay meaningful across
// schema or data changes forever. The cursor itself is not encrypted: it
// must hold nothing the caller may not see.
//
// Layout, before base64url encoding without padding:
//
//	version (1 byte) | issued at, Unix seconds (8 bytes, big-endian) | cursor | tag (16 bytes)
//
// where tag is HMAC-SHA256, truncated to 16 bytes, over a domain label,
// the length-prefixed scope, and everything before the tag.
package pagetoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openami/openami"
)

const (
	version = 1
	// tagSize is the truncated HMAC length: 128 bits is ample against
	// forgery by an online attacker and keeps tokens short.
	tagSize    = 16
	headerSize = 1 + 8
	// MaxAge is how long a token stays valid after it is issued.
	MaxAge = 24 * time.Hour
	// clockSkew is how far in the future an issue time may lie, so that
	// servers sharing a secret with slightly different clocks accept each
	// other's tokens.
	clockSkew = 5 * time.Minute
	// maxShown bounds how much of a bad token an error message repeats.
	maxShown = 32
	// MinSecretSize is the shortest secret New accepts.
	MinSecretSize = 32
)

// label separates these MACs from any other use of the same secret.
const label = "openami pagetoken v1\x00"

var encoding = base64.RawURLEncoding.Strict()

// Codec encodes and decodes tokens with one secret. It is safe for
// concurrent use.
type Codec struct {
	secret []byte
	now    func() time.Time
}

// New returns a codec that signs with secret, which it copies. Servers that
// share a secret accept each other's tokens. New panics if secret is
// shorter than MinSecretSize bytes: a weak secret is a configuration bug
// that must not reach production silently.
func New(secret []byte) *Codec {
	if len(secret) < MinSecretSize {
		panic("pagetoken: secret must be at least " + strconv.Itoa(MinSecretSize) + " bytes")
	}
	return &Codec{secret: append([]byte(nil), secret...), now: time.Now}
}

// WithClock returns a copy of c that reads the time from now, for tests.
func (c *Codec) WithClock(now func() time.Time) *Codec {
	return &Codec{secret: c.secret, now: now}
}

// Encode returns a URL-safe opaque token carrying cursor, bound to scope
// (see Scope) and to the current time. It cannot fail.
func (c *Codec) Encode(scope string, cursor []byte) string {
	b := make([]byte, headerSize, headerSize+len(cursor)+tagSize)
	b[0] = version
	binary.BigEndian.PutUint64(b[1:], uint64(c.now().Unix()))
	b = append(b, cursor...)
	b = c.sign(b, scope, b)
	return encoding.EncodeToString(b)
}

// sign appends to dst the tag of body under scope.
func (c *Codec) sign(dst []byte, scope string, body []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(label))
	var n [binary.MaxVarintLen64]byte
	m.Write(n[:binary.PutUvarint(n[:], uint64(len(scope)))])
	m.Write([]byte(scope))
	m.Write(body)
	var sum [sha256.Size]byte
	return append(dst, m.Sum(sum[:0])[:tagSize]...)
}

// Decode returns the cursor carried by token, which must have been made by
// Encode with the same secret and scope within the last MaxAge. Anything
// else (a malformed or truncated token, one signed with another secret or
// for another scope, one expired or issued implausibly far in the future)
// returns an *openami.Error of class InvalidToken that quotes the start of
// the token; the cases are not told apart, so a client learns nothing about
// why a forgery failed.
func (c *Codec) Decode(scope, token string) ([]byte, error) {
	// A valid token is never longer than the largest cursor we issue; the
	// check is cheap insurance against decoding megabytes of junk.
	if len(token) > 64<<10 {
		return nil, invalid(token)
	}
	b, err := encoding.DecodeString(token)
	if err != nil || len(b) < headerSize+tagSize || b[0] != version {
		return nil, invalid(token)
	}
	body, tag := b[:len(b)-tagSize], b[len(b)-tagSize:]
	var buf [tagSize]byte
	if !hmac.Equal(c.sign(buf[:0], scope, body), tag) {
		return nil, invalid(token)
	}
	issued := int64(binary.BigEndian.Uint64(body[1:headerSize]))
	now := c.now().Unix()
	// Compare without subtracting issued, which could overflow.
	if issued > now+int64(clockSkew/time.Second) || issued < now-int64(MaxAge/time.Second) {
		return nil, invalid(token)
	}
	return body[headerSize:], nil
}

// invalid returns the InvalidToken error for token, quoting at most
// maxShown characters so that error messages stay short however long the
// client's junk was.
func invalid(token string) error {
	shown := token
	if utf8.RuneCountInString(shown) > maxShown {
		n := 0
		for i := range shown {
			if n == maxShown {
				shown = shown[:i] + "..."
				break
			}
			n++
		}
	}
	return openami.Errorf(openami.InvalidToken, "", "The token '%s' is invalid", shown)
}

// Scope builds a scope string from parts, for Encode and Decode. Each part
// is prefixed with its length, so that no two different lists of parts
// give the same scope: Scope("ab", "c") != Scope("a", "bc").
func Scope(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}
