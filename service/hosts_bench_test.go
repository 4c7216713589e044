package service

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/rulestest"
)

// BenchmarkHostDeath measures, in one process with the none runtime, the
// time from a compute host's death to its EBS-backed instances running
// again on another host: three nodes on one PostgreSQL (an API node and
// hosts a and b, their workers running, heartbeats of hostDeathTTL), ten
// instances on a; a stops (its heartbeat with it); a client polls the API
// node every 50 ms: once the instances' system status is impaired it
// stops them, once stopped it starts them, until all run on b. Reported:
// kill→impaired, lease-expiry→running-elsewhere and kill→running-
// elsewhere, the stop (impaired→stopped) and the start (stopped→running
// on b), in seconds, and the process's peak RSS.
//
//	go test ./service -run '^$' -bench HostDeath -benchtime 3x
func BenchmarkHostDeath(b *testing.B) {
	const n = 10
	ttl := hostDeathTTL
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	var impairedS, afterExpiryS, totalS, stopS, startS float64
	for range b.N {
		b.StopTimer()
		c := newHostCluster(b)
		c.now = nil // real time: the heartbeats are real
		api := c.node(b, nil)
		a := c.node(b, &HostConfig{Node: "a", VCPUs: 64, MemoryMiB: 64 << 10, TTL: ttl})
		ctx := context.Background()
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		for _, m := range []member{api, a} {
			m.svc.Start(ctx, quiet)
		}
		acct, _, err := api.svc.Identity().CreateAccount(ctx, "bench", false)
		if err != nil {
			b.Fatal(err)
		}
		f := &fixture{svc: api.svc, store: api.store, p: openami.Principal{AccountID: acct.ID, Region: "us-east-1"}}
		snap := benchSnapshot(b, f)
		img, err := api.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "img", RootDeviceName: "/dev/xvda",
			BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap, DeleteOnTermination: true}}}})
		if err != nil {
			b.Fatal(err)
		}
		r, err := api.svc.Instances().RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: n, MaxCount: n})
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, n)
		for k, i := range r.Instances {
			ids[k] = i.ID
		}
		until := func(what string, ok func([]instances.InstanceStatus) bool) {
			deadline := time.Now().Add(5 * time.Minute)
			for {
				st, err := api.svc.Instances().InstanceStatuses(ctx, f.p, ids, true)
				if err != nil {
					b.Fatal(err)
				}
				if ok(st) {
					return
				}
				if time.Now().After(deadline) {
					b.Fatalf("%s: not after 5 minutes: %+v", what, st)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		all := func(fn func(instances.InstanceStatus) bool) func([]instances.InstanceStatus) bool {
			return func(st []instances.InstanceStatus) bool {
				for _, s := range st {
					if !fn(s) {
						return false
					}
				}
				return len(st) == n
			}
		}
		until("running on a", all(func(s instances.InstanceStatus) bool { return s.State == openami.InstanceRunning }))
		bn := c.node(b, &HostConfig{Node: "b", VCPUs: 64, MemoryMiB: 64 << 10, TTL: ttl})
		bn.svc.Start(ctx, quiet)
		hosts, err := api.svc.Instances().Hosts(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		killed := time.Now()
		a.svc.Close()
		var expires time.Time
		for _, h := range hosts {
			if h.Node == "a" {
				expires = h.Expires
			}
		}
		// The last renewal a made before it died sets the real expiry.
		if hs, err := api.svc.Instances().Hosts(ctx); err == nil {
			for _, h := range hs {
				if h.Node == "a" {
					expires = h.Expires
				}
			}
		}
		until("impaired", all(func(s instances.InstanceStatus) bool { sys, _ := s.SystemCheck(); return sys == "impaired" }))
		impaired := time.Now()
		if _, err := api.svc.Instances().StopInstances(ctx, f.p, ids, false); err != nil {
			b.Fatal(err)
		}
		until("stopped", all(func(s instances.InstanceStatus) bool { return s.State == openami.InstanceStopped }))
		stopped := time.Now()
		if _, err := api.svc.Instances().StartInstances(ctx, f.p, ids); err != nil {
			b.Fatal(err)
		}
		bid, _ := bn.svc.Instances().Host()
		until("running on b", all(func(s instances.InstanceStatus) bool {
			return s.State == openami.InstanceRunning && s.HostID == bid
		}))
		done := time.Now()
		b.StopTimer()
		impairedS += impaired.Sub(killed).Seconds()
		afterExpiryS += done.Sub(expires).Seconds()
		totalS += done.Sub(killed).Seconds()
		stopS += stopped.Sub(impaired).Seconds()
		startS += done.Sub(stopped).Seconds()
		bn.svc.Close()
		api.svc.Close()
	}
	N := float64(b.N)
	b.ReportMetric(impairedS/N, "kill→impaired-s")
	b.ReportMetric(afterExpiryS/N, "expiry→running-s")
	b.ReportMetric(totalS/N, "kill→running-s")
	b.ReportMetric(stopS/N, "stop-s")
	b.ReportMetric(startS/N, "start-s")
	b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
	b.ReportMetric(0, "ns/op")
}

// benchSnapshot makes a completed one-block snapshot through f's service.
func benchSnapshot(b *testing.B, f *fixture) string {
	ctx := context.Background()
	snap, err := f.svc.EBS().StartSnapshot(ctx, f.p, ebs.StartSnapshotInput{VolumeSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	d := block(1)
	if _, err := f.svc.EBS().PutSnapshotBlock(ctx, f.p, ebs.PutSnapshotBlockInput{SnapshotID: snap.ID, Index: 0, Data: d,
		DataLength: openami.BlockSize, Checksum: rulestest.Checksum(d), ChecksumAlgorithm: "SHA256"}); err != nil {
		b.Fatal(err)
	}
	if _, err := f.svc.EBS().CompleteSnapshot(ctx, f.p, ebs.CompleteSnapshotInput{SnapshotID: snap.ID, ChangedBlocksCount: 1}); err != nil {
		b.Fatal(err)
	}
	if err := f.svc.EBS().FinishSnapshot(ctx, "us-east-1", snap.ID); err != nil {
		b.Fatal(err)
	}
	return snap.ID
}

// hostDeathTTL is the heartbeat of BenchmarkHostDeath's hosts.
const hostDeathTTL = 3 * time.Second

// peakRSSMB returns this process's VmHWM in MB, 0 if unknown.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
