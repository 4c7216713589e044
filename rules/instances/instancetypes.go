package instances

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
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
	Architectures  []string // i386, x86_64, arm64
	Virtualization []string // hvm, paravirtual
	BootModes      []string // legacy-bios, uefi
	Hypervisor     string   // nitro or xen; "" for bare metal
	BareMetal      bool
	// CurrentGeneration is false for the previous generations AWS still
	// runs (m1, m3, c3, t1, …).
	CurrentGeneration bool
	Burstable         bool // T family: credit specifications apply
	FreeTier          bool
	// InstanceStore is the instance-store disks every instance of the
	// type gets: Count disks of SizeGB each (Count 0: EBS only). The
	// total is Count × SizeGB (TotalGB).
	InstanceStore InstanceStoreDisks
}

// InstanceStoreDisks is an instance type's instance store.
type InstanceStoreDisks struct {
	Count  int
	SizeGB int64
	Type   string // ssd or hdd
	NVMe   bool   // NVMe disks come with every instance, mapped or not
}

// StoreNVMeSupport is whether an instance store's disks are NVMe, in the
// words of DescribeInstanceTypes' nvmeSupport: required or unsupported.
func StoreNVMeSupport(d InstanceStoreDisks) string {
	if d.NVMe {
		return "required"
	}
	return "unsupported"
}

// instanceStoreRootFamilies are the instance families whose types take an
// instance-store root device (an instance store-backed AMI), as EC2 has
// it: C1, C3, D2, I2, M1, M2, M3, R3 and X1.
var instanceStoreRootFamilies = map[string]bool{"c1": true, "c3": true, "d2": true, "i2": true, "m1": true, "m2": true, "m3": true, "r3": true, "x1": true}

// RootDeviceTypes are the root device types the type supports: ebs, and
// instance-store for the families EC2 launches instance store-backed
// AMIs on.
func (it InstanceType) RootDeviceTypes() []string {
	family, _, _ := strings.Cut(it.Name, ".")
	if instanceStoreRootFamilies[family] {
		return []string{"ebs", "instance-store"}
	}
	return []string{"ebs"}
}

// TotalGB is the size of all the type's instance-store disks together.
func (d InstanceStoreDisks) TotalGB() int64 { return int64(d.Count) * d.SizeGB }

// EBSOnly reports whether the type has no instance store.
func (it InstanceType) EBSOnly() bool { return it.InstanceStore.Count == 0 }

// catalogTSV is the catalog's data: one instance type a line, written by
// scripts/instancetypes/extract.py from AWS's EC2 documentation (the
// source and date are in the file's header and the script's doc).
//
//go:embed instancetypes.tsv
var catalogTSV string

// instanceTypes is the catalog, in name order: the general purpose,
// compute, memory and storage optimized families of the current and
// previous generations (accelerated and Mac types are left out).
var instanceTypes = mustParseCatalog(catalogTSV)

// mustParseCatalog parses the catalog's TSV; a malformed file is a bug
// of the build (TestInstanceTypeCatalog reads every line), so it panics.
func mustParseCatalog(data string) []InstanceType {
	list, err := parseCatalog(data)
	if err != nil {
		panic(err)
	}
	return list
}

// catalogColumns are the columns of the catalog's TSV.
var catalogColumns = []string{"name", "vcpus", "memory_mib", "architectures", "virtualization", "boot_modes", "hypervisor",
	"bare_metal", "current_generation", "burstable", "free_tier", "store_count", "store_size_gb", "store_type", "store_nvme"}

// parseCatalog parses the catalog's TSV: '#' comment lines, a header line,
// then one type a line, the columns in the header's order.
func parseCatalog(data string) ([]InstanceType, error) {
	var (
		out    []InstanceType
		header []string
	)
	for n, line := range strings.Split(data, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cells := strings.Split(line, "\t")
		if header == nil {
			header = cells
			for _, c := range catalogColumns {
				if !slices.Contains(header, c) {
					return nil, fmt.Errorf("instancetypes.tsv:%d: no column %s", n+1, c)
				}
			}
			continue
		}
		if len(cells) != len(header) {
			return nil, fmt.Errorf("instancetypes.tsv:%d: %d columns, want %d", n+1, len(cells), len(header))
		}
		col := func(name string) string { return cells[slices.Index(header, name)] }
		var errs []error
		num := func(name string) int64 {
			v, err := strconv.ParseInt(col(name), 10, 64)
			errs = append(errs, err)
			return v
		}
		flag := func(name string) bool {
			v, err := strconv.ParseBool(col(name))
			errs = append(errs, err)
			return v
		}
		list := func(name string) []string { return strings.Split(col(name), ",") }
		it := InstanceType{
			Name: col("name"), VCPUs: int(num("vcpus")), MemoryMiB: num("memory_mib"),
			Architectures: list("architectures"), Virtualization: list("virtualization"), BootModes: list("boot_modes"),
			Hypervisor: col("hypervisor"), BareMetal: flag("bare_metal"), CurrentGeneration: flag("current_generation"),
			Burstable: flag("burstable"), FreeTier: flag("free_tier"),
			InstanceStore: InstanceStoreDisks{Count: int(num("store_count")), SizeGB: num("store_size_gb"),
				Type: col("store_type"), NVMe: flag("store_nvme")},
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("instancetypes.tsv:%d: %w", n+1, err)
		}
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b InstanceType) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// LookupInstanceType returns the catalog's entry for name, and whether
// there is one.
func LookupInstanceType(name string) (InstanceType, bool) {
	i, ok := slices.BinarySearchFunc(instanceTypes, name, func(it InstanceType, name string) int { return strings.Compare(it.Name, name) })
	if !ok {
		return InstanceType{}, false
	}
	return instanceTypes[i], true
}

// The attributes of an instance type that DescribeInstanceTypes' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrTypeBareMetal      filter.Attr = "typeBareMetal"
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
	// The instance store's disks: their count, size and type (hdd, ssd),
	// whether they are NVMe (required, unsupported) and their total size.
	AttrTypeStoreDiskCount filter.Attr = "typeStoreDiskCount"
	AttrTypeStoreDiskSize  filter.Attr = "typeStoreDiskSize"
	AttrTypeStoreDiskType  filter.Attr = "typeStoreDiskType"
	AttrTypeStoreNVMe      filter.Attr = "typeStoreNVMe"
	AttrTypeStoreTotal     filter.Attr = "typeStoreTotal"
)

// InstanceTypeAttrs are the attributes DescribeInstanceTypes filters by. Read-only.
var InstanceTypeAttrs = []filter.Attr{
	AttrTypeBareMetal, AttrTypeBurstable, AttrTypeCurrent, AttrTypeFreeTier, AttrTypeHypervisor, AttrTypeInstanceStore,
	AttrTypeName, AttrTypeMemoryMiB, AttrTypeArchitecture, AttrTypeBootMode, AttrTypeRootDeviceType,
	AttrTypeVirtualization, AttrTypeVCPUs, AttrTypeStoreDiskCount, AttrTypeStoreDiskSize, AttrTypeStoreDiskType,
	AttrTypeStoreNVMe, AttrTypeStoreTotal,
}

func (it InstanceType) filterValues(name filter.Attr) []string {
	b := strconv.FormatBool
	st := it.InstanceStore
	switch name {
	case AttrTypeBareMetal:
		return []string{b(it.BareMetal)}
	case AttrTypeStoreDiskCount, AttrTypeStoreDiskSize, AttrTypeStoreDiskType, AttrTypeStoreNVMe, AttrTypeStoreTotal:
		if st.Count == 0 {
			return nil // EBS only: no instance store to match
		}
		switch name {
		case AttrTypeStoreDiskCount:
			return []string{strconv.Itoa(st.Count)}
		case AttrTypeStoreDiskSize:
			return []string{strconv.FormatInt(st.SizeGB, 10)}
		case AttrTypeStoreDiskType:
			return []string{st.Type}
		case AttrTypeStoreNVMe:
			return []string{StoreNVMeSupport(st)}
		}
		return []string{strconv.FormatInt(st.TotalGB(), 10)}
	case AttrTypeBurstable:
		return []string{b(it.Burstable)}
	case AttrTypeCurrent:
		return []string{b(it.CurrentGeneration)}
	case AttrTypeFreeTier:
		return []string{b(it.FreeTier)}
	case AttrTypeHypervisor:
		return []string{it.Hypervisor}
	case AttrTypeInstanceStore:
		return []string{b(st.Count > 0)}
	case AttrTypeName:
		return []string{it.Name}
	case AttrTypeMemoryMiB:
		return []string{strconv.FormatInt(it.MemoryMiB, 10)}
	case AttrTypeArchitecture:
		return it.Architectures
	case AttrTypeBootMode:
		return it.BootModes
	case AttrTypeRootDeviceType:
		return it.RootDeviceTypes()
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
func sortedInstanceTypes() []InstanceType { return instanceTypes }
