package network

import (
	"context"
	"errors"
	"testing"

	"github.com/openami/openami"
)

// TestMissingNetworkIDsNamed: several missing VPCs, subnets or security
// groups are all named; one takes the singular sentence.
func TestMissingNetworkIDsNamed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var e *openami.Error
	_, _, err := f.n.DescribeVpcs(ctx, f.p, []string{"vpc-0000000a", "vpc-0000000b"}, nil, Page{})
	if !errors.As(err, &e) || e.Class != openami.NotFound || e.Message != "The vpc IDs 'vpc-0000000a, vpc-0000000b' do not exist" {
		t.Errorf("DescribeVpcs of two unknown ids: %v", err)
	}
	_, _, err = f.n.DescribeSubnets(ctx, f.p, []string{"subnet-0000000a"}, nil, Page{})
	if !errors.As(err, &e) || e.Message != "The subnet ID 'subnet-0000000a' does not exist" {
		t.Errorf("DescribeSubnets of one unknown id: %v", err)
	}
	_, _, err = f.n.DescribeSecurityGroups(ctx, f.p, []string{"sg-0000000a", "sg-0000000b"}, nil, nil, Page{})
	if !errors.As(err, &e) || e.Message != "The security groups 'sg-0000000a, sg-0000000b' do not exist" {
		t.Errorf("DescribeSecurityGroups of two unknown ids: %v", err)
	}
}
