package imports

import (
	"context"
	"testing"
	"time"

	"github.com/openami/openami"
)

// TestImportExpire: a task that ended is described for TaskRetention,
// then Expire forgets it; an active task is never forgotten.
func TestImportExpire(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.put(t, "disk.raw", source(t))
	done, err := f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Disk: DiskContainer{Bucket: "disks", Key: "disk.raw"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.run(t, done); got.Status != openami.ImportCompleted {
		t.Fatalf("run: %s %s", got.Status, got.StatusMessage)
	}
	active, err := f.imp.ImportSnapshot(ctx, f.p, ImportSnapshotInput{Disk: DiskContainer{Bucket: "disks", Key: "disk.raw"}})
	if err != nil {
		t.Fatal(err)
	}
	clock := f.clock
	clock.Add(TaskRetention - time.Minute)
	if n, err := f.imp.Expire(ctx, []string{f.p.Region}); err != nil || n != 0 {
		t.Fatalf("Expire before the retention: %d, %v", n, err)
	}
	clock.Add(2 * time.Minute)
	if n, err := f.imp.Expire(ctx, []string{f.p.Region}); err != nil || n != 1 {
		t.Fatalf("Expire after the retention: %d, %v; want 1", n, err)
	}
	if _, _, err := f.imp.Describe(ctx, f.p, DescribeInput{Kind: openami.ImportSnapshotTask, IDs: []string{done.ID}}); openami.ClassOf(err) != openami.NotFound {
		t.Fatalf("the expired task: %v, want NotFound", err)
	}
	left, _, err := f.imp.Describe(ctx, f.p, DescribeInput{Kind: openami.ImportSnapshotTask})
	if err != nil || len(left) != 1 || left[0].ID != active.ID {
		t.Fatalf("left: %+v, %v; want the active task", left, err)
	}
}
