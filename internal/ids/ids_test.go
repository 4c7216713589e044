package ids

import (
	"regexp"
	"testing"
)

func TestForms(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := New("key")
		if !Valid("key", id) || Valid("ami", id) || seen[id] {
			t.Fatalf("New produced %q (valid %v, repeated %v)", id, Valid("key", id), seen[id])
		}
		seen[id] = true
		if a := NewAccountID(); !ValidAccountID(a) || a[0] == '0' {
			t.Fatalf("account id %q", a)
		}
		if k := NewAccessKeyID(); !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(k) {
			t.Fatalf("access key id %q", k)
		}
		if s := NewSecretAccessKey(); !regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`).MatchString(s) {
			t.Fatalf("secret %q", s)
		}
	}
	for id, want := range map[string]bool{
		"key-12345678": true, "key-0123456789abcdef0": true, "key-0123456789ABCDEF0": false,
		"key-1234567": false, "key-": false, "key": false, "keys-12345678": false, "key-1234567g": false,
	} {
		if Valid("key", id) != want {
			t.Errorf("Valid(key, %q) = %v, want %v", id, !want, want)
		}
	}
	if Prefix("snap-1") != "snap" || Prefix("nodash") != "" {
		t.Error("Prefix")
	}
	if ValidAccountID("12345678901") || ValidAccountID("12345678901a") || !ValidAccountID("123456789012") {
		t.Error("ValidAccountID")
	}
}
