package imports

import (
	"context"
	"os"
	"path/filepath"
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

// TestImportStopWhileValidating: a server that stops while qemu-img
// checks a disk (the program killed) leaves the task active, to start
// over on the next start — not failed as if the disk were unreadable.
func TestImportStopWhileValidating(t *testing.T) {
	f := newFixture(t)
	f.put(t, "disk.qcow2", convertTo(t, source(t), "qcow2"))
	task, err := f.imp.ImportSnapshot(context.Background(), f.p, ImportSnapshotInput{Disk: DiskContainer{Bucket: "disks", Key: "disk.qcow2"}})
	if err != nil {
		t.Fatal(err)
	}
	// A qemu-img that says it started, then hangs until killed.
	dir, err := os.MkdirTemp("", "slow-qemu-") // reachable by nobody, when the test runs as root
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	started := filepath.Join(dir, "started")
	slow := filepath.Join(dir, "qemu-img")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\ntouch "+started+"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	f.imp.cfg.QemuImg = slow
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		for range 1000 {
			if _, err := os.Stat(started); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
	}()
	if err := f.imp.Run(ctx, task.Region, task.ID); err == nil {
		t.Fatal("Run of a stopped server returned nil")
	}
	got, _, err := f.imp.Describe(context.Background(), f.p, DescribeInput{Kind: task.Kind, IDs: []string{task.ID}})
	if err != nil || got[0].Status != openami.ImportActive {
		t.Fatalf("after the stop: %s %s, %v; want active", got[0].Status, got[0].StatusMessage, err)
	}
	f.imp.cfg.QemuImg = "qemu-img"
	if done := f.run(t, task); done.Status != openami.ImportCompleted {
		t.Fatalf("the next run: %s %s", done.Status, done.StatusMessage)
	}
}
