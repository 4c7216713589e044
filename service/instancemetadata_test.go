package service

import (
	"context"
	"slices"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/network"
)

// TestInstanceMetadataNetwork: the metadata service's view of an
// instance's network comes from its own subnet, VPC and security group
// (here the default network): the subnet's and the VPC's CIDR blocks and
// the group's name, the same as DescribeSubnets, DescribeVpcs and
// DescribeSecurityGroups say.
func TestInstanceMetadataNetwork(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "", nil)
	snap := f.snapshot(t, map[int64][]byte{0: block(1)}, true)
	img, err := f.svc.Images().RegisterImage(ctx, f.p, images.RegisterImageInput{Name: "net", RootDeviceName: "/dev/xvda",
		BlockDeviceMappings: []openami.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &openami.EbsBlockDevice{SnapshotID: snap}}}})
	if err != nil {
		t.Fatal(err)
	}
	m := f.svc.Instances()
	subnets, _, err := f.svc.Network().DescribeSubnets(ctx, f.p, nil, nil, network.Page{})
	if err != nil || len(subnets) < 2 {
		t.Fatalf("DescribeSubnets: %v %v", subnets, err)
	}
	vpcs, _, err := f.svc.Network().DescribeVpcs(ctx, f.p, nil, nil, network.Page{})
	if err != nil || len(vpcs) != 1 {
		t.Fatalf("DescribeVpcs: %v %v", vpcs, err)
	}
	groups, _, err := f.svc.Network().DescribeSecurityGroups(ctx, f.p, nil, nil, nil, network.Page{})
	if err != nil || len(groups) != 1 {
		t.Fatalf("DescribeSecurityGroups: %v %v", groups, err)
	}
	// One instance in each of two subnets, so that the CIDR is the
	// instance's own subnet's and not merely the first.
	for _, sn := range subnets[:2] {
		r, err := m.RunInstances(ctx, f.p, instances.RunInstancesInput{ImageID: img, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, SubnetID: sn.ID})
		if err != nil {
			t.Fatal(err)
		}
		id := r.Instances[0].ID
		md, err := m.InstanceMetadata(ctx, "us-east-1", id)
		if err != nil {
			t.Fatal(err)
		}
		if md.Instance.SubnetID != sn.ID || md.SubnetCIDR != sn.CIDR {
			t.Errorf("%s: subnet %s %q, want %s %q", id, md.Instance.SubnetID, md.SubnetCIDR, sn.ID, sn.CIDR)
		}
		if md.Instance.VpcID != vpcs[0].ID || !slices.Equal(md.VPCCIDRs, []string{vpcs[0].CIDR}) {
			t.Errorf("%s: VPC %s %q, want %s %q", id, md.Instance.VpcID, md.VPCCIDRs, vpcs[0].ID, vpcs[0].CIDR)
		}
		if !slices.Equal(md.Instance.SecurityGroupIDs, []string{groups[0].ID}) || !slices.Equal(md.SecurityGroups, []string{"default"}) {
			t.Errorf("%s: groups %v %v, want [%s] [default]", id, md.Instance.SecurityGroupIDs, md.SecurityGroups, groups[0].ID)
		}
	}
}
