// Package dir is a blob.Store in a local directory, openami's default
// blob store: the blob under key "chunks/ab/ab12…" is the file
// ROOT/chunks/ab/ab12….
//
// Put writes a blob the way containerd's content store ingests one: into a
// temporary file beside its final name, then it checks the size, fsyncs the
// file, renames it into place and fsyncs the directory. A crash at any step
// leaves either the previous blob or none under the key, and at worst a
// temporary file, which List and Stat never show and Clean removes.
// Temporary files are named with a '~', which no key may contain, so a
// temporary file can never be taken for a blob.
//
// A Batch (batch.go) writes many blobs the same way but makes them
// durable together, with two syncs of the file system per batch instead
// of two fsyncs per blob.
//
// Blobs are written read-only and owner-only (0400): nothing may edit a
// blob in place, and a disk image's blocks may hold its owner's secrets.
//
// Because a key's slashes are directories, one key cannot be both a blob
// and the "directory" of other blobs here ("a" and "a/b"), which an S3
// store allows. Such a Put fails with InvalidParameter; openami's own key
// schemes ("chunks/ab/<digest>") never do it. Delete leaves empty
// directories behind, since removing one would race with a Put creating a
// blob in it; they cost an inode each and List skips them.
package dir

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
)

// Store is a blob.Store in a directory. Its methods are safe for concurrent
// use, also by several processes sharing the directory.
type Store struct {
	root string
}

var (
	_ blob.Store   = (*Store)(nil)
	_ blob.Cleaner = (*Store)(nil)
)

// tempPrefix begins the name of every temporary file. The '~' keeps it out
// of the key space (see CheckKey), so List and Stat ignore such files
// without having to recognize them.
const tempPrefix = ".put~"

// New returns the store in the directory root, creating the directory if it
// does not exist. It fails if root cannot be created or is not a directory.
//
// New does not remove temporary files left by a crash: finding them means
// walking every blob, minutes for a large store, and they are invisible
// anyway. Call Clean when a walk is due: openami's garbage collector does,
// and its server does in the background at start.
func New(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("blob directory: no path given")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob directory %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("blob directory: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("blob directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("blob directory %s: not a directory", abs)
	}
	return &Store{root: abs}, nil
}

// Root returns the absolute path of the store's directory.
func (s *Store) Root() string { return s.root }

func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Put stores size bytes from r under key: see blob.Store. It fails with
// InvalidParameter if the key is invalid, if r yields fewer or more than
// size bytes, or if the key collides with another key's directory (see the
// package comment); with ctx's error if ctx is done before the blob is in
// place; and with a wrapped I/O error otherwise. On failure nothing is
// stored and any previous blob under key is intact.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	tmp, err := s.writeTemp(ctx, key, r, size, true)
	if err != nil {
		return err
	}
	// The last point at which giving up leaves nothing behind: once the
	// rename is done, the blob is stored whatever ctx says.
	if err := ctx.Err(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	final := s.path(key)
	if err := rename(key, tmp, final); err != nil {
		return err
	}
	// The rename is durable only once the directory is.
	if err := syncDir(filepath.Dir(final)); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	return nil
}

// writeTemp writes size bytes from r into a new temporary file beside
// key's final name, read-only, and returns its path; fsynced if sync is
// set. On failure it removes the file.
func (s *Store) writeTemp(ctx context.Context, key string, r io.Reader, size int64, sync bool) (tmp string, err error) {
	if err := blob.CheckKey(key); err != nil {
		return "", err
	}
	if size < 0 {
		return "", openami.Errorf(openami.InvalidParameter, "", "put blob %s: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put blob %s: %w", key, err)
	}
	dir := filepath.Dir(s.path(key))

	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) {
		// The first blob under this directory: make it, then try again.
		if err = s.mkdirs(key); err != nil {
			return "", err
		}
		f, err = os.CreateTemp(dir, tempPrefix+"*")
	}
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return "", conflict(key)
		}
		return "", fmt.Errorf("put blob %s: %w", key, err)
	}
	name := f.Name() // not tmp: a failing return sets tmp to ""
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(name)
		}
	}()

	// Read one byte more than size, so that a reader that is too long is
	// caught without reading all of it; in pieces of copyBuffer bytes
	// (f's ReadFrom would copy in 32 KiB: a write system call, and a
	// Read of every hash the body is read through, per 32 KiB).
	buf := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, io.LimitReader(ctxReader{ctx, r}, size+1), *buf)
	copyBuffers.Put(buf)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("put blob %s: %w", key, ctx.Err())
		}
		return "", fmt.Errorf("put blob %s: %w", key, err)
	}
	if n != size {
		return "", sizeMismatch(key, size, n)
	}
	if err := f.Chmod(0o400); err != nil {
		return "", fmt.Errorf("put blob %s: %w", key, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return "", fmt.Errorf("put blob %s: %w", key, err)
		}
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("put blob %s: %w", key, err)
	}
	return name, nil
}

// rename moves a written temporary file to its final name; on failure it
// removes the temporary file.
func rename(key, tmp, final string) error {
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
			return conflict(key)
		}
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	return nil
}

// copyBuffers hold the buffers Put copies through: 256 KiB, a few per
// concurrent Put.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// mkdirs creates the directories above key's file, fsyncing the parent of
// each one it creates: a blob whose directory entry is durable is lost all
// the same if its directory's own entry is not.
func (s *Store) mkdirs(key string) error {
	segs := strings.Split(key, "/")
	parent := s.root
	for _, seg := range segs[:len(segs)-1] {
		d := filepath.Join(parent, seg)
		err := os.Mkdir(d, 0o700)
		switch {
		case err == nil:
			if err := syncDir(parent); err != nil {
				return fmt.Errorf("put blob %s: %w", key, err)
			}
		case errors.Is(err, fs.ErrExist):
			// Made by an earlier Put, or by a concurrent one; if it is a
			// blob instead, CreateTemp will say so with ENOTDIR.
		case errors.Is(err, syscall.ENOTDIR):
			return conflict(key)
		default:
			return fmt.Errorf("put blob %s: %w", key, err)
		}
		parent = d
	}
	return nil
}

// Get returns the blob's file, open for reading: see blob.Store. It fails
// with InvalidParameter for an invalid key, NotFound if there is no blob,
// and ctx's error if ctx is done. Reads from the file do not watch ctx.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get blob %s: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if missing(err) {
			return nil, notFound(key)
		}
		return nil, fmt.Errorf("get blob %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("get blob %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		// A directory of other blobs ("a" while "a/b" exists).
		f.Close()
		return nil, notFound(key)
	}
	return f, nil
}

// Stat describes the blob: see blob.Store. It fails with InvalidParameter
// for an invalid key, NotFound if there is no blob, and ctx's error if ctx
// is done.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.CheckKey(key); err != nil {
		return blob.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	fi, err := os.Lstat(s.path(key))
	if err != nil {
		if missing(err) {
			return blob.Info{}, notFound(key)
		}
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return blob.Info{}, notFound(key)
	}
	return blob.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the blob: see blob.Store. A missing blob is not an error,
// and a crash soon after Delete returns may bring the blob back.
// It fails with InvalidParameter for an invalid key, ctx's error if ctx is
// done, and a wrapped I/O error if the file cannot be removed.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	p := s.path(key)
	fi, err := os.Lstat(p)
	if err != nil {
		if missing(err) {
			return nil
		}
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	if fi.IsDir() {
		return nil // a directory of other blobs, not a blob
	}
	// The directory is not fsynced: after a crash a deleted blob may be
	// back, which is harmless for openami's content-addressed blobs (the
	// garbage collector sweeps it again), whereas an fsync per Delete would
	// stretch a sweep of a million chunks over many minutes.
	if err := os.Remove(p); err != nil && !missing(err) {
		return fmt.Errorf("delete blob %s: %w", key, err)
	}
	return nil
}

// List calls fn for every blob whose key starts with prefix, in key order:
// see blob.Store. It fails with InvalidParameter for a prefix no valid key
// can start with (see blob.CheckPrefix), with fn's first error, with ctx's
// error once ctx is done, and with a wrapped I/O error if a directory
// cannot be read.
//
// It walks only the directory that prefix names and what is below it,
// reading one directory at a time, so its memory is bounded by the largest
// directory, not by the store. Blobs put or deleted during a List may or may
// not be seen.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := blob.CheckPrefix(prefix); err != nil {
		return err
	}
	// "chunks/0" names the directory "chunks" and, in it, the entries
	// whose names start with "0".
	dirKey, namePrefix := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dirKey, namePrefix = prefix[:i+1], prefix[i+1:]
	}
	return s.walk(ctx, dirKey, namePrefix, fn)
}

// walk lists the blobs in the directory of dirKey ("" or ending in "/")
// whose names start with namePrefix, descending into subdirectories.
func (s *Store) walk(ctx context.Context, dirKey, namePrefix string, fn func(blob.Info) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	d := filepath.Join(s.root, filepath.FromSlash(dirKey))
	f, err := os.Open(d)
	if err != nil {
		if missing(err) {
			return nil
		}
		return fmt.Errorf("list blobs in %s: %w", d, err)
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return nil // a blob, named like a directory in the prefix
		}
		return fmt.Errorf("list blobs in %s: %w", d, err)
	}
	entries = slices.DeleteFunc(entries, func(e fs.DirEntry) bool {
		name := e.Name()
		return !strings.HasPrefix(name, namePrefix) || blob.CheckKey(name) != nil ||
			!e.IsDir() && !e.Type().IsRegular()
	})
	// Keys order a directory "a" as "a/", which comes after "a-b" and "a.b"
	// and before "a0": sorting by name alone would list "a/x" too early.
	slices.SortFunc(entries, func(a, b fs.DirEntry) int {
		return cmp.Compare(sortName(a), sortName(b))
	})
	for _, e := range entries {
		key := dirKey + e.Name()
		if e.IsDir() {
			if err := s.walk(ctx, key+"/", "", fn); err != nil {
				return err
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list blobs: %w", err)
		}
		fi, err := e.Info()
		if err != nil {
			if missing(err) {
				continue // deleted since the directory was read
			}
			return fmt.Errorf("list blobs: %w", err)
		}
		if err := fn(blob.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

func sortName(e fs.DirEntry) string {
	if e.IsDir() {
		return e.Name() + "/"
	}
	return e.Name()
}

// Litter reports the temporary files that Puts interrupted by a crash
// left behind and that were last written more than olderThan ago: see
// blob.Cleaner. It fails with ctx's error or a wrapped I/O error.
func (s *Store) Litter(ctx context.Context, olderThan time.Duration) (blob.Litter, error) {
	return s.temporaries(ctx, olderThan, false)
}

// Clean removes the temporary files that Puts interrupted by a crash left
// behind, if they were last written more than olderThan ago: see
// blob.Cleaner. Pass an olderThan well above the longest Put, since a
// temporary file may belong to a Put still running in this or another
// process; an hour is plenty. It returns what it removed, and fails with
// ctx's error or a wrapped I/O error, having removed what it could until
// then.
func (s *Store) Clean(ctx context.Context, olderThan time.Duration) (blob.Litter, error) {
	return s.temporaries(ctx, olderThan, true)
}

// temporaries walks the store for temporary files older than olderThan,
// counting them and, if remove is set, removing them.
func (s *Store) temporaries(ctx context.Context, olderThan time.Duration, remove bool) (blob.Litter, error) {
	cutoff := time.Now().Add(-olderThan)
	var found blob.Litter
	err := filepath.WalkDir(s.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if missing(err) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			if missing(err) {
				return nil
			}
			return err
		}
		if fi.ModTime().After(cutoff) {
			return nil
		}
		if remove {
			if err := os.Remove(p); err != nil {
				if missing(err) {
					return nil
				}
				return err
			}
		}
		found.Files++
		found.Bytes += fi.Size()
		return nil
	})
	if err != nil {
		return found, fmt.Errorf("clean blob directory: %w", err)
	}
	return found, nil
}

// ctxReader fails reads once ctx is done, so that a Put fed by a slow or
// endless reader stops promptly when its caller gives up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// missing reports whether err says a path does not exist, including when
// a part of it is a file rather than a directory (key "a/b" with blob "a").
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func notFound(key string) error {
	return openami.Errorf(openami.NotFound, "", "blob %s not found", key)
}

func conflict(key string) error {
	return openami.Errorf(openami.InvalidParameter, "",
		"put blob %s: the key is a blob's directory, or a blob is in its path; a directory store cannot hold both", key)
}

func sizeMismatch(key string, size, n int64) error {
	if n > size {
		return openami.Errorf(openami.InvalidParameter, "", "put blob %s: the reader holds more than the %d bytes declared", key, size)
	}
	return openami.Errorf(openami.InvalidParameter, "", "put blob %s: the reader holds %d bytes, not the %d declared", key, n, size)
}
