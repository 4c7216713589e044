package instances

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/network"
)

// TestRunInstances: RunInstances makes pending instances of an image the
// caller may launch, each with a new root volume over the image's
// snapshot, attached and deleted on termination; a pass makes them
// running. An image the caller may not see, or an instance type that does
// not exist, launches nothing.
func TestRunInstances(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	img := f.image(t, "app")
	r, err := f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 2, MaxCount: 2,
		InstanceTags: []openami.Tag{{Key: "Name", Value: "web"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == "" || r.AccountID != f.p.AccountID || len(r.Instances) != 2 {
		t.Fatalf("reservation: %+v", r)
	}
	for k, view := range r.Instances {
		i := view.Instance
		if i.State != openami.InstancePending || i.ImageID != img || i.InstanceType != "t3.micro" || i.AmiLaunchIndex != k ||
			i.ReservationID != r.ID || i.PrivateIP == "" || len(view.Tags) != 1 {
			t.Fatalf("launched instance %d: %+v", k, view)
		}
		if len(i.BlockDevices) != 1 || i.BlockDevices[0].DeviceName != "/dev/xvda" || !i.BlockDevices[0].DeleteOnTermination {
			t.Fatalf("launched instance's devices: %+v", i.BlockDevices)
		}
		v, err := f.volume(t, i.BlockDevices[0].VolumeID)
		if err != nil || v.State != openami.VolumeInUse || v.InstanceID != i.ID || v.Device != "/dev/xvda" {
			t.Fatalf("root volume: %+v, %v", v, err)
		}
	}
	if r.Instances[0].PrivateIP == r.Instances[1].PrivateIP {
		t.Fatalf("two instances share the address %s", r.Instances[0].PrivateIP)
	}
	f.pass(t)
	rs, _, err := f.machines.DescribeInstances(ctx, f.p, nil, nil, nil, Page{})
	if err != nil || len(rs) != 1 || len(rs[0].Instances) != 2 {
		t.Fatalf("DescribeInstances = %+v, %v", rs, err)
	}
	for _, i := range rs[0].Instances {
		if i.State != openami.InstanceRunning {
			t.Fatalf("instance %s after a pass is %s", i.ID, i.State)
		}
	}

	before, _, _ := f.vols.DescribeVolumes(ctx, f.p, nil, nil, ebs.Page{})
	other, _, err := f.accounts.CreateAccount(ctx, "other", false)
	if err != nil {
		t.Fatal(err)
	}
	op := openami.Principal{AccountID: other.ID, Region: "us-east-1"}
	_, err = f.machines.RunInstances(ctx, op, RunInstancesInput{ImageID: img, MinCount: 1, MaxCount: 1})
	wantClass(t, "launching another account's private image", err, openami.NotFound, openami.ResourceImage)
	_, err = f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: "ami-0123456789abcdef0", MinCount: 1, MaxCount: 1})
	wantClass(t, "launching an image that does not exist", err, openami.NotFound, openami.ResourceImage)
	_, err = f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.enormous", MinCount: 1, MaxCount: 1})
	if !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("an instance type that does not exist: %v", err)
	}
	after, _, _ := f.vols.DescribeVolumes(ctx, f.p, nil, nil, ebs.Page{})
	rs, _, _ = f.machines.DescribeInstances(ctx, f.p, nil, nil, nil, Page{})
	if len(after) != len(before) || len(rs) != 1 {
		t.Fatalf("refused launches left volumes (%d → %d) or reservations (%d)", len(before), len(after), len(rs))
	}
}

// TestStopStartTerminate follows an instance through its states by the
// worker's passes: stop (stopping, then stopped by the runtime), start
// (pending, then running), terminate (shutting-down, then terminated,
// its root volume deleted and an attached data volume detached). A stop
// records the user's shutdown and its time, in the rules' own terms; a
// start clears them. A runtime that fails to stop leaves the instance
// stopping for the next pass.
func TestStopStartTerminate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rt := newFakeRuntime()
	f.machines.UseRuntime(rt)
	i := f.launch(t, "cycle")
	root := i.BlockDevices[0].VolumeID

	stopAt := f.clock.Now()
	rt.SetStopErr(errors.New("the VM is wedged"))
	changes, err := f.machines.StopInstances(ctx, f.p, []string{i.ID}, false)
	if err != nil || len(changes) != 1 || changes[0].Previous != openami.InstanceRunning || changes[0].Current != openami.InstanceStopping {
		t.Fatalf("StopInstances = %+v, %v", changes, err)
	}
	got := f.instance(t, i.ID)
	want := openami.StateTransition{Cause: openami.CauseUserShutdown, At: stopAt.UTC().Truncate(time.Millisecond)}
	if got.StateTransition.Cause != want.Cause || !got.StateTransition.At.Equal(want.At) || got.StateTransition.Text != "" ||
		got.StateReason.Cause != openami.CauseUserShutdown {
		t.Fatalf("a stopping instance's transition %+v and reason %+v, want %+v", got.StateTransition, got.StateReason, want)
	}
	f.pass(t)
	if got := f.instance(t, i.ID); got.State != openami.InstanceStopping {
		t.Fatalf("after a failed stop the instance is %s, want stopping", got.State)
	}
	rt.SetStopErr(nil)
	f.pass(t)
	if got := f.instance(t, i.ID); got.State != openami.InstanceStopped {
		t.Fatalf("after a stop the instance is %s", got.State)
	}
	// Stopping a stopped instance changes nothing.
	if changes, err := f.machines.StopInstances(ctx, f.p, []string{i.ID}, false); err != nil || changes[0].Current != openami.InstanceStopped {
		t.Fatalf("stopping a stopped instance: %+v, %v", changes, err)
	}

	// The reason filter matches what the caller was shown: the words it
	// gives, or (none given) the cause.
	words := func(t openami.StateTransition) string { return "stopped by you at " + t.At.Format(time.RFC3339) }
	for _, c := range []struct {
		words   TransitionWords
		pattern string
		match   bool
	}{
		{words, "stopped by you at *", true},
		{words, "user-shutdown", false},
		{nil, "user-shutdown", true},
		{nil, "guest-*", false},
	} {
		rs, _, err := f.machines.DescribeInstances(ctx, f.p, nil, []filter.Filter{{Name: string(AttrInstanceTransitionReason), Values: []string{c.pattern}}}, c.words, Page{})
		if err != nil {
			t.Fatal(err)
		}
		if (len(rs) == 1) != c.match {
			t.Fatalf("filter %q (words given: %v) matched %d reservations, want a match: %v", c.pattern, c.words != nil, len(rs), c.match)
		}
	}

	// A data volume, attached while stopped, outlives the instance.
	data, err := f.vols.CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: i.AvailabilityZone, Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.machines.AttachVolume(ctx, f.p, data.ID, i.ID, "/dev/sdf"); err != nil {
		t.Fatal(err)
	}

	if _, err := f.machines.StartInstances(ctx, f.p, []string{i.ID}); err != nil {
		t.Fatal(err)
	}
	if got := f.instance(t, i.ID); got.State != openami.InstancePending || got.StateTransition != (openami.StateTransition{}) || got.StateReason != (openami.StateReason{}) {
		t.Fatalf("a started instance: %s, transition %+v, reason %+v", got.State, got.StateTransition, got.StateReason)
	}
	f.pass(t)
	if got := f.instance(t, i.ID); got.State != openami.InstanceRunning {
		t.Fatalf("after a start the instance is %s", got.State)
	}
	// The launch, the failed stop and its retry, the start.
	if calls, want := rt.Calls(), []string{"start " + i.ID, "stop " + i.ID, "stop " + i.ID, "start " + i.ID}; !slices.Equal(calls, want) {
		t.Fatalf("runtime calls %v, want %v", calls, want)
	}

	f.clock.Add(time.Minute)
	if _, err := f.machines.TerminateInstances(ctx, f.p, []string{i.ID}); err != nil {
		t.Fatal(err)
	}
	if got := f.instance(t, i.ID); got.State != openami.InstanceShuttingDown || got.StateTransition.Cause != openami.CauseUserShutdown ||
		!got.StateTransition.At.Equal(f.clock.Now().UTC().Truncate(time.Millisecond)) {
		t.Fatalf("a terminating instance: %s, transition %+v", got.State, got.StateTransition)
	}
	f.pass(t)
	got = f.instance(t, i.ID)
	if got.State != openami.InstanceTerminated || len(got.BlockDevices) != 0 {
		t.Fatalf("after a terminate: %s with %+v", got.State, got.BlockDevices)
	}
	if !slices.Contains(rt.Calls(), "terminate "+i.ID) {
		t.Fatalf("the runtime was not asked to terminate: %v", rt.Calls())
	}
	if _, err := f.volume(t, root); !errors.Is(err, openami.ErrNotFound) {
		t.Fatalf("the root volume (delete on termination) after a terminate: %v", err)
	}
	if v, err := f.volume(t, data.ID); err != nil || v.State != openami.VolumeAvailable || v.InstanceID != "" {
		t.Fatalf("the data volume after a terminate: %+v, %v", v, err)
	}
	_, err = f.machines.StartInstances(ctx, f.p, []string{i.ID})
	wantClass(t, "starting a terminated instance", err, openami.IncorrectState, openami.ResourceInstance)
}

// TestTransitionTextOfEarlierVersions: an instance an earlier version
// stored with EC2's free text as its transition keeps it, and the reason
// filter matches that text as it is, whatever the words given.
func TestTransitionTextOfEarlierVersions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	i := f.launch(t, "old")
	const text = "User initiated (2025-01-02 03:04:05 GMT)"
	err := f.store.Update(ctx, func(tx metadata.Tx) error {
		i.State, i.StateTransition = openami.InstanceStopped, openami.StateTransition{Text: text}
		return tx.Instances().Update(i)
	})
	if err != nil {
		t.Fatal(err)
	}
	words := func(openami.StateTransition) string { return "never" }
	rs, _, err := f.machines.DescribeInstances(ctx, f.p, nil, []filter.Filter{{Name: string(AttrInstanceTransitionReason), Values: []string{"User initiated (2025-*"}}}, words, Page{})
	if err != nil || len(rs) != 1 || rs[0].Instances[0].StateTransition.Text != text {
		t.Fatalf("an earlier version's text: %+v, %v", rs, err)
	}
	// A start clears it, as it clears a transition of this version.
	if _, err := f.machines.StartInstances(ctx, f.p, []string{i.ID}); err != nil {
		t.Fatal(err)
	}
	if got := f.instance(t, i.ID).StateTransition; got != (openami.StateTransition{}) {
		t.Fatalf("after a start: %+v", got)
	}
}

// failingRuntime cannot start a VM.
type failingRuntime struct{ NoneRuntime }

func (failingRuntime) Start(context.Context, openami.Instance) error { return errors.New("no room") }

// TestLaunchFails: an instance the runtime cannot start is terminated,
// with the launch failure as its state reason, and its volumes go.
func TestLaunchFails(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.machines.UseRuntime(failingRuntime{})
	r, err := f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: f.image(t, "doomed"), MinCount: 1, MaxCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	i := f.instance(t, r.Instances[0].ID)
	if i.State != openami.InstanceTerminated || i.StateReason.Cause != openami.CauseLaunchFailed || i.StateReason.Message == "" {
		t.Fatalf("an instance that failed to start: %s, %+v", i.State, i.StateReason)
	}
	if _, err := f.volume(t, r.Instances[0].BlockDevices[0].VolumeID); !errors.Is(err, openami.ErrNotFound) {
		t.Fatalf("the failed instance's root volume: %v", err)
	}
}

// TestAttachDetach: a volume attaches to an instance in its zone as a
// free device, and detaches; a volume in use, in another zone, or a
// device taken is refused; the root volume of a running instance stays.
func TestAttachDetach(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	i := f.launch(t, "host")
	vol, err := f.vols.CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: i.AvailabilityZone, Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	att, err := f.machines.AttachVolume(ctx, f.p, vol.ID, i.ID, "/dev/sdf")
	if err != nil || att.State != "attaching" || att.Device != "/dev/sdf" {
		t.Fatalf("AttachVolume = %+v, %v", att, err)
	}
	if v, _ := f.volume(t, vol.ID); v.State != openami.VolumeInUse || v.InstanceID != i.ID {
		t.Fatalf("attached volume: %s on %q", v.State, v.InstanceID)
	}
	if !slices.ContainsFunc(f.instance(t, i.ID).BlockDevices, func(b openami.InstanceBlockDevice) bool { return b.VolumeID == vol.ID && b.DeviceName == "/dev/sdf" }) {
		t.Fatal("the instance does not list the attached volume")
	}
	_, err = f.machines.AttachVolume(ctx, f.p, vol.ID, i.ID, "/dev/sdg")
	wantClass(t, "attaching a volume in use", err, openami.InUse, openami.ResourceVolume)
	err = f.vols.DeleteVolume(ctx, f.p, vol.ID)
	wantClass(t, "deleting an attached volume", err, openami.InUse, openami.ResourceVolume)
	if want := "Volume " + vol.ID + " is currently attached to " + i.ID; err.(*openami.Error).Message != want {
		t.Fatalf("deleting an attached volume: %q, want %q (EC2 names the instance)", err.(*openami.Error).Message, want)
	}

	other, err := f.vols.CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: i.AvailabilityZone, Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.machines.AttachVolume(ctx, f.p, other.ID, i.ID, "/dev/sdf")
	if !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("attaching at a device in use: %v", err)
	}
	zone := "us-east-1b"
	if i.AvailabilityZone == zone {
		zone = "us-east-1a"
	}
	far, err := f.vols.CreateVolume(ctx, f.p, ebs.CreateVolumeInput{AvailabilityZone: zone, Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.machines.AttachVolume(ctx, f.p, far.ID, i.ID, "/dev/sdh")
	var e *openami.Error
	if !errors.As(err, &e) || e.Reason != openami.ReasonZoneMismatch {
		t.Fatalf("attaching a volume of another zone: %v", err)
	}
	_, err = f.machines.DetachVolume(ctx, f.p, i.BlockDevices[0].VolumeID, "", "")
	if !errors.Is(err, openami.ErrIncorrectState) {
		t.Fatalf("detaching a running instance's root volume: %v", err)
	}
	_, err = f.machines.DetachVolume(ctx, f.p, vol.ID, "i-0123456789abcdef0", "")
	wantClass(t, "detaching from another instance", err, openami.NotFound, openami.ResourceAttachment)

	if _, err := f.machines.DetachVolume(ctx, f.p, vol.ID, i.ID, ""); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.volume(t, vol.ID); v.State != openami.VolumeAvailable || v.InstanceID != "" {
		t.Fatalf("detached volume: %s on %q", v.State, v.InstanceID)
	}
	if got := f.instance(t, i.ID).BlockDevices; len(got) != 1 {
		t.Fatalf("the instance still lists %d devices", len(got))
	}
	_, err = f.machines.DetachVolume(ctx, f.p, vol.ID, "", "")
	wantClass(t, "detaching a detached volume", err, openami.IncorrectState, openami.ResourceVolume)
}

// TestModifyInstanceAttribute: one attribute at a time; the type only
// while stopped; termination and stop protection hold until lifted;
// DeleteOnTermination reaches the volume, so a terminate keeps it.
func TestModifyInstanceAttribute(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	i := f.launch(t, "modified")
	modify := func(in ModifyInstanceAttributeInput) error {
		in.InstanceID = i.ID
		return f.machines.ModifyInstanceAttribute(ctx, f.p, in)
	}
	yes, no := true, false
	bigger := "t3.large"

	if err := modify(ModifyInstanceAttributeInput{DisableAPITermination: &yes, DisableAPIStop: &yes}); !errors.Is(err, openami.ErrInvalidCombination) {
		t.Fatalf("two attributes at once: %v", err)
	}
	if err := modify(ModifyInstanceAttributeInput{}); !errors.Is(err, openami.ErrMissingParameter) {
		t.Fatalf("no attribute: %v", err)
	}
	wantClass(t, "the type of a running instance", modify(ModifyInstanceAttributeInput{InstanceType: &bigger}), openami.IncorrectState, openami.ResourceInstance)

	if err := modify(ModifyInstanceAttributeInput{DisableAPIStop: &yes}); err != nil {
		t.Fatal(err)
	}
	_, err := f.machines.StopInstances(ctx, f.p, []string{i.ID}, false)
	wantClass(t, "stopping with stop protection", err, openami.Unauthorized, openami.ResourceInstance)
	if err := modify(ModifyInstanceAttributeInput{DisableAPIStop: &no}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.machines.StopInstances(ctx, f.p, []string{i.ID}, false); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	if err := modify(ModifyInstanceAttributeInput{InstanceType: &bigger}); err != nil {
		t.Fatal(err)
	}
	nope := "t3.enormous"
	if err := modify(ModifyInstanceAttributeInput{InstanceType: &nope}); !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("a type that does not exist: %v", err)
	}
	attr, err := f.machines.DescribeInstanceAttribute(ctx, f.p, i.ID, "instanceType")
	if err != nil || attr.InstanceType != bigger {
		t.Fatalf("instance type after the change: %q, %v", attr.InstanceType, err)
	}

	root := i.BlockDevices[0]
	if err := modify(ModifyInstanceAttributeInput{DeleteOnTermination: map[string]bool{root.DeviceName: false}}); err != nil {
		t.Fatal(err)
	}
	if err := modify(ModifyInstanceAttributeInput{DeleteOnTermination: map[string]bool{"/dev/sdz": false}}); !errors.Is(err, openami.ErrInvalidParameter) {
		t.Fatalf("DeleteOnTermination of a device not attached: %v", err)
	}
	if err := modify(ModifyInstanceAttributeInput{DisableAPITermination: &yes}); err != nil {
		t.Fatal(err)
	}
	_, err = f.machines.TerminateInstances(ctx, f.p, []string{i.ID})
	wantClass(t, "terminating with termination protection", err, openami.Unauthorized, openami.ResourceInstance)
	if got := f.instance(t, i.ID); got.State != openami.InstanceStopped {
		t.Fatalf("a refused terminate left the instance %s", got.State)
	}
	if err := modify(ModifyInstanceAttributeInput{DisableAPITermination: &no}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.machines.TerminateInstances(ctx, f.p, []string{i.ID}); err != nil {
		t.Fatal(err)
	}
	f.pass(t)
	if v, err := f.volume(t, root.VolumeID); err != nil || v.State != openami.VolumeAvailable {
		t.Fatalf("the root volume kept on termination: %+v, %v", v, err)
	}
}

// TestDescribeInstancesGroupFilters: the group filters match any of an
// instance's security groups, by id or by the name rules/network has
// for it, wildcards included, and a filter of both narrows to both.
func TestDescribeInstancesGroupFilters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	img := f.image(t, "groups")
	group := func(name string) string {
		g, err := f.machines.networks.CreateSecurityGroup(ctx, f.p, network.CreateSecurityGroupInput{Name: name, Description: name})
		if err != nil {
			t.Fatal(err)
		}
		return g.ID
	}
	web, db := group("web"), group("db")
	run := func(groups ...string) string {
		r, err := f.machines.RunInstances(ctx, f.p, RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, SecurityGroups: groups})
		if err != nil {
			t.Fatal(err)
		}
		return r.Instances[0].ID
	}
	onlyWeb, both, plain := run("web"), run("web", "db"), run()
	for _, c := range []struct {
		filters []filter.Filter
		want    []string
	}{
		{[]filter.Filter{{Name: string(AttrInstanceGroupName), Values: []string{"web"}}}, []string{onlyWeb, both}},
		{[]filter.Filter{{Name: string(AttrInstanceGroupName), Values: []string{"d?"}}}, []string{both}},
		{[]filter.Filter{{Name: string(AttrInstanceGroupName), Values: []string{"default"}}}, []string{plain}},
		{[]filter.Filter{{Name: string(AttrInstanceGroupName), Values: []string{"nope", "db"}}}, []string{both}},
		{[]filter.Filter{{Name: string(AttrInstanceGroupID), Values: []string{web}}}, []string{onlyWeb, both}},
		{[]filter.Filter{{Name: string(AttrInstanceGroupID), Values: []string{db}}, {Name: string(AttrInstanceGroupName), Values: []string{"web"}}}, []string{both}},
		{[]filter.Filter{{Name: string(AttrInstanceGroupID), Values: []string{db}}, {Name: string(AttrInstanceGroupName), Values: []string{"default"}}}, nil},
	} {
		rs, _, err := f.machines.DescribeInstances(ctx, f.p, nil, c.filters, nil, Page{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			for _, i := range r.Instances {
				got = append(got, i.ID)
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(c.want))
		if !slices.Equal(got, want) {
			t.Errorf("filters %+v: got %v, want %v", c.filters, got, want)
		}
	}
}

// TestMissingInstancesNamed: several unknown instance ids in one call are
// all named, as EC2 names them ("The instance IDs 'i-1, i-2' do not
// exist"); one alone keeps the singular sentence.
func TestMissingInstancesNamed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, b := "i-0000000000000000a", "i-0000000000000000b"
	_, err := f.machines.TerminateInstances(ctx, f.p, []string{a, b, a})
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != openami.NotFound || e.Message != "The instance IDs '"+a+", "+b+"' do not exist" {
		t.Errorf("TerminateInstances of two unknown ids: %v", err)
	}
	_, _, err = f.machines.DescribeInstances(ctx, f.p, []string{a}, nil, nil, Page{})
	if !errors.As(err, &e) || e.Message != "The instance ID '"+a+"' does not exist" {
		t.Errorf("DescribeInstances of one unknown id: %v", err)
	}
}
