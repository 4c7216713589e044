package instances

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
)

// TestInstanceTypeCatalog: the catalog parses, every type is sane, and
// the families and sizes clients name are there with AWS's figures.
func TestInstanceTypeCatalog(t *testing.T) {
	if len(instanceTypes) < 500 {
		t.Fatalf("catalog has %d types, want the EC2 catalogue's families", len(instanceTypes))
	}
	if !slices.IsSortedFunc(instanceTypes, func(a, b InstanceType) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatal("catalog is not in name order")
	}
	for i, it := range instanceTypes {
		if i > 0 && instanceTypes[i-1].Name == it.Name {
			t.Errorf("%s twice", it.Name)
		}
		if it.VCPUs < 1 || it.MemoryMiB < 512 || len(it.Architectures) == 0 || len(it.BootModes) == 0 || len(it.Virtualization) == 0 ||
			(it.Hypervisor == "") != it.BareMetal || it.InstanceStore.Count > 0 && (it.InstanceStore.SizeGB < 1 || it.InstanceStore.Type == "") {
			t.Errorf("%s is not sane: %+v", it.Name, it)
		}
	}
	for _, family := range []string{"t1", "t2", "t3", "t3a", "t4g", "m1", "m2", "m3", "m4", "m5", "m5a", "m5d", "m5n",
		"m6i", "m6a", "m6g", "m6gd", "m6id", "m7i", "m7a", "m7g", "c3", "c4", "c5", "c5d", "c6i", "c6a", "c6g", "c6gd",
		"c6id", "c7i", "c7a", "c7g", "r3", "r4", "r5", "r5d", "r6i", "r6a", "r6g", "r7i", "r7g", "i3", "i3en", "i4i",
		"d2", "d3", "x1e", "z1d"} {
		if !slices.ContainsFunc(instanceTypes, func(it InstanceType) bool { return strings.HasPrefix(it.Name, family+".") }) {
			t.Errorf("no %s types", family)
		}
	}
	for _, c := range []struct {
		name                      string
		vcpus                     int
		mib                       int64
		arch, boot, virt, hyper   string
		current, burstable, metal bool
		store                     InstanceStoreDisks
	}{
		{"t2.nano", 1, 512, "i386,x86_64", "legacy-bios", "hvm", "xen", true, true, false, InstanceStoreDisks{}},
		{"t1.micro", 1, 627, "i386,x86_64", "legacy-bios", "hvm,paravirtual", "xen", false, false, false, InstanceStoreDisks{}},
		{"t3a.medium", 2, 4096, "x86_64", "legacy-bios,uefi", "hvm", "nitro", true, true, false, InstanceStoreDisks{}},
		{"m1.small", 1, 1740, "i386,x86_64", "legacy-bios", "hvm,paravirtual", "xen", false, false, false, InstanceStoreDisks{1, 160, "hdd", false}},
		{"m3.xlarge", 4, 15360, "x86_64", "legacy-bios", "hvm,paravirtual", "xen", false, false, false, InstanceStoreDisks{2, 40, "ssd", false}},
		{"m5d.large", 2, 8192, "x86_64", "legacy-bios,uefi", "hvm", "nitro", true, false, false, InstanceStoreDisks{1, 75, "ssd", true}},
		{"m6i.xlarge", 4, 16384, "x86_64", "legacy-bios,uefi", "hvm", "nitro", true, false, false, InstanceStoreDisks{}},
		{"c7g.large", 2, 4096, "arm64", "uefi", "hvm", "nitro", true, false, false, InstanceStoreDisks{}},
		{"c6gd.medium", 1, 2048, "arm64", "uefi", "hvm", "nitro", true, false, false, InstanceStoreDisks{1, 59, "ssd", true}},
		{"d3en.12xlarge", 48, 196608, "x86_64", "legacy-bios,uefi", "hvm", "nitro", true, false, false, InstanceStoreDisks{24, 13980, "hdd", true}},
		{"i3.metal", 72, 524288, "x86_64", "legacy-bios,uefi", "hvm", "", true, false, true, InstanceStoreDisks{8, 1900, "ssd", true}},
		{"m7i.48xlarge", 192, 786432, "x86_64", "legacy-bios,uefi", "hvm", "nitro", true, false, false, InstanceStoreDisks{}},
		{"x1e.xlarge", 4, 124928, "x86_64", "legacy-bios", "hvm", "xen", true, false, false, InstanceStoreDisks{1, 120, "ssd", false}},
	} {
		it, ok := LookupInstanceType(c.name)
		if !ok {
			t.Errorf("%s is not in the catalog", c.name)
			continue
		}
		j := func(v []string) string { return strings.Join(v, ",") }
		if it.VCPUs != c.vcpus || it.MemoryMiB != c.mib || j(it.Architectures) != c.arch || j(it.BootModes) != c.boot ||
			j(it.Virtualization) != c.virt || it.Hypervisor != c.hyper || it.CurrentGeneration != c.current ||
			it.Burstable != c.burstable || it.BareMetal != c.metal || it.InstanceStore != c.store {
			t.Errorf("%s: %+v, want %+v", c.name, it, c)
		}
	}
	if it, _ := LookupInstanceType("d3en.12xlarge"); it.InstanceStore.TotalGB() != 24*13980 || it.EBSOnly() {
		t.Errorf("d3en.12xlarge instance store total %d", it.InstanceStore.TotalGB())
	}
	if _, ok := LookupInstanceType("p4d.24xlarge"); ok {
		t.Error("an accelerated type is in the catalog")
	}
	if _, err := parseCatalog("name\tvcpus\nm9.large\ttwo\n"); err == nil {
		t.Error("a malformed catalog parses")
	}
}

// TestDescribeInstanceTypesOverTheCatalog: DescribeInstanceTypes' filters
// and pages work over the whole catalog.
func TestDescribeInstanceTypesOverTheCatalog(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	names := func(list []InstanceType) []string {
		var out []string
		for _, it := range list {
			out = append(out, it.Name)
		}
		return out
	}
	for _, c := range []struct {
		filters []filter.Filter
		want    []string
	}{
		{[]filter.Filter{{Name: string(AttrTypeName), Values: []string{"t4g.*"}}},
			[]string{"t4g.2xlarge", "t4g.large", "t4g.medium", "t4g.micro", "t4g.nano", "t4g.small", "t4g.xlarge"}},
		{[]filter.Filter{{Name: string(AttrTypeName), Values: []string{"m5d.*"}}, {Name: string(AttrTypeStoreTotal), Values: []string{"75", "150"}}},
			[]string{"m5d.large", "m5d.xlarge"}},
		{[]filter.Filter{{Name: string(AttrTypeStoreDiskType), Values: []string{"hdd"}}, {Name: string(AttrTypeStoreNVMe), Values: []string{"required"}},
			{Name: string(AttrTypeStoreDiskCount), Values: []string{"24"}}},
			[]string{"d3.8xlarge", "d3en.12xlarge"}},
		{[]filter.Filter{{Name: string(AttrTypeVirtualization), Values: []string{"paravirtual"}}, {Name: string(AttrTypeName), Values: []string{"t*"}}},
			[]string{"t1.micro"}},
		{[]filter.Filter{{Name: string(AttrTypeBareMetal), Values: []string{"true"}}, {Name: string(AttrTypeName), Values: []string{"c7*"}}},
			[]string{"c7a.metal-48xl", "c7g.metal", "c7i.metal-24xl", "c7i.metal-48xl"}},
		{[]filter.Filter{{Name: string(AttrTypeCurrent), Values: []string{"false"}}, {Name: string(AttrTypeName), Values: []string{"m*"}}},
			[]string{"m1.large", "m1.medium", "m1.small", "m1.xlarge", "m2.2xlarge", "m2.4xlarge", "m2.xlarge", "m3.2xlarge", "m3.large", "m3.medium", "m3.xlarge"}},
	} {
		got, _, err := f.machines.DescribeInstanceTypes(ctx, f.p, nil, c.filters, Page{})
		if err != nil || !slices.Equal(names(got), c.want) {
			t.Errorf("DescribeInstanceTypes %v: %v %v, want %v", c.filters, names(got), err, c.want)
		}
	}
	// Every type, a page of 100 at a time.
	var all []string
	pg := Page{MaxResults: 100}
	for {
		page, next, err := f.machines.DescribeInstanceTypes(ctx, f.p, nil, nil, pg)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, names(page)...)
		if next == "" {
			break
		}
		pg.NextToken = next
	}
	if len(all) != len(instanceTypes) {
		t.Fatalf("pages of 100 held %d types, want %d", len(all), len(instanceTypes))
	}
	if _, _, err := f.machines.DescribeInstanceTypes(ctx, f.p, []string{"t2.nano", "m9.huge"}, nil, Page{}); openami.ClassOf(err) != openami.InvalidParameter {
		t.Fatalf("DescribeInstanceTypes of an unknown type: %v, want InvalidParameter", err)
	}
}

// TestDescribeInstanceTypeOfferings: the catalog's types are offered in
// the caller's region and each of its zones, by name or id, filtered by
// location and type, in pages; an unknown location type is refused.
func TestDescribeInstanceTypeOfferings(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	all, next, err := f.machines.DescribeInstanceTypeOfferings(ctx, f.p, "", nil, Page{})
	if err != nil || next != "" || len(all) != len(instanceTypes) || all[0].LocationType != LocationRegion || all[0].Location != "us-east-1" {
		t.Fatalf("offerings by region: %d, %v %v", len(all), all[:min(1, len(all))], err)
	}
	byType := []filter.Filter{{Name: string(AttrOfferingInstanceType), Values: []string{"c7g.large", "t2.nano"}}}
	zones, _, err := f.machines.DescribeInstanceTypeOfferings(ctx, f.p, LocationZone, byType, Page{})
	if err != nil || len(zones) == 0 || len(zones)%2 != 0 || zones[0].InstanceType != "c7g.large" || zones[0].Location != "us-east-1a" ||
		zones[len(zones)-1].InstanceType != "t2.nano" {
		t.Fatalf("offerings by zone: %+v %v", zones, err)
	}
	ids, _, err := f.machines.DescribeInstanceTypeOfferings(ctx, f.p, LocationZoneID,
		append(byType, filter.Filter{Name: string(AttrOfferingLocation), Values: []string{"use1-az1"}}), Page{})
	if err != nil || len(ids) != 2 || ids[0] != (Offering{"c7g.large", LocationZoneID, "use1-az1"}) {
		t.Fatalf("offerings by zone id in use1-az1: %+v %v", ids, err)
	}
	var paged []Offering
	pg := Page{MaxResults: 5}
	for {
		page, next, err := f.machines.DescribeInstanceTypeOfferings(ctx, f.p, LocationZone, byType, pg)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if next == "" {
			break
		}
		pg.NextToken = next
	}
	if !slices.Equal(paged, zones) {
		t.Fatalf("offerings in pages of 5: %+v, want %+v", paged, zones)
	}
	if _, _, err := f.machines.DescribeInstanceTypeOfferings(ctx, f.p, "galaxy", nil, Page{}); openami.ClassOf(err) != openami.InvalidParameter {
		t.Fatalf("location type galaxy: %v, want InvalidParameter", err)
	}
	if _, _, err := f.machines.DescribeInstanceTypeOfferings(ctx, f.p, "", []filter.Filter{{Name: "nope", Values: []string{"x"}}}, Page{}); err == nil {
		t.Fatal("an unknown filter was accepted")
	}
}
