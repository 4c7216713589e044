package identity

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/param"
)

// DefaultRegions are the regions served when none are configured.
var DefaultRegions = []string{"us-east-1", "us-east-2", "us-west-2", "eu-west-1"}

var regionName = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$`)

// zoneCounts holds the number of zones of regions that do not have the
// usual three.
var zoneCounts = map[string]int{"us-east-1": 6, "us-west-1": 2}

// directionCodes abbreviates the middle word of a region name the way AWS
// zone ids do (us-east-1 → use1, ap-southeast-2 → apse2).
var directionCodes = map[string]string{
	"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
	"northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw",
}

// ParseRegions turns region names into Regions with their availability
// zones: us-east-1 gets zones us-east-1a … us-east-1f with ids use1-az1 …
// use1-az6, most others three. A name not of AWS's form, or given twice, is
// an InvalidParameter error.
func ParseRegions(names []string) ([]openami.Region, error) {
	if len(names) == 0 {
		names = DefaultRegions
	}
	seen := map[string]bool{}
	var out []openami.Region
	for _, n := range names {
		n = strings.TrimSpace(n)
		if !regionName.MatchString(n) {
			return nil, openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "invalid region name %q (want a name like us-east-1)", n)
		}
		if seen[n] {
			return nil, openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "region %q is listed twice", n)
		}
		seen[n] = true
		out = append(out, newRegion(n))
	}
	return out, nil
}

func newRegion(name string) openami.Region {
	parts := strings.Split(name, "-")
	num := parts[len(parts)-1]
	dir := parts[len(parts)-2]
	code, ok := directionCodes[dir]
	if !ok {
		code = dir[:1]
	}
	prefix := strings.Join(parts[:len(parts)-2], "")
	zoneID := prefix + code + num
	n := zoneCounts[name]
	if n == 0 {
		n = 3
	}
	r := openami.Region{Name: name}
	for i := 0; i < n; i++ {
		r.Zones = append(r.Zones, openami.Zone{
			Name: name + string(rune('a'+i)),
			ID:   fmt.Sprintf("%s-az%d", zoneID, i+1),
		})
	}
	return r
}

// RegionInfo is one row of DescribeRegions.
type RegionInfo struct {
	Name        string
	Endpoint    string
	OptInStatus string
}

// The attributes of a region that DescribeRegions' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrRegionEndpoint filter.Attr = "regionEndpoint"
	AttrRegionOptIn    filter.Attr = "regionOptIn"
	AttrRegionName     filter.Attr = "regionName"
)

// RegionAttrs are the attributes DescribeRegions filters by. Read-only.
var RegionAttrs = []filter.Attr{
	AttrRegionEndpoint, AttrRegionOptIn, AttrRegionName,
}

// DescribeRegions lists the served regions: all of them, or those named
// (an unserved name is an InvalidParameter error), narrowed by filters
// (of RegionAttrs). endpoint is the URL at which
// clients reach this server; every region is served there.
func (s *Accounts) DescribeRegions(p openami.Principal, names []string, filters []filter.Filter, endpoint string) ([]RegionInfo, error) {
	fs, err := filter.Compile(filters, RegionAttrs...)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := s.Region(n); !ok {
			return nil, openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "Invalid region name: %s", n)
		}
	}
	var out []RegionInfo
	for _, r := range s.regions {
		if len(names) > 0 && !contains(names, r.Name) {
			continue
		}
		info := RegionInfo{Name: r.Name, Endpoint: endpoint, OptInStatus: "opt-in-not-required"}
		match := fs.Match(func(name filter.Attr) []string {
			switch name {
			case AttrRegionEndpoint:
				return []string{info.Endpoint}
			case AttrRegionOptIn:
				return []string{info.OptInStatus}
			case AttrRegionName:
				return []string{info.Name}
			}
			return nil
		}, nil)
		if match {
			out = append(out, info)
		}
	}
	return out, nil
}

// ZoneInfo is one row of DescribeAvailabilityZones.
type ZoneInfo struct {
	Region openami.Region
	Zone   openami.Zone
}

// The attributes of an Availability Zone that DescribeAvailabilityZones' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrZoneGroup       filter.Attr = "zoneGroup"
	AttrZoneBorderGroup filter.Attr = "zoneBorderGroup"
	AttrZoneOptIn       filter.Attr = "zoneOptIn"
	AttrZoneRegion      filter.Attr = "zoneRegion"
	AttrZoneState       filter.Attr = "zoneState"
	AttrZoneID          filter.Attr = "zoneID"
	AttrZoneName        filter.Attr = "zoneName"
	AttrZoneType        filter.Attr = "zoneType"
	AttrZoneMessage     filter.Attr = "zoneMessage"
	AttrZoneParentID    filter.Attr = "zoneParentID"
	AttrZoneParentName  filter.Attr = "zoneParentName"
)

// ZoneAttrs are the attributes DescribeAvailabilityZones filters by. Read-only.
var ZoneAttrs = []filter.Attr{
	AttrZoneGroup, AttrZoneBorderGroup, AttrZoneOptIn, AttrZoneRegion, AttrZoneState, AttrZoneID,
	AttrZoneName, AttrZoneType, AttrZoneMessage, AttrZoneParentID, AttrZoneParentName,
}

// DescribeAvailabilityZones lists the zones of the caller's region, or
// those named by name or id (an unknown one is an InvalidParameter error),
// narrowed by filters (of ZoneAttrs).
func (s *Accounts) DescribeAvailabilityZones(p openami.Principal, names, ids []string, filters []filter.Filter) ([]ZoneInfo, error) {
	fs, err := filter.Compile(filters, ZoneAttrs...)
	if err != nil {
		return nil, err
	}
	region, ok := s.Region(p.Region)
	if !ok {
		return nil, openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "region %s is not served", p.Region)
	}
	byName := map[string]bool{}
	for _, z := range region.Zones {
		byName[z.Name] = true
		byName[z.ID] = true
	}
	for _, n := range append(append([]string(nil), names...), ids...) {
		if !byName[n] {
			return nil, openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "The zone '%s' does not exist in region %s", n, region.Name)
		}
	}
	var out []ZoneInfo
	for _, z := range region.Zones {
		if (len(names) > 0 || len(ids) > 0) && !contains(names, z.Name) && !contains(ids, z.ID) {
			continue
		}
		match := fs.Match(func(name filter.Attr) []string {
			switch name {
			case AttrZoneGroup, AttrZoneBorderGroup, AttrZoneRegion:
				return []string{region.Name}
			case AttrZoneOptIn:
				return []string{"opt-in-not-required"}
			case AttrZoneState:
				return []string{"available"}
			case AttrZoneID:
				return []string{z.ID}
			case AttrZoneName:
				return []string{z.Name}
			case AttrZoneType:
				return []string{"availability-zone"}
			}
			return nil
		}, nil)
		if match {
			out = append(out, ZoneInfo{Region: region, Zone: z})
		}
	}
	return out, nil
}

// AccountAttribute is one account attribute with its values.
type AccountAttribute struct {
	Name   string
	Values []string
}

// accountAttributes are the values openami reports; they mirror a new AWS
// account's defaults. default-vpc is "none" until VPCs exist.
var accountAttributes = []AccountAttribute{
	{"supported-platforms", []string{"VPC"}},
	{"vpc-max-security-groups-per-interface", []string{"5"}},
	{"max-elastic-ips", []string{"5"}},
	{"max-instances", []string{"20"}},
	{"vpc-max-elastic-ips", []string{"5"}},
	{"default-vpc", []string{"none"}},
}

// DescribeAccountAttributes returns the named account attributes, or all of
// them. An unknown name is an InvalidParameter error.
func (s *Accounts) DescribeAccountAttributes(p openami.Principal, names []string) ([]AccountAttribute, error) {
	if len(names) == 0 {
		return accountAttributes, nil
	}
	var out []AccountAttribute
	for _, n := range names {
		found := false
		for _, a := range accountAttributes {
			if a.Name == n {
				out = append(out, a)
				found = true
			}
		}
		if !found {
			return nil, param.Invalid("AttributeName", n, "Unknown attribute.")
		}
	}
	return out, nil
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
