package instances

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/network"
	"github.com/openami/openami/rules/param"
	"github.com/openami/openami/rules/templates"
)

// EbsOverride is the EBS part of a RunInstances mapping: nil or zero
// fields keep what the image's mapping says.
type EbsOverride struct {
	SnapshotID          string
	VolumeSize          int64
	VolumeType          string
	Iops                *int
	Throughput          *int
	DeleteOnTermination *bool
	Encrypted           *bool
	KmsKeyID            string
}

// MappingOverride is one of RunInstances' BlockDeviceMappings: it changes
// the image's mapping of DeviceName (an EBS volume's size, type or
// DeleteOnTermination; NoDevice drops it) or adds a device.
type MappingOverride struct {
	DeviceName  string
	VirtualName string
	NoDevice    bool
	Ebs         *EbsOverride
}

// RunInstancesInput are RunInstances' parameters.
type RunInstancesInput struct {
	ImageID             string
	InstanceType        string // "" means m1.small, as EC2's default
	KeyName             string
	MinCount, MaxCount  int
	UserData            []byte // decoded
	BlockDeviceMappings []MappingOverride
	AvailabilityZone    string
	SubnetID            string
	SecurityGroupIDs    []string
	SecurityGroups      []string // names
	// PrivateIPAddress is the address to give the (one) instance; "" picks
	// the subnet's lowest free one.
	PrivateIPAddress string
	// CPUCredits is a burstable type's credit option, "" for the type's
	// default.
	CPUCredits   string
	InstanceTags []openami.Tag
	VolumeTags   []openami.Tag
	ClientToken  string
	// MetadataOptions: empty fields take the defaults (HttpTokens from the
	// image's ImdsSupport).
	MetadataOptions openami.MetadataOptions
	EbsOptimized    bool
	// Monitoring is Monitoring.Enabled: recorded (openami.Instance.Monitored).
	Monitoring                        bool
	DisableAPITermination             bool
	DisableAPIStop                    bool
	InstanceInitiatedShutdownBehavior string
	// Given says which of the flags above the request gave, false
	// included: those a launch template may not override.
	Given Given
	// LaunchTemplate, when not nil, names the launch template version
	// whose data the launch takes for every parameter it leaves out
	// (launchtemplate.go); its instances are tagged with the template's
	// id and version.
	LaunchTemplate *templates.Ref
	// SystemTags are tags a launcher inside openami puts on its instances
	// beside the caller's (Auto Scaling's aws:autoscaling:groupName),
	// which the API never sets: a caller may not give aws: tags.
	SystemTags []openami.Tag

	// templateTags are the aws:ec2launchtemplate tags of a launch from a
	// template, which a caller may not give.
	templateTags []openami.Tag
}

// Given marks the flags of RunInstancesInput a request gave, so that a
// launch template's value yields to a given false as to a given true.
type Given struct {
	EbsOptimized, DisableAPITermination, DisableAPIStop bool
}

// InstanceView is an instance with the caller's tags on it.
type InstanceView struct {
	openami.Instance
	Tags []openami.Tag
}

// Reservation is the instances one RunInstances launched.
type Reservation struct {
	ID        string
	AccountID string
	Instances []InstanceView
}

// maxLaunch is the most instances one RunInstances launches.
const maxLaunch = 100

// maxUserData is EC2's limit on user data, decoded.
const maxUserData = 16 << 10

// terminatedVisible is how long a terminated instance stays in
// DescribeInstances, as on EC2 (about an hour).
const terminatedVisible = time.Hour

func checkInstanceID(id string) error {
	if !ids.Valid("i", id) {
		return openami.Errorf(openami.Malformed, openami.ResourceInstance, "Invalid id: \"%s\"", id)
	}
	return nil
}

func instanceNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceInstance, "The instance ID '%s' does not exist", id)
}

// instancesNotFound is NotFound naming every missing instance, worded as
// EC2 words it: singular for one ("The instance ID 'i-1' does not
// exist"), "The instance IDs 'i-1, i-2' do not exist" for several.
func instancesNotFound(ids []string) error {
	if len(ids) == 1 {
		return instanceNotFound(ids[0])
	}
	return openami.Errorf(openami.NotFound, openami.ResourceInstance, "The instance IDs '%s' do not exist", strings.Join(ids, ", "))
}

// ownedInstance returns the caller's instance, NotFound for anyone else's.
func ownedInstance(tx metadata.Tx, p openami.Principal, id string) (openami.Instance, error) {
	if err := checkInstanceID(id); err != nil {
		return openami.Instance{}, err
	}
	i, err := tx.Instances().Get(p.Region, id)
	if errors.Is(err, openami.ErrNotFound) || err == nil && i.AccountID != p.AccountID {
		return openami.Instance{}, instanceNotFound(id)
	}
	return i, err
}

// launchPlan is what RunInstances decided before it creates anything: the
// image, the type, the place, and each device of every instance.
type launchPlan struct {
	img       openami.Image
	it        InstanceType
	zone      string
	subnet    openami.Subnet
	groups    []string
	mappings  []openami.BlockDeviceMapping // EBS devices, root first
	snapshots map[string]openami.Snapshot
	stores    []openami.InstanceStore
	meta      openami.MetadataOptions
	// refill names the devices whose volumes are under another key than
	// their snapshots' (filled in the background); fills collects the
	// volumes made for them.
	refill map[string]bool
	fills  []string
}

// RunInstances launches between MinCount and MaxCount instances of an
// image the caller may launch: as many as the host's pool of public
// addresses has room for (InsufficientAddressCapacity below MinCount),
// at most maxLaunch per call. Every EBS device becomes a new
// volume over its snapshot's block map, copying no data, so launching
// costs the same whatever the image's size. A LaunchTemplate gives the
// parameters in leaves out. The instances start pending;
// the runtime moves them on. A repeated ClientToken returns the
// instances it launched the first time.
func (s *Machines) RunInstances(ctx context.Context, p openami.Principal, in RunInstancesInput) (Reservation, error) {
	in.templateTags = nil
	if in.LaunchTemplate != nil {
		var err error
		if in, err = s.withTemplate(ctx, p, in); err != nil {
			return Reservation{}, err
		}
	}
	in.templateTags = append(in.templateTags, in.SystemTags...)
	if in.InstanceType == "" {
		in.InstanceType = "m1.small"
	}
	if err := checkRunInput(&in); err != nil {
		return Reservation{}, err
	}
	it, ok := LookupInstanceType(in.InstanceType)
	if !ok {
		return Reservation{}, openami.Errorf(openami.InvalidParameter, "", "The following supplied instance types do not exist: [%s]", in.InstanceType)
	}
	placed := launchPlan{it: it}
	count := min(in.MaxCount, maxLaunch)
	now := s.nowUTC()
	var (
		out   Reservation
		fills []string
	)
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		// Everything the transaction decides starts afresh on each
		// attempt: the store may run this function again.
		plan := placed
		plan.snapshots = map[string]openami.Snapshot{}
		plan.refill = map[string]bool{}
		out, fills = Reservation{}, nil
		// An image id given as resolve:ssm:NAME is the parameter's value
		// (rules/parameters), read in this transaction.
		imageID, err := s.resolveImage(tx, p, in.ImageID)
		if err != nil {
			return err
		}
		if in.ClientToken != "" {
			prev, err := tx.Instances().ByClientToken(p.Region, p.AccountID, in.ClientToken)
			if err != nil {
				return err
			}
			if len(prev) > 0 {
				if prev[0].ImageID != imageID || prev[0].InstanceType != in.InstanceType {
					return param.TokenReused(openami.ResourceInstance, in.ClientToken)
				}
				out = Reservation{ID: prev[0].ReservationID, AccountID: p.AccountID}
				tags, err := tx.Tags().Of(p.Region, p.AccountID, describe.IDs(prev, func(i openami.Instance) string { return i.ID }))
				for _, i := range prev {
					out.Instances = append(out.Instances, InstanceView{Instance: i, Tags: tags[i.ID]})
				}
				byLaunchIndex(out.Instances)
				return err
			}
		}
		if plan.img, err = s.images.LaunchableImage(tx, p, imageID); err != nil {
			return err
		}
		// The subnet, zone and security groups (rules/network).
		plan.subnet, plan.groups, err = s.networks.Placement(tx, p, network.PlacementInput{SubnetID: in.SubnetID,
			Zone: in.AvailabilityZone, GroupIDs: in.SecurityGroupIDs, GroupNames: in.SecurityGroups})
		if err != nil {
			return err
		}
		plan.zone = plan.subnet.AvailabilityZone
		if t := plan.img.ImageType; t != "" && t != "machine" {
			return openami.Errorf(openami.InvalidParameter, "", "The image '%s' is a %s image: only machine images can be launched.", plan.img.ID, t)
		}
		if err := checkCompatible(plan.img, plan.it); err != nil {
			return err
		}
		if plan.img.RootDeviceType == "instance-store" {
			if err := checkStoreRoot(plan.img, plan.it); err != nil {
				return err
			}
		}
		if in.KeyName != "" {
			if _, err := s.identity.KeyPairNamed(tx, p.Region, p.AccountID, in.KeyName); err != nil {
				return err
			}
		}
		if err := s.planDevices(tx, p, in, &plan); err != nil {
			return err
		}
		if plan.meta, err = metadataOptions(in.MetadataOptions, plan.img); err != nil {
			return err
		}
		// As many as the public pool has addresses for, MinCount at
		// least, as EC2 launches as many as its capacity allows.
		// On compute hosts with room, as many as fit (hosts.go).
		hosts, err := s.place(tx, plan.zone, plan.it, min(in.MinCount, count), count)
		if err != nil {
			return err
		}
		public, err := s.takePublicIPs(tx, min(in.MinCount, len(hosts)), len(hosts))
		if err != nil {
			return err
		}
		n := len(public)
		addrs, err := s.freeAddresses(tx, p, plan.subnet, n, in.PrivateIPAddress)
		if err != nil {
			return err
		}
		out = Reservation{ID: ids.New("r"), AccountID: p.AccountID}
		for k := range n {
			inst, err := s.launchOne(tx, p, in, &plan, out.ID, k, addrs[k], public[k], hosts[k], now)
			if err != nil {
				return err
			}
			out.Instances = append(out.Instances, InstanceView{Instance: inst, Tags: sortedTags(append(slices.Clone(in.InstanceTags), in.templateTags...))})
		}
		fills = plan.fills
		return s.images.Launched(tx, plan.img, now)
	})
	if err != nil {
		return Reservation{}, err
	}
	for _, id := range fills {
		s.ebs.StartFill(p.Region, id)
	}
	s.kick()
	return out, nil
}

// checkRunInput validates what RunInstances can check without the store.
func checkRunInput(in *RunInstancesInput) error {
	if in.MinCount < 1 || in.MaxCount < 1 {
		return openami.Errorf(openami.InvalidParameter, "", "MinCount and MaxCount must be at least 1.")
	}
	if in.MinCount > in.MaxCount {
		return openami.Errorf(openami.InvalidParameter, "", "MinCount (%d) must not be greater than MaxCount (%d).", in.MinCount, in.MaxCount)
	}
	if in.MinCount > maxLaunch {
		return openami.Errorf(openami.LimitExceeded, openami.ResourceInstance, "You may launch at most %d instances at once; you asked for at least %d.", maxLaunch, in.MinCount)
	}
	if in.ImageID == "" {
		return param.Missing("ImageID")
	}
	if len(in.UserData) > maxUserData {
		return openami.Errorf(openami.InvalidParameter, "", "User data is limited to %d bytes.", maxUserData)
	}
	switch in.InstanceInitiatedShutdownBehavior {
	case "":
		in.InstanceInitiatedShutdownBehavior = "stop"
	case "stop", "terminate":
	default:
		return param.OneOf("InstanceInitiatedShutdownBehavior", in.InstanceInitiatedShutdownBehavior, "stop", "terminate")
	}
	if in.CPUCredits != "" {
		if err := param.OneOf("CPUCredits", in.CPUCredits, "standard", "unlimited"); err != nil {
			return err
		}
	}
	if err := validateTags(in.InstanceTags); err != nil {
		return err
	}
	return validateTags(in.VolumeTags)
}

// defaultCredits is a burstable type's default credit option: standard
// for T2, unlimited for the later families, as on EC2.
func defaultCredits(it InstanceType) string {
	if strings.HasPrefix(it.Name, "t2.") {
		return "standard"
	}
	return "unlimited"
}

// checkCompatible refuses an image the instance type cannot run: another
// architecture, virtualization type, or a boot mode the type lacks.
func checkCompatible(img openami.Image, it InstanceType) error {
	if !slices.Contains(it.Architectures, img.Architecture) {
		return openami.Errorf(openami.InvalidParameter, "", "The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again.", strings.Join(it.Architectures, ", "), img.Architecture)
	}
	if !slices.Contains(it.Virtualization, img.VirtualizationType) {
		return openami.Errorf(openami.InvalidParameter, "", "The instance type '%s' does not support %s virtualization, which the image %s needs.", it.Name, img.VirtualizationType, img.ID)
	}
	if mode := bootMode(img, it); !slices.Contains(it.BootModes, mode) {
		return openami.Errorf(openami.InvalidParameter, "", "The instance type '%s' does not support boot mode %s, which the image %s needs.", it.Name, mode, img.ID)
	}
	return nil
}

// bootMode is how an instance of the type boots the image: its boot mode,
// with uefi-preferred resolved to UEFI where the type has it, and no boot
// mode meaning the architecture's default (UEFI on arm64).
func bootMode(img openami.Image, it InstanceType) string {
	switch img.BootMode {
	case "uefi-preferred":
		if slices.Contains(it.BootModes, "uefi") {
			return "uefi"
		}
		return "legacy-bios"
	case "":
		if img.Architecture == "arm64" {
			return "uefi"
		}
		return "legacy-bios"
	}
	return img.BootMode
}

// metadataOptions fills in the instance metadata service settings: the
// image's ImdsSupport v2.0 makes tokens required (and the hop limit 2), as
// on EC2.
func metadataOptions(o openami.MetadataOptions, img openami.Image) (openami.MetadataOptions, error) {
	if o.HttpTokens == "" {
		o.HttpTokens = "optional"
		if img.ImdsSupport == "v2.0" {
			o.HttpTokens = "required"
		}
	}
	if o.HttpPutResponseHopLimit == 0 {
		o.HttpPutResponseHopLimit = 1
		if img.ImdsSupport == "v2.0" {
			o.HttpPutResponseHopLimit = 2
		}
	}
	if o.HttpEndpoint == "" {
		o.HttpEndpoint = "enabled"
	}
	if o.InstanceMetadataTags == "" {
		o.InstanceMetadataTags = "disabled"
	}
	if o.HttpPutResponseHopLimit < 1 || o.HttpPutResponseHopLimit > 64 {
		return o, openami.Errorf(openami.InvalidParameter, "", "The HTTP PUT response hop limit must be between 1 and 64.")
	}
	return o, param.FirstError([]error{
		param.OneOf("HttpTokens", o.HttpTokens, "optional", "required"),
		param.OneOf("HttpEndpoint", o.HttpEndpoint, "enabled", "disabled"),
		param.OneOf("InstanceMetadataTags", o.InstanceMetadataTags, "enabled", "disabled"),
	})
}

// planDevices merges the image's block device mapping with the request's
// and decides every device: the EBS volumes (each checked against its
// snapshot) and the instance-store disks the type brings.
func (s *Machines) planDevices(tx metadata.Tx, p openami.Principal, in RunInstancesInput, plan *launchPlan) error {
	img := plan.img
	var merged []openami.BlockDeviceMapping
	for _, m := range img.BlockDeviceMappings {
		if m.Ebs != nil {
			e := *m.Ebs
			m.Ebs = &e
		}
		merged = append(merged, m)
	}
	for _, o := range in.BlockDeviceMappings {
		if o.DeviceName == "" {
			return images.BadMapping("Every block device mapping needs a DeviceName.")
		}
		if !images.IsDeviceName(o.DeviceName) {
			return images.BadMapping("Invalid device name %s.", o.DeviceName)
		}
		if img.Bundle != nil && o.DeviceName == img.RootDeviceName {
			return images.BadMapping("The root device %s of an instance store-backed image is its bundle: it cannot be mapped.", o.DeviceName)
		}
		i := slices.IndexFunc(merged, func(m openami.BlockDeviceMapping) bool { return m.DeviceName == o.DeviceName })
		switch {
		case o.NoDevice:
			if o.DeviceName == img.RootDeviceName {
				return images.BadMapping("The root device %s cannot be suppressed.", o.DeviceName)
			}
			if i >= 0 {
				merged = slices.Delete(merged, i, i+1)
			}
		case o.VirtualName != "":
			if !images.IsEphemeralName(o.VirtualName) {
				return images.BadMapping("Invalid virtual name %s: expecting ephemeral0 to ephemeral23.", o.VirtualName)
			}
			if o.DeviceName == img.RootDeviceName {
				return images.BadMapping("The root device %s must be an EBS volume.", o.DeviceName)
			}
			m := openami.BlockDeviceMapping{DeviceName: o.DeviceName, VirtualName: o.VirtualName}
			if i >= 0 {
				merged[i] = m
			} else {
				merged = append(merged, m)
			}
		case o.Ebs != nil:
			e := &openami.EbsBlockDevice{DeleteOnTermination: true}
			if i >= 0 && merged[i].Ebs != nil {
				e = merged[i].Ebs
			} else if o.Ebs.SnapshotID == "" && o.Ebs.VolumeSize == 0 {
				return images.BadMapping("The EBS mapping of %s needs a SnapshotId or a VolumeSize.", o.DeviceName)
			}
			applyEbsOverride(e, o.Ebs)
			m := openami.BlockDeviceMapping{DeviceName: o.DeviceName, Ebs: e}
			if i >= 0 {
				merged[i] = m
			} else {
				merged = append(merged, m)
			}
		default:
			return images.BadMapping("The mapping of %s must have one of Ebs, VirtualName and NoDevice.", o.DeviceName)
		}
	}

	for _, m := range merged {
		if m.Ebs == nil {
			if m.VirtualName != "" && !plan.it.InstanceStore.NVMe {
				n := 0
				fmt.Sscanf(m.VirtualName, "ephemeral%d", &n)
				if n < plan.it.InstanceStore.Count {
					plan.stores = append(plan.stores, openami.InstanceStore{DeviceName: m.DeviceName, VirtualName: m.VirtualName, Size: plan.it.InstanceStore.SizeGB})
				}
			}
			continue
		}
		e := m.Ebs
		var snap openami.Snapshot
		if e.SnapshotID != "" {
			var ok bool
			snap, ok = plan.snapshots[e.SnapshotID]
			if !ok {
				// The image's own snapshots come with its launch
				// permission; others must be the caller's to use.
				var err error
				if slices.Contains(img.Snapshots(), e.SnapshotID) {
					snap, err = s.ebs.Snapshot(tx, p.Region, e.SnapshotID)
				} else {
					snap, err = s.ebs.VisibleSnapshot(tx, p, p.Region, e.SnapshotID)
				}
				if err != nil {
					return err
				}
				if snap.State != openami.SnapshotCompleted {
					return openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "Snapshot '%s' is not completed.", snap.ID)
				}
				if snap.Tiering.Archived {
					// An image's own snapshot archived after the image
					// was disabled, then the image enabled again.
					return openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "The snapshot '%s' is archived; restore it before using it.", snap.ID)
				}
				plan.snapshots[snap.ID] = snap
			}
			// Launching encrypted data needs the use of its key, also
			// for an account the image is shared with.
			if err := s.ebs.CheckKeyUse(tx, p, "MappingKmsKeyID", snap.KmsKeyID); err != nil {
				return err
			}
			if e.VolumeSize == 0 {
				e.VolumeSize = snap.VolumeSize
			}
			if e.VolumeSize < snap.VolumeSize {
				return images.BadMapping("Volume of size %dGiB is smaller than snapshot '%s', expect size >= %dGiB", e.VolumeSize, snap.ID, snap.VolumeSize)
			}
		}
		key, err := s.ebs.TargetKey(tx, p, ebs.Target{Encrypted: e.Encrypted, KmsKeyID: e.KmsKeyID, Field: "MappingKmsKeyID"}, snap.KmsKeyID)
		if err != nil {
			return err
		}
		e.Encrypted, e.KmsKeyID = key != "", key
		if key != snap.KmsKeyID && !snap.Root.IsZero() {
			plan.refill[m.DeviceName] = true
		}
		if err := ebs.ShapeMapping(e); err != nil {
			return err
		}
		if m.DeviceName == img.RootDeviceName {
			plan.mappings = slices.Insert(plan.mappings, 0, m)
		} else {
			plan.mappings = append(plan.mappings, m)
		}
	}
	if img.Bundle == nil && (len(plan.mappings) == 0 || plan.mappings[0].DeviceName != img.RootDeviceName) {
		return images.BadMapping("The root device %s is not in the block device mapping.", img.RootDeviceName)
	}
	if plan.it.InstanceStore.NVMe {
		for k := range plan.it.InstanceStore.Count {
			plan.stores = append(plan.stores, openami.InstanceStore{
				DeviceName: fmt.Sprintf("/dev/nvme%dn1", k+1), VirtualName: fmt.Sprintf("ephemeral%d", k),
				Size: plan.it.InstanceStore.SizeGB,
			})
		}
	}
	return nil
}

// applyEbsOverride changes an EBS mapping as a request's override says;
// the result is validated where the mapping is used.
func applyEbsOverride(e *openami.EbsBlockDevice, o *EbsOverride) {
	if o.SnapshotID != "" {
		e.SnapshotID = o.SnapshotID
	}
	if o.VolumeSize != 0 {
		e.VolumeSize = o.VolumeSize
	}
	if o.VolumeType != "" && o.VolumeType != e.VolumeType {
		e.VolumeType, e.Iops, e.Throughput = o.VolumeType, 0, 0
	}
	if o.Iops != nil {
		e.Iops = *o.Iops
	}
	if o.Throughput != nil {
		e.Throughput = *o.Throughput
	}
	if o.DeleteOnTermination != nil {
		e.DeleteOnTermination = *o.DeleteOnTermination
	}
	if o.Encrypted != nil {
		e.Encrypted = *o.Encrypted
	}
	if o.KmsKeyID != "" {
		e.KmsKeyID = o.KmsKeyID
	}
}

// freeAddresses returns n private addresses of the subnet that none of
// the account's instances there holds, lowest first, or want when it is
// set (n must then be 1): a usable address of the subnet, not in use.
func (s *Machines) freeAddresses(tx metadata.Tx, p openami.Principal, subnet openami.Subnet, n int, want string) ([]string, error) {
	used := map[string]bool{}
	after := ""
	for {
		page, err := tx.Instances().List(p.Region, metadata.InstanceQuery{AccountID: p.AccountID, After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, i := range page {
			if i.SubnetID == subnet.ID && i.State != openami.InstanceTerminated {
				used[i.PrivateIP] = true
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	if want != "" {
		if n != 1 {
			return nil, openami.Errorf(openami.InvalidCombination, "", "A private IP address can be given for one instance only; MaxCount is %d.", n)
		}
		usable := false
		for k := 0; ; k++ {
			a, ok := network.SubnetAddress(subnet.CIDR, k)
			if !ok {
				break
			}
			if a == want {
				usable = true
				break
			}
		}
		if !usable {
			return nil, openami.Errorf(openami.InvalidParameter, "", "Address %s does not fall within the subnet's address range, or is reserved.", want)
		}
		if used[want] {
			return nil, openami.ReasonErrorf(openami.InUse, openami.ResourceSubnet, openami.ReasonAddress, "Address %s is in use.", want)
		}
		return []string{want}, nil
	}
	var out []string
	for k := 0; len(out) < n; k++ {
		a, ok := network.SubnetAddress(subnet.CIDR, k)
		if !ok {
			return nil, openami.Errorf(openami.LimitExceeded, openami.ResourceSubnet, "There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", subnet.ID)
		}
		if !used[a] {
			out = append(out, a)
		}
	}
	return out, nil
}

// launchOne records instance k of a reservation with its volumes.
func (s *Machines) launchOne(tx metadata.Tx, p openami.Principal, in RunInstancesInput, plan *launchPlan, reservation string, k int, addr, public, host string, now time.Time) (openami.Instance, error) {
	img := plan.img
	id := ids.New("i")
	inst := openami.Instance{
		ID: id, Region: p.Region, AccountID: p.AccountID, ReservationID: reservation, ImageID: img.ID,
		InstanceType: plan.it.Name, KeyName: in.KeyName, State: openami.InstancePending,
		AvailabilityZone: plan.zone, HostID: host, VpcID: plan.subnet.VpcID, SubnetID: plan.subnet.ID, SecurityGroupIDs: plan.groups,
		PrivateIP: addr, PublicIP: public, UserData: s.sealUserData(p.Region, id, in.UserData), LaunchTime: now, AmiLaunchIndex: k,
		Architecture: img.Architecture, VirtualizationType: img.VirtualizationType, Platform: img.Platform,
		BootMode: bootMode(img, plan.it), RootDeviceName: img.RootDeviceName, RootDeviceType: "ebs",
		RootBundle:     img.Bundle,
		InstanceStores: plan.stores, KernelID: img.KernelID, RamdiskID: img.RamdiskID, EnaSupport: img.EnaSupport,
		SriovNetSupport: img.SriovNetSupport, TpmSupport: img.TpmSupport, MetadataOptions: plan.meta,
		EbsOptimized: in.EbsOptimized, Monitored: in.Monitoring, ClientToken: in.ClientToken, DisableAPITermination: in.DisableAPITermination,
		DisableAPIStop: in.DisableAPIStop, InstanceInitiatedShutdownBehavior: in.InstanceInitiatedShutdownBehavior,
	}
	if plan.it.Burstable {
		inst.CPUCredits = in.CPUCredits
		if inst.CPUCredits == "" {
			inst.CPUCredits = defaultCredits(plan.it)
		}
	}
	if img.Bundle != nil {
		inst.RootDeviceType, inst.RootBase = "instance-store", img.Bundle.BaseKey()
	}
	inst.MacAddress = macAddress(inst.ID)
	for _, m := range plan.mappings {
		e := m.Ebs
		v := openami.Volume{
			ID: ids.New("vol"), Region: p.Region, AccountID: p.AccountID, AvailabilityZone: plan.zone,
			Size: e.VolumeSize, Type: e.VolumeType, Iops: e.Iops, Throughput: e.Throughput, SnapshotID: e.SnapshotID,
			State: openami.VolumeInUse, CreatedAt: now, Encrypted: e.Encrypted, KmsKeyID: e.KmsKeyID,
			InstanceID: inst.ID, Device: m.DeviceName, AttachTime: now, DeleteOnTermination: e.DeleteOnTermination,
		}
		if e.SnapshotID != "" {
			v.Base = plan.snapshots[e.SnapshotID].Root
		}
		if plan.refill[m.DeviceName] {
			// Under another key than its snapshot: filled in the
			// background; the instance starts once it is.
			v.State = openami.VolumeCreating
			if err := ebs.RecordFill(tx, v, plan.snapshots[e.SnapshotID].KmsKeyID); err != nil {
				return inst, err
			}
			plan.fills = append(plan.fills, v.ID)
		}
		if err := s.ebs.CreateLaunchVolume(tx, v, in.VolumeTags); err != nil {
			return inst, err
		}
		inst.BlockDevices = append(inst.BlockDevices, openami.InstanceBlockDevice{
			DeviceName: m.DeviceName, VolumeID: v.ID, DeleteOnTermination: e.DeleteOnTermination, AttachTime: now,
		})
	}
	if err := tx.Instances().Create(inst); err != nil {
		return inst, err
	}
	if tags := append(slices.Clone(in.InstanceTags), in.templateTags...); len(tags) > 0 {
		if err := tx.Tags().Set(p.Region, p.AccountID, inst.ID, openami.ResourceInstance, tags); err != nil {
			return inst, err
		}
	}
	return inst, nil
}

// macAddress derives a locally administered unicast MAC from the instance
// id.
func macAddress(id string) string {
	d := ids.Derived("mac", id)[len("mac-"):]
	return "02:" + d[0:2] + ":" + d[2:4] + ":" + d[4:6] + ":" + d[6:8] + ":" + d[8:10]
}

// PrivateDNSName is an instance's private host name, as EC2 forms it.
func PrivateDNSName(region, ip string) string {
	return "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + privateDomain(region)
}

// privateDomain is the DNS domain of a region's private host names.
func privateDomain(region string) string {
	if region == "us-east-1" {
		return "ec2.internal"
	}
	return region + ".compute.internal"
}
