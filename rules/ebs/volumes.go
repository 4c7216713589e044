package ebs

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// VolumeView is a volume with its tags.
type VolumeView struct {
	openami.Volume
	Tags []openami.Tag
}

// volumeType holds EBS's rules for one volume type.
type volumeType struct {
	minGiB, maxGiB int64
	// iops: whether Iops may be set, the range, the default, and the most
	// IOPS per GiB.
	iopsSettable       bool
	minIops, maxIops   int
	defIops, iopsPerGB int
	throughput         bool
}

var volumeTypes = map[string]volumeType{
	"gp2":      {minGiB: 1, maxGiB: 16384},
	"gp3":      {minGiB: 1, maxGiB: 16384, iopsSettable: true, minIops: 3000, maxIops: 16000, defIops: 3000, iopsPerGB: 500, throughput: true},
	"io1":      {minGiB: 4, maxGiB: 16384, iopsSettable: true, minIops: 100, maxIops: 64000, iopsPerGB: 50},
	"io2":      {minGiB: 4, maxGiB: 65536, iopsSettable: true, minIops: 100, maxIops: 256000, iopsPerGB: 1000},
	"st1":      {minGiB: 125, maxGiB: 16384},
	"sc1":      {minGiB: 125, maxGiB: 16384},
	"standard": {minGiB: 1, maxGiB: 1024},
}

// shapeVolume checks size, IOPS and throughput against the type's rules
// and fills in the defaults EBS reports (gp2's 3 IOPS per GiB, gp3's 3000
// IOPS and 125 MiB/s).
func shapeVolume(v *openami.Volume, iops, throughput *int) error {
	if v.Type == "" {
		v.Type = "gp2"
	}
	vt, ok := volumeTypes[v.Type]
	if !ok {
		return param.OneOf("VolumeType", v.Type, "standard", "io1", "io2", "gp2", "sc1", "st1", "gp3")
	}
	if v.Size < vt.minGiB || v.Size > vt.maxGiB {
		return openami.Errorf(openami.InvalidParameter, "", "Volume of %dGiB is outside the range of a %s volume: %d to %d GiB.", v.Size, v.Type, vt.minGiB, vt.maxGiB)
	}
	if iops != nil && !vt.iopsSettable {
		return param.NotWith("Iops", "is not supported for %s volumes.", v.Type)
	}
	if throughput != nil && !vt.throughput {
		return param.NotWith("Throughput", "is not supported for %s volumes.", v.Type)
	}
	switch {
	case v.Type == "gp2":
		v.Iops = min(max(100, 3*int(v.Size)), 16000)
	case vt.iopsSettable:
		if iops == nil && vt.defIops == 0 {
			return param.MissingFor("Iops", "must be specified for %s volumes.", v.Type)
		}
		v.Iops = vt.defIops
		if iops != nil {
			v.Iops = *iops
		}
		if v.Iops < vt.minIops || v.Iops > vt.maxIops {
			return param.Invalid("Iops", strconv.Itoa(v.Iops), "for %s volumes: expecting %d to %d.", v.Type, vt.minIops, vt.maxIops)
		}
		if v.Iops > vt.iopsPerGB*int(v.Size) && v.Iops > vt.minIops {
			return openami.Errorf(openami.InvalidParameter, "", "Iops to volume size ratio of %d is too high; maximum is %d.", v.Iops/int(v.Size), vt.iopsPerGB)
		}
	default:
		v.Iops = 0
	}
	v.Throughput = 0
	if vt.throughput {
		v.Throughput = 125
		if throughput != nil {
			v.Throughput = *throughput
		}
		if v.Throughput < 125 || v.Throughput > 1000 {
			return param.Invalid("Throughput", strconv.Itoa(v.Throughput), "expecting 125 to 1000.")
		}
		if v.Throughput*4 > v.Iops {
			return openami.Errorf(openami.InvalidParameter, "", "Throughput (MiBps) to iops ratio of %.3f is too high; maximum is 0.25 MiBps per iops.", float64(v.Throughput)/float64(v.Iops))
		}
	}
	return nil
}

// ShapeMapping applies shapeVolume to the volume an EBS mapping makes.
// Its IOPS and throughput count as given only where the type takes them:
// a mapping shaped before (gp2's computed IOPS, say) shapes again the same.
func ShapeMapping(e *openami.EbsBlockDevice) error {
	v := openami.Volume{Size: e.VolumeSize, Type: e.VolumeType}
	if v.Type == "" {
		v.Type = "gp2"
	}
	var iops, tp *int
	if vt := volumeTypes[v.Type]; vt.iopsSettable && e.Iops != 0 {
		iops = &e.Iops
	}
	if vt := volumeTypes[v.Type]; vt.throughput && e.Throughput != 0 {
		tp = &e.Throughput
	}
	if err := shapeVolume(&v, iops, tp); err != nil {
		return err
	}
	e.VolumeType, e.Iops, e.Throughput = v.Type, v.Iops, v.Throughput
	return nil
}

// CreateVolumeInput are CreateVolume's parameters.
type CreateVolumeInput struct {
	AvailabilityZone string
	// AvailabilityZoneID names the zone by id instead (use1-az1).
	AvailabilityZoneID string
	Size               int64 // GiB; 0 means the snapshot's size
	SnapshotID         string
	Type               string
	Iops               *int
	Throughput         *int
	MultiAttach        bool
	Encrypted          bool
	KmsKeyID           string
	Tags               []openami.Tag
	ClientToken        string
}

// CreateVolume creates a volume, empty or copy-on-write over a snapshot
// the caller may use: it records the snapshot's block map as the volume's
// base and copies no data, so it costs the same whatever the snapshot's
// size. A volume encrypted under another key than its snapshot's is the
// exception: it is created in state creating and filled in the background
// (volumes_fill.go).
func (s *Volumes) CreateVolume(ctx context.Context, p openami.Principal, in CreateVolumeInput) (VolumeView, error) {
	region, _ := s.identity.Region(p.Region)
	for _, z := range region.Zones {
		if in.AvailabilityZone == "" && in.AvailabilityZoneID == z.ID {
			in.AvailabilityZone = z.Name
		}
	}
	if in.AvailabilityZone == "" {
		return VolumeView{}, param.Missing("AvailabilityZone")
	}
	zoneOK := false
	for _, z := range region.Zones {
		zoneOK = zoneOK || z.Name == in.AvailabilityZone
	}
	if !zoneOK {
		return VolumeView{}, openami.Errorf(openami.InvalidParameter, "", "Invalid availability zone: [%s]", in.AvailabilityZone)
	}
	if in.Size == 0 && in.SnapshotID == "" {
		return VolumeView{}, param.MissingEither("Size", "SnapshotID")
	}
	if in.MultiAttach && in.Type != "io1" && in.Type != "io2" {
		return VolumeView{}, openami.Errorf(openami.InvalidCombination, "", "Multi-Attach is supported only for io1 and io2 volumes.")
	}
	if err := tagset.Validate(in.Tags); err != nil {
		return VolumeView{}, err
	}
	v := openami.Volume{
		ID:               ids.New("vol"),
		Region:           p.Region,
		AccountID:        p.AccountID,
		AvailabilityZone: in.AvailabilityZone,
		Size:             in.Size,
		Type:             in.Type,
		SnapshotID:       in.SnapshotID,
		State:            openami.VolumeAvailable,
		MultiAttach:      in.MultiAttach,
		ClientToken:      in.ClientToken,
		CreatedAt:        s.nowUTC(),
	}
	var out VolumeView
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		if in.ClientToken != "" {
			prev, err := tx.Volumes().ByClientToken(p.Region, p.AccountID, in.ClientToken)
			if err == nil {
				if prev.AvailabilityZone != in.AvailabilityZone || prev.SnapshotID != in.SnapshotID ||
					in.Size != 0 && prev.Size != in.Size || in.Type != "" && prev.Type != in.Type {
					return param.TokenReused(openami.ResourceVolume, in.ClientToken)
				}
				tags, err := tx.Tags().Of(p.Region, p.AccountID, []string{prev.ID})
				out = VolumeView{Volume: prev, Tags: tags[prev.ID]}
				return err
			}
			if !errors.Is(err, openami.ErrNotFound) {
				return err
			}
		}
		var snap openami.Snapshot
		if in.SnapshotID != "" {
			var err error
			snap, err = visibleSnapshot(tx, p, p.Region, in.SnapshotID)
			if err != nil {
				return err
			}
			if snap.State != openami.SnapshotCompleted {
				return openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "Snapshot '%s' is not completed.", snap.ID)
			}
			if v.Size == 0 {
				v.Size = snap.VolumeSize
			}
			if v.Size < snap.VolumeSize {
				return openami.Errorf(openami.InvalidParameter, "", "Volume of size %dGiB is smaller than snapshot '%s', expect size >= %dGiB", v.Size, snap.ID, snap.VolumeSize)
			}
			if err := s.CheckKeyUse(tx, p, "SnapshotID", snap.KmsKeyID); err != nil {
				return err
			}
		}
		key, err := s.TargetKey(tx, p, Target{Encrypted: in.Encrypted, KmsKeyID: in.KmsKeyID}, snap.KmsKeyID)
		if err != nil {
			return err
		}
		v.Encrypted, v.KmsKeyID, v.Base = key != "", key, snap.Root
		if key != snap.KmsKeyID && !snap.Root.IsZero() {
			// Under another key: filled in the background.
			v.State = openami.VolumeCreating
			if err := RecordFill(tx, v, snap.KmsKeyID); err != nil {
				return err
			}
		}
		if err := shapeVolume(&v, in.Iops, in.Throughput); err != nil {
			return err
		}
		if err := tx.Volumes().Create(v); err != nil {
			return err
		}
		if len(in.Tags) > 0 {
			if err := tx.Tags().Set(p.Region, p.AccountID, v.ID, openami.ResourceVolume, in.Tags); err != nil {
				return err
			}
		}
		out = VolumeView{Volume: v, Tags: tagset.Sorted(in.Tags)}
		return nil
	})
	if err == nil && out.State == openami.VolumeCreating {
		s.fill(out.Region, out.ID)
	}
	return out, err
}

func checkVolumeID(id string) error {
	if !ids.Valid("vol", id) {
		return openami.Errorf(openami.Malformed, openami.ResourceVolume, "Invalid id: \"%s\" (expecting \"vol-...\")", id)
	}
	return nil
}

// ownedVolume returns the caller's volume; NotFound for anyone else's.
func ownedVolume(tx metadata.Tx, p openami.Principal, id string) (openami.Volume, error) {
	if err := checkVolumeID(id); err != nil {
		return openami.Volume{}, err
	}
	v, err := tx.Volumes().Get(p.Region, id)
	if errors.Is(err, openami.ErrNotFound) || err == nil && v.AccountID != p.AccountID {
		return openami.Volume{}, openami.Errorf(openami.NotFound, openami.ResourceVolume, volumeNotFound.One, id)
	}
	return v, err
}

// The attributes of a volume that DescribeVolumes' filters test (see
// filter.Attr; api/ec2/filters.go maps EC2's filter names onto them).
const (
	AttrVolumeAttached            filter.Attr = "volumeAttached"
	AttrVolumeDeleteOnTermination filter.Attr = "volumeDeleteOnTermination"
	AttrVolumeDevice              filter.Attr = "volumeDevice"
	AttrVolumeInstanceID          filter.Attr = "volumeInstanceID"
	AttrVolumeAttachmentState     filter.Attr = "volumeAttachmentState"
	AttrVolumeZone                filter.Attr = "volumeZone"
	AttrVolumeZoneID              filter.Attr = "volumeZoneID"
	AttrVolumeCreated             filter.Attr = "volumeCreated"
	AttrVolumeEncrypted           filter.Attr = "volumeEncrypted"
	AttrVolumeFastRestored        filter.Attr = "volumeFastRestored"
	AttrVolumeMultiAttach         filter.Attr = "volumeMultiAttach"
	AttrVolumeSize                filter.Attr = "volumeSize"
	AttrVolumeSnapshotID          filter.Attr = "volumeSnapshotID"
	AttrVolumeState               filter.Attr = "volumeState"
	AttrVolumeID                  filter.Attr = "volumeID"
	AttrVolumeType                filter.Attr = "volumeType"
)

// VolumeAttrs are the attributes DescribeVolumes filters by. Read-only.
var VolumeAttrs = []filter.Attr{
	AttrVolumeAttached, AttrVolumeDeleteOnTermination, AttrVolumeDevice, AttrVolumeInstanceID,
	AttrVolumeAttachmentState, AttrVolumeZone, AttrVolumeZoneID, AttrVolumeCreated,
	AttrVolumeEncrypted, AttrVolumeFastRestored, AttrVolumeMultiAttach, AttrVolumeSize,
	AttrVolumeSnapshotID, AttrVolumeState, AttrVolumeID, AttrVolumeType,
}

// DescribeVolumes returns a page of the caller's volumes in the region:
// all, or those named (any unknown one is NotFound), narrowed by filters.
func (s *Volumes) DescribeVolumes(ctx context.Context, p openami.Principal, volumeIDs []string, filters []filter.Filter, pg Page) ([]VolumeView, string, error) {
	fs, err := filter.Compile(filters, VolumeAttrs...)
	if err != nil {
		return nil, "", err
	}
	for _, id := range volumeIDs {
		if err := checkVolumeID(id); err != nil {
			return nil, "", err
		}
	}
	if err := describe.CheckIDs(openami.ResourceVolume, volumeIDs, pg); err != nil {
		return nil, "", err
	}
	if len(volumeIDs) > 0 {
		var found []openami.Volume
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			found, err = tx.Volumes().List(p.Region, metadata.VolumeQuery{AccountID: p.AccountID, IDs: volumeIDs})
			return err
		})
		if err != nil {
			return nil, "", err
		}
		if missing := describe.Missing(volumeIDs, found, func(v openami.Volume) string { return v.ID }); len(missing) > 0 {
			return nil, "", openami.Errorf(openami.NotFound, openami.ResourceVolume, "%s", volumeNotFound.Sentence(missing))
		}
	}
	zoneIDs := map[string]string{}
	if r, ok := s.identity.Region(p.Region); ok {
		for _, z := range r.Zones {
			zoneIDs[z.Name] = z.ID
		}
	}
	match := func(v openami.Volume, tags map[string]string) bool {
		return fs.Match(func(name filter.Attr) []string {
			switch name {
			case AttrVolumeZone:
				return []string{v.AvailabilityZone}
			case AttrVolumeZoneID:
				return []string{zoneIDs[v.AvailabilityZone]}
			case AttrVolumeCreated:
				return []string{describe.Timestamp(v.CreatedAt)}
			case AttrVolumeEncrypted:
				return []string{strconv.FormatBool(v.Encrypted)}
			case AttrVolumeFastRestored:
				return []string{"false"}
			case AttrVolumeMultiAttach:
				return []string{strconv.FormatBool(v.MultiAttach)}
			case AttrVolumeSize:
				return []string{strconv.FormatInt(v.Size, 10)}
			case AttrVolumeSnapshotID:
				return []string{v.SnapshotID}
			case AttrVolumeState:
				return []string{string(v.State)}
			case AttrVolumeID:
				return []string{v.ID}
			case AttrVolumeType:
				return []string{v.Type}
			}
			if v.InstanceID == "" {
				return nil
			}
			switch name {
			case AttrVolumeAttached:
				return []string{describe.Timestamp(v.AttachTime)}
			case AttrVolumeDeleteOnTermination:
				return []string{strconv.FormatBool(v.DeleteOnTermination)}
			case AttrVolumeDevice:
				return []string{v.Device}
			case AttrVolumeInstanceID:
				return []string{v.InstanceID}
			case AttrVolumeAttachmentState:
				return []string{"attached"}
			}
			return nil
		}, tags)
	}
	scope := describe.Scope("DescribeVolumes", p, filters, strings.Join(volumeIDs, ","))
	vols, tags, next, err := describe.Tagged(ctx, s.store, s.tokens, p, scope, pg, describe.Bounds{Min: 5, Max: 1000},
		func(tx metadata.Tx, after string, limit int) ([]openami.Volume, error) {
			return tx.Volumes().List(p.Region, metadata.VolumeQuery{AccountID: p.AccountID, IDs: volumeIDs, After: after, Limit: limit})
		},
		func(v openami.Volume) string { return v.ID }, match)
	if err != nil {
		return nil, "", err
	}
	out := make([]VolumeView, len(vols))
	for i, v := range vols {
		out[i] = VolumeView{Volume: v, Tags: tags[v.ID]}
	}
	return out, next, nil
}

// DeleteVolume deletes an available volume the caller owns, with its
// overlay; its chunks are freed by the next garbage collection.
func (s *Volumes) DeleteVolume(ctx context.Context, p openami.Principal, id string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		v, err := ownedVolume(tx, p, id)
		if err != nil {
			return err
		}
		if v.InstanceID != "" {
			// EC2's words, naming the instance: callers read it from here.
			return openami.Errorf(openami.InUse, openami.ResourceVolume, "Volume %s is currently attached to %s", id, v.InstanceID)
		}
		if v.State == openami.VolumeInUse {
			return openami.Errorf(openami.InUse, openami.ResourceVolume, "Volume %s is currently attached.", id)
		}
		if err := tx.Tags().DeleteAll(p.Region, p.AccountID, id); err != nil {
			return err
		}
		if err := tx.Settings().Delete(fillTaskSetting(p.Region, id)); err != nil {
			return err
		}
		return tx.Volumes().Delete(p.Region, id)
	})
}

// ModifyVolumeInput are ModifyVolume's parameters; nil leaves a property.
type ModifyVolumeInput struct {
	VolumeID   string
	Size       *int64
	Type       *string
	Iops       *int
	Throughput *int
}

// ModifyVolume changes a volume's size (grow only), type, IOPS or
// throughput, at once, and returns the volume before and after.
func (s *Volumes) ModifyVolume(ctx context.Context, p openami.Principal, in ModifyVolumeInput) (before, after openami.Volume, err error) {
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		v, err := ownedVolume(tx, p, in.VolumeID)
		if err != nil {
			return err
		}
		before = v
		if in.Size != nil {
			if *in.Size < v.Size {
				return openami.Errorf(openami.InvalidParameter, "", "New size cannot be smaller than existing size")
			}
			v.Size = *in.Size
		}
		if in.Type != nil {
			v.Type = *in.Type
		}
		iops := in.Iops
		if iops == nil && v.Type == before.Type && volumeTypes[v.Type].iopsSettable {
			iops = &before.Iops
		}
		tp := in.Throughput
		if tp == nil && v.Type == before.Type && volumeTypes[v.Type].throughput {
			tp = &before.Throughput
		}
		if err := shapeVolume(&v, iops, tp); err != nil {
			return err
		}
		after = v
		return tx.Volumes().Update(v)
	})
	return before, after, err
}

// volumeBlock checks that the volume can be read and written (it is not
// being filled, nor failed) and that index is one of its blocks.
func volumeBlock(v openami.Volume, index int64) error {
	if v.State == openami.VolumeCreating || v.State == openami.VolumeError {
		return openami.Errorf(openami.IncorrectState, openami.ResourceVolume, "Volume '%s' is in the '%s' state.", v.ID, v.State)
	}
	if index < 0 || index >= v.Size*blocksPerGiB {
		return openami.FieldErrorf(openami.InvalidParameter, "BlockIndex", "Block %d is beyond the end of volume %s (%d GiB).", index, v.ID, v.Size)
	}
	return nil
}

// ReadVolumeBlock reads block index of the caller's volume into dst
// (BlockSize bytes): from the overlay if the block was written since the
// volume's base, else from the base block map; absent blocks read as zeros.
func (s *Volumes) ReadVolumeBlock(ctx context.Context, p openami.Principal, volumeID string, index int64, dst []byte) error {
	var (
		d      openami.Digest
		keyARN string
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		v, err := ownedVolume(tx, p, volumeID)
		if err != nil {
			return err
		}
		if err := volumeBlock(v, index); err != nil {
			return err
		}
		keyARN = v.KmsKeyID
		b, ok, err := tx.Volumes().Block(v.ID, index)
		if err != nil {
			return err
		}
		if ok {
			d = b.Digest
			return nil
		}
		d, err = s.maps.Lookup(txNodes{tx: tx, region: p.Region}, v.Base, index)
		return err
	})
	if err != nil {
		return err
	}
	rb, err := s.blocks(p.Region)
	if err != nil {
		return err
	}
	dk, err := s.dataKey(ctx, keyARN)
	if err != nil {
		return err
	}
	return readChunk(ctx, rb, dk, d, dst)
}

// WriteVolumeBlock writes one whole block of the caller's volume. When it
// returns nil the block is durable: its chunk is stored and the overlay
// entry committed.
func (s *Volumes) WriteVolumeBlock(ctx context.Context, p openami.Principal, volumeID string, index int64, data []byte) error {
	if len(data) != openami.BlockSize {
		return openami.FieldErrorf(openami.InvalidParameter, "BlockData", "A block is %d bytes, not %d.", openami.BlockSize, len(data))
	}
	var keyARN string
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		v, err := ownedVolume(tx, p, volumeID)
		if err != nil {
			return err
		}
		keyARN = v.KmsKeyID
		return volumeBlock(v, index)
	})
	if err != nil {
		return err
	}
	rb, err := s.blocks(p.Region)
	if err != nil {
		return err
	}
	dk, err := s.dataKey(ctx, keyARN)
	if err != nil {
		return err
	}
	d, chunk, err := s.storeChunk(ctx, rb, dk, data)
	if err != nil {
		return err
	}
	restore := func() error { _, _, err := s.storeChunk(ctx, rb, dk, data); return err }
	return s.commitWithChunks(ctx, rb, chunksOf(chunk), restore, func(tx metadata.Tx) error {
		v, err := ownedVolume(tx, p, volumeID)
		if err != nil {
			return err
		}
		if err := volumeBlock(v, index); err != nil {
			return err
		}
		return tx.Volumes().PutBlock(v.ID, metadata.BlockRef{Index: index, Digest: d})
	})
}

// CreateSnapshot snapshots a volume the caller owns: the volume's base
// block map with the blocks written since applied becomes the snapshot's
// map, and the volume is rebased onto it with an empty overlay, all in one
// transaction. It costs O(blocks written since the volume's base), however
// large the volume.
func (s *Volumes) CreateSnapshot(ctx context.Context, p openami.Principal, volumeID, description string, tags []openami.Tag) (SnapshotView, error) {
	if err := tagset.Validate(tags); err != nil {
		return SnapshotView{}, err
	}
	if len(description) > 255 {
		return SnapshotView{}, openami.Errorf(openami.InvalidParameter, "", "The description must be at most 255 characters.")
	}
	if err := s.FlushDevices(ctx, []string{volumeID}); err != nil {
		return SnapshotView{}, err
	}
	if s.flushElsewhere != nil {
		if err := s.flushElsewhere(ctx, p.Region, volumeID); err != nil {
			return SnapshotView{}, err
		}
	}
	var out SnapshotView
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		v, err := ownedVolume(tx, p, volumeID)
		if err != nil {
			return err
		}
		snap, err := s.SnapshotVolume(tx, v, description, tags)
		out = SnapshotView{Snapshot: snap, Tags: tagset.Sorted(tags)}
		return err
	})
	return out, err
}

// SnapshotVolume takes a completed snapshot of a volume within tx: the
// volume's base map with its overlay applied becomes the snapshot's map,
// and the volume is rebased onto it with an empty overlay. It costs
// O(blocks written since the volume's base).
func (s *Volumes) SnapshotVolume(tx metadata.Tx, v openami.Volume, description string, tags []openami.Tag) (openami.Snapshot, error) {
	if v.State != openami.VolumeAvailable && v.State != openami.VolumeInUse {
		return openami.Snapshot{}, openami.Errorf(openami.IncorrectState, openami.ResourceVolume, "Volume %s is %s.", v.ID, v.State)
	}
	ns, err := nodesFor(tx, v.Region)
	if err != nil {
		return openami.Snapshot{}, err
	}
	root, err := s.applyBlocks(ns, v.Base, func(after int64, limit int) ([]metadata.BlockRef, error) {
		return tx.Volumes().Blocks(v.ID, after, limit)
	})
	if err != nil {
		return openami.Snapshot{}, err
	}
	count, err := s.maps.Count(ns, root)
	if err != nil {
		return openami.Snapshot{}, err
	}
	now := s.nowUTC()
	snap := openami.Snapshot{
		ID: ids.New("snap"), Region: v.Region, AccountID: v.AccountID, VolumeID: v.ID, VolumeSize: v.Size,
		State: openami.SnapshotCompleted, Progress: 100, Description: description, Root: root,
		StartTime: now, Deadline: now, DataBytes: count * openami.BlockSize,
		Encrypted: v.Encrypted, KmsKeyID: v.KmsKeyID, // a volume's snapshot is under its key
	}
	if err := tx.Snapshots().Create(snap); err != nil {
		return snap, err
	}
	if len(tags) > 0 {
		if err := tx.Tags().Set(v.Region, v.AccountID, snap.ID, openami.ResourceSnapshot, tags); err != nil {
			return snap, err
		}
	}
	v.Base = root
	if err := tx.Volumes().DeleteBlocks(v.ID); err != nil {
		return snap, err
	}
	return snap, tx.Volumes().Update(v)
}
