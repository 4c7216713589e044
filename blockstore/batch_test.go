package blockstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/blob/dir"
)

// A batch's chunks are stored once each, seen only after Commit, and read
// back as written; an aborted batch stores nothing.
func TestChunkBatch(t *testing.T) {
	ctx := context.Background()
	bs, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := NewChunks(bs)
	b := c.Batch()
	blocks := [][]byte{randomBlock(1), textBlock(2), randomBlock(1)} // the first twice
	var names []openami.Digest
	for i, data := range blocks {
		var d openami.Digest
		if i == 1 {
			d, _, _, err = b.Put(ctx, nil, data)
		} else {
			d = sha256.Sum256(data)
			_, _, err = b.PutVerified(ctx, nil, d, data)
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, d)
	}
	if ok, err := c.Has(ctx, names[0]); err != nil || ok {
		t.Fatalf("Has before Commit = %v, %v; want false", ok, err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, openami.BlockSize)
	for i, d := range names {
		if err := c.Get(ctx, nil, d, got); err != nil {
			t.Fatalf("Get block %d: %v", i, err)
		}
		if string(got) != string(blocks[i]) {
			t.Fatalf("block %d reads back different", i)
		}
	}

	b = c.Batch()
	d, _, _, err := b.Put(ctx, nil, textBlock(9))
	if err != nil {
		t.Fatal(err)
	}
	b.Abort()
	if err := c.Get(ctx, nil, d, got); !errors.Is(err, openami.ErrNotFound) {
		t.Fatalf("Get of an aborted chunk: %v, want NotFound", err)
	}
}
