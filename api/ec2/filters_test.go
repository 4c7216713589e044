package ec2

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/exports"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/instances"
	"github.com/openami/openami/rules/network"
	"github.com/openami/openami/rules/templates"
)

// filterTables pairs each Describe action's table of EC2 filter names with
// the attributes its rules accept.
var filterTables = []struct {
	action string
	names  map[string]filter.Attr
	attrs  []filter.Attr
}{
	{"DescribeRegions", regionFilterNames, identity.RegionAttrs},
	{"DescribeAvailabilityZones", zoneFilterNames, identity.ZoneAttrs},
	{"DescribeKeyPairs", keyPairFilterNames, identity.KeyPairAttrs},
	{"DescribeBundleTasks", bundleTaskFilterNames, instances.BundleTaskAttrs},
	{"DescribeLaunchTemplates", launchTemplateFilterNames, templates.TemplateAttrs},
	{"DescribeLaunchTemplateVersions", launchTemplateVersionFilterNames, templates.VersionAttrs},
	{"DescribeImages", imageFilterNames, images.ImageAttrs},
	{"DescribeExportImageTasks", exportTaskFilterNames, exports.TaskAttrs},
	{"DescribeStoreImageTasks", storeTaskFilterNames, exports.StoreTaskAttrs},
	{"DescribeSnapshots", snapshotFilterNames, ebs.SnapshotAttrs},
	{"DescribeSnapshotTierStatus", tierFilterNames, ebs.TierAttrs},
	{"DescribeVolumes", volumeFilterNames, ebs.VolumeAttrs},
	{"DescribeInstances", instanceFilterNames, instances.InstanceAttrs},
	{"DescribeInstanceTypes", instanceTypeFilterNames, instances.InstanceTypeAttrs},
	{"DescribeInstanceTypeOfferings", offeringFilterNames, instances.OfferingAttrs},
	{"DescribeVpcs", vpcFilterNames, network.VPCAttrs},
	{"DescribeSubnets", subnetFilterNames, network.SubnetAttrs},
	{"DescribeSecurityGroups", securityGroupFilterNames, network.SecurityGroupAttrs},
	{"DescribeSecurityGroupRules", securityGroupRuleFilterNames, network.RuleAttrs},
	{"DescribeRouteTables", routeTableFilterNames, network.RouteTableAttrs},
	{"DescribeNetworkAcls", networkACLFilterNames, network.NetworkACLAttrs},
	{"DescribeNetworkInterfaces", networkInterfaceFilterNames, network.InterfaceAttrs},
	{"DescribeTags", tagFilterNames, tagset.RowAttrs},
}

// TestFilterTables: every EC2 name of a table maps to an attribute its
// action's rules accept, and every such attribute has a name, so that a
// table and a rules list cannot drift apart.
func TestFilterTables(t *testing.T) {
	for _, tt := range filterTables {
		t.Run(tt.action, func(t *testing.T) {
			reached := map[filter.Attr]bool{}
			for name, a := range tt.names {
				if !slices.Contains(tt.attrs, a) {
					t.Errorf("%q maps to %q, which the rules do not accept", name, a)
				}
				reached[a] = true
				fs, err := filtersOf([]filterParam{{Name: name, Values: []string{"x"}}}, tt.names)
				if err != nil {
					t.Fatalf("filtersOf(%q): %v", name, err)
				}
				if _, err := filter.Compile(fs, tt.attrs...); err != nil {
					t.Errorf("the rules refuse %q: %v", name, err)
				}
			}
			for _, a := range tt.attrs {
				if !reached[a] {
					t.Errorf("the rules accept %q, which no EC2 name maps to", a)
				}
			}
		})
	}
}

// TestFilterUnknownName: a name a table lacks is refused as the rules
// refused it before the API renamed filters, naming it as sent; so is an
// attribute's own name, which is no EC2 name. The tag forms pass as sent.
func TestFilterUnknownName(t *testing.T) {
	for _, name := range []string{"bogus", "", string(images.AttrMappingSnapshotID), "tag:"} {
		_, err := filtersOf([]filterParam{{Name: name, Values: []string{"x"}}}, imageFilterNames)
		var e *openami.Error
		if !errors.As(err, &e) || e.Class != openami.InvalidParameter || e.Resource != openami.ResourceFilter ||
			e.Message != "The filter '"+name+"' is invalid" {
			t.Errorf("filtersOf(%q) = %v, want InvalidParameter \"The filter '%s' is invalid\"", name, err, name)
		}
	}
	in := []filterParam{{Name: "tag:Env", Values: []string{"prod"}}, {Name: "tag-key", Values: []string{"k"}}, {Name: "tag-value", Values: []string{"v"}}}
	fs, err := filtersOf(in, imageFilterNames)
	if err != nil || !reflect.DeepEqual(fs, wireFilters(in)) {
		t.Errorf("filtersOf(tags) = %v, %v; want them as sent", fs, err)
	}
	_, err = filtersOf(make([]filterParam, filter.MaxFilters+1), imageFilterNames)
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != openami.LimitExceeded {
		t.Errorf("filtersOf(%d filters) = %v, want LimitExceeded", filter.MaxFilters+1, err)
	}
}

// TestFilterIsDefaultAlias: DescribeVpcs takes EC2's old isDefault beside
// is-default, as the same filter; so the same query by either name has
// the same page scope.
func TestFilterIsDefaultAlias(t *testing.T) {
	old, err := filtersOf([]filterParam{{Name: "isDefault", Values: []string{"true"}}}, vpcFilterNames)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := filtersOf([]filterParam{{Name: "is-default", Values: []string{"true"}}}, vpcFilterNames)
	if err != nil {
		t.Fatal(err)
	}
	want := []filter.Filter{{Name: string(network.AttrVPCDefault), Values: []string{"true"}}}
	if !reflect.DeepEqual(old, want) || !reflect.DeepEqual(cur, want) {
		t.Errorf("isDefault = %v, is-default = %v; want both %v", old, cur, want)
	}
}
