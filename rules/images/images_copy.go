package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/ebs"
	"github.com/openami/openami/rules/param"
)

// CopyImageInput are CopyImage's parameters.
type CopyImageInput struct {
	SourceImageID string
	SourceRegion  string
	Name          string
	Description   string
	Encrypted     bool
	KmsKeyID      string
	// CopyImageTags copies the source image's tags (the caller's own
	// image only: tags belong to the owner).
	CopyImageTags bool
	Tags          []openami.Tag
	ClientToken   string
}

// copyTokenSetting names the setting that remembers which image a
// CopyImage client token made.
func copyTokenSetting(p openami.Principal, token string) string {
	return "copy-image-token/" + p.Region + "/" + p.AccountID + "/" + token
}

// copyParams is a hash of the parameters a CopyImage client token binds:
// a repeat with other parameters is IdempotentParameterMismatch.
func copyParams(in CopyImageInput) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %q %v %q %v", in.SourceImageID, in.SourceRegion, in.Name, in.Description, in.Encrypted, in.KmsKeyID, in.CopyImageTags)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// CopyImage copies an image the caller owns or may launch, in SourceRegion,
// into the caller's account and region: a new image, with new snapshots
// of the same bytes, and SourceImageId/SourceImageRegion naming the
// original. Within a region, under the same key, each snapshot copy shares
// the source's block map (no data moves); across regions, or under another
// key (Encrypted and KmsKeyId encrypt plain data or re-key encrypted
// data; encrypted data is never copied in plain), it is filled in the
// background (rules/ebs's CopyInto), and the image stays pending until
// every copy completes (failed if one fails). Launch permissions,
// deprecation and public sharing are not copied; product codes are.
func (s *Registry) CopyImage(ctx context.Context, p openami.Principal, in CopyImageInput) (string, error) {
	if in.SourceRegion == "" {
		return "", param.Missing("SourceRegion")
	}
	if _, ok := s.identity.Region(in.SourceRegion); !ok {
		return "", openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceRegion, openami.ReasonCopySource, "Invalid region: %s", in.SourceRegion)
	}
	if err := checkImageName(in.Name); err != nil {
		return "", err
	}
	if len(in.Description) > 255 {
		return "", openami.Errorf(openami.InvalidParameter, "", "The description must be at most 255 characters.")
	}
	if err := validateTags(in.Tags); err != nil {
		return "", err
	}
	srcP := p
	srcP.Region = in.SourceRegion
	cross := in.SourceRegion != p.Region
	id := ids.New("ami")
	type copyJob struct{ src, dst openami.Snapshot }
	var jobs []copyJob
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		jobs = nil
		if in.ClientToken != "" {
			prev, err := tx.Settings().Get(copyTokenSetting(p, in.ClientToken))
			if err == nil {
				// The token's record is "IMAGE-ID PARAMETERS-HASH".
				prevID, prevHash, _ := strings.Cut(string(prev), " ")
				if prevHash != "" && prevHash != copyParams(in) {
					return param.TokenReused(openami.ResourceImage, in.ClientToken)
				}
				id = prevID
				return nil
			}
			if !errors.Is(err, openami.ErrNotFound) {
				return err
			}
		}
		src, err := s.LaunchableImage(tx, srcP, in.SourceImageID)
		if err != nil {
			return err
		}
		now := s.nowUTC()
		img := src
		img.ID, img.Region, img.AccountID, img.OwnerAlias = id, p.Region, p.AccountID, ""
		img.Name, img.Description, img.ImageLocation = in.Name, in.Description, p.AccountID+"/"+in.Name
		img.State, img.StateReason = openami.ImagePending, openami.StateReason{}
		img.SourceImageID, img.SourceImageRegion, img.SourceInstanceID = src.ID, src.Region, ""
		img.CreatedAt, img.DeprecationTime, img.LastLaunchedTime = now, time.Time{}, time.Time{}
		img.Public, img.DeregistrationProtection = false, openami.DeregistrationProtection{State: "disabled"}
		img.RecycleBinEnterTime, img.RecycleBinExitTime = time.Time{}, time.Time{}
		if src.Bundle != nil {
			// Its bundle is copied in the background (bundles_copy.go).
			img.Bundle = copiedBundle(p, id, src)
			img.ImageLocation = img.Bundle.Bucket + "/" + img.Bundle.ManifestKey
		}
		img.BlockDeviceMappings = make([]openami.BlockDeviceMapping, len(src.BlockDeviceMappings))
		for i, m := range src.BlockDeviceMappings {
			if m.Ebs != nil {
				e := *m.Ebs
				m.Ebs = &e
			}
			img.BlockDeviceMappings[i] = m
			if m.Ebs == nil || m.Ebs.SnapshotID == "" {
				continue
			}
			// Launch permission lets another account launch the image,
			// not copy its data out: as on AWS, the owner must also let
			// it create volumes from the snapshots behind it.
			ss, err := s.ebs.VisibleSnapshot(tx, srcP, src.Region, m.Ebs.SnapshotID)
			if errors.Is(err, openami.ErrNotFound) {
				return openami.Errorf(openami.Unauthorized, openami.ResourceSnapshot,
					"You do not have permission to access the storage of this ami (%s): its owner must grant you createVolumePermission on snapshot %s.", src.ID, m.Ebs.SnapshotID)
			}
			if err != nil {
				return err
			}
			if ss.State != openami.SnapshotCompleted {
				return openami.Errorf(openami.IncorrectState, openami.ResourceSnapshot, "Snapshot '%s' of image %s is not completed.", ss.ID, src.ID)
			}
			snap := openami.Snapshot{
				ID: ids.New("snap"), Region: p.Region, AccountID: p.AccountID, VolumeID: ebs.NoVolume, VolumeSize: ss.VolumeSize,
				State: openami.SnapshotCompleted, Progress: 100, Root: ss.Root, StartTime: now, Deadline: now, DataBytes: ss.DataBytes,
				Description: fmt.Sprintf("Copied for DestinationAmi %s from SourceAmi %s for SourceSnapshot %s. Task created on %s.",
					id, src.ID, ss.ID, now.Format("2006-01-02T15:04:05.000Z")),
			}
			// Encrypted data needs the use of its key, and stays
			// encrypted; Encrypted and KmsKeyId encrypt or re-key.
			if err := s.ebs.CheckKeyUse(tx, srcP, "SourceImageID", ss.KmsKeyID); err != nil {
				return err
			}
			key, err := s.ebs.CopyKey(tx, p, ss, cross, in.Encrypted, in.KmsKeyID)
			if err != nil {
				return err
			}
			snap.Encrypted, snap.KmsKeyID = key != "", key
			if cross || key != ss.KmsKeyID {
				snap.State, snap.Progress, snap.Root, snap.DataBytes = openami.SnapshotPending, 0, openami.ZeroDigest, 0
				snap.Deadline = now.Add(ebs.CopyDeadline)
				jobs = append(jobs, copyJob{ss, snap})
			}
			if err := s.ebs.CreateSnapshotCopy(tx, ss, snap); err != nil {
				return err
			}
			m.Ebs.SnapshotID, m.Ebs.Encrypted, m.Ebs.KmsKeyID = snap.ID, snap.Encrypted, snap.KmsKeyID
		}
		if err := tx.Images().Create(img); err != nil {
			return err
		}
		tags := in.Tags
		if in.CopyImageTags && src.AccountID == p.AccountID {
			srcTags, err := tx.Tags().Of(src.Region, src.AccountID, []string{src.ID})
			if err != nil {
				return err
			}
			tags = mergeTags(srcTags[src.ID], in.Tags)
		}
		if len(tags) > 0 {
			if err := tx.Tags().Set(p.Region, p.AccountID, id, openami.ResourceImage, tags); err != nil {
				return err
			}
		}
		if in.ClientToken != "" {
			return tx.Settings().Put(copyTokenSetting(p, in.ClientToken), []byte(id+" "+copyParams(in)))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for _, j := range jobs {
		s.ebs.StartCopy(j.src, j.dst)
	}
	s.kick()
	return id, nil
}
