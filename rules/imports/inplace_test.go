package imports

import (
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openami/openami"
)

// An object that is one file of the blob store is read in place: no copy
// of it is ever written to the task's directory, over NBD when the qemu
// programs run as nobody (as root, Config.ServeFile), directly otherwise;
// and without ServeFile as root, it is downloaded first, with the same
// result.
func TestImportInPlace(t *testing.T) {
	f := newFixture(t)
	raw := source(t)
	f.put(t, "disk.qcow2", convertTo(t, raw, "qcow2"))
	for _, serve := range []bool{true, false} {
		if !serve {
			if unprivileged() == nil {
				continue // not root: always in place
			}
			f.imp.cfg.ServeFile = nil
		}
		copies := 0
		f.imp.afterStage = func(openami.ImportTask) {
			filepath.WalkDir(f.imp.cfg.TempDir, func(p string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() && strings.HasPrefix(e.Name(), "disk") {
					copies++
				}
				return nil
			})
		}
		task, err := f.imp.ImportSnapshot(context.Background(), f.p, ImportSnapshotInput{
			Disk: DiskContainer{Format: "QCOW2", Bucket: "disks", Key: "disk.qcow2"}})
		if err != nil {
			t.Fatal(err)
		}
		got := f.run(t, task)
		f.imp.afterStage = nil
		if got.Status != openami.ImportCompleted {
			t.Fatalf("serve %v: task %s: %s", serve, got.Status, got.StatusMessage)
		}
		if wantCopy := !serve; (copies > 0) != wantCopy {
			t.Errorf("serve %v: a copy of the disk seen at %d stages, want a copy: %v", serve, copies, wantCopy)
		}
		d := got.Disks[0]
		back := f.snapshotBytes(t, d.SnapshotID, d.VirtualSize)
		if !bytes.Equal(back[:len(raw)], raw) || !allZero(back[len(raw):]) {
			t.Errorf("serve %v: the snapshot's bytes differ from the source disk's", serve)
		}
	}
}
