package dir

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/openami/openami/blob"
	"golang.org/x/sys/unix"
)

var _ blob.Batcher = (*Store)(nil)

// Batch starts a batch of Puts made durable together: see blob.Batch.
//
// Its Put writes the blob into a temporary file beside its final name,
// as Store.Put does, without an fsync. Commit then makes them all durable
// with two syncs of the store's file system (syncfs(2)), whatever the
// batch's size: one before the renames, so that a blob is never seen
// under its key before its bytes are durable (a crash can leave a
// temporary file, never a short blob under a key), and one after them, so
// that the renames are durable before Commit returns. Store.Put pays two
// fsyncs per blob instead (file and directory): 6–10 ms each on a busy
// disk, which bounded an import's block writes (docs/BLOCKSTORE.md).
//
// syncfs also writes back other files of the same file system that are
// dirty at the time. It reports write-back errors since Linux 5.8 (Debian
// 12 ships 6.1); an older kernel would not report one, and a failed write
// could then go unnoticed until the chunk is read (and found corrupt).
func (s *Store) Batch() blob.Batch { return &batch{s: s} }

type batch struct {
	s       *Store
	pending []pendingPut
}

// pendingPut is a blob written to tmp, to be renamed to final at Commit.
type pendingPut struct{ key, tmp, final string }

func (b *batch) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	tmp, err := b.s.writeTemp(ctx, key, r, size, false)
	if err != nil {
		return err
	}
	b.pending = append(b.pending, pendingPut{key, tmp, b.s.path(key)})
	return nil
}

func (b *batch) Commit(ctx context.Context) error {
	if len(b.pending) == 0 {
		return nil
	}
	defer b.Abort() // what is left if a step fails
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit blob batch: %w", err)
	}
	if err := b.s.syncfs(); err != nil {
		return err
	}
	for len(b.pending) > 0 {
		p := b.pending[0]
		b.pending = b.pending[1:]
		if err := rename(p.key, p.tmp, p.final); err != nil {
			return err
		}
	}
	return b.s.syncfs()
}

func (b *batch) Abort() {
	for _, p := range b.pending {
		os.Remove(p.tmp)
	}
	b.pending = nil
}

// syncfs makes everything written to the store's file system durable.
func (s *Store) syncfs() error {
	d, err := os.Open(s.root)
	if err != nil {
		return fmt.Errorf("sync blob directory: %w", err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync blob directory: %w", err)
	}
	return nil
}
