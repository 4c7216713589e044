package service

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/instances"
)

// TestClusterFlushThroughAnotherNode: an API node and a host on one
// PostgreSQL. The guest's writes on the host, buffered by its device and
// not flushed, are in the snapshots CreateSnapshot, CreateSnapshots and
// CreateImage with NoReboot take through the API node: it asks the host
// to flush and waits for it.
func TestClusterFlushThroughAnotherNode(t *testing.T) {
	ctx := context.Background()
	c := newHostCluster(t)
	api := c.node(t, nil)
	a := c.node(t, &HostConfig{Node: "node-a", VCPUs: 4, MemoryMiB: 4096, TTL: time.Minute})

	f, img := c.accountImage(t, api, "img")
	r, err := api.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	api.pass()
	a.pass()
	inst := api.instance(t, r.Instances[0].ID)
	if inst.State != openami.InstanceRunning || inst.HostID != a.hostID() {
		t.Fatalf("%s: %s on %q", inst.ID, inst.State, inst.HostID)
	}
	vol := inst.BlockDevices[0].VolumeID
	dev, err := a.svc.Instances().OpenDevice(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()

	// snapshotOf writes what on the host's device, unflushed, takes a
	// snapshot through the API node while the host's worker passes, and
	// returns the snapshot's id.
	snapshotOf := func(what string, take func() (string, error)) string {
		t.Helper()
		if err := dev.WriteAt(ctx, []byte(what), 4096); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var (
			id  string
			err error
		)
		go func() {
			defer close(done)
			id, err = take()
		}()
		for waiting := true; waiting; {
			select {
			case <-done:
				waiting = false
			case <-time.After(50 * time.Millisecond):
				a.pass()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	check := func(name, snapID, want string) {
		t.Helper()
		blocks := readSnapshot(t, api, f.p, snapID)
		if got := blocks[0]; len(got) < 4096+len(want) || !bytes.Equal(got[4096:4096+len(want)], []byte(want)) {
			t.Errorf("%s: the snapshot misses the host's unflushed write %q", name, want)
		}
	}

	one := snapshotOf("written before CreateSnapshot", func() (string, error) {
		s, err := api.svc.EBS().CreateSnapshot(ctx, f.p, vol, "", nil)
		return s.ID, err
	})
	check("CreateSnapshot", one, "written before CreateSnapshot")

	many := snapshotOf("written before CreateSnapshots", func() (string, error) {
		list, err := api.svc.Instances().CreateSnapshots(ctx, f.p, instances.CreateSnapshotsInput{InstanceID: inst.ID})
		if err != nil || len(list) != 1 {
			t.Fatalf("CreateSnapshots: %+v, %v", list, err)
		}
		return list[0].ID, nil
	})
	check("CreateSnapshots", many, "written before CreateSnapshots")

	imgID := snapshotOf("written before CreateImage", func() (string, error) {
		return api.svc.Instances().CreateImage(ctx, f.p, instances.CreateImageInput{InstanceID: inst.ID, Name: "no-reboot", NoReboot: true})
	})
	api.pass()
	var made openami.Image
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		err := api.store.View(ctx, func(tx metadata.Tx) (err error) {
			made, err = tx.Images().Get("us-east-1", imgID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if made.State == openami.ImageAvailable || time.Now().After(deadline) {
			break
		}
		api.pass()
	}
	if ids := made.Snapshots(); len(ids) != 1 {
		t.Fatalf("CreateImage: %+v", made)
	} else {
		check("CreateImage with NoReboot", ids[0], "written before CreateImage")
	}
	if got := api.instance(t, inst.ID); got.Flushed != got.FlushAsked || got.FlushAsked != 3 {
		t.Errorf("flushes asked %d, carried out %d; want 3", got.FlushAsked, got.Flushed)
	}
}

// readSnapshot returns the snapshot's blocks, read through m.
func readSnapshot(t *testing.T, m member, p openami.Principal, id string) map[int64][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[int64][]byte{}
	token := ""
	for {
		page, err := m.svc.EBS().ListSnapshotBlocks(ctx, p, id, 0, 100, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Blocks {
			buf := make([]byte, openami.BlockSize)
			if _, err := m.svc.EBS().GetSnapshotBlock(ctx, p, id, b.Index, b.Token, buf); err != nil {
				t.Fatal(err)
			}
			out[b.Index] = buf
		}
		if token = page.NextToken; token == "" {
			return out
		}
	}
}

// TestClusterFlushOfADeadHost: a snapshot through the API node of a
// volume whose host died without answering is taken once the host's
// heartbeat has lapsed (what it buffered is lost with it), not after
// FlushWait, and not refused.
func TestClusterFlushOfADeadHost(t *testing.T) {
	ctx := context.Background()
	c := newHostCluster(t)
	api := c.node(t, nil)
	a := c.node(t, &HostConfig{Node: "node-a", VCPUs: 4, MemoryMiB: 4096, TTL: 3 * time.Second})
	f, img := c.accountImage(t, api, "img")
	r, err := api.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	a.pass()
	inst := api.instance(t, r.Instances[0].ID)
	if inst.State != openami.InstanceRunning {
		t.Fatalf("%s: %s", inst.ID, inst.State)
	}
	a.svc.Close() // dies: no pass answers, its heartbeat lapses
	defer func(w time.Duration) { instances.FlushWait = w }(instances.FlushWait)
	instances.FlushWait = 10 * time.Minute
	if _, err := api.svc.EBS().CreateSnapshot(ctx, f.p, inst.BlockDevices[0].VolumeID, "", nil); err != nil {
		t.Fatal(err)
	}
	if got := api.instance(t, inst.ID); got.FlushAsked != 1 || got.Flushed != 0 {
		t.Errorf("flushes asked %d, carried out %d; want 1 and 0", got.FlushAsked, got.Flushed)
	}
}
