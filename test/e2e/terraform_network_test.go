package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestTerraformNetwork applies testdata/terraform/network with real
// Terraform and the real AWS provider: aws_vpc, aws_subnet,
// aws_security_group with inline rules, aws_vpc_security_group_ingress_rule
// and _egress_rule, and an aws_instance in them; checks what openami holds against terraform's state,
// that a second plan shows no drift, and that destroy leaves nothing.
func TestTerraformNetwork(t *testing.T) {
	mirror := terraformMirror(t)
	x := newTF(t, mirror)
	s := start(t, "sqlite")
	ctx := context.Background()
	c := s.ec2(s.admin, "us-east-1")

	main, err := os.ReadFile(filepath.Join("testdata", "terraform", "network", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(x.dir, "main.tf"), string(main))
	img := registerTestImage(t, s, c, s.admin, "tf-net")
	x.vars(map[string]any{"endpoint": s.URL, "access_key": s.admin.AccessKeyID, "secret_key": s.admin.SecretAccessKey, "image_id": img})
	x.must("init", "-input=false", "-no-color")
	x.must("apply", "-auto-approve", "-input=false", "-no-color")
	outs := x.outputs()

	vpcID := str(t, outs, "vpc_id")
	vpcs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcID}})
	if err != nil || *vpcs.Vpcs[0].CidrBlock != "10.42.0.0/16" || tagMap(vpcs.Vpcs[0].Tags)["Name"] != "tf-main" {
		t.Fatalf("VPC: %v %+v", err, vpcs)
	}
	dns, err := c.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: &vpcID, Attribute: types.VpcAttributeNameEnableDnsHostnames})
	if err != nil || !*dns.EnableDnsHostnames.Value {
		t.Fatalf("enableDnsHostnames: %v %+v", err, dns)
	}
	subs, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{str(t, outs, "subnet_a"), str(t, outs, "subnet_b")}})
	if err != nil || len(subs.Subnets) != 2 {
		t.Fatalf("subnets: %v %+v", err, subs)
	}
	for _, n := range subs.Subnets {
		if *n.VpcId != vpcID || (*n.CidrBlock == "10.42.1.0/24") != *n.MapPublicIpOnLaunch {
			t.Errorf("subnet %+v", n)
		}
	}

	webID, dbID := str(t, outs, "web_id"), str(t, outs, "db_id")
	// Terraform removed the default egress rule and put back its own.
	if got := groupRules(t, c, webID, false); !slices.Equal(got, []string{"-1 " + webID, "tcp 22-22 0.0.0.0/0"}) {
		t.Errorf("web ingress %q", got)
	}
	if got := groupRules(t, c, webID, true); !slices.Equal(got, []string{"-1 0.0.0.0/0"}) {
		t.Errorf("web egress %q", got)
	}
	if got := groupRules(t, c, dbID, false); !slices.Equal(got, []string{"icmp 8--1 10.42.0.0/16", "tcp 5432-5432 " + webID}) {
		t.Errorf("db ingress %q", got)
	}
	if got := groupRules(t, c, dbID, true); !slices.Contains(got, "udp 53-53 10.0.0.0/8") {
		t.Errorf("db egress %q", got)
	}
	rule, err := c.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{str(t, outs, "db_from_web_rule")}})
	if err != nil || len(rule.SecurityGroupRules) != 1 || tagMap(rule.SecurityGroupRules[0].Tags)["Name"] != "db-from-web" ||
		*rule.SecurityGroupRules[0].ReferencedGroupInfo.GroupId != webID {
		t.Fatalf("db_from_web rule: %v %+v", err, rule)
	}
	// The instance, in subnet a and group web, with the subnet's first address.
	inst, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{str(t, outs, "instance_id")}})
	if err != nil {
		t.Fatal(err)
	}
	i := inst.Reservations[0].Instances[0]
	if *i.SubnetId != str(t, outs, "subnet_a") || *i.VpcId != vpcID || *i.PrivateIpAddress != "10.42.1.4" ||
		str(t, outs, "instance_private_ip") != "10.42.1.4" || len(i.SecurityGroups) != 1 || *i.SecurityGroups[0].GroupId != webID ||
		*i.SecurityGroups[0].GroupName != "tf-web" {
		t.Fatalf("instance: %+v", i)
	}
	def, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{str(t, outs, "default_security_group_id")}})
	if err != nil || *def.SecurityGroups[0].GroupName != "default" || *def.SecurityGroups[0].VpcId != vpcID {
		t.Fatalf("the VPC's default group: %v %+v", err, def)
	}
	x.noDrift()

	x.must("destroy", "-auto-approve", "-input=false", "-no-color")
	_, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcID}})
	wantCode(t, err, "InvalidVpcID.NotFound")
	left, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil || len(left.SecurityGroups) != 1 || *left.SecurityGroups[0].GroupName != "default" {
		t.Fatalf("groups after destroy: %v %+v", err, left)
	}
	all, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("default-for-az"), Values: []string{"false"}}}})
	if err != nil || len(all.Subnets) != 0 {
		t.Fatalf("subnets after destroy: %v %+v", err, all)
	}
}
