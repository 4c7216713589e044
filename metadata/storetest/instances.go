package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Instances.

func instance(region, acct, id string, state openami.InstanceState) openami.Instance {
	return openami.Instance{
		ID: id, Region: region, AccountID: acct, ReservationID: "r-" + id, ImageID: "ami-1",
		InstanceType: "t3.micro", State: state, AvailabilityZone: region + "a", LaunchTime: t0,
	}
}

func utcInstance(i openami.Instance) openami.Instance {
	i.LaunchTime, i.TerminatedAt = utcTime(i.LaunchTime), utcTime(i.TerminatedAt)
	i.StateTransition.At = utcTime(i.StateTransition.At)
	for k := range i.BlockDevices {
		i.BlockDevices[k].AttachTime = utcTime(i.BlockDevices[k].AttachTime)
	}
	return i
}

func createInstances(t *testing.T, s metadata.Store, list ...openami.Instance) {
	t.Helper()
	update(t, s, func(tx metadata.Tx) error {
		for _, i := range list {
			if err := tx.Instances().Create(i); err != nil {
				return err
			}
		}
		return nil
	})
}

func testInstanceCreateGet(t *testing.T, s metadata.Store) {
	full := openami.Instance{
		ID: "i-0123456789abcdef0", Region: region1, AccountID: acct1, ReservationID: "r-1", ImageID: "ami-1",
		InstanceType: "m5d.large", KeyName: "k", State: openami.InstanceStopped,
		StateReason:     openami.StateReason{Cause: openami.CauseUserShutdown, Message: "User initiated shutdown"},
		StateTransition: openami.StateTransition{Cause: openami.CauseUserShutdown, At: t0.Add(time.Second)}, AvailabilityZone: "us-east-1b", VpcID: "vpc-1", SubnetID: "subnet-1",
		SecurityGroupIDs: []string{"sg-1", "sg-2"}, PrivateIP: "172.31.16.5", MacAddress: "02:00:00:00:00:01",
		UserData: []byte{0, 1, 2, 0xff}, LaunchTime: t0, TerminatedAt: t0.Add(time.Hour), AmiLaunchIndex: 2,
		Architecture: "x86_64", VirtualizationType: "hvm", BootMode: "uefi", RootDeviceName: "/dev/xvda",
		RootDeviceType: "ebs",
		BlockDevices: []openami.InstanceBlockDevice{
			{DeviceName: "/dev/xvda", VolumeID: "vol-1", DeleteOnTermination: true, AttachTime: t0},
			{DeviceName: "/dev/sdf", VolumeID: "vol-2", AttachTime: t0.Add(time.Minute)},
		},
		InstanceStores:  []openami.InstanceStore{{DeviceName: "/dev/sdb", VirtualName: "ephemeral0", Size: 75}},
		EnaSupport:      true,
		MetadataOptions: openami.MetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpEndpoint: "enabled", InstanceMetadataTags: "disabled"},
		ClientToken:     "tok", DisableAPITermination: true, InstanceInitiatedShutdownBehavior: "stop",
	}
	empty := openami.Instance{ID: "i-2", Region: region1, AccountID: acct1}
	createInstances(t, s, full, empty)
	view(t, s, func(tx metadata.Tx) error {
		for _, want := range []openami.Instance{full, empty} {
			got, err := tx.Instances().Get(region1, want.ID)
			if err != nil {
				return err
			}
			equal(t, "Get "+want.ID, got, utcInstance(want))
		}
		if _, err := tx.Instances().Get(region2, full.ID); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get in another region: %v, want NotFound", err)
		}
		return nil
	})
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Instances().Create(empty) })
	if !errors.Is(err, openami.ErrDuplicate) {
		t.Errorf("Create of a taken id: %v, want Duplicate", err)
	}
}

func testInstanceUpdateDelete(t *testing.T, s metadata.Store) {
	a := instance(region1, acct1, "i-1", openami.InstancePending)
	createInstances(t, s, a, instance(region1, acct1, "i-2", openami.InstancePending))
	a.State = openami.InstanceRunning
	a.AccountID = acct2 // ignored
	a.PrivateIP = "172.31.0.9"
	update(t, s, func(tx metadata.Tx) error { return tx.Instances().Update(a) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Instances().Get(region1, "i-1")
		if err != nil {
			return err
		}
		want := a
		want.AccountID = acct1
		equal(t, "Get after Update", got, utcInstance(want))
		running, err := tx.Instances().List(region1, metadata.InstanceQuery{States: []openami.InstanceState{openami.InstanceRunning}})
		if err != nil {
			return err
		}
		equal(t, "running after Update", ids(running), []string{"i-1"})
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Instances().Delete(region1, "i-2") })
	for _, err := range []error{
		updateErr(t, s, func(tx metadata.Tx) error { return tx.Instances().Delete(region1, "i-2") }),
		updateErr(t, s, func(tx metadata.Tx) error { return tx.Instances().Update(instance(region1, acct1, "i-2", "")) }),
		updateErr(t, s, func(tx metadata.Tx) error { return tx.Instances().Delete(region2, "i-1") }),
	} {
		if !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("got %v, want NotFound", err)
		}
	}
}

// testInstancePublicIPs: a public address is held by one instance of
// any account and region at a time, and free again once released.
func testInstancePublicIPs(t *testing.T, s metadata.Store) {
	publicIPs := func() []string {
		var got []string
		view(t, s, func(tx metadata.Tx) error {
			var err error
			got, err = tx.Instances().PublicIPs()
			slices.Sort(got)
			return err
		})
		return got
	}
	if got := publicIPs(); len(got) != 0 {
		t.Fatalf("public addresses of an empty store: %v", got)
	}
	a := instance(region1, acct1, "i-1", openami.InstancePending)
	a.PublicIP = "127.77.0.4"
	b := instance(region2, acct2, "i-2", openami.InstancePending)
	b.PublicIP = "127.77.0.5"
	c := instance(region1, acct2, "i-3", openami.InstanceStopped)
	createInstances(t, s, a, b, c)
	equal(t, "public addresses", publicIPs(), []string{"127.77.0.4", "127.77.0.5"})
	view(t, s, func(tx metadata.Tx) error {
		for ip, want := range map[string]bool{"127.77.0.4": true, "127.77.0.5": true, "127.77.0.6": false} {
			held, err := tx.Instances().PublicIPHeld(ip)
			if err != nil {
				return err
			}
			if held != want {
				t.Errorf("PublicIPHeld(%s) = %v, want %v", ip, held, want)
			}
		}
		return nil
	})

	// Taken: by an instance of another account and region.
	d := instance(region2, acct2, "i-4", openami.InstancePending)
	d.PublicIP = a.PublicIP
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { return tx.Instances().Create(d) }), openami.Duplicate, openami.ResourceInstance)
	c.PublicIP = b.PublicIP
	wantClass(t, updateErr(t, s, func(tx metadata.Tx) error { return tx.Instances().Update(c) }), openami.Duplicate, openami.ResourceInstance)
	equal(t, "public addresses after refusals", publicIPs(), []string{"127.77.0.4", "127.77.0.5"})

	// Released, it is anyone's.
	b.PublicIP, b.State = "", openami.InstanceStopped
	update(t, s, func(tx metadata.Tx) error { return tx.Instances().Update(b) })
	update(t, s, func(tx metadata.Tx) error { return tx.Instances().Update(c) })
	equal(t, "public addresses after a release and a take", publicIPs(), []string{"127.77.0.4", "127.77.0.5"})
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Instances().Get(region1, "i-3")
		equal(t, "the new holder", got.PublicIP, "127.77.0.5")
		return err
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Instances().Delete(region1, "i-1") })
	equal(t, "public addresses after a delete", publicIPs(), []string{"127.77.0.5"})
}

func testInstanceList(t *testing.T, s metadata.Store) {
	i1 := instance(region1, acct1, "i-1", openami.InstanceRunning)
	i1.ClientToken = "tok"
	i2 := instance(region1, acct1, "i-2", openami.InstanceStopped)
	i2.ClientToken = "tok"
	createInstances(t, s, i1, i2,
		instance(region1, acct2, "i-3", openami.InstanceRunning),
		instance(region2, acct1, "i-4", openami.InstancePending),
		instance(region1, acct1, "i-5", openami.InstanceTerminated))
	view(t, s, func(tx metadata.Tx) error {
		for _, c := range []struct {
			name   string
			region string
			q      metadata.InstanceQuery
			want   []string
		}{
			{"all", region1, metadata.InstanceQuery{}, []string{"i-1", "i-2", "i-3", "i-5"}},
			{"account", region1, metadata.InstanceQuery{AccountID: acct1}, []string{"i-1", "i-2", "i-5"}},
			{"ids", region1, metadata.InstanceQuery{IDs: []string{"i-2", "i-3", "i-4"}}, []string{"i-2", "i-3"}},
			{"states", region1, metadata.InstanceQuery{States: []openami.InstanceState{openami.InstanceRunning, openami.InstanceTerminated}}, []string{"i-1", "i-3", "i-5"}},
			{"page", region1, metadata.InstanceQuery{After: "i-1", Limit: 2}, []string{"i-2", "i-3"}},
			{"region2", region2, metadata.InstanceQuery{}, []string{"i-4"}},
		} {
			got, err := tx.Instances().List(c.region, c.q)
			if err != nil {
				return err
			}
			equal(t, c.name, ids(got), c.want)
		}
		got, err := tx.Instances().ByClientToken(region1, acct1, "tok")
		if err != nil {
			return err
		}
		equal(t, "ByClientToken", ids(got), []string{"i-1", "i-2"})
		got, err = tx.Instances().ByClientToken(region1, acct2, "tok")
		if err != nil {
			return err
		}
		equal(t, "ByClientToken of another account", ids(got), []string{})
		return nil
	})
}

func ids(list []openami.Instance) []string {
	out := []string{}
	for _, i := range list {
		out = append(out, i.ID)
	}
	return out
}
