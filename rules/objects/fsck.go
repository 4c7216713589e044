package objects

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/metadata"
)

// CheckReport is what Check found in one region's object storage.
type CheckReport struct {
	Region  string
	Buckets int
	Objects int
	Blobs   int
	// Missing, WrongSize and BadETag name damaged objects as
	// "bucket/key: blob".
	Missing   []string `json:",omitempty"`
	WrongSize []string `json:",omitempty"`
	BadETag   []string `json:",omitempty"`
}

// Damaged reports whether Check found an object whose bytes are not what
// its record says.
func (r CheckReport) Damaged() bool {
	return len(r.Missing)+len(r.WrongSize)+len(r.BadETag) > 0
}

// Check checks every object of one region's buckets against its blobs:
// each blob its record names exists with the recorded size and, when
// verify is set, the bytes read back with the object's ETag (MD5 of a
// single blob; MD5 of the parts' MD5s, "-N", of a multipart object). It
// reads the records a page at a time and is safe while a server runs,
// though an object deleted meanwhile may be reported missing. Uploads in
// progress are not checked (their parts are checked when completed).
func (s *Buckets) Check(ctx context.Context, region string, verify bool) (CheckReport, error) {
	rep := CheckReport{Region: region}
	bs, ok := s.blobs[region]
	if !ok {
		return rep, fmt.Errorf("objects: no blob store for region %s", region)
	}
	var buckets []openami.Bucket
	if err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		buckets, err = tx.Buckets().List("")
		return err
	}); err != nil {
		return rep, err
	}
	for _, b := range buckets {
		if b.Region != region {
			continue
		}
		rep.Buckets++
		after := ""
		for {
			var page []openami.Object
			if err := s.view(ctx, func(tx metadata.Tx) error {
				var err error
				page, err = tx.Objects().List(b.ID, metadata.ObjectQuery{After: after, Limit: MaxListKeys})
				return err
			}); err != nil {
				return rep, err
			}
			for _, o := range page {
				rep.Objects++
				if err := s.checkObject(ctx, bs, b, o, verify, &rep); err != nil {
					return rep, err
				}
			}
			if len(page) < MaxListKeys {
				break
			}
			after = page[len(page)-1].Key
		}
	}
	return rep, nil
}

// checkObject checks one object's blobs into rep; it fails only on a
// store error other than a missing blob.
func (s *Buckets) checkObject(ctx context.Context, bs blob.Store, b openami.Bucket, o openami.Object, verify bool, rep *CheckReport) error {
	name := func(blob string) string { return b.Name + "/" + o.Key + ": " + blob }
	var sums []byte
	whole := true
	for _, p := range o.Parts {
		rep.Blobs++
		info, err := bs.Stat(ctx, p.Blob)
		if errors.Is(err, openami.ErrNotFound) {
			rep.Missing = append(rep.Missing, name(p.Blob))
			whole = false
			continue
		}
		if err != nil {
			return err
		}
		if info.Size != p.Size {
			rep.WrongSize = append(rep.WrongSize, name(p.Blob))
			whole = false
			continue
		}
		if !verify {
			continue
		}
		r, err := bs.Get(ctx, p.Blob)
		if errors.Is(err, openami.ErrNotFound) {
			rep.Missing = append(rep.Missing, name(p.Blob))
			whole = false
			continue
		}
		if err != nil {
			return err
		}
		h := md5.New()
		n, err := io.Copy(h, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("objects: reading %s: %w", p.Blob, err)
		}
		if n != p.Size {
			rep.WrongSize = append(rep.WrongSize, name(p.Blob))
			whole = false
			continue
		}
		sums = h.Sum(sums)
	}
	if !verify || !whole {
		return nil
	}
	var etag string
	if _, n, multi := strings.Cut(o.ETag, "-"); multi {
		h := md5.Sum(sums)
		etag = hex.EncodeToString(h[:]) + "-" + n
	} else {
		etag = hex.EncodeToString(sums)
		if len(o.Parts) == 0 {
			h := md5.Sum(nil)
			etag = hex.EncodeToString(h[:])
		}
	}
	if etag != o.ETag {
		rep.BadETag = append(rep.BadETag, b.Name+"/"+o.Key)
	}
	return nil
}
