package service

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/instances"
)

// TestClusterWakeUps: an API node and a host on one PostgreSQL, with
// wake-ups, their workers running, and the host's passes far apart (its
// heartbeat 10 min, the workers' sweep 30 s). An instance launched
// through the API node is started by the host at once, woken by the API
// node; and a stop through the API node is carried out at once too.
func TestClusterWakeUps(t *testing.T) {
	ctx := context.Background()
	c := newHostCluster(t)
	c.wakeups, c.leaseTTL = true, 10*time.Minute
	api := c.node(t, nil)
	a := c.node(t, &HostConfig{Node: "node-a", VCPUs: 4, MemoryMiB: 4096, TTL: 10 * time.Minute})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	f, img := c.accountImage(t, api, "img")
	api.svc.Start(ctx, quiet)
	a.svc.Start(ctx, quiet)

	r, err := api.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := r.Instances[0].ID
	// Well within the host's next pass without a wake-up (30 s).
	waitCall := func(call string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !slices.Contains(a.rt.Calls(), call); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the host did not %q at once: %q", call, a.rt.Calls())
			}
		}
	}
	waitCall("start " + id)
	for deadline := time.Now().Add(15 * time.Second); api.instance(t, id).State != openami.InstanceRunning; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", id, api.instance(t, id).State)
		}
	}
	if _, err := api.svc.Instances().StopInstances(ctx, f.p, []string{id}, false); err != nil {
		t.Fatal(err)
	}
	waitCall("stop " + id)
}
