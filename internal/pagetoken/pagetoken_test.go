package pagetoken

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
)

var (
	secret  = []byte("0123456789abcdef0123456789abcdef")
	secret2 = []byte("fedcba9876543210fedcba9876543210")
	t0      = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	scope   = Scope("DescribeImages", "111122223333", "us-east-1", "fingerprint")
)

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

func wantInvalid(t *testing.T, what string, cursor []byte, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: Decode succeeded with cursor %q", what, cursor)
	}
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != openami.InvalidToken || !strings.HasPrefix(e.Message, "The token '") {
		t.Fatalf("%s: Decode error = %v, want an InvalidToken *openami.Error", what, err)
	}
}

func TestRoundTrip(t *testing.T) {
	c := New(secret).WithClock(fixed(t0))
	for _, cursor := range [][]byte{nil, {}, {0}, []byte("ami-0123456789abcdef0"), bytes.Repeat([]byte{0xff, 0}, 500)} {
		tok := c.Encode(scope, cursor)
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("token %q is not URL-safe", tok)
		}
		got, err := c.Decode(scope, tok)
		if err != nil {
			t.Fatalf("Decode(%q): %v", tok, err)
		}
		if !bytes.Equal(got, cursor) {
			t.Errorf("Decode = %q, want %q", got, cursor)
		}
	}
	// Another codec with the same secret (another server) agrees.
	tok := c.Encode(scope, []byte("x"))
	if got, err := New(secret).WithClock(fixed(t0.Add(time.Hour))).Decode(scope, tok); err != nil || string(got) != "x" {
		t.Errorf("Decode on a second codec = %q, %v", got, err)
	}
}

func TestTokenIsShort(t *testing.T) {
	tok := New(secret).Encode(scope, []byte("ami-0123456789abcdef0"))
	// 1 + 8 + 21 + 16 bytes = 46, which is 62 base64 characters.
	if len(tok) != 62 {
		t.Errorf("len(token) = %d, want 62", len(tok))
	}
}

func TestTamper(t *testing.T) {
	c := New(secret).WithClock(fixed(t0))
	tok := c.Encode(scope, []byte("cursor-value"))
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	// Every bit of every byte is covered by the tag.
	for i := range raw {
		for bit := range 8 {
			b := bytes.Clone(raw)
			b[i] ^= 1 << bit
			cur, err := c.Decode(scope, base64.RawURLEncoding.EncodeToString(b))
			wantInvalid(t, fmt.Sprintf("byte %d bit %d flipped", i, bit), cur, err)
		}
	}
	// Every character of the token, replaced by any other, breaks it:
	// including the last, whose unused low bits a lax decoder ignores.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range tok {
		for _, r := range alphabet + "+/=.~ " {
			if byte(r) == tok[i] {
				continue
			}
			bad := tok[:i] + string(r) + tok[i+1:]
			cur, err := c.Decode(scope, bad)
			wantInvalid(t, "replaced character", cur, err)
		}
	}
	// Truncated, extended, and empty tokens.
	for _, bad := range []string{"", tok[:len(tok)-1], tok[:10], tok + "A", tok + "AA", "=" + tok, tok + "=="} {
		cur, err := c.Decode(scope, bad)
		wantInvalid(t, "truncated or extended", cur, err)
	}
}

func TestWrongScopeOrSecret(t *testing.T) {
	c := New(secret).WithClock(fixed(t0))
	tok := c.Encode(scope, []byte("c"))
	for _, s := range []string{
		"",
		Scope("DescribeImages", "111122223333", "us-west-2", "fingerprint"),
		Scope("DescribeSnapshots", "111122223333", "us-east-1", "fingerprint"),
		Scope("DescribeImages", "444455556666", "us-east-1", "fingerprint"),
		Scope("DescribeImages", "111122223333", "us-east-1", "other"),
	} {
		cur, err := c.Decode(s, tok)
		wantInvalid(t, "scope "+s, cur, err)
	}
	other := New(secret2).WithClock(fixed(t0))
	cur, err := other.Decode(scope, tok)
	wantInvalid(t, "other secret", cur, err)
}

func TestExpiry(t *testing.T) {
	tok := New(secret).WithClock(fixed(t0)).Encode(scope, []byte("c"))
	for _, tt := range []struct {
		at time.Time
		ok bool
	}{
		{t0, true},
		{t0.Add(23 * time.Hour), true},
		{t0.Add(MaxAge), true},
		{t0.Add(MaxAge + time.Second), false},
		{t0.Add(30 * 24 * time.Hour), false},
		{t0.Add(-time.Minute), true}, // a peer's clock a little behind
		{t0.Add(-time.Hour), false},  // issued in the future
	} {
		cur, err := New(secret).WithClock(fixed(tt.at)).Decode(scope, tok)
		if tt.ok && err != nil {
			t.Errorf("Decode at issue+%v: %v", tt.at.Sub(t0), err)
		}
		if !tt.ok {
			wantInvalid(t, "at issue+"+tt.at.Sub(t0).String(), cur, err)
		}
	}
}

func TestErrorMessageTruncated(t *testing.T) {
	c := New(secret)
	_, err := c.Decode(scope, strings.Repeat("A", 1000))
	want := "The token '" + strings.Repeat("A", 32) + "...' is invalid"
	if err == nil || err.Error() != want {
		t.Errorf("Decode error = %v, want %q", err, want)
	}
	_, err = c.Decode(scope, "short")
	if err == nil || err.Error() != "The token 'short' is invalid" {
		t.Errorf("Decode error = %v", err)
	}
	_, err = c.Decode(scope, strings.Repeat("é", 40))
	if err == nil || err.Error() != "The token '"+strings.Repeat("é", 32)+"...' is invalid" {
		t.Errorf("Decode error = %v", err)
	}
	_, err = c.Decode(scope, strings.Repeat("A", 100<<10))
	wantInvalid(t, "huge", nil, err)
}

func TestScope(t *testing.T) {
	if Scope("ab", "c") == Scope("a", "bc") {
		t.Error(`Scope("ab", "c") == Scope("a", "bc")`)
	}
	if Scope("a", "") == Scope("a") || Scope() == Scope("") {
		t.Error("empty parts must count")
	}
	if Scope("1:a") == Scope("1", "a") {
		t.Error("a part that looks like a length prefix must not collide")
	}
	if Scope("x", "y") != Scope("x", "y") {
		t.Error("Scope is not stable")
	}
	if got := Scope("DescribeImages", "1"); got != "14:DescribeImages1:1" {
		t.Errorf("Scope = %q", got)
	}
}

func TestNewPanicsOnShortSecret(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New did not panic on a 31-byte secret")
		}
	}()
	New(make([]byte, MinSecretSize-1))
}

func TestNewCopiesSecret(t *testing.T) {
	s := bytes.Clone(secret)
	c := New(s).WithClock(fixed(t0))
	tok := c.Encode(scope, []byte("c"))
	s[0] ^= 1
	if _, err := c.Decode(scope, tok); err != nil {
		t.Errorf("changing the caller's secret slice changed the codec: %v", err)
	}
}

// FuzzDecode feeds arbitrary tokens and scopes to Decode: it must never
// panic, and anything it accepts must be a token the codec could have made.
func FuzzDecode(f *testing.F) {
	c := New(secret).WithClock(fixed(t0))
	f.Add(scope, c.Encode(scope, []byte("cursor")))
	f.Add(scope, c.Encode(scope, nil))
	f.Add("", "")
	f.Add("x", "AQAAAAAAAAAA")
	f.Add(scope, strings.Repeat("_", 60))
	f.Add(scope, "\xff\xfe")
	f.Fuzz(func(t *testing.T, s, token string) {
		cur, err := c.Decode(s, token)
		if err != nil {
			if openami.ClassOf(err) != openami.InvalidToken {
				t.Fatalf("Decode error %v is not InvalidToken", err)
			}
			return
		}
		if c.Encode(s, cur) != token {
			t.Fatalf("Decode accepted %q, which Encode does not produce", token)
		}
	})
}

func BenchmarkEncodeDecode(b *testing.B) {
	c := New(secret)
	cursor := []byte("ami-0123456789abcdef0")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(scope, c.Encode(scope, cursor)); err != nil {
			b.Fatal(err)
		}
	}
}
