// Package blob defines the blob store under openami's block store: a flat
// namespace of immutable byte strings named by keys, such as
// "chunks/ab/ab12…". Implementations: blob/dir (a local directory, the
// default) and blob/s3 (S3-compatible object storage). Every implementation
// passes the conformance suite in blob/blobtest.
//
// Keys are non-empty, slash-separated, and use only [a-z0-9._/-]; a key
// never starts or ends with a slash or contains "//", "." or "..".
//
// Durability: a blob Put returns is durable, so a record naming it may
// commit at once. A Batch (NewBatch) moves that point to its Commit, once
// for many blobs (docs/BLOCKSTORE.md, "Durability per batch").
//
// Errors: a missing key is an *openami.Error of class NotFound; an invalid
// key is InvalidParameter; anything else is wrapped with what was being
// done.
package blob

import (
	"context"
	"io"
	"os"
	"time"
)

// Info describes a stored blob.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store is a blob store. Its methods are safe for concurrent use.
type Store interface {
	// Put stores size bytes read from r under key, atomically: until Put
	// returns nil, readers see the previous blob or none, never a part.
	// If r yields fewer or more than size bytes, Put fails and stores
	// nothing. Putting an existing key replaces the blob.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get returns a reader of the blob; the caller closes it. NotFound if
	// there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the blob. NotFound if there is none.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the blob. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every blob whose key starts with prefix, in key
	// order, and stops at fn's first error, which it returns.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// Litter is what interrupted Puts left behind in a store: temporary data
// that no key names and no reader sees.
type Litter struct {
	Files int
	Bytes int64
}

// Cleaner is implemented by stores whose Puts can leave temporary data
// behind when a process crashes in the middle of one (blob/dir's
// temporary files). Callers discover it by type assertion; a store that
// leaves nothing behind does not implement it.
//
// olderThan must be well above the longest Put: temporary data younger
// than that may belong to a Put still running, in this process or another
// sharing the store.
type Cleaner interface {
	// Litter reports the temporary data last written more than olderThan
	// ago, without removing it. It fails with ctx's error or a wrapped I/O
	// error.
	Litter(ctx context.Context, olderThan time.Duration) (Litter, error)
	// Clean removes the temporary data last written more than olderThan
	// ago and reports what it removed. It fails with ctx's error or a
	// wrapped I/O error, having removed what it reports.
	Clean(ctx context.Context, olderThan time.Duration) (Litter, error)
}

// Batcher is implemented by stores that can make many Puts durable at
// once, cheaper than one by one (blob/dir: two syncs per batch instead of
// two fsyncs per blob). Callers use it through NewBatch.
type Batcher interface {
	// Batch starts a batch of Puts.
	Batch() Batch
}

// Batch is a group of Puts made durable together. Its Put writes a blob's
// bytes; Commit makes every blob of the batch durable under its key. The
// contract is Store.Put's, per batch: a reader sees under a key the
// previous blob, none, or the whole new one, never a part; and once Commit
// returns nil, a crash loses none of the batch's blobs. Before Commit
// returns nil, a blob of the batch may or may not be seen, so a record
// naming it must commit only after Commit. A Batch is used by one
// goroutine at a time.
type Batch interface {
	// Put is Store.Put, but the blob may be seen, and is durable, only
	// once Commit has returned nil.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Commit makes every blob Put since the last Commit durable under its
	// key. On failure some of them may be stored (each whole) and others
	// not; the batch is then empty.
	Commit(ctx context.Context) error
	// Abort drops what was Put since the last Commit. It is a no-op after
	// Commit, so `defer b.Abort()` is safe.
	Abort()
}

// NewBatch returns a batch of Puts into s: s's own if it is a Batcher,
// otherwise one whose Put is s.Put (each blob durable when Put returns)
// and whose Commit does nothing.
func NewBatch(s Store) Batch {
	if b, ok := s.(Batcher); ok {
		return b.Batch()
	}
	return eachBatch{s}
}

// eachBatch is the Batch of a store that is not a Batcher.
type eachBatch struct{ s Store }

func (b eachBatch) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return b.s.Put(ctx, key, r, size)
}
func (eachBatch) Commit(context.Context) error { return nil }
func (eachBatch) Abort()                       {}

// FileOf returns the local file a reader from Get reads, or nil: the
// *os.File itself (blob/dir's Get returns one), or, for a wrapper (a
// store that counts its reads), what its Unwrap method returns, followed
// down. Reading the file directly bypasses the wrapper.
func FileOf(r io.Reader) *os.File {
	for {
		switch v := r.(type) {
		case *os.File:
			return v
		case interface{ Unwrap() io.ReadCloser }:
			r = v.Unwrap()
		default:
			return nil
		}
	}
}
