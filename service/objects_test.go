package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob/dir"
	"github.com/openami/openami/blockstore"
	"github.com/openami/openami/rules/objects"
)

// TestWorkerSweepsObjectBlobs: the worker's pass removes object blobs no
// record names once they are past the grace period and a second sweep
// confirms them, and keeps the objects' own.
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
	// The first sweep past the grace period finds it unnamed; the next,
	// an interval later, removes it.
	if _, err := bs.Stat(ctx, leftover); err != nil {
		t.Fatalf("the first sweep removed the leftover blob: %v", err)
	}
	f.clock.Add(objectSweepInterval)
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

// TestWorkerCleansLitter: the worker removes, an interval after its first
// pass, the temporary files an interrupted blob write left once they are
// older than blockstore.LitterAge (a crash's fresh leftovers, which the
// server's start keeps), and keeps younger ones.
func TestWorkerCleansLitter(t *testing.T) {
	f := newFixture(t, "", nil)
	ctx := context.Background()
	dir := filepath.Join(f.dir, "blocks", "us-east-1", "objects", "0123456789abcdef")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old, young := filepath.Join(dir, ".put~crashed"), filepath.Join(dir, ".put~running")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Now().Add(-2 * blockstore.LitterAge)
	os.Chtimes(old, then, then)
	f.svc.completions.pass(ctx)
	f.svc.completions.wg.Wait()
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("the first pass removed litter (serve's start does): %v", err)
	}
	f.clock.Add(litterInterval)
	f.svc.completions.pass(ctx)
	f.svc.completions.wg.Wait()
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the old temporary file is still there: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("the young temporary file was removed: %v", err)
	}
}
