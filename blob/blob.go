// Package blob defines the blob store under openami's block store: a flat
// namespace of immutable byte strings named by keys, such as
// "chunks/ab/ab12…". Implementations: blob/dir (a local directory, the
// default) and blob/s3 (S3-compatible object storage). Every implementation
// passes the conformance suite in blob/blobtest.
//
// Keys are non-empty, slash-separated, and use only [a-z0-9._/-]; a key
// never starts or ends with a slash or contains "//", "." or "..".
//
// Errors: a missing key is an *openami.Error of class NotFound; an invalid
// key is InvalidParameter; anything else is wrapped with what was being
// done.
package blob

import (
	"context"
	"io"
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
