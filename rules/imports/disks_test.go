package imports

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// TestImportSeveralDisks: ImportImage of several DiskContainers, and of an
// OVA of several disks, makes one snapshot per disk, read back byte for
// byte, and an image mapping them as AWS does: the first disk the root
// /dev/sda1, then /dev/sdb, /dev/sdc.
func TestImportSeveralDisks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	root := source(t)
	data1 := bytes.Repeat([]byte("second disk "), 200_000) // 2.4 MB
	data2 := bytes.Repeat([]byte{7}, 1<<20)
	cases := []struct {
		name  string
		disks []DiskContainer
	}{
		{"containers", []DiskContainer{{Bucket: "disks", Key: "root.qcow2"}, {Bucket: "disks", Key: "d1.raw"}, {Bucket: "disks", Key: "d2.vhdx"}}},
		{"ova", []DiskContainer{{Bucket: "disks", Key: "three.ova"}}},
	}
	f.put(t, "root.qcow2", convertTo(t, root, "qcow2"))
	f.put(t, "d1.raw", data1)
	f.put(t, "d2.vhdx", convertTo(t, data2, "vhdx"))
	f.put(t, "three.ova", ovaOf(t, convertTo(t, root, "vmdk", "-o", "subformat=streamOptimized"),
		convertTo(t, data1, "vmdk", "-o", "subformat=streamOptimized"), convertTo(t, data2, "vmdk")))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task, err := f.imp.ImportImage(ctx, f.p, ImportImageInput{Disks: c.disks})
			if err != nil {
				t.Fatal(err)
			}
			got := f.run(t, task)
			if got.Status != openami.ImportCompleted {
				t.Fatalf("task %s: %s", got.Status, got.StatusMessage)
			}
			if len(got.Disks) != 3 {
				t.Fatalf("%d disks in the task, want 3: %+v", len(got.Disks), got.Disks)
			}
			var img openami.Image
			err = f.store.View(ctx, func(tx metadata.Tx) error {
				var err error
				img, err = tx.Images().Get(f.p.Region, got.ImageID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if img.RootDeviceName != "/dev/sda1" || len(img.BlockDeviceMappings) != 3 {
				t.Fatalf("image: root %s, %d mappings", img.RootDeviceName, len(img.BlockDeviceMappings))
			}
			for i, want := range [][]byte{root, data1, data2} {
				d, m := got.Disks[i], img.BlockDeviceMappings[i]
				if dev := []string{"/dev/sda1", "/dev/sdb", "/dev/sdc"}[i]; m.DeviceName != dev || m.Ebs.SnapshotID != d.SnapshotID {
					t.Errorf("mapping %d: %s %s, want %s %s", i, m.DeviceName, m.Ebs.SnapshotID, dev, d.SnapshotID)
				}
				back := f.snapshotBytes(t, d.SnapshotID, d.VirtualSize)
				if d.VirtualSize < int64(len(want)) || !bytes.Equal(back[:len(want)], want) || !allZero(back[len(want):]) {
					t.Errorf("disk %d: the snapshot's bytes differ from the source's", i)
				}
			}
		})
	}
	// A restart of an OVA's task starts over from the OVA alone: the disks
	// the last run added are dropped, not doubled.
	task, err := f.imp.ImportImage(ctx, f.p, ImportImageInput{Disks: []DiskContainer{{Bucket: "disks", Key: "three.ova"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.run(t, task); got.Status != openami.ImportCompleted {
		t.Fatalf("task %s: %s", got.Status, got.StatusMessage)
	}
	err = f.store.Update(ctx, func(tx metadata.Tx) error { // as if the server had stopped before the image
		cur, err := tx.ImportTasks().Get(task.Region, task.ID)
		if err != nil {
			return err
		}
		cur.Status, cur.StatusMessage = openami.ImportActive, openami.ImportConverting
		return tx.ImportTasks().Update(cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.run(t, task); got.Status != openami.ImportCompleted || len(got.Disks) != 3 {
		t.Fatalf("rerun: %s %s, %d disks", got.Status, got.StatusMessage, len(got.Disks))
	}
}

// ovaOf returns a tar of an OVF descriptor and disks.
func ovaOf(t *testing.T, disks ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "vm.ovf", Mode: 0o644, Size: 11, Typeflag: tar.TypeReg})
	tw.Write([]byte("<Envelope/>"))
	for i, d := range disks {
		tw.WriteHeader(&tar.Header{Name: "vm-disk" + string(rune('1'+i)) + ".vmdk", Mode: 0o644, Size: int64(len(d)), Typeflag: tar.TypeReg})
		tw.Write(d)
	}
	tw.Close()
	return b.Bytes()
}
