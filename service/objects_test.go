package service

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/rules/objects"
)

// TestWorkerSweepsObjectBlobs: the worker's pass removes object blobs no
// record names once they are past the grace period, and keeps the
// objects' own.
func TestWorkerSweepsObjectBlobs(t *testing.T) {
	f := newFixture(t, "", nil)
	ctx := context.Background()
	c := objects.As(f.p)
	if _, err := f.svc.Objects().CreateBucket(ctx, c, "kept", "", objects.ACLInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Objects().PutObject(ctx, c, objects.PutInput{Bucket: "kept", Key: "k", Body: strings.NewReader("data"), Size: 4}); err != nil {
		t.Fatal(err)
	}
	bs, err := dir.New(filepath.Join(f.dir, "blocks", "us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	const leftover = "objects/0123456789abcdef/crashed"
	if err := bs.Put(ctx, leftover, strings.NewReader("xx"), 2); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(objects.SweepGrace + time.Minute)
	f.svc.completions.pass(ctx)
	if _, err := bs.Stat(ctx, leftover); !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("the leftover blob is still there: %v", err)
	}
	r, err := f.svc.Objects().GetObject(ctx, c, "kept", "k", nil, objects.Conditions{})
	if err != nil {
		t.Fatalf("the object after the sweep: %v", err)
	}
	r.Body.Close()
}
