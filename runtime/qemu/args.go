package qemu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/openami/openami"
)

// machine is everything the QEMU command line of one VM is made from.
type machine struct {
	Name      string // the instance id
	Dir       string // the VM's directory: console, sockets, UEFI variables
	Accel     string // kvm or tcg
	VCPUs     int
	MemoryMiB int64
	// UEFI boots OVMF (CodePath read-only, VarsPath the VM's own copy of
	// the variable store); otherwise SeaBIOS, QEMU's default firmware.
	UEFI               bool
	CodePath, VarsPath string
	NBDSocket          string
	// Exports are the NBD export names of the VM's disks, the root
	// volume first (the guest's first virtio disk, /dev/vda).
	Exports []string
	MAC     string
	// NetFD is the file descriptor, in QEMU, of its end of the stream
	// socket to the VM's network (runtime/vnet), or of its tap (NetTap:
	// runtime/bridge).
	NetFD  int
	NetTap bool
	// Kernel, Initrd and Append boot a paravirtual guest's kernel
	// directly (QEMU's -kernel, -initrd, -append); empty for HVM guests,
	// which boot from their root volume.
	Kernel, Initrd, Append string

	// InstanceType is the instance's type, the guest's SMBIOS product
	// name (smbios).
	InstanceType string
}

// optValue escapes a value for QEMU's option syntax: a comma is doubled.
func optValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// args returns QEMU's arguments (without the program name) for m.
//
// Choices: no default devices (-nodefaults) and no display; the serial
// console on QEMU's stdout (the runtime reads and bounds it); QMP on a
// unix socket in the VM's directory; every disk an NBD export of
// openami's, with a write-back cache (the guest's flushes are what make
// writes durable, one metadata transaction each); virtio disks and NIC,
// the drivers every cloud image has; the NIC on a stream socket that
// QEMU inherits, whose other end is the VM's own network (runtime/vnet:
// the VPC's gateway, DHCP, DNS and metadata service).
func args(m machine) []string {
	a := []string{
		"-name", "guest=" + optValue(m.Name) + ",debug-threads=off",
		"-no-user-config", "-nodefaults", "-display", "none",
		"-accel", m.Accel,
		"-smp", strconv.Itoa(m.VCPUs),
		"-m", strconv.FormatInt(m.MemoryMiB, 10),
		"-rtc", "base=utc",
		"-chardev", "stdio,id=console,signal=off",
		"-serial", "chardev:console",
		"-qmp", "unix:" + optValue(filepath.Join(m.Dir, "qmp.sock")) + ",server=on,wait=off",
	}
	if m.Accel == "kvm" {
		a = append(a, "-cpu", "host")
	}
	if m.UEFI {
		a = append(a, "-machine", "q35",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+optValue(m.CodePath),
			"-drive", "if=pflash,format=raw,unit=1,file="+optValue(m.VarsPath))
	} else {
		a = append(a, "-machine", "pc")
	}
	a = append(a, smbios(m)...)
	if m.Kernel != "" {
		a = append(a, "-kernel", m.Kernel, "-append", m.Append)
		if m.Initrd != "" {
			a = append(a, "-initrd", m.Initrd)
		}
	}
	for i, export := range m.Exports {
		id := "disk" + strconv.Itoa(i)
		a = append(a,
			"-drive", "driver=nbd,server.type=unix,server.path="+optValue(m.NBDSocket)+",export="+optValue(export)+
				",cache=writeback,if=none,id="+id,
			"-device", "virtio-blk-pci,drive="+id+bootIndex(i, m.Kernel != ""))
	}
	if m.NetTap {
		a = append(a, "-netdev", "tap,id=net0,fd="+strconv.Itoa(m.NetFD))
	} else {
		a = append(a, "-netdev", "stream,id=net0,server=off,addr.type=fd,addr.str="+strconv.Itoa(m.NetFD))
	}
	a = append(a, "-device", "virtio-net-pci,netdev=net0,romfile=,mac="+m.MAC)
	return a
}

// smbios returns the -smbios arguments that make the guest's firmware
// tables read as an EC2 instance's: "Amazon EC2" as the BIOS vendor and
// the system, board and chassis manufacturer, the instance type as the
// product name, the instance id as the board's asset tag (as on Nitro
// instances), and a system UUID beginning with "ec2" that the serial
// number repeats. cloud-init's ds-identify (and its Ec2 datasource)
// identify AWS by exactly that: product_uuid and product_serial both
// start with "ec2" and are equal, ignoring case; the guest then uses its
// Ec2 datasource with no configuration of its own, and IMDSv2 tokens.
func smbios(m machine) []string {
	const vendor = "Amazon EC2"
	uuid := systemUUID(m.Name)
	return []string{
		"-smbios", "type=0,vendor=" + vendor + ",version=1.0",
		"-smbios", "type=1,manufacturer=" + vendor + ",product=" + optValue(m.InstanceType) +
			",serial=" + uuid + ",uuid=" + uuid,
		"-smbios", "type=2,manufacturer=" + vendor + ",asset=" + optValue(m.Name),
		"-smbios", "type=3,manufacturer=" + vendor + ",asset=" + vendor,
	}
}

// systemUUID derives an instance's SMBIOS system UUID from its id, the
// same on every start: a SHA-256 of the id shaped as a UUID whose first
// three hex digits are "ec2", as EC2's are.
func systemUUID(instanceID string) string {
	sum := sha256.Sum256([]byte("openami smbios uuid\x00" + instanceID))
	h := "ec2" + hex.EncodeToString(sum[:16])[3:]
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// bootIndex makes the root disk the first to boot, unless QEMU boots a
// kernel directly (its loader takes boot index 0).
func bootIndex(i int, kernel bool) string {
	if i == 0 && !kernel {
		return ",bootindex=0"
	}
	return ""
}

// exports returns the NBD export names of an instance's disks in the
// order the guest sees them: the root volume (or instance-store root,
// INSTANCE/root) first, then the other EBS
// volumes by device name, then the instance-store disks (INSTANCE/ephemeralN).
func exports(inst openami.Instance) []string {
	devs := slices.Clone(inst.BlockDevices)
	slices.SortStableFunc(devs, func(a, b openami.InstanceBlockDevice) int {
		ra, rb := a.DeviceName == inst.RootDeviceName, b.DeviceName == inst.RootDeviceName
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return strings.Compare(a.DeviceName, b.DeviceName)
	})
	var out []string
	if inst.RootBundle != nil {
		out = append(out, inst.ID+"/root") // an instance-store root
	}
	for _, d := range devs {
		out = append(out, d.VolumeID)
	}
	stores := slices.Clone(inst.InstanceStores)
	slices.SortStableFunc(stores, func(a, b openami.InstanceStore) int { return strings.Compare(a.DeviceName, b.DeviceName) })
	for _, st := range stores {
		out = append(out, fmt.Sprintf("%s/%s", inst.ID, st.VirtualName))
	}
	return out
}
