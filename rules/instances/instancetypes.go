package instances

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/describe"
)

// InstanceType is one entry of the instance-type catalog: what an instance
// of the type gets (vCPUs and memory, which the qemu runtime gives its VM,
// capped to the host) and what images it can run (architectures,
// virtualization types, boot modes).
type InstanceType struct {
	Name           string
	VCPUs          int
	MemoryMiB      int64
	Architectures  []string
	Virtualization []string // hvm, paravirtual
	BootModes      []string // legacy-bios, uefi
	Hypervisor     string   // nitro or xen
	Burstable      bool     // T family: credit specifications apply
	FreeTier       bool
	// InstanceStore is the instance-store disks every instance of the
	// type gets: Count disks of SizeGB each.
	InstanceStore struct {
		Count  int
		SizeGB int64
		Type   string // ssd or hdd
		NVMe   bool   // NVMe disks come with every instance, mapped or not
	}
	ClockGHz float64
}

// instanceTypes is the catalog: a practical subset of real families, from
// AWS's published specifications. Each family is here for what it
// exercises: t3/t2 burstable x86 (t2 and m1 also Xen and legacy BIOS only,
// m1.small paravirtual), t4g/m6g/c6g arm64 with UEFI only, m5/c5/r5 plain
// x86 Nitro, m5d NVMe instance storage, m1.small an HDD instance store.
var instanceTypes = func() []InstanceType {
	x86 := []string{"x86_64"}
	arm := []string{"arm64"}
	both := []string{"legacy-bios", "uefi"}
	uefi := []string{"uefi"}
	bios := []string{"legacy-bios"}
	hvm := []string{"hvm"}
	t := func(name string, vcpu int, mem int64, arch, boot []string, ghz float64) InstanceType {
		return InstanceType{Name: name, VCPUs: vcpu, MemoryMiB: mem, Architectures: arch, Virtualization: hvm,
			BootModes: boot, Hypervisor: "nitro", ClockGHz: ghz}
	}
	burst := func(it InstanceType) InstanceType { it.Burstable = true; return it }
	free := func(it InstanceType) InstanceType { it.FreeTier = true; return it }
	store := func(it InstanceType, count int, size int64, typ string, nvme bool) InstanceType {
		it.InstanceStore.Count, it.InstanceStore.SizeGB, it.InstanceStore.Type, it.InstanceStore.NVMe = count, size, typ, nvme
		return it
	}
	xen := func(it InstanceType) InstanceType { it.Hypervisor = "xen"; return it }
	list := []InstanceType{
		xen(burst(free(t("t2.micro", 1, 1024, []string{"i386", "x86_64"}, bios, 2.5)))),
		xen(burst(t("t2.small", 1, 2048, []string{"i386", "x86_64"}, bios, 2.5))),
		burst(t("t3.nano", 2, 512, x86, both, 2.5)),
		burst(free(t("t3.micro", 2, 1024, x86, both, 2.5))),
		burst(t("t3.small", 2, 2048, x86, both, 2.5)),
		burst(t("t3.medium", 2, 4096, x86, both, 2.5)),
		burst(t("t3.large", 2, 8192, x86, both, 2.5)),
		burst(t("t3.xlarge", 4, 16384, x86, both, 2.5)),
		burst(t("t3.2xlarge", 8, 32768, x86, both, 2.5)),
		burst(t("t4g.nano", 2, 512, arm, uefi, 2.5)),
		burst(free(t("t4g.micro", 2, 1024, arm, uefi, 2.5))),
		burst(t("t4g.small", 2, 2048, arm, uefi, 2.5)),
		burst(t("t4g.medium", 2, 4096, arm, uefi, 2.5)),
		t("m5.large", 2, 8192, x86, both, 3.1),
		t("m5.xlarge", 4, 16384, x86, both, 3.1),
		t("m5.2xlarge", 8, 32768, x86, both, 3.1),
		store(t("m5d.large", 2, 8192, x86, both, 3.1), 1, 75, "ssd", true),
		store(t("m5d.xlarge", 4, 16384, x86, both, 3.1), 1, 150, "ssd", true),
		t("c5.large", 2, 4096, x86, both, 3.4),
		t("c5.xlarge", 4, 8192, x86, both, 3.4),
		t("r5.large", 2, 16384, x86, both, 3.1),
		t("m6g.medium", 1, 4096, arm, uefi, 2.5),
		t("m6g.large", 2, 8192, arm, uefi, 2.5),
		t("c6g.large", 2, 4096, arm, uefi, 2.5),
	}
	m1 := xen(store(t("m1.small", 1, 1740, []string{"i386", "x86_64"}, bios, 0), 1, 160, "hdd", false))
	m1.Virtualization = []string{"hvm", "paravirtual"}
	return append(list, m1)
}()

// LookupInstanceType returns the catalog's entry for name, and whether
// there is one.
func LookupInstanceType(name string) (InstanceType, bool) {
	i := slices.IndexFunc(instanceTypes, func(it InstanceType) bool { return it.Name == name })
	if i < 0 {
		return InstanceType{}, false
	}
	return instanceTypes[i], true
}

// The attributes of an instance type that DescribeInstanceTypes' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrTypeBurstable      filter.Attr = "typeBurstable"
	AttrTypeCurrent        filter.Attr = "typeCurrent"
	AttrTypeFreeTier       filter.Attr = "typeFreeTier"
	AttrTypeHypervisor     filter.Attr = "typeHypervisor"
	AttrTypeInstanceStore  filter.Attr = "typeInstanceStore"
	AttrTypeName           filter.Attr = "typeName"
	AttrTypeMemoryMiB      filter.Attr = "typeMemoryMiB"
	AttrTypeArchitecture   filter.Attr = "typeArchitecture"
	AttrTypeBootMode       filter.Attr = "typeBootMode"
	AttrTypeRootDeviceType filter.Attr = "typeRootDeviceType"
	AttrTypeVirtualization filter.Attr = "typeVirtualization"
	AttrTypeVCPUs          filter.Attr = "typeVCPUs"
)

// InstanceTypeAttrs are the attributes DescribeInstanceTypes filters by. Read-only.
var InstanceTypeAttrs = []filter.Attr{
	AttrTypeBurstable, AttrTypeCurrent, AttrTypeFreeTier, AttrTypeHypervisor, AttrTypeInstanceStore,
	AttrTypeName, AttrTypeMemoryMiB, AttrTypeArchitecture, AttrTypeBootMode, AttrTypeRootDeviceType,
	AttrTypeVirtualization, AttrTypeVCPUs,
}

func (it InstanceType) filterValues(name filter.Attr) []string {
	b := strconv.FormatBool
	switch name {
	case AttrTypeBurstable:
		return []string{b(it.Burstable)}
	case AttrTypeCurrent:
		return []string{b(it.Hypervisor == "nitro")}
	case AttrTypeFreeTier:
		return []string{b(it.FreeTier)}
	case AttrTypeHypervisor:
		return []string{it.Hypervisor}
	case AttrTypeInstanceStore:
		return []string{b(it.InstanceStore.Count > 0)}
	case AttrTypeName:
		return []string{it.Name}
	case AttrTypeMemoryMiB:
		return []string{strconv.FormatInt(it.MemoryMiB, 10)}
	case AttrTypeArchitecture:
		return it.Architectures
	case AttrTypeBootMode:
		return it.BootModes
	case AttrTypeRootDeviceType:
		return []string{"ebs"}
	case AttrTypeVirtualization:
		return it.Virtualization
	case AttrTypeVCPUs:
		return []string{strconv.Itoa(it.VCPUs)}
	}
	return nil
}

// DescribeInstanceTypes returns a page of the catalog: every type, or
// those named (an unknown name is InvalidInstanceType), narrowed by
// filters.
func (s *Machines) DescribeInstanceTypes(ctx context.Context, p openami.Principal, names []string, filters []filter.Filter, pg Page) ([]InstanceType, string, error) {
	fs, err := filter.Compile(filters, InstanceTypeAttrs...)
	if err != nil {
		return nil, "", err
	}
	var unknown []string
	for _, n := range names {
		if _, ok := LookupInstanceType(n); !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, "", openami.Errorf(openami.InvalidParameter, "", "The following supplied instance types do not exist: [%s]", strings.Join(unknown, ", "))
	}
	name := func(it InstanceType) string { return it.Name }
	scope := describe.Scope("DescribeInstanceTypes", p, filters, strings.Join(names, ","))
	return describe.List(s.tokens, scope, pg, describe.Bounds{Min: 5, Max: 100}, describe.Slice(sortedInstanceTypes(), names, name), name,
		func(it InstanceType) bool { return fs.Match(it.filterValues, nil) })
}

// sortedInstanceTypes returns the catalog in name order, as pages need.
func sortedInstanceTypes() []InstanceType {
	list := slices.Clone(instanceTypes)
	slices.SortFunc(list, func(a, b InstanceType) int { return strings.Compare(a.Name, b.Name) })
	return list
}
