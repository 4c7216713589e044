package seal

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("OPENAMI_MASTER_KEY", "")
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("master.key mode %v, want 0600", fi.Mode().Perm())
	}
	sealed := k.Seal([]byte("secret"), []byte("AKIA1"))
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("sealed value contains the plaintext")
	}
	// A second load reads the same key.
	k2, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k2.Open(sealed, []byte("AKIA1"))
	if err != nil || string(pt) != "secret" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := k2.Open(sealed, []byte("AKIA2")); err == nil {
		t.Error("Open with another aad succeeded")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k2.Open(sealed, []byte("AKIA1")); err == nil {
		t.Error("Open of an altered value succeeded")
	}
	other, _ := New(bytes.Repeat([]byte{7}, KeySize))
	if _, err := other.Open(k.Seal([]byte("x"), nil), nil); err == nil {
		t.Error("Open with another key succeeded")
	}
}

func TestEnvOverride(t *testing.T) {
	t.Setenv("OPENAMI_MASTER_KEY", "not base64!")
	if _, err := LoadOrCreate(t.TempDir()); err == nil {
		t.Fatal("bad OPENAMI_MASTER_KEY accepted")
	}
	t.Setenv("OPENAMI_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	dir := t.TempDir()
	if _, err := LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		t.Error("master.key written although OPENAMI_MASTER_KEY is set")
	}
}

// Load never makes a key: a directory without one is refused, untouched.
func TestLoadDoesNotCreate(t *testing.T) {
	t.Setenv("OPENAMI_MASTER_KEY", "")
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a dir without master.key = %v, want ErrNotExist", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("Load left %v in the dir", entries)
	}
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k2.Open(k.Seal([]byte("x"), nil), nil); err != nil || string(pt) != "x" {
		t.Fatalf("Load read another key: %v", err)
	}
}
