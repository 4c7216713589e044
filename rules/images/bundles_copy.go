package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/objects"
)

// CopyImage of an instance store-backed image copies its bundle into a
// bucket of the caller's in the destination region,
// openami-ami-copies-ACCOUNT-REGION (made on first use), under the new
// image's id: every part as it is (read as EC2, written with
// aws-exec-read), and the manifest with the key and IV re-encrypted to the
// destination region's EC2 certificate and signed with its EC2 key
// (bundle.Manifest.SetEC2Key, Sign; the user's copy of the key is kept,
// so the owner can still unbundle it). The image is pending meanwhile:
// CopyImage records where the bundle comes from (ImageBundle.CopyFrom),
// and the worker's SettleImages starts the copy, at most one per image,
// so that a copy a restart interrupted starts again. The image becomes
// available with the copy whole, or failed (CauseBundleCopyFailed) when
// the source cannot be read or the destination bucket cannot be had.

// copyBucket is the bucket CopyImage copies an account's bundles into in
// a region.
func copyBucket(accountID, region string) string {
	return "openami-ami-copies-" + accountID + "-" + region
}

// copiedBundle is the ImageBundle of image id, a copy of src made by p.
func copiedBundle(p openami.Principal, id string, src openami.Image) *openami.ImageBundle {
	b := *src.Bundle
	b.CopyFrom = &openami.BundleSource{Region: src.Region, Owner: src.Bundle.Owner, Bucket: src.Bundle.Bucket,
		ManifestKey: src.Bundle.ManifestKey, ManifestSHA256: src.Bundle.ManifestSHA256}
	name := src.Bundle.ManifestKey
	if i := bytes.LastIndexByte([]byte(name), '/'); i >= 0 {
		name = name[i+1:]
	}
	b.Owner, b.Bucket, b.ManifestKey, b.ManifestSHA256 = p.AccountID, copyBucket(p.AccountID, p.Region), id+"/"+name, ""
	return &b
}

// bundleCopies tracks the copies under way.
type bundleCopies struct {
	mu      sync.Mutex
	running map[string]bool // image ids
	wg      sync.WaitGroup
}

// Wait waits for the bundle copies under way (the service's Close, tests).
func (s *Registry) Wait() { s.copies.wg.Wait() }

// copyBundle starts the copy of a pending image's bundle unless one is
// under way here. It runs in the worker's context (Config.Worker), not
// the pass's that found the image (which ends with the pass), and under
// the image's lease (Config.Lease) when there is one: when the worker
// stops or the lease is lost, the image stays pending and the next pass
// (here or on the node that takes the lease) copies again.
func (s *Registry) copyBundle(ctx context.Context, img openami.Image) {
	if s.worker != nil {
		ctx = s.worker()
	}
	c := &s.copies
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running[img.ID] {
		return
	}
	if c.running == nil {
		c.running = map[string]bool{}
	}
	c.running[img.ID] = true
	c.wg.Add(1)
	go func() {
		defer func() {
			c.mu.Lock()
			delete(c.running, img.ID)
			c.mu.Unlock()
			c.wg.Done()
		}()
		if s.lease == nil {
			s.copyAndSettle(ctx, img)
			return
		}
		// A lease held elsewhere or lost leaves the image pending: nothing
		// to report.
		_, _ = s.lease(ctx, img.ID, func(ctx context.Context) error {
			s.copyAndSettle(ctx, img)
			return nil
		})
	}()
}

// copyAndSettle copies img's bundle and settles the image: available with
// the copy's manifest, or failed with why. An ended ctx leaves it pending.
func (s *Registry) copyAndSettle(ctx context.Context, img openami.Image) {
	sum, err := s.copyParts(ctx, img)
	if ctx.Err() != nil {
		return
	}
	s.store.Update(ctx, func(tx metadata.Tx) error {
		cur, gerr := tx.Images().Get(img.Region, img.ID)
		if gerr != nil || cur.State != openami.ImagePending || cur.Bundle == nil || cur.Bundle.CopyFrom == nil {
			return gerr
		}
		if err != nil {
			cur.State = openami.ImageFailed
			cur.StateReason = openami.StateReason{Cause: openami.CauseBundleCopyFailed, Message: "The bundle could not be copied: " + err.Error()}
		} else {
			cur.State, cur.Bundle.ManifestSHA256, cur.Bundle.CopyFrom = openami.ImageAvailable, sum, nil
		}
		return tx.Images().Update(cur)
	})
}

// copyParts copies img's bundle from its source and returns the SHA-256
// of the manifest it wrote.
func (s *Registry) copyParts(ctx context.Context, img openami.Image) (string, error) {
	if s.objects == nil {
		return "", errors.New("this server has no object storage")
	}
	from, b := img.Bundle.CopyFrom, img.Bundle
	owner := openami.Principal{AccountID: b.Owner, Region: img.Region}
	m, sum, err := ReadManifest(ctx, s.objects, objects.As(openami.Principal{AccountID: from.Owner, Region: from.Region}), from.Bucket, from.ManifestKey)
	if err != nil {
		return "", err
	}
	if sum != from.ManifestSHA256 {
		return "", fmt.Errorf("the manifest %s/%s changed since its image was registered", from.Bucket, from.ManifestKey)
	}
	key, iv, err := m.EC2Key(func(c []byte) ([]byte, error) { return s.identity.EC2Decrypt(ctx, from.Region, c) })
	if err != nil {
		return "", errors.New("the bundle's key does not open under its region's EC2 key")
	}
	cert, _, err := s.identity.EC2Certificate(ctx, img.Region)
	if err != nil {
		return "", err
	}
	signer, err := s.identity.EC2Signer(ctx, img.Region)
	if err != nil {
		return "", err
	}
	if err := m.SetEC2Key(key, iv, cert); err != nil {
		return "", err
	}
	if err := m.Sign(signer); err != nil {
		return "", err
	}
	if _, err := s.objects.EnsureBucket(ctx, owner, b.Bucket); err != nil {
		return "", fmt.Errorf("the bucket %s: %w", b.Bucket, err)
	}
	for _, p := range m.Parts {
		r, o, err := s.objects.Open(ctx, objects.EC2(), from.Bucket, PartKey(from.ManifestKey, p.Filename))
		if err != nil {
			return "", fmt.Errorf("part %s: %w", p.Filename, err)
		}
		_, err = s.objects.Put(ctx, objects.As(owner), b.Bucket, PartKey(b.ManifestKey, p.Filename), r, o.Size, openami.ObjectHeaders{}, objects.CannedAWSExecRead)
		r.Close()
		if err != nil {
			return "", fmt.Errorf("part %s: %w", p.Filename, err)
		}
	}
	data, err := m.Marshal()
	if err != nil {
		return "", err
	}
	if _, err := s.objects.Put(ctx, objects.As(owner), b.Bucket, b.ManifestKey, bytes.NewReader(data), int64(len(data)), openami.ObjectHeaders{}, ""); err != nil {
		return "", fmt.Errorf("the manifest: %w", err)
	}
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:]), nil
}
