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
// A blob's age is its store's ModTime, which some stores date from the
// start of the write (an S3 multipart upload's initiation): a Put longer
// than grace would look old the moment it ends, before its record
// commits. So a blob is removed only if an earlier Sweep of these Buckets
// already found it unnamed at least confirm ago; Sweep remembers what it
// found. confirm 0 removes at once (`openami gc` with no server running).
//
// It reads each bucket's named blobs in one transaction, so that a blob
// moving from a part to its object (CompleteMultipartUpload) is named by
// one or the other; the memory it takes is that of one bucket's blob
// names and of the unnamed blobs.
func (s *Buckets) Sweep(ctx context.Context, grace, confirm time.Duration) (Swept, error) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	var out Swept
	now := s.now()
	cutoff := now.Add(-grace)
	seen := map[string]time.Time{}
	defer func() { s.unnamed = seen }()
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
			first, ok := s.unnamed[info.Key]
			if !ok {
				first = now
			}
			if now.Sub(first) < confirm {
				seen[info.Key] = first
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
