package dir

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/blobtest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t) })
}

// files returns the names of all files under root, relative to it.
func files(t *testing.T, root string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			rel, _ := filepath.Rel(root, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestLayout(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "chunks/ab/ab12", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Root(), "chunks", "ab", "ab12")
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "data" {
		t.Fatalf("blob file: %q, %v", b, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o400 {
		t.Errorf("blob file mode %v, want read-only for its owner", fi.Mode())
	}
	if got := files(t, s.Root()); len(got) != 1 {
		t.Errorf("files after one Put: %q, want the blob only", got)
	}
}

// A temporary file left by a crash in the middle of a Put is neither
// listed nor found, and does not get in the way of Puts; Clean removes it
// once it is old enough.
func TestLeftoverTempFile(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "chunks/ab/ab12", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(s.Root(), "chunks", "ab", tempPrefix+"123456")
	if err := os.WriteFile(crashed, []byte("half a blo"), 0o600); err != nil {
		t.Fatal(err)
	}
	atRoot := filepath.Join(s.Root(), tempPrefix+"7")
	if err := os.WriteFile(atRoot, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	var keys []string
	if err := s.List(ctx, "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "chunks/ab/ab12" {
		t.Errorf("List = %q, want only the blob", keys)
	}
	keys = nil
	if err := s.List(ctx, ".", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("List(\".\") = %q, want nothing", keys)
	}

	// Fresh temporary files may belong to a running Put: Clean keeps them.
	if l, err := s.Litter(ctx, time.Hour); err != nil || l != (blob.Litter{}) {
		t.Errorf("Litter(1h) = %+v, %v; want none", l, err)
	}
	if l, err := s.Clean(ctx, time.Hour); err != nil || l.Files != 0 {
		t.Errorf("Clean(1h) = %+v, %v; want 0 removed", l, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(crashed, old, old)
	os.Chtimes(atRoot, old, old)
	// Litter counts them and leaves them; Clean removes them.
	want := blob.Litter{Files: 2, Bytes: int64(len("half a blo") + len("x"))}
	if l, err := s.Litter(ctx, time.Hour); err != nil || l != want {
		t.Errorf("Litter(1h) of two old temporary files = %+v, %v; want %+v", l, err, want)
	}
	if got := files(t, s.Root()); len(got) != 3 {
		t.Errorf("files after Litter: %q, want all three", got)
	}
	if l, err := s.Clean(ctx, time.Hour); err != nil || l != want {
		t.Errorf("Clean(1h) of two old temporary files = %+v, %v; want %+v", l, err, want)
	}
	if got := files(t, s.Root()); len(got) != 1 || got[0] != "chunks/ab/ab12" {
		t.Errorf("files after Clean: %q, want the blob only", got)
	}
	checkGet(t, s, "chunks/ab/ab12", "data")
}

// A failed Put leaves no file behind, neither under the key nor as a
// temporary file.
func TestFailedPutLeavesNoFile(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "keep", strings.NewReader("kept"), 4); err != nil {
		t.Fatal(err)
	}
	failures := []struct {
		name string
		r    io.Reader
		size int64
	}{
		{"short", strings.NewReader("abc"), 4},
		{"long", strings.NewReader("abcde"), 4},
		{"read error", io.MultiReader(strings.NewReader("ab"), errReader{}), 4},
	}
	for _, f := range failures {
		for _, key := range []string{"keep", "new/deep/key"} {
			if err := s.Put(ctx, key, f.r, f.size); err == nil {
				t.Errorf("%s: Put(%s) succeeded", f.name, key)
			}
		}
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(ctx2, "canceled", strings.NewReader("x"), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with canceled context: %v", err)
	}
	if got := files(t, s.Root()); len(got) != 1 || got[0] != "keep" {
		t.Errorf("files after failed Puts: %q, want keep only", got)
	}
	checkGet(t, s, "keep", "kept")
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// A key cannot be a blob and another blob's directory at once here; such a
// Put fails with InvalidParameter and changes nothing.
func TestDirectoryConflict(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, kv := range [][2]string{{"a/b", "ab"}, {"c", "c"}} {
		if err := s.Put(ctx, kv[0], strings.NewReader(kv[1]), int64(len(kv[1]))); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"a", "c/d", "c/d/e"} {
		if err := s.Put(ctx, key, strings.NewReader("x"), 1); !errors.Is(err, openami.ErrInvalidParameter) {
			t.Errorf("Put(%s) = %v, want InvalidParameter", key, err)
		}
	}
	if got := files(t, s.Root()); len(got) != 2 {
		t.Errorf("files after refused Puts: %q", got)
	}
	checkGet(t, s, "a/b", "ab")
	checkGet(t, s, "c", "c")
}

// Foreign files in the directory (an operator's notes, a symlink, names
// outside the key alphabet) are not blobs.
func TestForeignFiles(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "x/y", strings.NewReader("y"), 1); err != nil {
		t.Fatal(err)
	}
	root := s.Root()
	os.WriteFile(filepath.Join(root, "README.TXT"), []byte("hi"), 0o600)
	os.WriteFile(filepath.Join(root, "x", "a b"), []byte("hi"), 0o600)
	os.Symlink(filepath.Join(root, "x", "y"), filepath.Join(root, "x", "link"))
	var keys []string
	if err := s.List(ctx, "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "x/y" {
		t.Errorf("List = %q, want x/y only", keys)
	}
	if _, err := s.Stat(ctx, "x/link"); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("Stat of a symlink = %v, want NotFound", err)
	}
}

func TestNewNotADirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	os.WriteFile(p, nil, 0o600)
	if _, err := New(p); err == nil {
		t.Error("New on a file succeeded")
	}
	if _, err := New(""); err == nil {
		t.Error("New(\"\") succeeded")
	}
}

func checkGet(t *testing.T, s *Store, key, want string) {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != want {
		t.Errorf("Get(%s) = %q, %v; want %q", key, b, err, want)
	}
}

func TestCheckKey(t *testing.T) {
	valid := []string{
		"a", "chunks/ab/ab12", "a.b", ".a", "..a", "a..", "a/.b/c", "_", "-", "a-b_c.d/0",
		strings.Repeat("a", blob.MaxSegmentLen), strings.Repeat("a/", blob.MaxKeyLen/2-1) + "aa",
	}
	for _, k := range valid {
		if err := blob.CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range blobtest.InvalidKeys {
		if err := blob.CheckKey(k); !errors.Is(err, openami.ErrInvalidParameter) {
			t.Errorf("CheckKey(%q) = %v, want InvalidParameter", k, err)
		}
	}
	prefixes := map[string]bool{
		"": true, "a": true, "a/": true, "chunks/0": true, ".": true, "..": true, "a/..": true,
		"/": false, "a//": false, "./": false, "../": false, "a/../": false, "A": false, "a\\": false,
	}
	for p, ok := range prefixes {
		if err := blob.CheckPrefix(p); (err == nil) != ok {
			t.Errorf("CheckPrefix(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

// FuzzKey checks that no key CheckKey accepts names a path outside the
// store's directory, and that a Put of an accepted key lands exactly at
// root/key.
func FuzzKey(f *testing.F) {
	for _, k := range append([]string{"a", "chunks/ab/ab12", ".a", "a/..b", "..0"}, blobtest.InvalidKeys...) {
		f.Add(k)
	}
	root := f.TempDir()
	s, err := New(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := blob.CheckKey(key)
		if err != nil {
			if !errors.Is(err, openami.ErrInvalidParameter) {
				t.Fatalf("CheckKey(%q) = %v, want InvalidParameter", key, err)
			}
			if err := s.Put(context.Background(), key, bytes.NewReader(nil), 0); err == nil {
				t.Fatalf("Put accepted invalid key %q", key)
			}
			return
		}
		p := s.path(key)
		rel, err := filepath.Rel(root, p)
		if err != nil || rel != filepath.FromSlash(key) || !filepath.IsLocal(rel) {
			t.Fatalf("valid key %q maps to %s, outside %s or not verbatim", key, p, root)
		}
		if blob.CheckPrefix(key) != nil {
			t.Fatalf("valid key %q is not a valid prefix", key)
		}
	})
}
