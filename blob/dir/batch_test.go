package dir

import (
	"context"
	"strings"
	"testing"

	"github.com/openami/openami"
)

// A batch's blobs are not seen before Commit, are after it, and an
// aborted batch leaves no file behind.
func TestBatchVisibleAtCommit(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	b := s.Batch()
	if err := b.Put(ctx, "chunks/ab/ab12", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "chunks/ab/ab12"); openami.ClassOf(err) != openami.NotFound {
		t.Fatalf("Stat before Commit: %v, want NotFound", err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkGet(t, s, "chunks/ab/ab12", "data")

	b = s.Batch()
	if err := b.Put(ctx, "chunks/cd/cd34", strings.NewReader("gone"), 4); err != nil {
		t.Fatal(err)
	}
	b.Abort()
	if got := files(t, s.Root()); len(got) != 1 || got[0] != "chunks/ab/ab12" {
		t.Errorf("files after an aborted batch: %q, want the committed blob only", got)
	}
}
