package service

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/imports"
	"github.com/openami/openami/rules/objects"
	"github.com/openami/openami/rules/rulestest"
)

// TestImportTasksSurviveRestart: an import task recorded by a server that
// stopped before running it is run by the next server's worker on start.
func TestImportTasksSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir0 := t.TempDir()
	clock := rulestest.NewClock(time.Now())
	f := newFixture(t, dir0, clock)
	disk := make([]byte, 2<<20)
	copy(disk[1<<20:], bytes.Repeat([]byte("data"), 1000))
	if _, err := f.svc.Objects().CreateBucket(ctx, objects.As(f.p), "disks", "", objects.ACLInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Objects().Put(ctx, objects.As(f.p), "disks", "d.raw", bytes.NewReader(disk), int64(len(disk)), openami.ObjectHeaders{}, ""); err != nil {
		t.Fatal(err)
	}
	task, err := f.svc.Imports().ImportSnapshot(ctx, f.p, imports.ImportSnapshotInput{Disk: imports.DiskContainer{Bucket: "disks", Key: "d.raw"}})
	if err != nil {
		t.Fatal(err)
	}
	f.store.Close()

	g := newFixture(t, dir0, clock)
	g.svc.Start(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer g.svc.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, _, err := g.svc.Imports().Describe(ctx, g.p, imports.DescribeInput{Kind: openami.ImportSnapshotTask, IDs: []string{task.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Status == openami.ImportCompleted {
			if got[0].Disks[0].SnapshotID == "" {
				t.Fatal("completed without a snapshot")
			}
			break
		}
		if got[0].Status != openami.ImportActive || time.Now().After(deadline) {
			t.Fatalf("after the restart: %s %q", got[0].Status, got[0].StatusMessage)
		}
	}
}
