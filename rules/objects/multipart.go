package objects

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/identity"
)

// CreateUpload starts a multipart upload of key into a bucket, with the
// headers and ACL the object will have, and the checksum algorithm every
// part must send (sum.Algorithm, "" for none) and how the object's sum is
// made of theirs (sum.Composite).
func (s *Buckets) CreateUpload(ctx context.Context, c Caller, bucketName, key string, h openami.ObjectHeaders, acl ACLInput, sum openami.Checksum) (openami.Upload, error) {
	if err := checkKey(key); err != nil {
		return openami.Upload{}, err
	}
	if err := CheckTags(h.Tags); err != nil {
		return openami.Upload{}, err
	}
	var u openami.Upload
	err := s.update(ctx, func(tx metadata.Tx) error {
		b, err := bucket(tx, bucketName)
		if err != nil {
			return err
		}
		if err := writable(b, c, key); err != nil {
			return err
		}
		a, err := acl.resolve(b.AccountID, func() ([]string, error) { return identity.AccountIDs(tx) })
		if err != nil {
			return err
		}
		u = openami.Upload{ID: randomHex(24), BucketID: b.ID, Key: key, AccountID: ownerOf(c, b), Initiated: s.nowUTC(), Headers: h, ACL: a,
			Checksum: openami.Checksum{Algorithm: sum.Algorithm, Composite: sum.Composite}}
		return tx.Objects().CreateUpload(u)
	})
	return u, err
}

// upload returns the bucket and the upload id of key if c may write it.
func (s *Buckets) upload(tx metadata.Tx, c Caller, bucketName, key, id string) (openami.Bucket, openami.Upload, error) {
	b, err := bucket(tx, bucketName)
	if err != nil {
		return b, openami.Upload{}, err
	}
	if err := writable(b, c, key); err != nil {
		return b, openami.Upload{}, err
	}
	u, err := tx.Objects().GetUpload(b.ID, id)
	if err == nil && u.Key != key {
		err = openami.Errorf(openami.NotFound, openami.ResourceUpload, "The specified upload does not exist.")
	}
	return b, u, err
}

func checkPartNumber(n int) error {
	if n < 1 || n > MaxParts {
		return openami.Errorf(openami.InvalidParameter, openami.ResourcePart, "Part number must be an integer between 1 and %d, inclusive", MaxParts)
	}
	return nil
}

// UploadPart stores part number n of an upload: size bytes of body. A
// body that is a Summed gives the part's ETag and checksum, whose
// algorithm must be the upload's when the upload has one
// (InvalidParameter on ResourcePart, before any byte is read).
func (s *Buckets) UploadPart(ctx context.Context, c Caller, bucketName, key, uploadID string, n int, body io.Reader, size int64) (openami.UploadPart, error) {
	if err := checkPartNumber(n); err != nil {
		return openami.UploadPart{}, err
	}
	if size > MaxPutSize {
		return openami.UploadPart{}, tooLarge("a part", MaxPutSize)
	}
	var b openami.Bucket
	var u openami.Upload
	err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		b, u, err = s.upload(tx, c, bucketName, key, uploadID)
		return err
	})
	if err != nil {
		return openami.UploadPart{}, err
	}
	if sb, ok := body.(Summed); ok && u.Checksum.Algorithm != "" && sb.Checksum().Algorithm != u.Checksum.Algorithm {
		got := sb.Checksum().Algorithm
		if got == "" {
			got = "null"
		}
		return openami.UploadPart{}, openami.Errorf(openami.InvalidParameter, openami.ResourcePart,
			"Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s", strings.ToLower(u.Checksum.Algorithm), strings.ToLower(got))
	}
	blobKey, sum, cs, err := s.storeBlob(ctx, b, body, size)
	if err != nil {
		return openami.UploadPart{}, err
	}
	p := openami.UploadPart{UploadID: uploadID, Number: n, Blob: blobKey, Size: size, ETag: hex.EncodeToString(sum), LastModified: s.nowUTC(), Checksum: cs}
	return p, s.commitPart(ctx, b, c, key, p)
}

// commitPart records a stored part, then deletes the blob of the part it
// replaced; when it fails, the part's blob is deleted.
func (s *Buckets) commitPart(ctx context.Context, b openami.Bucket, c Caller, key string, p openami.UploadPart) error {
	var old *openami.UploadPart
	err := s.update(ctx, func(tx metadata.Tx) error {
		old = nil
		if _, _, err := s.upload(tx, c, b.Name, key, p.UploadID); err != nil {
			return err
		}
		var err error
		old, err = tx.Objects().PutPart(p)
		return err
	})
	if err != nil {
		s.dropBlobs(b, []openami.ObjectPart{{Blob: p.Blob}})
		return err
	}
	if old != nil {
		s.dropBlobs(b, []openami.ObjectPart{{Blob: old.Blob}})
	}
	return nil
}

// Summer reads r through a Summed computing the algorithm's checksum
// ("" for none besides the MD5): the S3 API's, for the bytes a copy
// reads.
type Summer func(r io.Reader, algorithm string) Summed

// UploadPartCopy stores part n of an upload from the object srcKey of
// srcBucket (which c must be able to read, under cond), or its range rng,
// summed by sum (when not nil) with the upload's checksum algorithm.
func (s *Buckets) UploadPartCopy(ctx context.Context, c Caller, bucketName, key, uploadID string, n int, srcBucket, srcKey string, rng *ByteRange, cond Conditions, sum Summer) (openami.UploadPart, error) {
	if err := checkPartNumber(n); err != nil {
		return openami.UploadPart{}, err
	}
	var u openami.Upload
	err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		_, u, err = s.upload(tx, c, bucketName, key, uploadID)
		return err
	})
	if err != nil {
		return openami.UploadPart{}, err
	}
	src, err := s.GetObject(ctx, c, srcBucket, srcKey, rng, Conditions{})
	if err != nil {
		return openami.UploadPart{}, err
	}
	defer src.Body.Close()
	if err := cond.check(src.Object, false); err != nil {
		return openami.UploadPart{}, err
	}
	if src.Length > MaxPutSize {
		return openami.UploadPart{}, tooLarge("a part", MaxPutSize)
	}
	var body io.Reader = src.Body
	if sum != nil {
		body = sum(src.Body, u.Checksum.Algorithm)
	}
	return s.UploadPart(ctx, c, bucketName, key, uploadID, n, body, src.Length)
}

// CompletedPart is a part a CompleteMultipartUpload lists.
type CompletedPart struct {
	Number int
	ETag   string // without quotes
	// Checksum is the part's checksum value as the client lists it, ""
	// when it lists none.
	Checksum string
}

// Combine makes the checksum of an upload's object from the upload's
// (its algorithm, and whether composite) and its listed parts', in order;
// it fails when the parts' sums do not make one. Summing is the S3 API's
// business (package api/s3/checksum): object storage only keeps sums.
type Combine func(upload openami.Checksum, parts []openami.UploadPart) (openami.Checksum, error)

// CompleteUpload makes the object of an upload from the listed parts,
// which must be in ascending order (ReasonOrder), each uploaded with that
// ETag and checksum, if listed with one (InvalidParameter on
// ResourcePart), each but the last at least MinPartSize (ReasonTooSmall).
// The object's checksum is combine's of the upload's and the parts' when
// the upload has an algorithm (combine may be nil otherwise). Parts not
// listed are deleted.
func (s *Buckets) CompleteUpload(ctx context.Context, c Caller, bucketName, key, uploadID string, list []CompletedPart, combine Combine) (openami.Object, error) {
	if len(list) == 0 {
		return openami.Object{}, openami.Errorf(openami.InvalidParameter, openami.ResourcePart,
			"You must specify at least one part")
	}
	for i := range list {
		if i > 0 && list[i].Number <= list[i-1].Number {
			return openami.Object{}, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourcePart, openami.ReasonOrder,
				"The list of parts was not in ascending order. The parts list must be specified in order by part number.")
		}
	}
	var (
		b        openami.Bucket
		o        openami.Object
		old      *openami.Object
		unlisted []openami.ObjectPart
	)
	err := s.update(ctx, func(tx metadata.Tx) error {
		old, unlisted = nil, nil
		var u openami.Upload
		var err error
		if b, u, err = s.upload(tx, c, bucketName, key, uploadID); err != nil {
			return err
		}
		parts, err := tx.Objects().ListParts(uploadID, 0, 0)
		if err != nil {
			return err
		}
		byNumber := map[int]openami.UploadPart{}
		for _, p := range parts {
			byNumber[p.Number] = p
		}
		o = openami.Object{BucketID: b.ID, Key: key, AccountID: u.AccountID, LastModified: s.nowUTC(), Headers: u.Headers, ACL: u.ACL}
		h := md5.New()
		listed := make([]openami.UploadPart, 0, len(list))
		for i, cp := range list {
			p, ok := byNumber[cp.Number]
			if !ok || p.ETag != cp.ETag || cp.Checksum != "" && cp.Checksum != p.Checksum.Value {
				return openami.Errorf(openami.InvalidParameter, openami.ResourcePart,
					"One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
			}
			if i < len(list)-1 && p.Size < MinPartSize {
				return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourcePart, openami.ReasonTooSmall,
					"Your proposed upload is smaller than the minimum allowed size")
			}
			sum, err := hex.DecodeString(p.ETag)
			if err != nil {
				return fmt.Errorf("objects: part %d has ETag %q: %w", p.Number, p.ETag, err)
			}
			h.Write(sum)
			o.Size += p.Size
			o.Parts = append(o.Parts, openami.ObjectPart{Blob: p.Blob, Size: p.Size})
			listed = append(listed, p)
			delete(byNumber, cp.Number)
		}
		if u.Checksum.Algorithm != "" {
			if combine == nil {
				return fmt.Errorf("objects: upload %s has a %s checksum and nothing combines it", uploadID, u.Checksum.Algorithm)
			}
			if o.Checksum, err = combine(u.Checksum, listed); err != nil {
				return err
			}
		}
		if o.Size > MaxObjectSize {
			return tooLarge("an object", MaxObjectSize)
		}
		o.ETag = fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(list))
		for _, p := range byNumber {
			unlisted = append(unlisted, openami.ObjectPart{Blob: p.Blob})
		}
		if _, err := tx.Objects().DeleteUpload(b.ID, uploadID); err != nil {
			return err
		}
		old, err = tx.Objects().Put(o)
		return err
	})
	if err != nil {
		return openami.Object{}, err
	}
	s.dropBlobs(b, unlisted)
	if old != nil {
		s.dropBlobs(b, old.Parts)
	}
	return o, nil
}

// AbortUpload aborts an upload and deletes its parts.
func (s *Buckets) AbortUpload(ctx context.Context, c Caller, bucketName, key, uploadID string) error {
	var b openami.Bucket
	var parts []openami.UploadPart
	err := s.update(ctx, func(tx metadata.Tx) error {
		var err error
		if b, _, err = s.upload(tx, c, bucketName, key, uploadID); err != nil {
			return err
		}
		parts, err = tx.Objects().DeleteUpload(b.ID, uploadID)
		return err
	})
	if err != nil {
		return err
	}
	gone := make([]openami.ObjectPart, len(parts))
	for i, p := range parts {
		gone[i] = openami.ObjectPart{Blob: p.Blob}
	}
	s.dropBlobs(b, gone)
	return nil
}

// PartsPage is a page of an upload's parts.
type PartsPage struct {
	Upload    openami.Upload
	Parts     []openami.UploadPart
	Truncated bool
}

// ListParts lists an upload's parts numbered above after, at most max
// (MaxListKeys when 0 or more).
func (s *Buckets) ListParts(ctx context.Context, c Caller, bucketName, key, uploadID string, after, maxParts int) (PartsPage, error) {
	if maxParts <= 0 || maxParts > MaxListKeys {
		maxParts = MaxListKeys
	}
	var pg PartsPage
	err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		if _, pg.Upload, err = s.upload(tx, c, bucketName, key, uploadID); err != nil {
			return err
		}
		pg.Parts, err = tx.Objects().ListParts(uploadID, after, maxParts+1)
		return err
	})
	if len(pg.Parts) > maxParts {
		pg.Parts, pg.Truncated = pg.Parts[:maxParts], true
	}
	return pg, err
}

// UploadsPage is a page of a bucket's uploads.
type UploadsPage struct {
	Uploads        []openami.Upload
	CommonPrefixes []string
	Truncated      bool
}

// ListUploads lists a bucket's uploads in progress after (keyMarker,
// idMarker) whose keys start with prefix, grouped by delimiter as
// ListObjects groups keys.
func (s *Buckets) ListUploads(ctx context.Context, c Caller, bucketName, prefix, delimiter, keyMarker, idMarker string, maxUploads int) (UploadsPage, error) {
	if maxUploads <= 0 || maxUploads > MaxListKeys {
		maxUploads = MaxListKeys
	}
	var pg UploadsPage
	err := s.view(ctx, func(tx metadata.Tx) error {
		pg = UploadsPage{}
		b, err := bucket(tx, bucketName)
		if err != nil {
			return err
		}
		if err := allowed(b, c, access{action: ActListUploads, resource: bucketARN(b.Name), owner: b.AccountID, acl: b.ACL, perm: openami.PermRead}); err != nil {
			return err
		}
		if keyMarker != "" && idMarker == "" {
			// A key marker alone skips every upload of that key: "~" is
			// above every upload id (lower-case hex).
			idMarker = "~"
		}
		list, err := tx.Objects().ListUploads(b.ID, metadata.UploadQuery{Prefix: prefix, AfterKey: keyMarker, AfterID: idMarker})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, u := range list {
			if len(pg.Uploads)+len(pg.CommonPrefixes) == maxUploads {
				pg.Truncated = true
				break
			}
			if cp, ok := commonPrefix(u.Key, prefix, delimiter); ok {
				if !seen[cp] {
					seen[cp] = true
					pg.CommonPrefixes = append(pg.CommonPrefixes, cp)
				}
				continue
			}
			pg.Uploads = append(pg.Uploads, u)
		}
		return nil
	})
	return pg, err
}
