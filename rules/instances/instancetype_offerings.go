package instances

import (
	"context"
	"slices"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// Where an instance type is offered: DescribeInstanceTypeOfferings lists
// the catalog's types by region (the default), by availability zone
// name, or by availability zone id.
const (
	LocationRegion = "region"
	LocationZone   = "availability-zone"
	LocationZoneID = "availability-zone-id"
)

// Offering is an instance type offered in a location: the caller's
// region, or one of its zones by name or by id, as LocationType says.
type Offering struct {
	InstanceType string
	LocationType string
	Location     string
}

// The attributes of an offering that DescribeInstanceTypeOfferings'
// filters test.
const (
	AttrOfferingLocation     filter.Attr = "offeringLocation"
	AttrOfferingInstanceType filter.Attr = "offeringInstanceType"
)

// OfferingAttrs are the attributes DescribeInstanceTypeOfferings filters
// by. Read-only.
var OfferingAttrs = []filter.Attr{AttrOfferingLocation, AttrOfferingInstanceType}

func (o Offering) filterValues(name filter.Attr) []string {
	switch name {
	case AttrOfferingLocation:
		return []string{o.Location}
	case AttrOfferingInstanceType:
		return []string{o.InstanceType}
	}
	return nil
}

// key orders offerings for pages: by instance type, then location.
func (o Offering) key() string { return o.InstanceType + " " + o.Location }

// DescribeInstanceTypeOfferings returns a page of the instance types
// offered in the caller's region, by locationType ("" for region;
// otherwise LocationZone or LocationZoneID, one offering per zone),
// narrowed by filters, in instance type and then location order. openami
// offers every type of its catalog in every zone it serves: a host runs
// any type, its VM capped to the host's size. An unknown locationType is
// InvalidParameter.
func (s *Machines) DescribeInstanceTypeOfferings(ctx context.Context, p openami.Principal, locationType string, filters []filter.Filter, pg Page) ([]Offering, string, error) {
	if locationType == "" {
		locationType = LocationRegion
	}
	if err := param.OneOf("LocationType", locationType, LocationRegion, LocationZone, LocationZoneID); err != nil {
		return nil, "", err
	}
	fs, err := filter.Compile(filters, OfferingAttrs...)
	if err != nil {
		return nil, "", err
	}
	region, ok := s.identity.Region(p.Region)
	if !ok {
		return nil, "", openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "region %s is not served", p.Region)
	}
	var locations []string
	switch locationType {
	case LocationRegion:
		locations = []string{region.Name}
	case LocationZone:
		for _, z := range region.Zones {
			locations = append(locations, z.Name)
		}
	case LocationZoneID:
		for _, z := range region.Zones {
			locations = append(locations, z.ID)
		}
	}
	all := make([]Offering, 0, len(instanceTypes)*len(locations))
	for _, it := range instanceTypes {
		for _, l := range locations {
			all = append(all, Offering{InstanceType: it.Name, LocationType: locationType, Location: l})
		}
	}
	slices.SortFunc(all, func(a, b Offering) int { return strings.Compare(a.key(), b.key()) })
	scope := describe.Scope("DescribeInstanceTypeOfferings", p, filters, locationType)
	return describe.List(s.tokens, scope, pg, describe.Bounds{Min: 5, Max: 1000}, describe.Slice(all, nil, Offering.key), Offering.key,
		func(o Offering) bool { return fs.Match(o.filterValues, nil) })
}
