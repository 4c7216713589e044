package e2e

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/openami/openami/rules/identity"
)

// registerTestImage registers an image over a new one-block snapshot of c.
func registerTestImage(t *testing.T, s *server, e *ec2.Client, c identity.Credentials, name string) string {
	t.Helper()
	snap := newSnapshot(t, s, c)
	out, err := e.RegisterImage(context.Background(), &ec2.RegisterImageInput{Name: aws.String(name), RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: rootMapping(snap), BootMode: types.BootModeValuesUefiPreferred})
	if err != nil {
		t.Fatal(err)
	}
	return *out.ImageId
}

// TestInstanceLifecycle launches instances from an image and takes them
// through stop, start and terminate with the SDK's waiters, checking their
// volumes at each step.
func TestInstanceLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "launcher")
		e := s.ec2(c, "us-east-1")
		img := registerTestImage(t, s, e, c, "launchable")
		if _, err := e.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		userData := "#!/bin/sh\necho hello\n"
		run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{
			ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
			KeyName: aws.String("k"), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData))),
			ClientToken: aws.String("launch-1"),
			BlockDeviceMappings: []types.BlockDeviceMapping{
				{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(4)}},
				{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(2), DeleteOnTermination: aws.Bool(false)}},
			},
			TagSpecifications: []types.TagSpecification{
				{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}}},
				{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(run.Instances) != 2 || run.Instances[0].State.Name != types.InstanceStateNamePending {
			t.Fatalf("RunInstances: %+v", run.Instances)
		}
		ids := []string{*run.Instances[0].InstanceId, *run.Instances[1].InstanceId}
		if *run.Instances[0].PrivateIpAddress == *run.Instances[1].PrivateIpAddress {
			t.Fatalf("two instances share the address %s", *run.Instances[0].PrivateIpAddress)
		}
		again, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(2), MaxCount: aws.Int32(2), ClientToken: aws.String("launch-1")})
		if err != nil || *again.ReservationId != *run.ReservationId || len(again.Instances) != 2 {
			t.Fatalf("RunInstances with the same client token: %v %+v", err, again)
		}

		running := ec2.NewInstanceRunningWaiter(e, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 30*time.Second); err != nil {
			t.Fatalf("instance-running waiter: %v", err)
		}
		desc, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
			{Name: aws.String("image-id"), Values: []string{img}},
			{Name: aws.String("tag:Name"), Values: []string{"web"}},
			{Name: aws.String("instance-state-name"), Values: []string{"running"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if len(desc.Reservations) != 1 || len(desc.Reservations[0].Instances) != 2 {
			t.Fatalf("DescribeInstances by image, tag and state: %+v", desc.Reservations)
		}
		inst := desc.Reservations[0].Instances[0]
		if *inst.KeyName != "k" || len(inst.BlockDeviceMappings) != 2 || *inst.RootDeviceName != "/dev/xvda" ||
			inst.Architecture != types.ArchitectureValuesX8664 || *inst.Placement.AvailabilityZone != "us-east-1a" || inst.BootMode != types.BootModeValuesUefi {
			t.Fatalf("instance: %+v", inst)
		}
		ud, err := e.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: inst.InstanceId, Attribute: types.InstanceAttributeNameUserData})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := base64.StdEncoding.DecodeString(*ud.UserData.Value); string(got) != userData {
			t.Fatalf("user data %q, want %q", got, userData)
		}
		vols, err := e.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{*inst.InstanceId}}}})
		if err != nil {
			t.Fatal(err)
		}
		var root, data types.Volume
		for _, v := range vols.Volumes {
			switch *v.Attachments[0].Device {
			case "/dev/xvda":
				root = v
			case "/dev/sdf":
				data = v
			}
		}
		if root.VolumeId == nil || *root.Size != 4 || root.State != types.VolumeStateInUse || root.SnapshotId == nil || *root.SnapshotId == "" ||
			!*root.Attachments[0].DeleteOnTermination || len(root.Tags) != 1 || data.VolumeId == nil || *data.Attachments[0].DeleteOnTermination {
			t.Fatalf("volumes of %s: %+v", *inst.InstanceId, vols.Volumes)
		}
		imgAttr, err := e.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(img), Attribute: types.ImageAttributeNameLastLaunchedTime})
		if err != nil || imgAttr.LastLaunchedTime == nil || aws.ToString(imgAttr.LastLaunchedTime.Value) == "" {
			t.Fatalf("lastLaunchedTime: %v %+v", err, imgAttr)
		}

		// Deregistering the image does not touch its instances.
		if _, err := e.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(img)}); err != nil {
			t.Fatal(err)
		}

		if _, err := e.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids[:1]}); err != nil {
			t.Fatal(err)
		}
		stopped := ec2.NewInstanceStoppedWaiter(e, func(o *ec2.InstanceStoppedWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		if err := stopped.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids[:1]}, 30*time.Second); err != nil {
			t.Fatalf("instance-stopped waiter: %v", err)
		}
		// EC2's free text for the stop, and the reason filter over it.
		byReason, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
			{Name: aws.String("reason"), Values: []string{"User initiated (*"}}}})
		if err != nil || len(byReason.Reservations) != 1 || len(byReason.Reservations[0].Instances) != 1 {
			t.Fatalf("the reason filter: %v %+v", err, byReason)
		}
		why := aws.ToString(byReason.Reservations[0].Instances[0].StateTransitionReason)
		if at, ok := strings.CutPrefix(why, "User initiated ("); !ok || !strings.HasSuffix(at, " GMT)") {
			t.Fatalf("a stopped instance's reason %q", why)
		} else if _, err := time.Parse("2006-01-02 15:04:05", strings.TrimSuffix(at, " GMT)")); err != nil {
			t.Fatalf("a stopped instance's reason %q: %v", why, err)
		}
		if _, err := e.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(ids[0]),
			InstanceType: &types.AttributeValue{Value: aws.String("t4g.micro")}}); err == nil {
			t.Fatal("changing an x86_64 instance to an arm64 type succeeded")
		} else {
			wantCode(t, err, "InvalidParameterValue")
		}
		if _, err := e.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(ids[0]),
			InstanceType: &types.AttributeValue{Value: aws.String("m5.large")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids[:1]}); err != nil {
			t.Fatal(err)
		}
		if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids[:1]}, 30*time.Second); err != nil {
			t.Fatalf("instance-running waiter after start: %v", err)
		}

		if _, err := e.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(ids[1]),
			DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
			t.Fatal(err)
		}
		_, err = e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
		wantCode(t, err, "OperationNotPermitted")
		if _, err := e.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(ids[1]),
			DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(false)}}); err != nil {
			t.Fatal(err)
		}
		term, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
		if err != nil || len(term.TerminatingInstances) != 2 || term.TerminatingInstances[0].CurrentState.Name != types.InstanceStateNameShuttingDown {
			t.Fatalf("TerminateInstances: %v %+v", err, term)
		}
		terminated := ec2.NewInstanceTerminatedWaiter(e, func(o *ec2.InstanceTerminatedWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
		})
		if err := terminated.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 30*time.Second); err != nil {
			t.Fatalf("instance-terminated waiter: %v", err)
		}
		_, err = e.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{*root.VolumeId}})
		wantCode(t, err, "InvalidVolume.NotFound")
		kept, err := e.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{*data.VolumeId}})
		if err != nil || kept.Volumes[0].State != types.VolumeStateAvailable || len(kept.Volumes[0].Attachments) != 0 {
			t.Fatalf("the volume kept on termination: %v %+v", err, kept)
		}
		_, err = e.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids[:1]})
		wantCode(t, err, "IncorrectInstanceState")
	})
}

// TestRunInstancesRefuses checks RunInstances' refusals, none of which
// leaves an instance or a volume behind.
func TestRunInstancesRefuses(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		owner := s.account(t, "owner")
		other := s.account(t, "other")
		eo, ex := s.ec2(owner, "us-east-1"), s.ec2(other, "us-east-1")
		img := registerTestImage(t, s, eo, owner, "private")
		run := func(e *ec2.Client, in ec2.RunInstancesInput) error {
			in.MinCount, in.MaxCount = aws.Int32(1), aws.Int32(1)
			_, err := e.RunInstances(ctx, &in)
			return err
		}
		wantCode(t, run(ex, ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro}), "InvalidAMIID.NotFound")
		wantCode(t, run(eo, ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT4gMicro}), "InvalidParameterValue")
		wantCode(t, run(eo, ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: "t9.huge"}), "InvalidParameterValue")
		wantCode(t, run(eo, ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro, KeyName: aws.String("nope")}), "InvalidKeyPair.NotFound")
		wantCode(t, run(eo, ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
			Placement: &types.Placement{AvailabilityZone: aws.String("us-east-1z")}}), "InvalidParameterValue")
		wantCode(t, run(eo, ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(0)}},
				{DeviceName: aws.String("/dev/xvda"), NoDevice: aws.String("")}}}), "InvalidBlockDeviceMapping")
		// Shared, then disabled: the other account may launch it, then not.
		if _, err := eo.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(img),
			LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(other.AccountID)}}}}); err != nil {
			t.Fatal(err)
		}
		if err := run(ex, ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro}); err != nil {
			t.Fatalf("launching a shared image: %v", err)
		}
		if _, err := eo.DisableImage(ctx, &ec2.DisableImageInput{ImageId: aws.String(img)}); err != nil {
			t.Fatal(err)
		}
		wantCode(t, run(ex, ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro}), "InvalidAMIID.NotFound")
		wantCode(t, run(eo, ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro}), "InvalidAMIID.Unavailable")

		vols, err := eo.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
		if err != nil || len(vols.Volumes) != 0 {
			t.Fatalf("volumes left by refused launches: %v %+v", err, vols.Volumes)
		}
		insts, err := eo.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if err != nil || len(insts.Reservations) != 0 {
			t.Fatalf("instances left by refused launches: %v %+v", err, insts.Reservations)
		}
	})
}

// TestAttachDetachVolume moves a volume between two instances' zones'
// rules: same zone only, a device in use is refused, detach frees it.
func TestAttachDetachVolume(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "attacher")
		e := s.ec2(c, "us-east-1")
		img := registerTestImage(t, s, e, c, "attach")
		run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), Placement: &types.Placement{AvailabilityZone: aws.String("us-east-1b")}})
		if err != nil {
			t.Fatal(err)
		}
		id := *run.Instances[0].InstanceId
		running := ec2.NewInstanceRunningWaiter(e, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		far, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		near, err := e.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1b"), Size: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: far.VolumeId, InstanceId: aws.String(id), Device: aws.String("/dev/sdg")})
		wantCode(t, err, "InvalidVolume.ZoneMismatch")
		_, err = e.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: near.VolumeId, InstanceId: aws.String(id), Device: aws.String("/dev/xvda")})
		wantCode(t, err, "InvalidParameterValue")
		if _, err := e.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: near.VolumeId, InstanceId: aws.String(id), Device: aws.String("/dev/sdg")}); err != nil {
			t.Fatal(err)
		}
		inUse := ec2.NewVolumeInUseWaiter(e, func(o *ec2.VolumeInUseWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		if err := inUse.Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{*near.VolumeId}}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		_, err = e.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: near.VolumeId})
		wantCode(t, err, "VolumeInUse")
		if _, err := e.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: near.VolumeId}); err != nil {
			t.Fatal(err)
		}
		_, err = e.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: near.VolumeId})
		wantCode(t, err, "IncorrectState")
		if _, err := e.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: near.VolumeId, InstanceId: aws.String(id), Device: aws.String("/dev/sdh")}); err != nil {
			t.Fatal(err)
		}
		_, err = e.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: near.VolumeId, InstanceId: aws.String("i-0123456789abcdef0")})
		wantCode(t, err, "InvalidAttachment.NotFound")
		if _, err := e.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: near.VolumeId}); err != nil {
			t.Fatal(err)
		}
		desc, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || len(desc.Reservations[0].Instances[0].BlockDeviceMappings) != 1 {
			t.Fatalf("mappings after detach: %v %+v", err, desc)
		}
		root := *desc.Reservations[0].Instances[0].BlockDeviceMappings[0].Ebs.VolumeId
		_, err = e.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(root)})
		wantCode(t, err, "IncorrectState")
	})
}

// TestNeighbourAPI checks the network and catalog calls tools make before
// they launch: the default VPC, its subnets and security group, and
// instance types.
func TestNeighbourAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		e := s.ec2(s.account(t, "net"), "us-east-1")
		vpcs, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
		if err != nil || len(vpcs.Vpcs) != 1 || *vpcs.Vpcs[0].CidrBlock != "172.31.0.0/16" {
			t.Fatalf("DescribeVpcs: %v %+v", err, vpcs)
		}
		// EC2's old camel-case name is the same filter.
		old, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("isDefault"), Values: []string{"true"}}}})
		if err != nil || len(old.Vpcs) != 1 || *old.Vpcs[0].VpcId != *vpcs.Vpcs[0].VpcId {
			t.Fatalf("DescribeVpcs isDefault: %v %+v", err, old)
		}
		_, err = e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is_default"), Values: []string{"true"}}}})
		wantCode(t, err, "InvalidParameterValue")
		if !strings.Contains(err.Error(), "The filter 'is_default' is invalid") {
			t.Fatalf("DescribeVpcs is_default: %v", err)
		}
		subnets, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{*vpcs.Vpcs[0].VpcId}},
			{Name: aws.String("availability-zone"), Values: []string{"us-east-1b"}}}})
		if err != nil || len(subnets.Subnets) != 1 || !*subnets.Subnets[0].DefaultForAz {
			t.Fatalf("DescribeSubnets: %v %+v", err, subnets)
		}
		sgs, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"default"}})
		if err != nil || len(sgs.SecurityGroups) != 1 || *sgs.SecurityGroups[0].VpcId != *vpcs.Vpcs[0].VpcId {
			t.Fatalf("DescribeSecurityGroups: %v %+v", err, sgs)
		}
		_, err = e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-0123456789abcdef0"}})
		wantCode(t, err, "InvalidSubnetID.NotFound")
		its, err := e.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{Filters: []types.Filter{
			{Name: aws.String("processor-info.supported-architecture"), Values: []string{"arm64"}},
			{Name: aws.String("instance-type"), Values: []string{"t4g.*"}}}})
		if err != nil || len(its.InstanceTypes) != 7 || its.InstanceTypes[0].ProcessorInfo.SupportedArchitectures[0] != types.ArchitectureTypeArm64 {
			t.Fatalf("DescribeInstanceTypes: %v %+v", err, its)
		}
		m5d, err := e.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{types.InstanceTypeM5dLarge}})
		if err != nil || *m5d.InstanceTypes[0].InstanceStorageInfo.TotalSizeInGB != 75 || *m5d.InstanceTypes[0].MemoryInfo.SizeInMiB != 8192 {
			t.Fatalf("m5d.large: %v %+v", err, m5d)
		}
	})
}

// TestCreateImageFromInstance makes an image and a set of snapshots of a
// running instance with the SDK, and launches the new image.
func TestCreateImageFromInstance(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "imager")
		e := s.ec2(c, "us-east-1")
		img := registerTestImage(t, s, e, c, "source")
		run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(img), InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(1)}}},
			TagSpecifications:   []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("src"), Value: aws.String("vol")}}}}})
		if err != nil {
			t.Fatal(err)
		}
		id := *run.Instances[0].InstanceId
		running := ec2.NewInstanceRunningWaiter(e, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		created, err := e.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("from-instance"),
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sdf"), NoDevice: aws.String("")}},
			TagSpecifications: []types.TagSpecification{
				{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("kind"), Value: aws.String("golden")}}},
				{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{{Key: aws.String("kind"), Value: aws.String("golden-snap")}}}}})
		if err != nil {
			t.Fatal(err)
		}
		available := ec2.NewImageAvailableWaiter(e, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		if err := available.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*created.ImageId}}, 30*time.Second); err != nil {
			t.Fatalf("image-available waiter: %v", err)
		}
		out, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*created.ImageId}})
		if err != nil {
			t.Fatal(err)
		}
		got := out.Images[0]
		if aws.ToString(got.SourceInstanceId) != id || len(got.BlockDeviceMappings) != 1 || len(got.Tags) != 1 || got.BootMode != types.BootModeValuesUefi {
			t.Fatalf("image from instance: %+v", got)
		}
		snaps, err := e.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{*got.BlockDeviceMappings[0].Ebs.SnapshotId}})
		if err != nil || len(snaps.Snapshots[0].Tags) != 1 || *snaps.Snapshots[0].Tags[0].Value != "golden-snap" {
			t.Fatalf("the image's snapshot: %v %+v", err, snaps)
		}
		if _, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: created.ImageId, InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}); err != nil {
			t.Fatalf("launching the new image: %v", err)
		}

		set, err := e.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{
			InstanceSpecification: &types.InstanceSpecification{InstanceId: aws.String(id)},
			Description:           aws.String("both"), CopyTagsFromSource: types.CopyTagsFromSourceVolume})
		if err != nil || len(set.Snapshots) != 2 {
			t.Fatalf("CreateSnapshots: %v %+v", err, set)
		}
		tagged := 0
		for _, sn := range set.Snapshots {
			if sn.State != types.SnapshotStateCompleted {
				t.Fatalf("snapshot %+v", sn)
			}
			tagged += len(sn.Tags)
		}
		if tagged != 2 {
			t.Fatalf("CreateSnapshots copied %d volume tags, want 2", tagged)
		}
		_, err = e.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("from-instance")})
		wantCode(t, err, "InvalidAMIName.Duplicate")
	})
}

// TestCopyImage copies an image within its region and to another, waits
// for both with the SDK's waiter, and follows the lineage back.
func TestCopyImage(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "copier")
		east, west := s.ec2(c, "us-east-1"), s.ec2(c, "us-west-2")
		src := registerTestImage(t, s, east, c, "original")
		if _, err := east.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{src}, Tags: []types.Tag{{Key: aws.String("app"), Value: aws.String("web")}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := east.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(src),
			LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}}); err != nil {
			t.Fatal(err)
		}
		local, err := east.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("us-east-1"),
			Name: aws.String("local-copy"), CopyImageTags: aws.Bool(true), ClientToken: aws.String("copy-1")})
		if err != nil {
			t.Fatal(err)
		}
		again, err := east.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("us-east-1"),
			Name: aws.String("local-copy"), CopyImageTags: aws.Bool(true), ClientToken: aws.String("copy-1")})
		if err != nil || *again.ImageId != *local.ImageId {
			t.Fatalf("CopyImage with the same client token: %v %+v", err, again)
		}
		_, err = east.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("us-east-1"),
			Name: aws.String("another-name"), ClientToken: aws.String("copy-1")})
		wantCode(t, err, "IdempotentParameterMismatch")
		remote, err := west.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("us-east-1"),
			Name: aws.String("remote-copy")})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			e  *ec2.Client
			id string
		}{{east, *local.ImageId}, {west, *remote.ImageId}} {
			available := ec2.NewImageAvailableWaiter(w.e, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
			if err := available.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{w.id}}, time.Minute); err != nil {
				t.Fatalf("image-available waiter for %s: %v", w.id, err)
			}
			out, err := w.e.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{w.id}})
			if err != nil {
				t.Fatal(err)
			}
			img := out.Images[0]
			if aws.ToString(img.SourceImageId) != src || aws.ToString(img.SourceImageRegion) != "us-east-1" || *img.Public {
				t.Fatalf("copy %s: %+v", w.id, img)
			}
		}
		out, _ := east.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*local.ImageId}})
		if len(out.Images[0].Tags) != 1 {
			t.Fatalf("CopyImageTags: %+v", out.Images[0].Tags)
		}
		anc, err := west.GetImageAncestry(ctx, &ec2.GetImageAncestryInput{ImageId: remote.ImageId})
		if err != nil || len(anc.ImageAncestryEntries) != 2 || *anc.ImageAncestryEntries[1].ImageId != src {
			t.Fatalf("GetImageAncestry of the remote copy: %v %+v", err, anc)
		}
		// The copy outlives its source.
		if _, err := east.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(src)}); err != nil {
			t.Fatal(err)
		}
		if _, err := west.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: remote.ImageId, InstanceType: types.InstanceTypeT3Micro,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}); err != nil {
			t.Fatalf("launching the copy after its source is gone: %v", err)
		}
		_, err = east.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(src), SourceRegion: aws.String("eu-nowhere-1"), Name: aws.String("x")})
		wantCode(t, err, "InvalidRegion")
	})
}

// TestDescribeIDsWithPaging: ids and MaxResults together are refused by
// every Describe that takes both, with EC2's sentence naming its id list.
func TestDescribeIDsWithPaging(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		e := s.ec2(s.account(t, "pager"), "us-east-1")
		for name, call := range map[string]func() error{
			"instancesSet": func() error {
				_, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}, MaxResults: aws.Int32(5)})
				return err
			},
			"imageIdsSet": func() error {
				_, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0123456789abcdef0"}, MaxResults: aws.Int32(5)})
				return err
			},
			"snapshotSet": func() error {
				_, err := e.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{"snap-0123456789abcdef0"}, MaxResults: aws.Int32(5)})
				return err
			},
			"volumeSet": func() error {
				_, err := e.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{"vol-0123456789abcdef0"}, MaxResults: aws.Int32(5)})
				return err
			},
		} {
			err := call()
			wantCode(t, err, "InvalidParameterCombination")
			if want := "The parameter " + name + " cannot be used with the parameter maxResults"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want the message %q", name, err, want)
			}
		}
	})
}
