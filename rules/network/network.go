// Package network holds the rules of openami's networks: VPCs
// (vpcs.go), subnets and their address ranges (subnets.go), security
// groups (groups.go) and their rules (permissions.go), and what other
// subsystems need of them (uses.go): where a launch goes and which
// groups it joins, the names of groups, and the firewall an instance's
// groups make, resolved to addresses, for the runtime.
//
// Every account has, in every region, the network a new AWS account has:
// a default VPC (172.31.0.0/16), a default subnet per availability zone
// (172.31.0.0/20, 172.31.16.0/20, …) and the VPC's default security
// group, with ids derived from the account, region and zone
// (ids.Derived), so that they are the same on every server and for
// instances launched before they were stored. They are stored lazily, by
// the first transaction that needs them (defaults): a write (an action
// that changes the network, a launch, tagging) materializes them in its
// own transaction, and a Describe that finds them missing materializes
// them first in a transaction of its own. Lazily rather than at account
// creation because accounts made before this package existed, and
// regions added to a server later, must get them too, and because it
// costs nothing for accounts that never use a region. A transaction that
// only reads (the metadata service's, a runtime's firewall) sees the
// defaults as they would be stored (defaultGroup), so nothing it answers
// changes when they are.
//
// The default VPC and its default subnets cannot be deleted here (AWS
// allows it; openami keeps them because they are where a launch that
// names nothing goes, and would only make them again), and no VPC's
// default group can be deleted (as on AWS: CannotDelete).
//
// Instances are rules/instances' records: this package asks for an
// account's live instances through Config.Instances (to count a subnet's
// free addresses, to refuse deleting what they use, to resolve a
// group's members to addresses) and never reads them itself.
package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/identity"
)

// Config is what Networks are built from. Store, Identity and Tokens are
// required.
type Config struct {
	Store metadata.Store
	// Identity answers which zones a region has.
	Identity *identity.Accounts
	// Tokens signs the NextTokens of the Describe actions.
	Tokens *pagetoken.Codec
	// Instances returns the account's instances in the region that are
	// not terminated, in the caller's transaction (rules/instances).
	// Nil means there are none.
	Instances func(tx metadata.Tx, region, accountID string) ([]openami.Instance, error)
}

// Networks implements VPCs, subnets and security groups over a metadata
// store.
type Networks struct {
	store     metadata.Store
	identity  *identity.Accounts
	tokens    *pagetoken.Codec
	instances func(tx metadata.Tx, region, accountID string) ([]openami.Instance, error)
}

// New returns Networks built from cfg.
func New(cfg Config) *Networks {
	n := &Networks{store: cfg.Store, identity: cfg.Identity, tokens: cfg.Tokens, instances: cfg.Instances}
	if n.instances == nil {
		n.instances = func(metadata.Tx, string, string) ([]openami.Instance, error) { return nil, nil }
	}
	return n
}

// UseInstances sets the function that lists an account's live instances,
// for a service that builds rules/instances after this package (it must
// be called before the Networks serve a request).
func (n *Networks) UseInstances(f func(tx metadata.Tx, region, accountID string) ([]openami.Instance, error)) {
	n.instances = f
}

// DefaultVPCCIDR is the range of every account's default VPC, as on AWS.
const DefaultVPCCIDR = "172.31.0.0/16"

func defaultVPCID(p openami.Principal) string { return ids.Derived("vpc", p.AccountID, p.Region) }

func defaultVPC(p openami.Principal) openami.VPC {
	return openami.VPC{ID: defaultVPCID(p), Region: p.Region, AccountID: p.AccountID, CIDR: DefaultVPCCIDR,
		IsDefault: true, DNSSupport: true, DNSHostnames: true}
}

// defaultSubnets are the default VPC's subnets, one /20 per zone in zone
// order (172.31.0.0/20, 172.31.16.0/20, …), as AWS makes them.
func (n *Networks) defaultSubnets(p openami.Principal) []openami.Subnet {
	r, _ := n.identity.Region(p.Region)
	out := make([]openami.Subnet, len(r.Zones))
	for i, z := range r.Zones {
		out[i] = openami.Subnet{ID: ids.Derived("subnet", p.AccountID, p.Region, z.Name), Region: p.Region,
			AccountID: p.AccountID, VpcID: defaultVPCID(p), AvailabilityZone: z.Name,
			CIDR: fmt.Sprintf("172.31.%d.0/20", 16*i), DefaultForAZ: true, MapPublicIPOnLaunch: true}
	}
	return out
}

// defaultGroupOf returns the default security group of a VPC with id
// groupID: named "default", its rules as on AWS: all traffic in from the
// group's own members, all traffic out to anywhere. The rules' ids are
// derived from the group's.
func defaultGroupOf(p openami.Principal, vpcID, groupID, description string) openami.SecurityGroup {
	return openami.SecurityGroup{ID: groupID, Region: p.Region, AccountID: p.AccountID, VpcID: vpcID,
		Name: "default", Description: description,
		Rules: []openami.SecurityGroupRule{
			{ID: ids.Derived("sgr", groupID, "ingress"), Protocol: openami.ProtocolAll, FromPort: -1, ToPort: -1, GroupID: groupID},
			{ID: ids.Derived("sgr", groupID, "egress"), Egress: true, Protocol: openami.ProtocolAll, FromPort: -1, ToPort: -1, CIDR: "0.0.0.0/0"},
		}}
}

// defaultGroup is the default VPC's default group.
func defaultGroup(p openami.Principal) openami.SecurityGroup {
	return defaultGroupOf(p, defaultVPCID(p), ids.Derived("sg", p.AccountID, p.Region), "default VPC security group")
}

// defaults stores the caller's default VPC, its subnets and its default
// group in tx unless they are stored already. It must run in an update.
func (n *Networks) defaults(tx metadata.Tx, p openami.Principal) error {
	_, err := tx.Networks().GetVPC(p.Region, defaultVPCID(p))
	if !errors.Is(err, openami.ErrNotFound) {
		return err
	}
	if err := tx.Networks().CreateVPC(defaultVPC(p)); err != nil {
		return err
	}
	for _, s := range n.defaultSubnets(p) {
		if err := tx.Networks().CreateSubnet(s); err != nil {
			return err
		}
	}
	return tx.Networks().CreateGroup(defaultGroup(p))
}

// ensureDefaults stores the caller's default network if it is not yet:
// a read, and a write only the first time. Describe actions call it
// before their reads.
func (n *Networks) ensureDefaults(ctx context.Context, p openami.Principal) error {
	var have bool
	err := n.store.View(ctx, func(tx metadata.Tx) error {
		_, err := tx.Networks().GetVPC(p.Region, defaultVPCID(p))
		if errors.Is(err, openami.ErrNotFound) {
			return nil
		}
		have = err == nil
		return err
	})
	if err != nil || have {
		return err
	}
	return n.store.Update(ctx, func(tx metadata.Tx) error { return n.defaults(tx, p) })
}

// storedOrDefault returns the record get finds, or, when there is none and
// id names one of the caller's default records that is not stored yet, that
// default as it would be stored. Reads in a View use it.
func storedOrDefault[T any](get func() (T, error), id string, defaults []T, idOf func(T) string) (T, error) {
	v, err := get()
	if !errors.Is(err, openami.ErrNotFound) {
		return v, err
	}
	for _, d := range defaults {
		if idOf(d) == id {
			return d, nil
		}
	}
	return v, err
}

// vpcOf returns a VPC of the caller's, NotFound for anyone else's.
func (n *Networks) vpcOf(tx metadata.Tx, p openami.Principal, id string) (openami.VPC, error) {
	v, err := storedOrDefault(func() (openami.VPC, error) { return tx.Networks().GetVPC(p.Region, id) }, id,
		[]openami.VPC{defaultVPC(p)}, func(v openami.VPC) string { return v.ID })
	if err == nil && v.AccountID != p.AccountID || errors.Is(err, openami.ErrNotFound) {
		return openami.VPC{}, openami.Errorf(openami.NotFound, openami.ResourceVPC, "The vpc ID '%s' does not exist", id)
	}
	return v, err
}

// subnetOf returns a subnet of the caller's, NotFound for anyone else's.
func (n *Networks) subnetOf(tx metadata.Tx, p openami.Principal, id string) (openami.Subnet, error) {
	s, err := storedOrDefault(func() (openami.Subnet, error) { return tx.Networks().GetSubnet(p.Region, id) }, id,
		n.defaultSubnets(p), func(s openami.Subnet) string { return s.ID })
	if err == nil && s.AccountID != p.AccountID || errors.Is(err, openami.ErrNotFound) {
		return openami.Subnet{}, openami.Errorf(openami.NotFound, openami.ResourceSubnet, "The subnet ID '%s' does not exist", id)
	}
	return s, err
}

// groupOf returns a security group of the caller's, NotFound for anyone
// else's.
func (n *Networks) groupOf(tx metadata.Tx, p openami.Principal, id string) (openami.SecurityGroup, error) {
	g, err := storedOrDefault(func() (openami.SecurityGroup, error) { return tx.Networks().GetGroup(p.Region, id) }, id,
		[]openami.SecurityGroup{defaultGroup(p)}, func(g openami.SecurityGroup) string { return g.ID })
	if err == nil && g.AccountID != p.AccountID || errors.Is(err, openami.ErrNotFound) {
		return openami.SecurityGroup{}, groupNotFound(id)
	}
	return g, err
}

func groupNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceSecurityGroup, "The security group '%s' does not exist", id)
}

// groupNamed returns the caller's group of that name in a VPC.
func (n *Networks) groupNamed(tx metadata.Tx, p openami.Principal, vpcID, name string) (openami.SecurityGroup, error) {
	groups, err := n.listGroups(tx, p, vpcID)
	if err != nil {
		return openami.SecurityGroup{}, err
	}
	for _, g := range groups {
		if g.Name == name {
			return g, nil
		}
	}
	if vpcID == defaultVPCID(p) {
		return openami.SecurityGroup{}, openami.Errorf(openami.NotFound, openami.ResourceSecurityGroup, "The security group '%s' does not exist in default VPC '%s'", name, vpcID)
	}
	return openami.SecurityGroup{}, openami.Errorf(openami.NotFound, openami.ResourceSecurityGroup, "The security group '%s' does not exist in VPC '%s'", name, vpcID)
}

// listGroups returns the caller's groups in a VPC ("" for all), the
// default VPC's default group included when it is not stored yet.
func (n *Networks) listGroups(tx metadata.Tx, p openami.Principal, vpcID string) ([]openami.SecurityGroup, error) {
	groups, err := tx.Networks().ListGroups(p.Region, metadata.NetworkQuery{AccountID: p.AccountID, VpcID: vpcID})
	if err != nil {
		return nil, err
	}
	if d := defaultGroup(p); vpcID == "" || vpcID == d.VpcID {
		if _, err := tx.Networks().GetVPC(p.Region, d.VpcID); errors.Is(err, openami.ErrNotFound) {
			groups = append(groups, d)
		} else if err != nil {
			return nil, err
		}
	}
	return groups, nil
}

// parseCIDR parses an IPv4 CIDR block as EC2 takes one: a valid prefix,
// returned in canonical form (its host bits cleared). InvalidParameter
// otherwise.
func parseCIDR(s string) (netip.Prefix, error) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil || !pfx.Addr().Is4() {
		return netip.Prefix{}, openami.Errorf(openami.InvalidParameter, "", "Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", s)
	}
	return pfx.Masked(), nil
}

// AWS's bounds of a VPC's and a subnet's prefix length.
const (
	minPrefix = 16
	maxPrefix = 28
)
