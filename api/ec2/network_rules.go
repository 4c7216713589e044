package ec2

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/network"
)

// Network is what the EC2 API calls, and all it calls, of the rules of
// networks (*network.Networks of rules/network, which api.New takes from
// the service): VPCs, subnets, security groups and their rules. Every
// method takes the caller's principal and returns *openami.Error values
// this package maps to error codes (errors.go).
type Network interface {
	CreateVpc(ctx context.Context, p openami.Principal, in network.CreateVpcInput) (network.VPCView, error)
	DeleteVpc(ctx context.Context, p openami.Principal, id string) error
	DescribeVpcs(ctx context.Context, p openami.Principal, vpcIDs []string, filters []filter.Filter, pg network.Page) ([]network.VPCView, string, error)
	DescribeVpcAttribute(ctx context.Context, p openami.Principal, id, attr string) (bool, error)
	ModifyVpcAttribute(ctx context.Context, p openami.Principal, id, attr string, value bool) error

	CreateSubnet(ctx context.Context, p openami.Principal, in network.CreateSubnetInput) (network.SubnetView, error)
	DeleteSubnet(ctx context.Context, p openami.Principal, id string) error
	DescribeSubnets(ctx context.Context, p openami.Principal, subnetIDs []string, filters []filter.Filter, pg network.Page) ([]network.SubnetView, string, error)
	ModifySubnetAttribute(ctx context.Context, p openami.Principal, id string, mapPublicIP bool) error

	CreateSecurityGroup(ctx context.Context, p openami.Principal, in network.CreateSecurityGroupInput) (network.GroupView, error)
	DeleteSecurityGroup(ctx context.Context, p openami.Principal, id, name string) error
	DescribeSecurityGroups(ctx context.Context, p openami.Principal, groupIDs, groupNames []string, filters []filter.Filter, pg network.Page) ([]network.GroupView, string, error)
	Authorize(ctx context.Context, p openami.Principal, in network.AuthorizeInput) ([]network.RuleView, error)
	Revoke(ctx context.Context, p openami.Principal, in network.RevokeInput) ([]openami.SecurityGroupRule, error)
	DescribeSecurityGroupRules(ctx context.Context, p openami.Principal, ruleIDs []string, filters []filter.Filter, pg network.Page) ([]network.RuleView, string, error)
	ModifySecurityGroupRules(ctx context.Context, p openami.Principal, groupID string, updates []network.RuleUpdate) error
	DescribeRouteTables(ctx context.Context, p openami.Principal, tableIDs []string, filters []filter.Filter, pg network.Page) ([]network.RouteTable, string, error)
	DescribeNetworkAcls(ctx context.Context, p openami.Principal, aclIDs []string, filters []filter.Filter, pg network.Page) ([]network.NetworkACL, string, error)
	DescribeNetworkInterfaces(ctx context.Context, p openami.Principal, interfaceIDs []string, filters []filter.Filter, pg network.Page) ([]network.NetworkInterface, string, error)
	SecurityGroupNames(ctx context.Context, p openami.Principal, groupIDs []string) (map[string]string, error)
}

// The rules of rules/network are what this package needs.
var _ Network = (*network.Networks)(nil)
