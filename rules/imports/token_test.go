package imports

import (
	"context"
	"testing"

	"github.com/openami/openami"
)

// TestImportClientToken: the same token with the same request is the
// same task; with another request it is IdempotentParameterMismatch
// (Duplicate, ReasonTokenReused) and nothing is recorded; each action
// has its own tokens.
func TestImportClientToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.put(t, "disk.raw", source(t))
	in := ImportSnapshotInput{Description: "one", Disk: DiskContainer{Bucket: "disks", Key: "disk.raw"}, ClientToken: "tok"}
	first, err := f.imp.ImportSnapshot(ctx, f.p, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.imp.ImportSnapshot(ctx, f.p, in)
	if err != nil || again.ID != first.ID {
		t.Fatalf("the same request again: %s, %v; want %s", again.ID, err, first.ID)
	}
	other := in
	other.Description = "two"
	_, err = f.imp.ImportSnapshot(ctx, f.p, other)
	if oe, ok := err.(*openami.Error); !ok || oe.Class != openami.Duplicate || oe.Reason != openami.ReasonTokenReused {
		t.Fatalf("another request with the token: %v, want TokenReused", err)
	}
	img := ImportImageInput{Disks: []DiskContainer{{Bucket: "disks", Key: "disk.raw"}}, ClientToken: "tok"}
	a, err := f.imp.ImportImage(ctx, f.p, img)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.imp.ImportImage(ctx, f.p, img)
	if err != nil || b.ID != a.ID || a.ID == first.ID {
		t.Fatalf("ImportImage with the token twice: %s, %s, %v (snapshot task %s)", a.ID, b.ID, err, first.ID)
	}
	// Without a token, each request is a task.
	in.ClientToken = ""
	c, err := f.imp.ImportSnapshot(ctx, f.p, in)
	if err != nil || c.ID == first.ID {
		t.Fatalf("without a token: %s, %v", c.ID, err)
	}
	snaps, _, err := f.imp.Describe(ctx, f.p, DescribeInput{Kind: openami.ImportSnapshotTask})
	if err != nil || len(snaps) != 2 {
		t.Fatalf("snapshot tasks: %d, %v; want 2", len(snaps), err)
	}
	// The token outlives the task's run: a completed task is returned too.
	if got := f.run(t, first); got.Status != openami.ImportCompleted {
		t.Fatalf("run: %s %s", got.Status, got.StatusMessage)
	}
	in.ClientToken = "tok"
	done, err := f.imp.ImportSnapshot(ctx, f.p, in)
	if err != nil || done.ID != first.ID || done.Status != openami.ImportCompleted {
		t.Fatalf("after completion: %s %s, %v", done.ID, done.Status, err)
	}
}
