package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/metadata/sqldb"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
)

// TestConcurrentLaunches: three nodes on one PostgreSQL (two of them
// hosts with room for 12 t3.micro each) take 30 RunInstances at once,
// spread over the nodes, from two accounts, of one image. Exactly 24 are
// placed, each on a host with room, each with its own public address;
// the other 6 are refused for capacity. No launch fails for any other
// reason (a serialization failure, after its retries, was an
// InternalError).
func TestConcurrentLaunches(t *testing.T) {
	ctx := context.Background()
	c := newHostCluster(t)
	cfgA := HostConfig{Node: "node-a", VCPUs: 24, MemoryMiB: 12 * 1024}
	cfgB := cfgA
	cfgB.Node = "node-b"
	nodes := []member{c.node(t, nil), c.node(t, &cfgA), c.node(t, &cfgB)}
	api := nodes[0]

	var ps []openami.Principal
	for _, name := range []string{"one", "two"} {
		acct, _, err := api.svc.Identity().CreateAccount(ctx, name, false)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, openami.Principal{AccountID: acct.ID, Region: "us-east-1"})
	}
	// One public image (of the first account) every launch uses.
	f := &fixture{svc: api.svc, store: api.store, clock: c.clock, p: ps[0]}
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	img, err := api.svc.Images().RegisterImage(ctx, ps[0], images.RegisterImageInput{Name: "img", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap, DeleteOnTermination: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.svc.Images().ModifyImageAttribute(ctx, ps[0], images.ModifyImageAttributeInput{ImageID: img,
		Add: []openami.LaunchPermission{{Group: "all"}}}); err != nil {
		t.Fatal(err)
	}
	// Each account's first launch makes its default VPC: done before,
	// so that the race below is the launches'.
	for _, p := range ps {
		if _, err := api.svc.Instances().RunInstances(ctx, p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1}); err != nil {
			t.Fatal(err)
		}
	}

	const launches = 28 // plus the 2 above: 30 asked, 24 fit
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		refused int
		failed  []string
	)
	start := make(chan struct{})
	for k := range launches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			n := nodes[k%len(nodes)]
			_, err := n.svc.Instances().RunInstances(ctx, ps[k%len(ps)], instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1})
			mu.Lock()
			defer mu.Unlock()
			var e *openami.Error
			switch {
			case err == nil:
			case errors.As(err, &e) && e.Reason == openami.ReasonHostCapacity:
				refused++
			default:
				failed = append(failed, fmt.Sprintf("launch %d: %v", k, err))
			}
		}()
	}
	before := retries(nodes)
	close(start)
	wg.Wait()
	t.Logf("%d retries", retries(nodes)-before)
	// Through three nodes at once some launches still race; before
	// the launch gate every launch did (136 retries for these 28).
	if n := retries(nodes) - before; n > launches {
		t.Errorf("%d transactions run again for %d launches", n, launches)
	}
	for _, f := range failed {
		t.Error(f)
	}
	if refused != 6 {
		t.Errorf("%d launches refused for capacity, want 6", refused)
	}

	var list []openami.Instance
	err = api.store.View(ctx, func(tx metadata.Tx) (err error) {
		list, err = tx.Instances().List("us-east-1", metadata.InstanceQuery{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 24 {
		t.Errorf("%d instances, want 24", len(list))
	}
	ips := map[string]string{}
	perHost := map[string]int{}
	for _, i := range list {
		if i.PublicIP == "" {
			t.Errorf("%s has no public address", i.ID)
		} else if other, ok := ips[i.PublicIP]; ok {
			t.Errorf("%s and %s both hold %s", i.ID, other, i.PublicIP)
		}
		ips[i.PublicIP] = i.ID
		perHost[i.HostID]++
	}
	for _, m := range nodes[1:] {
		if n := perHost[m.hostID()]; n > 12 {
			t.Errorf("host %s holds %d t3.micro, room for 12", m.hostID(), n)
		}
	}
	if len(perHost) != 2 {
		t.Errorf("instances per host: %v", perHost)
	}
}

// TestSustainedConcurrentLaunches: two nodes without hosts on one
// PostgreSQL, 16 clients each launching 8 instances one after another
// of one image from one account, as BenchmarkNodes does: every launch
// succeeds, each with its own public and private address.
func TestSustainedConcurrentLaunches(t *testing.T) {
	ctx := context.Background()
	c := newHostCluster(t)
	nodes := []member{c.node(t, nil), c.node(t, nil)}
	api := nodes[0]
	acct, _, err := api.svc.Identity().CreateAccount(ctx, "one", false)
	if err != nil {
		t.Fatal(err)
	}
	p := openami.Principal{AccountID: acct.ID, Region: "us-east-1"}
	f := &fixture{svc: api.svc, store: api.store, clock: c.clock, p: p}
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	img, err := api.svc.Images().RegisterImage(ctx, p, images.RegisterImageInput{Name: "img", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap, DeleteOnTermination: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.svc.Instances().RunInstances(ctx, p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1}); err != nil {
		t.Fatal(err)
	}
	const clients, each = 16, 8
	before := retries(nodes)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
	)
	for k := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[k%len(nodes)]
			for j := range each {
				_, err := n.svc.Instances().RunInstances(ctx, p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1})
				if err != nil {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("client %d launch %d: %v", k, j, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d retries", retries(nodes)-before)
	// Before the launch gate, 174 for these 128 launches.
	if n := retries(nodes) - before; n > clients*each/4 {
		t.Errorf("%d transactions run again for %d launches", n, clients*each)
	}
	for _, f := range failed {
		t.Error(f)
	}
	var list []openami.Instance
	err = api.store.View(ctx, func(tx metadata.Tx) (err error) {
		list, err = tx.Instances().List("us-east-1", metadata.InstanceQuery{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1+clients*each {
		t.Errorf("%d instances, want %d", len(list), 1+clients*each)
	}
	public, private := map[string]bool{}, map[string]bool{}
	for _, i := range list {
		if public[i.PublicIP] || private[i.PrivateIP] {
			t.Errorf("%s: an address taken twice (%s, %s)", i.ID, i.PublicIP, i.PrivateIP)
		}
		public[i.PublicIP], private[i.PrivateIP] = true, true
	}
}

// retries returns how many transactions the nodes' stores ran again
// after losing a race.
func retries(nodes []member) int64 {
	var n int64
	for _, m := range nodes {
		n += m.store.(*sqldb.Store).Retries()
	}
	return n
}
