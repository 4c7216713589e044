package e2e

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// groupRules returns a group's IpPermissions of one direction as
// "proto from-to peer" strings, sorted.
func groupRules(t *testing.T, e *ec2.Client, id string, egress bool) []string {
	t.Helper()
	out, err := e.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err != nil || len(out.SecurityGroups) != 1 {
		t.Fatalf("DescribeSecurityGroups %s: %v %+v", id, err, out)
	}
	perms := out.SecurityGroups[0].IpPermissions
	if egress {
		perms = out.SecurityGroups[0].IpPermissionsEgress
	}
	var rules []string
	for _, p := range perms {
		ports := ""
		if p.FromPort != nil {
			ports = " " + itoa(*p.FromPort) + "-" + itoa(*p.ToPort)
		}
		for _, r := range p.IpRanges {
			rules = append(rules, *p.IpProtocol+ports+" "+*r.CidrIp)
		}
		for _, r := range p.Ipv6Ranges {
			rules = append(rules, *p.IpProtocol+ports+" "+*r.CidrIpv6)
		}
		for _, g := range p.UserIdGroupPairs {
			rules = append(rules, *p.IpProtocol+ports+" "+*g.GroupId)
		}
	}
	sort.Strings(rules)
	return rules
}

func itoa(n int32) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func tcp(port int32, cidr string) types.IpPermission {
	return types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
		IpRanges: []types.IpRange{{CidrIp: aws.String(cidr)}}}
}

// TestVpcsAndSubnets: the default VPC and subnets are records with their
// derived ids; CreateVpc makes a VPC with its own default group;
// CreateSubnet allocates ranges inside it without overlap; bad CIDRs get
// EC2's codes and change nothing; a VPC with subnets cannot go; all of it
// is tagged and paged.
func TestVpcsAndSubnets(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "netter")
		e := s.ec2(c, "us-east-1")

		def, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
		if err != nil || len(def.Vpcs) != 1 || *def.Vpcs[0].CidrBlock != "172.31.0.0/16" || !*def.Vpcs[0].IsDefault {
			t.Fatalf("default VPC: %v %+v", err, def)
		}
		defVpc := *def.Vpcs[0].VpcId

		vpc, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.10.0.0/16"),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("lab")}}}}})
		if err != nil {
			t.Fatal(err)
		}
		vpcID := *vpc.Vpc.VpcId
		if *vpc.Vpc.CidrBlock != "10.10.0.0/16" || *vpc.Vpc.IsDefault || len(vpc.Vpc.Tags) != 1 {
			t.Fatalf("CreateVpc: %+v", vpc.Vpc)
		}
		// Its default group, with AWS's default rules.
		sgs, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{vpcID}}, {Name: aws.String("group-name"), Values: []string{"default"}}}})
		if err != nil || len(sgs.SecurityGroups) != 1 {
			t.Fatalf("the new VPC's default group: %v %+v", err, sgs)
		}
		vpcDefault := *sgs.SecurityGroups[0].GroupId
		if got := groupRules(t, e, vpcDefault, false); !slices.Equal(got, []string{"-1 " + vpcDefault}) {
			t.Errorf("default group ingress %q", got)
		}
		if got := groupRules(t, e, vpcDefault, true); !slices.Equal(got, []string{"-1 0.0.0.0/0"}) {
			t.Errorf("default group egress %q", got)
		}
		for _, attr := range []types.VpcAttributeName{types.VpcAttributeNameEnableDnsSupport, types.VpcAttributeNameEnableDnsHostnames} {
			a, err := e.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: &vpcID, Attribute: attr})
			if err != nil {
				t.Fatal(err)
			}
			if attr == types.VpcAttributeNameEnableDnsSupport && !*a.EnableDnsSupport.Value || attr == types.VpcAttributeNameEnableDnsHostnames && *a.EnableDnsHostnames.Value {
				t.Errorf("%s: %+v", attr, a)
			}
		}
		if _, err := e.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: &vpcID, EnableDnsHostnames: &types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
			t.Fatal(err)
		}
		a, err := e.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: &vpcID, Attribute: types.VpcAttributeNameEnableDnsHostnames})
		if err != nil || !*a.EnableDnsHostnames.Value {
			t.Fatalf("enableDnsHostnames after Modify: %v %+v", err, a)
		}

		// Bad VPC ranges.
		for cidr, code := range map[string]string{"10.0.0.0/8": "InvalidVpc.Range", "10.0.0.0/29": "InvalidVpc.Range",
			"10.0.0.300/16": "InvalidParameterValue", "fd00::/64": "InvalidParameterValue", "127.0.0.0/16": "InvalidParameterValue"} {
			_, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
			wantCode(t, err, code)
		}
		// A public range is allowed, as on AWS.
		pub, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("100.64.0.0/28")})
		if err != nil {
			t.Fatal(err)
		}

		if all, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil || len(all.Vpcs) != 3 {
			t.Fatalf("after the refused CreateVpcs, want the default, lab and public VPCs: %v %+v", err, all)
		}
		// Another account cannot put a subnet in it.
		_, err = s.ec2(s.account(t, "intruder"), "us-east-1").CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpcID, CidrBlock: aws.String("10.10.9.0/24")})
		wantCode(t, err, "InvalidVpcID.NotFound")

		sub, err := e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpcID, CidrBlock: aws.String("10.10.1.0/24"), AvailabilityZone: aws.String("us-east-1b")})
		if err != nil {
			t.Fatal(err)
		}
		subID := *sub.Subnet.SubnetId
		if *sub.Subnet.AvailableIpAddressCount != 251 || *sub.Subnet.AvailabilityZone != "us-east-1b" || *sub.Subnet.DefaultForAz || *sub.Subnet.MapPublicIpOnLaunch {
			t.Fatalf("CreateSubnet: %+v", sub.Subnet)
		}
		for _, bad := range []struct{ cidr, code string }{
			{"10.10.1.128/25", "InvalidSubnet.Conflict"}, // inside the first
			{"10.10.0.0/16", "InvalidSubnet.Conflict"},   // around it
			{"10.11.0.0/24", "InvalidSubnet.Range"},      // outside the VPC
			{"10.10.0.0/29", "InvalidSubnet.Range"},      // too small
			{"10.10.2.0/33", "InvalidParameterValue"},    // malformed
		} {
			_, err := e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpcID, CidrBlock: aws.String(bad.cidr)})
			wantCode(t, err, bad.code)
		}
		_, err = e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String("vpc-0123456789abcdef0"), CidrBlock: aws.String("10.0.0.0/24")})
		wantCode(t, err, "InvalidVpcID.NotFound")
		subnets, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}})
		if err != nil || len(subnets.Subnets) != 1 || *subnets.Subnets[0].SubnetId != subID {
			t.Fatalf("after the refusals the VPC has one subnet: %v %+v", err, subnets)
		}
		// The default subnets are there, one per zone, with their ranges.
		defSubs, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("default-for-az"), Values: []string{"true"}}}})
		if err != nil || len(defSubs.Subnets) < 2 || *defSubs.Subnets[0].VpcId != defVpc {
			t.Fatalf("default subnets: %v %+v", err, defSubs)
		}

		// Pages: all the caller's subnets, two at a time.
		var paged []string
		pager := ec2.NewDescribeSubnetsPaginator(e, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5)})
		for pager.HasMorePages() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range page.Subnets {
				paged = append(paged, *n.SubnetId)
			}
		}
		if len(paged) != len(defSubs.Subnets)+1 || !slices.Contains(paged, subID) {
			t.Fatalf("paged subnets %v", paged)
		}

		// Tags on all three kinds.
		if _, err := e.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{subID, defVpc, vpcDefault}, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("t")}}}); err != nil {
			t.Fatal(err)
		}
		tagged, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("tag:env"), Values: []string{"t"}}}})
		if err != nil || len(tagged.Subnets) != 1 || *tagged.Subnets[0].SubnetId != subID {
			t.Fatalf("tag filter: %v %+v", err, tagged)
		}

		// A VPC with a subnet, or with a group besides its default, cannot go.
		_, err = e.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &vpcID})
		wantCode(t, err, "DependencyViolation")
		_, err = e.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: defSubs.Subnets[0].SubnetId})
		wantCode(t, err, "CannotDelete")
		_, err = e.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &defVpc})
		wantCode(t, err, "CannotDelete")
		if _, err := e.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: &subID}); err != nil {
			t.Fatal(err)
		}
		g, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("extra"), Description: aws.String("x"), VpcId: &vpcID})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &vpcID})
		wantCode(t, err, "DependencyViolation")
		if _, err := e.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: g.GroupId}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{vpcID, *pub.Vpc.VpcId} {
			if _, err := e.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(id)}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcID}})
		wantCode(t, err, "InvalidVpcID.NotFound")
		_, err = e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{vpcDefault}})
		wantCode(t, err, "InvalidGroup.NotFound")

		// Another account sees none of it.
		other := s.ec2(s.account(t, "other"), "us-east-1")
		_, err = other.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{defVpc}})
		wantCode(t, err, "InvalidVpcID.NotFound")
	})
}

// TestSecurityGroups: create, authorize and revoke rules of every form,
// the refusals with EC2's codes (nothing changed after each), rules by id,
// DescribeSecurityGroupRules with its filters and pages, and
// ModifySecurityGroupRules.
func TestSecurityGroups(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "grouper")
		e := s.ec2(c, "us-east-1")

		web, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web servers")})
		if err != nil {
			t.Fatal(err)
		}
		webID := *web.GroupId
		if got := groupRules(t, e, webID, true); !slices.Equal(got, []string{"-1 0.0.0.0/0"}) {
			t.Errorf("a new group's egress: %q", got)
		}
		if got := groupRules(t, e, webID, false); len(got) != 0 {
			t.Errorf("a new group's ingress: %q", got)
		}
		_, err = e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("again")})
		wantCode(t, err, "InvalidGroup.Duplicate")
		if n, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"web"}}}}); err != nil ||
			len(n.SecurityGroups) != 1 || *n.SecurityGroups[0].Description != "web servers" {
			t.Fatalf("after a duplicate, the group named web: %v %+v", err, n)
		}
		_, err = e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("nodesc")})
		if err == nil {
			t.Fatal("a group without a description was made")
		}
		db, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("db"), Description: aws.String("databases")})
		if err != nil {
			t.Fatal(err)
		}
		dbID := *db.GroupId

		auth, err := e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &webID, IpPermissions: []types.IpPermission{
			tcp(22, "0.0.0.0/0"),
			{IpProtocol: aws.String("6"), FromPort: aws.Int32(80), ToPort: aws.Int32(443),
				IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8"), Description: aws.String("inside")}, {CidrIp: aws.String("192.168.1.7/24")}}},
			{IpProtocol: aws.String("icmp"), FromPort: aws.Int32(8), ToPort: aws.Int32(-1), Ipv6Ranges: []types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if len(auth.SecurityGroupRules) != 4 || *auth.SecurityGroupRules[0].GroupId != webID {
			t.Fatalf("Authorize returned %+v", auth.SecurityGroupRules)
		}
		if _, err := e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &dbID, IpPermissions: []types.IpPermission{
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: &webID}}},
		}}); err != nil {
			t.Fatal(err)
		}
		want := []string{"icmp 8--1 ::/0", "tcp 22-22 0.0.0.0/0", "tcp 80-443 10.0.0.0/8", "tcp 80-443 192.168.1.0/24"}
		if got := groupRules(t, e, webID, false); !slices.Equal(got, want) {
			t.Fatalf("web ingress %q, want %q", got, want)
		}

		// Refusals, each changing nothing.
		bad := []struct {
			perm types.IpPermission
			code string
		}{
			{tcp(22, "0.0.0.0/0"), "InvalidPermission.Duplicate"},
			{tcp(22, "0.0.0.0/33"), "InvalidParameterValue"},
			{tcp(22, "not-a-cidr"), "InvalidParameterValue"},
			{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(10), ToPort: aws.Int32(70000), IpRanges: []types.IpRange{{CidrIp: aws.String("1.2.3.4/32")}}}, "InvalidParameterValue"},
			{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(90), ToPort: aws.Int32(80), IpRanges: []types.IpRange{{CidrIp: aws.String("1.2.3.4/32")}}}, "InvalidParameterValue"},
			{types.IpPermission{IpProtocol: aws.String("udp"), IpRanges: []types.IpRange{{CidrIp: aws.String("1.2.3.4/32")}}}, "InvalidParameterValue"},
			{types.IpPermission{IpProtocol: aws.String("bogus"), IpRanges: []types.IpRange{{CidrIp: aws.String("1.2.3.4/32")}}}, "InvalidParameterValue"},
			{types.IpPermission{IpProtocol: aws.String("icmp"), FromPort: aws.Int32(300), ToPort: aws.Int32(0), IpRanges: []types.IpRange{{CidrIp: aws.String("1.2.3.4/32")}}}, "InvalidParameterValue"},
			{types.IpPermission{IpProtocol: aws.String("-1"), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String("sg-0123456789abcdef0")}}}, "InvalidGroup.NotFound"},
		}
		for _, b := range bad {
			// With a good rule first: the whole request is refused.
			_, err := e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &webID,
				IpPermissions: []types.IpPermission{tcp(8080, "0.0.0.0/0"), b.perm}})
			wantCode(t, err, b.code)
		}
		if got := groupRules(t, e, webID, false); !slices.Equal(got, want) {
			t.Fatalf("after the refusals web ingress is %q, want %q", got, want)
		}
		_, err = e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String("sg-0123456789abcdef0"), IpPermissions: []types.IpPermission{tcp(1, "0.0.0.0/0")}})
		wantCode(t, err, "InvalidGroup.NotFound")

		// A group of another VPC cannot be referenced.
		vpc, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.1.0.0/16")})
		if err != nil {
			t.Fatal(err)
		}
		far, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("same name, other VPC"), VpcId: vpc.Vpc.VpcId})
		if err != nil {
			t.Fatalf("a name is unique per VPC only: %v", err)
		}
		_, err = e.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &webID, IpPermissions: []types.IpPermission{
			{IpProtocol: aws.String("-1"), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: far.GroupId}}}}})
		wantCode(t, err, "InvalidGroup.NotFound")
		if got := groupRules(t, e, webID, false); !slices.Equal(got, want) {
			t.Fatalf("after a cross-VPC reference web ingress is %q", got)
		}

		// Egress, by the group's name in the flat form.
		if _, err := e.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &webID, IpPermissions: []types.IpPermission{tcp(53, "10.0.0.2/32")}}); err != nil {
			t.Fatal(err)
		}
		if got := groupRules(t, e, webID, true); !slices.Equal(got, []string{"-1 0.0.0.0/0", "tcp 53-53 10.0.0.2/32"}) {
			t.Fatalf("web egress %q", got)
		}

		// Filters on rules.
		for _, f := range []struct {
			name, value string
			want        []string
		}{
			{"ip-permission.from-port", "22", []string{webID}},
			{"ip-permission.cidr", "10.0.0.0/8", []string{webID}},
			{"ip-permission.group-id", webID, []string{dbID}},
			{"egress.ip-permission.cidr", "10.0.0.2/32", []string{webID}},
			{"group-name", "db", []string{dbID}},
		} {
			out, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: &f.name, Values: []string{f.value}}}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range out.SecurityGroups {
				got = append(got, *g.GroupId)
			}
			if !slices.Equal(got, f.want) {
				t.Errorf("filter %s=%s: %v, want %v", f.name, f.value, got, f.want)
			}
		}
		byName, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"web", "default"}})
		if err != nil || len(byName.SecurityGroups) != 2 {
			t.Fatalf("by name: %v %+v", err, byName)
		}
		_, err = e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"nope"}})
		wantCode(t, err, "InvalidGroup.NotFound")

		// DescribeSecurityGroupRules, paged and filtered.
		rules, err := e.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{webID}}}})
		if err != nil || len(rules.SecurityGroupRules) != 6 {
			t.Fatalf("web's rules: %v %d", err, len(rules.SecurityGroupRules))
		}
		var paged []string
		pager := ec2.NewDescribeSecurityGroupRulesPaginator(e, &ec2.DescribeSecurityGroupRulesInput{MaxResults: aws.Int32(5)})
		for pager.HasMorePages() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.SecurityGroupRules {
				paged = append(paged, *r.SecurityGroupRuleId)
			}
		}
		// web 6, db 2, the default VPC's default group 2, the new VPC's 2, far 1.
		if len(paged) != 13 || !sort.StringsAreSorted(paged) {
			t.Fatalf("paged rules (%d): %v", len(paged), paged)
		}
		ssh := *auth.SecurityGroupRules[0].SecurityGroupRuleId
		one, err := e.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{ssh}})
		if err != nil || len(one.SecurityGroupRules) != 1 || *one.SecurityGroupRules[0].CidrIpv4 != "0.0.0.0/0" || *one.SecurityGroupRules[0].FromPort != 22 {
			t.Fatalf("rule %s: %v %+v", ssh, err, one)
		}
		_, err = e.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{"sgr-0123456789abcdef0"}})
		wantCode(t, err, "InvalidSecurityGroupRuleId.NotFound")

		// ModifySecurityGroupRules: ssh from one network now.
		if _, err := e.ModifySecurityGroupRules(ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: &webID, SecurityGroupRules: []types.SecurityGroupRuleUpdate{
			{SecurityGroupRuleId: &ssh, SecurityGroupRule: &types.SecurityGroupRuleRequest{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(2222), ToPort: aws.Int32(2222), CidrIpv4: aws.String("203.0.113.0/24"), Description: aws.String("bastion")}},
		}}); err != nil {
			t.Fatal(err)
		}
		one, err = e.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{ssh}})
		if err != nil || *one.SecurityGroupRules[0].CidrIpv4 != "203.0.113.0/24" || *one.SecurityGroupRules[0].FromPort != 2222 || *one.SecurityGroupRules[0].Description != "bastion" {
			t.Fatalf("modified rule: %v %+v", err, one)
		}
		_, err = e.ModifySecurityGroupRules(ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: &webID, SecurityGroupRules: []types.SecurityGroupRuleUpdate{
			{SecurityGroupRuleId: &ssh, SecurityGroupRule: &types.SecurityGroupRuleRequest{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(443), CidrIpv4: aws.String("10.0.0.0/8")}},
		}})
		wantCode(t, err, "InvalidPermission.Duplicate")

		// Revoke: by permission, by id; an absent rule is NotFound.
		_, err = e.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &webID, IpPermissions: []types.IpPermission{tcp(9999, "0.0.0.0/0")}})
		wantCode(t, err, "InvalidPermission.NotFound")
		rev, err := e.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &webID, IpPermissions: []types.IpPermission{
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(443), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}, {CidrIp: aws.String("172.16.0.0/12")}}}}})
		if err != nil || len(rev.UnknownIpPermissions) != 1 || *rev.UnknownIpPermissions[0].IpRanges[0].CidrIp != "172.16.0.0/12" {
			t.Fatalf("partial revoke: %v %+v", err, rev)
		}
		if _, err := e.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &webID, SecurityGroupRuleIds: []string{ssh}}); err != nil {
			t.Fatal(err)
		}
		_, err = e.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &webID, SecurityGroupRuleIds: []string{ssh}})
		wantCode(t, err, "InvalidSecurityGroupRuleId.NotFound")
		if got := groupRules(t, e, webID, false); !slices.Equal(got, []string{"icmp 8--1 ::/0", "tcp 80-443 192.168.1.0/24"}) {
			t.Fatalf("after the revokes web ingress is %q", got)
		}

		// Deleting: the default group never; web while db's rule names it, not.
		def, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: def.SecurityGroups[0].GroupId})
		wantCode(t, err, "CannotDelete")
		_, err = e.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupName: aws.String("web")})
		wantCode(t, err, "DependencyViolation")
		if _, err := e.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupName: aws.String("db")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &webID}); err != nil {
			t.Fatal(err)
		}
		_, err = e.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &webID})
		wantCode(t, err, "InvalidGroup.NotFound")
	})
}

// TestLaunchInGroups: RunInstances with groups by id and by name, in a
// subnet of a new VPC; groups of another VPC than the subnet's, or unknown
// ones, launch nothing; ModifyInstanceAttribute changes the groups; a group
// or subnet in use cannot be deleted; addresses are unique and counted,
// and a full subnet says so.
func TestLaunchInGroups(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		c := s.account(t, "launcher")
		e := s.ec2(c, "us-east-1")
		img := registerTestImage(t, s, e, c, "netimg")

		vpc, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.20.0.0/28")})
		if err != nil {
			t.Fatal(err)
		}
		subID := *sub.Subnet.SubnetId
		app, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("app"), Description: aws.String("app"), VpcId: vpc.Vpc.VpcId})
		if err != nil {
			t.Fatal(err)
		}
		defApp, err := e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("app"), Description: aws.String("app in the default VPC")})
		if err != nil {
			t.Fatal(err)
		}
		count := func() int {
			out, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range out.Reservations {
				n += len(r.Instances)
			}
			return n
		}

		run := func(in ec2.RunInstancesInput) (*ec2.RunInstancesOutput, error) {
			in.ImageId, in.MinCount, in.MaxCount = &img, aws.Int32(1), aws.Int32(1)
			if in.InstanceType == "" {
				in.InstanceType = types.InstanceTypeT3Micro
			}
			return e.RunInstances(ctx, &in)
		}
		_, err = run(ec2.RunInstancesInput{SubnetId: &subID, SecurityGroupIds: []string{*defApp.GroupId}})
		wantCode(t, err, "InvalidParameter")
		_, err = run(ec2.RunInstancesInput{SecurityGroupIds: []string{"sg-0123456789abcdef0"}})
		wantCode(t, err, "InvalidGroup.NotFound")
		_, err = run(ec2.RunInstancesInput{SecurityGroups: []string{"nope"}})
		wantCode(t, err, "InvalidGroup.NotFound")
		if n := count(); n != 0 {
			t.Fatalf("refused launches left %d instances", n)
		}

		r, err := run(ec2.RunInstancesInput{SubnetId: &subID, SecurityGroupIds: []string{*app.GroupId}})
		if err != nil {
			t.Fatal(err)
		}
		inst := r.Instances[0]
		if *inst.SubnetId != subID || *inst.VpcId != *vpc.Vpc.VpcId || *inst.PrivateIpAddress != "10.20.0.4" ||
			len(inst.SecurityGroups) != 1 || *inst.SecurityGroups[0].GroupName != "app" {
			t.Fatalf("launched %+v", inst)
		}
		byName, err := run(ec2.RunInstancesInput{SecurityGroups: []string{"app", "default"}})
		if err != nil {
			t.Fatal(err)
		}
		if g := byName.Instances[0].SecurityGroups; len(g) != 2 || *g[0].GroupId != *defApp.GroupId || *g[1].GroupName != "default" {
			t.Fatalf("launched by names: %+v", g)
		}

		// A /28 has 11 usable addresses: 10 more fit, then it is full.
		more, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: &img, MinCount: aws.Int32(1), MaxCount: aws.Int32(10),
			InstanceType: types.InstanceTypeT3Micro, SubnetId: &subID})
		if err != nil || len(more.Instances) != 10 {
			t.Fatalf("ten more: %v", err)
		}
		seen := map[string]bool{*inst.PrivateIpAddress: true}
		for _, i := range more.Instances {
			if seen[*i.PrivateIpAddress] {
				t.Fatalf("address %s given twice", *i.PrivateIpAddress)
			}
			seen[*i.PrivateIpAddress] = true
		}
		_, err = run(ec2.RunInstancesInput{SubnetId: &subID})
		wantCode(t, err, "InsufficientFreeAddressesInSubnet")
		subs, err := e.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{subID}})
		if err != nil || *subs.Subnets[0].AvailableIpAddressCount != 0 {
			t.Fatalf("a full subnet: %v %+v", err, subs)
		}

		// Its interface, and the VPC's main route table and network ACL.
		enis, err := e.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
			{Name: aws.String("group-id"), Values: []string{*app.GroupId}}}})
		if err != nil || len(enis.NetworkInterfaces) != 1 || *enis.NetworkInterfaces[0].Attachment.InstanceId != *inst.InstanceId ||
			*enis.NetworkInterfaces[0].PrivateIpAddress != "10.20.0.4" || *enis.NetworkInterfaces[0].SubnetId != subID {
			t.Fatalf("the instance's interface: %v %+v", err, enis)
		}
		rts, err := e.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{*vpc.Vpc.VpcId}}, {Name: aws.String("association.main"), Values: []string{"true"}}}})
		if err != nil || len(rts.RouteTables) != 1 || *rts.RouteTables[0].Routes[0].DestinationCidrBlock != "10.20.0.0/16" {
			t.Fatalf("main route table: %v %+v", err, rts)
		}
		acls, err := e.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []types.Filter{
			{Name: aws.String("association.subnet-id"), Values: []string{subID}}}})
		if err != nil || len(acls.NetworkAcls) != 1 || *acls.NetworkAcls[0].VpcId != *vpc.Vpc.VpcId || !*acls.NetworkAcls[0].IsDefault {
			t.Fatalf("network ACL: %v %+v", err, acls)
		}

		// ModifyInstanceAttribute Groups.
		vpcDefault, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{*vpc.Vpc.VpcId}}, {Name: aws.String("group-name"), Values: []string{"default"}}}})
		if err != nil {
			t.Fatal(err)
		}
		vpcDefID := *vpcDefault.SecurityGroups[0].GroupId
		_, err = e.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: inst.InstanceId, Groups: []string{*defApp.GroupId}})
		wantCode(t, err, "InvalidParameter")
		if _, err := e.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: inst.InstanceId, Groups: []string{vpcDefID, *app.GroupId}}); err != nil {
			t.Fatal(err)
		}
		attr, err := e.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: inst.InstanceId, Attribute: types.InstanceAttributeNameGroupSet})
		if err != nil || len(attr.Groups) != 2 || *attr.Groups[0].GroupName != "default" || *attr.Groups[1].GroupName != "app" {
			t.Fatalf("groupSet: %v %+v", err, attr)
		}

		// The metadata service names the groups too.
		md, err := s.svc.Instances().InstanceMetadata(ctx, "us-east-1", *inst.InstanceId)
		if err != nil || !slices.Equal(md.SecurityGroups, []string{"default", "app"}) {
			t.Fatalf("the metadata service's security-groups: %v %v", err, md.SecurityGroups)
		}

		// In use: the group and the subnet cannot go.
		_, err = e.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: app.GroupId})
		wantCode(t, err, "DependencyViolation")
		_, err = e.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: &subID})
		wantCode(t, err, "DependencyViolation")

		// Terminated, they can.
		ids := []string{*inst.InstanceId}
		for _, i := range more.Instances {
			ids = append(ids, *i.InstanceId)
		}
		if _, err := e.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
			t.Fatal(err)
		}
		terminated := ec2.NewInstanceTerminatedWaiter(e, func(o *ec2.InstanceTerminatedWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
		})
		if err := terminated.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: app.GroupId}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: &subID}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDefaultNetworkConcurrently: the first requests of a new account,
// all at once, each store the default network or find it stored; none
// fails, and there is one default VPC and one default group.
func TestDefaultNetworkConcurrently(t *testing.T) {
	eachStore(t, func(t *testing.T, s *server) {
		ctx := context.Background()
		e := s.ec2(s.account(t, "racer"), "us-east-1")
		errs := make(chan error, 12)
		for k := range 12 {
			go func() {
				var err error
				switch k % 3 {
				case 0:
					_, err = e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
				case 1:
					_, err = e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
				case 2:
					_, err = e.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("g" + itoa(int32(k))), Description: aws.String("d")})
				}
				errs <- err
			}()
		}
		for range 12 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		vpcs, err := e.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
		if err != nil || len(vpcs.Vpcs) != 1 {
			t.Fatalf("VPCs: %v %+v", err, vpcs)
		}
		groups, err := e.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"default"}}}})
		if err != nil || len(groups.SecurityGroups) != 1 {
			t.Fatalf("default groups: %v %+v", err, groups)
		}
	})
}
