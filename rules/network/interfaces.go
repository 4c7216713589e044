package network

import (
	"context"
	"slices"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
)

// Every instance has one network interface, its primary one, made and
// deleted with it: eni- and the instance id's digits, in the instance's
// subnet, with its private address, MAC and security groups. Instances
// hold what it is (rules/instances' records); DescribeNetworkInterfaces
// shows the interfaces of the caller's instances that are not
// terminated. Interfaces cannot be made, attached or deleted on their
// own here.

// NetworkInterface is an instance's primary network interface.
type NetworkInterface struct {
	ID string
	openami.Instance
}

// InterfaceID returns the id of an instance's primary network interface.
func InterfaceID(instanceID string) string {
	return "eni-" + strings.TrimPrefix(instanceID, "i-")
}

// The attributes of a network interface that DescribeNetworkInterfaces'
// filters test.
const (
	AttrInterfaceID         filter.Attr = "interfaceID"
	AttrInterfaceSubnetID   filter.Attr = "interfaceSubnetID"
	AttrInterfaceVpcID      filter.Attr = "interfaceVpcID"
	AttrInterfaceGroupID    filter.Attr = "interfaceGroupID"
	AttrInterfaceZone       filter.Attr = "interfaceZone"
	AttrInterfaceInstanceID filter.Attr = "interfaceInstanceID"
	AttrInterfaceAddress    filter.Attr = "interfaceAddress"
	AttrInterfaceMAC        filter.Attr = "interfaceMAC"
	AttrInterfaceOwnerID    filter.Attr = "interfaceOwnerID"
	AttrInterfaceStatus     filter.Attr = "interfaceStatus"
	AttrInterfaceDesc       filter.Attr = "interfaceDescription"
	AttrInterfaceType       filter.Attr = "interfaceType"
)

// InterfaceAttrs are the attributes DescribeNetworkInterfaces filters by.
// Read-only.
var InterfaceAttrs = []filter.Attr{AttrInterfaceID, AttrInterfaceSubnetID, AttrInterfaceVpcID, AttrInterfaceGroupID,
	AttrInterfaceZone, AttrInterfaceInstanceID, AttrInterfaceAddress, AttrInterfaceMAC, AttrInterfaceOwnerID,
	AttrInterfaceStatus, AttrInterfaceDesc, AttrInterfaceType}

// DescribeNetworkInterfaces returns a page of the network interfaces of
// the caller's instances that are not terminated, all or those named (an
// unknown one is NotFound), that match the filters.
func (n *Networks) DescribeNetworkInterfaces(ctx context.Context, p openami.Principal, interfaceIDs []string, filters []filter.Filter, pg Page) ([]NetworkInterface, string, error) {
	fs, err := filter.Compile(filters, InterfaceAttrs...)
	if err != nil {
		return nil, "", err
	}
	if err := describe.CheckIDs(openami.ResourceNetworkInterface, interfaceIDs, pg); err != nil {
		return nil, "", err
	}
	var all []NetworkInterface
	err = n.store.View(ctx, func(tx metadata.Tx) error {
		all = nil
		live, err := n.instances(tx, p.Region, p.AccountID)
		for _, i := range live {
			all = append(all, NetworkInterface{ID: InterfaceID(i.ID), Instance: i})
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(all, func(a, b NetworkInterface) int { return strings.Compare(a.ID, b.ID) })
	id := func(x NetworkInterface) string { return x.ID }
	if missing := describe.Missing(interfaceIDs, all, id); len(missing) > 0 {
		return nil, "", openami.Errorf(openami.NotFound, openami.ResourceNetworkInterface, "%s",
			describe.NotFound{One: "The networkInterface ID '%s' does not exist", Many: "The networkInterface IDs '%s' do not exist"}.Sentence(missing))
	}
	scope := describe.Scope("DescribeNetworkInterfaces", p, filters, strings.Join(interfaceIDs, ","))
	return describe.List(n.tokens, scope, pg, describe.Bounds{Min: 5, Max: 1000}, describe.Slice(all, interfaceIDs, id), id,
		func(x NetworkInterface) bool {
			return fs.Match(func(name filter.Attr) []string {
				switch name {
				case AttrInterfaceID:
					return []string{x.ID}
				case AttrInterfaceSubnetID:
					return []string{x.SubnetID}
				case AttrInterfaceVpcID:
					return []string{x.VpcID}
				case AttrInterfaceGroupID:
					return x.SecurityGroupIDs
				case AttrInterfaceZone:
					return []string{x.AvailabilityZone}
				case AttrInterfaceInstanceID:
					return []string{x.Instance.ID}
				case AttrInterfaceAddress:
					return []string{x.PrivateIP}
				case AttrInterfaceMAC:
					return []string{x.MacAddress}
				case AttrInterfaceOwnerID:
					return []string{x.AccountID}
				case AttrInterfaceStatus:
					return []string{"in-use"}
				case AttrInterfaceDesc:
					return []string{""}
				case AttrInterfaceType:
					return []string{"interface"}
				}
				return nil
			}, nil)
		})
}
