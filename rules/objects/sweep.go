package objects

import (
	"context"
	"strings"
	"time"

	"github.com/openami/openami/blob"
	"github.com/openami/openami/metadata"
)

// Swept is what a Sweep removed.
type Swept struct {
	Blobs int
	Bytes int64
}

// Sweep removes, from every region's blob store, the object blobs older
// than grace that no record names: what a crash left between a blob's Put
// and its record's commit, or between a record's deletion and its blobs'.
// A blob younger than grace may belong to a Put whose record is not yet
// committed, and is kept.
//
// It reads each bucket's named blobs in one transaction, so that a blob
// moving from a part to its object (CompleteMultipartUpload) is named by
// one or the other; the memory it takes is that of one bucket's blob
// names.
func (s *Buckets) Sweep(ctx context.Context, grace time.Duration) (Swept, error) {
	var out Swept
	cutoff := s.now().Add(-grace)
	for _, r := range s.regions {
		bs, ok := s.blobs[r.Name]
		if !ok {
			continue
		}
		// Buckets made after this read hold only blobs younger than
		// cutoff, which the sweep keeps.
		liveIDs := map[string]bool{}
		err := s.view(ctx, func(tx metadata.Tx) error {
			clear(liveIDs)
			list, err := tx.Buckets().List("")
			for _, b := range list {
				liveIDs[b.ID] = true
			}
			return err
		})
		if err != nil {
			return out, err
		}
		var (
			curBucket string
			named     map[string]bool
		)
		err = bs.List(ctx, blobPrefix, func(info blob.Info) error {
			rest := strings.TrimPrefix(info.Key, blobPrefix)
			id, _, ok := strings.Cut(rest, "/")
			if !ok || !info.ModTime.Before(cutoff) {
				return nil
			}
			if id != curBucket {
				curBucket, named = id, map[string]bool{}
				err := s.view(ctx, func(tx metadata.Tx) error {
					clear(named)
					if !liveIDs[id] {
						return nil
					}
					return tx.Objects().Blobs(id, func(b string) { named[b] = true })
				})
				if err != nil {
					return err
				}
			}
			if named[info.Key] {
				return nil
			}
			if err := bs.Delete(ctx, info.Key); err != nil {
				return err
			}
			out.Blobs++
			out.Bytes += info.Size
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
