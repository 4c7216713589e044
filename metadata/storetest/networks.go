package storetest

import (
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Networks: VPCs, subnets and security groups.

func testNetworkVPCs(t *testing.T, s metadata.Store) {
	v1 := openami.VPC{ID: "vpc-1", Region: region1, AccountID: acct1, CIDR: "10.0.0.0/16", DNSSupport: true}
	v2 := openami.VPC{ID: "vpc-2", Region: region1, AccountID: acct1, CIDR: "172.31.0.0/16", IsDefault: true, DNSSupport: true, DNSHostnames: true}
	v3 := openami.VPC{ID: "vpc-3", Region: region1, AccountID: acct2, CIDR: "10.1.0.0/16"}
	v4 := openami.VPC{ID: "vpc-4", Region: region2, AccountID: acct1, CIDR: "10.2.0.0/16"}
	update(t, s, func(tx metadata.Tx) error {
		for _, v := range []openami.VPC{v2, v1, v3, v4} {
			if err := tx.Networks().CreateVPC(v); err != nil {
				return err
			}
		}
		return nil
	})
	err := updateErr(t, s, func(tx metadata.Tx) error {
		return tx.Networks().CreateVPC(openami.VPC{ID: "vpc-1", Region: region2, AccountID: acct2})
	})
	wantClass(t, err, openami.Duplicate, openami.ResourceVPC)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Networks().GetVPC(region1, "vpc-2")
		if err != nil {
			return err
		}
		equal(t, "GetVPC", got, v2)
		_, err = tx.Networks().GetVPC(region2, "vpc-1")
		wantClass(t, err, openami.NotFound, openami.ResourceVPC)
		list, err := tx.Networks().ListVPCs(region1, metadata.NetworkQuery{AccountID: acct1})
		if err != nil {
			return err
		}
		equal(t, "ListVPCs", list, []openami.VPC{v1, v2})
		list, err = tx.Networks().ListVPCs(region1, metadata.NetworkQuery{AccountID: acct1, After: "vpc-1", Limit: 5})
		if err != nil {
			return err
		}
		equal(t, "ListVPCs after", list, []openami.VPC{v2})
		list, err = tx.Networks().ListVPCs(region1, metadata.NetworkQuery{AccountID: acct1, IDs: []string{"vpc-2", "vpc-3"}})
		if err != nil {
			return err
		}
		equal(t, "ListVPCs ids", list, []openami.VPC{v2})
		return nil
	})
	v1.DNSHostnames, v1.AccountID = true, acct2 // AccountID does not change
	update(t, s, func(tx metadata.Tx) error { return tx.Networks().UpdateVPC(v1) })
	v1.AccountID = acct1
	update(t, s, func(tx metadata.Tx) error {
		got, err := tx.Networks().GetVPC(region1, "vpc-1")
		equal(t, "updated VPC", got, v1)
		return err
	})
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Networks().UpdateVPC(openami.VPC{ID: "vpc-9", Region: region1}) })
	wantClass(t, err, openami.NotFound, openami.ResourceVPC)
	update(t, s, func(tx metadata.Tx) error { return tx.Networks().DeleteVPC(region1, "vpc-1") })
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Networks().DeleteVPC(region1, "vpc-1") })
	wantClass(t, err, openami.NotFound, openami.ResourceVPC)
	view(t, s, func(tx metadata.Tx) error {
		list, err := tx.Networks().ListVPCs(region1, metadata.NetworkQuery{AccountID: acct1})
		equal(t, "ListVPCs after delete", list, []openami.VPC{v2})
		return err
	})
}

func testNetworkSubnets(t *testing.T, s metadata.Store) {
	a := openami.Subnet{ID: "subnet-a", Region: region1, AccountID: acct1, VpcID: "vpc-1", AvailabilityZone: "us-east-1a", CIDR: "10.0.0.0/24"}
	b := openami.Subnet{ID: "subnet-b", Region: region1, AccountID: acct1, VpcID: "vpc-2", AvailabilityZone: "us-east-1b", CIDR: "10.1.0.0/24", DefaultForAZ: true, MapPublicIPOnLaunch: true}
	c := openami.Subnet{ID: "subnet-c", Region: region1, AccountID: acct2, VpcID: "vpc-3", AvailabilityZone: "us-east-1a", CIDR: "10.0.0.0/24"}
	update(t, s, func(tx metadata.Tx) error {
		for _, n := range []openami.Subnet{a, b, c} {
			if err := tx.Networks().CreateSubnet(n); err != nil {
				return err
			}
		}
		return nil
	})
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Networks().CreateSubnet(a) })
	wantClass(t, err, openami.Duplicate, openami.ResourceSubnet)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Networks().GetSubnet(region1, "subnet-b")
		if err != nil {
			return err
		}
		equal(t, "GetSubnet", got, b)
		_, err = tx.Networks().GetSubnet(region2, "subnet-b")
		wantClass(t, err, openami.NotFound, openami.ResourceSubnet)
		list, err := tx.Networks().ListSubnets(region1, metadata.NetworkQuery{AccountID: acct1, VpcID: "vpc-2"})
		equal(t, "ListSubnets by VPC", list, []openami.Subnet{b})
		if err != nil {
			return err
		}
		list, err = tx.Networks().ListSubnets(region1, metadata.NetworkQuery{AccountID: acct1, Limit: 1})
		equal(t, "ListSubnets limit", list, []openami.Subnet{a})
		return err
	})
	a.MapPublicIPOnLaunch, a.VpcID = true, "vpc-9" // the VPC does not change
	update(t, s, func(tx metadata.Tx) error { return tx.Networks().UpdateSubnet(a) })
	a.VpcID = "vpc-1"
	update(t, s, func(tx metadata.Tx) error {
		got, err := tx.Networks().GetSubnet(region1, "subnet-a")
		equal(t, "updated subnet", got, a)
		return err
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Networks().DeleteSubnet(region1, "subnet-a") })
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Networks().DeleteSubnet(region1, "subnet-a") })
	wantClass(t, err, openami.NotFound, openami.ResourceSubnet)
}

func testNetworkGroups(t *testing.T, s metadata.Store) {
	g1 := openami.SecurityGroup{ID: "sg-1", Region: region1, AccountID: acct1, VpcID: "vpc-1", Name: "default", Description: "default VPC security group",
		Rules: []openami.SecurityGroupRule{
			{ID: "sgr-1", Protocol: "-1", FromPort: -1, ToPort: -1, GroupID: "sg-1"},
			{ID: "sgr-2", Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, CIDR: "0.0.0.0/0"},
		}}
	g2 := openami.SecurityGroup{ID: "sg-2", Region: region1, AccountID: acct1, VpcID: "vpc-2", Name: "default", Description: "d"}
	g3 := openami.SecurityGroup{ID: "sg-3", Region: region1, AccountID: acct1, VpcID: "vpc-1", Name: "web", Description: "w",
		Rules: []openami.SecurityGroupRule{{ID: "sgr-3", Protocol: "tcp", FromPort: 22, ToPort: 22, IPv6CIDR: "::/0", Description: "ssh"}}}
	update(t, s, func(tx metadata.Tx) error {
		for _, g := range []openami.SecurityGroup{g3, g1, g2} {
			if err := tx.Networks().CreateGroup(g); err != nil {
				return err
			}
		}
		return nil
	})
	// A name taken in the VPC, or an id taken, is Duplicate.
	err := updateErr(t, s, func(tx metadata.Tx) error {
		return tx.Networks().CreateGroup(openami.SecurityGroup{ID: "sg-4", Region: region1, AccountID: acct1, VpcID: "vpc-1", Name: "web"})
	})
	wantClass(t, err, openami.Duplicate, openami.ResourceSecurityGroup)
	err = updateErr(t, s, func(tx metadata.Tx) error {
		return tx.Networks().CreateGroup(openami.SecurityGroup{ID: "sg-1", Region: region1, AccountID: acct1, VpcID: "vpc-3", Name: "x"})
	})
	wantClass(t, err, openami.Duplicate, openami.ResourceSecurityGroup)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Networks().GetGroup(region1, "sg-1")
		if err != nil {
			return err
		}
		equal(t, "GetGroup", got, g1)
		list, err := tx.Networks().ListGroups(region1, metadata.NetworkQuery{AccountID: acct1, VpcID: "vpc-1"})
		equal(t, "ListGroups by VPC", list, []openami.SecurityGroup{g1, g3})
		if err != nil {
			return err
		}
		list, err = tx.Networks().ListGroups(region1, metadata.NetworkQuery{AccountID: acct2})
		equal(t, "ListGroups of another account", list, []openami.SecurityGroup{})
		return err
	})
	// UpdateGroup changes the description and rules, not the name or VPC.
	g3.Rules = append(g3.Rules, openami.SecurityGroupRule{ID: "sgr-4", Egress: true, Protocol: "udp", FromPort: 53, ToPort: 53, CIDR: "10.0.0.0/8"})
	g3.Description = "w2"
	changed := g3
	changed.Name, changed.VpcID = "other", "vpc-2"
	update(t, s, func(tx metadata.Tx) error { return tx.Networks().UpdateGroup(changed) })
	update(t, s, func(tx metadata.Tx) error {
		got, err := tx.Networks().GetGroup(region1, "sg-3")
		equal(t, "updated group", got, g3)
		return err
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Networks().DeleteGroup(region1, "sg-3") })
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Networks().DeleteGroup(region1, "sg-3") })
	wantClass(t, err, openami.NotFound, openami.ResourceSecurityGroup)
	// The name is free again.
	update(t, s, func(tx metadata.Tx) error {
		return tx.Networks().CreateGroup(openami.SecurityGroup{ID: "sg-5", Region: region1, AccountID: acct1, VpcID: "vpc-1", Name: "web"})
	})
}

// testNetworkDeleteAccount: deleting an account deletes its VPCs, subnets
// and groups, and no one else's.
func testNetworkDeleteAccount(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{acct1, acct2} {
			if err := tx.Accounts().Create(account(id, "n"+id)); err != nil {
				return err
			}
			if err := tx.Networks().CreateVPC(openami.VPC{ID: "vpc-" + id, Region: region1, AccountID: id}); err != nil {
				return err
			}
			if err := tx.Networks().CreateSubnet(openami.Subnet{ID: "subnet-" + id, Region: region1, AccountID: id, VpcID: "vpc-" + id}); err != nil {
				return err
			}
			if err := tx.Networks().CreateGroup(openami.SecurityGroup{ID: "sg-" + id, Region: region1, AccountID: id, VpcID: "vpc-" + id, Name: "default"}); err != nil {
				return err
			}
		}
		return tx.Accounts().Delete(acct1)
	})
	view(t, s, func(tx metadata.Tx) error {
		for id, want := range map[string]int{acct1: 0, acct2: 1} {
			q := metadata.NetworkQuery{AccountID: id}
			v, err := tx.Networks().ListVPCs(region1, q)
			if err != nil {
				return err
			}
			n, err := tx.Networks().ListSubnets(region1, q)
			if err != nil {
				return err
			}
			g, err := tx.Networks().ListGroups(region1, q)
			if err != nil {
				return err
			}
			if len(v) != want || len(n) != want || len(g) != want {
				t.Errorf("account %s: %d VPCs, %d subnets, %d groups, want %d of each", id, len(v), len(n), len(g), want)
			}
		}
		return nil
	})
}
