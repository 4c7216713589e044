package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/openami/openami/blob"
	"github.com/openami/openami/blob/dir"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestBlobReads: what is read through Get is counted, once per byte and
// per blob, under its region; a failed Get counts nothing; a Cleaner
// stays one.
func TestBlobReads(t *testing.T) {
	ctx := context.Background()
	st, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := blob.Store(st).(blob.Cleaner); !ok {
		t.Fatal("blob/dir is no longer a Cleaner: pick a store that is")
	}
	r := newBlobReads()
	c := r.wrap("us-east-1", st)
	if _, ok := c.(blob.Cleaner); !ok {
		t.Fatal("the counted store hides its Cleaner")
	}
	data := strings.Repeat("x", 10000)
	if err := c.Put(ctx, "chunks/ab/one", strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rc, err := c.Get(ctx, "chunks/ab/one")
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(rc); err != nil || string(b) != data {
			t.Fatalf("read back %d bytes, %v", len(b), err)
		}
		rc.Close()
	}
	if _, err := c.Get(ctx, "chunks/ab/none"); err == nil {
		t.Fatal("a missing blob was found")
	}
	if got := testutil.ToFloat64(r.bytes.WithLabelValues("us-east-1")); got != 20000 {
		t.Errorf("bytes read: %v, want 20000", got)
	}
	if got := testutil.ToFloat64(r.gets.WithLabelValues("us-east-1")); got != 2 {
		t.Errorf("blobs read: %v, want 2", got)
	}
}

// The counted store keeps blob/dir's batches (a batch's blobs are seen
// after Commit) and its files (blob.FileOf), which the import reads in
// place.
func TestBlobReadsKeepBatchAndFile(t *testing.T) {
	ctx := context.Background()
	st, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newBlobReads().wrap("us-east-1", st)
	b := blob.NewBatch(c)
	if err := b.Put(ctx, "chunks/cd/two", strings.NewReader("two"), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "chunks/cd/two"); err == nil {
		t.Fatal("the counted store's batch is seen before Commit: it is not blob/dir's")
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rc, err := c.Get(ctx, "chunks/cd/two")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	f := blob.FileOf(rc)
	if f == nil {
		t.Fatal("blob.FileOf finds no file under the counted reader")
	}
	if got, err := io.ReadAll(f); err != nil || string(got) != "two" {
		t.Fatalf("the file reads %q, %v", got, err)
	}
}
