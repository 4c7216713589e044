package objects

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
	"unicode/utf8"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/identity"
)

// PutInput is a PutObject: the object's bucket, key, headers and ACL,
// and its body of Size bytes. A Body that fails (the API's check of the
// payload's signature or of its checksums) fails the Put with its error,
// and nothing is stored. A Body that is a Summed gives the object's ETag
// and checksum; the MD5 of any other is computed here.
type PutInput struct {
	Bucket, Key string
	Headers     openami.ObjectHeaders
	ACL         ACLInput
	Body        io.Reader
	Size        int64
}

// Summed is a body that sums itself as it is read, as the S3 API's
// reader does (one pass computes the MD5 and the checksum the client
// asked for, and checks those the client sent). Its last Read returns
// io.EOF only when every check passed; then MD5 and Checksum hold the
// sums to store.
type Summed interface {
	io.Reader
	// MD5 is the MD5 of the bytes read, once Read has returned io.EOF.
	MD5() []byte
	// Checksum is the body's checksum: its Algorithm is known before
	// the first Read ("" for none), its Value once Read has returned
	// io.EOF.
	Checksum() openami.Checksum
}

// checkKey refuses keys S3 refuses: empty, longer than MaxKeyLen bytes,
// not UTF-8.
func checkKey(key string) error {
	if key == "" || !utf8.ValidString(key) {
		return openami.Errorf(openami.InvalidParameter, openami.ResourceObject, "The specified key is not valid.")
	}
	if len(key) > MaxKeyLen {
		return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceObject, openami.ReasonTooLong, "Your key is too long")
	}
	return nil
}

func tooLarge(what string, max int64) error {
	return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceObject, openami.ReasonTooLarge,
		"Your proposed upload exceeds the maximum allowed size (%s at most %d bytes)", what, max)
}

// md5Reader hashes what it reads with MD5: the ETag of a body that does
// not sum itself (a copy, an in-process Put).
type md5Reader struct {
	r io.Reader
	h hash.Hash
}

func (d *md5Reader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	return n, err
}

func (d *md5Reader) MD5() []byte                { return d.h.Sum(nil) }
func (d *md5Reader) Checksum() openami.Checksum { return openami.Checksum{} }

// storeBlob stores size bytes of r as a new blob of bucket b and returns
// its key and r's sums (see Summed). It fails with r's own error
// (wrapped) when r fails.
func (s *Buckets) storeBlob(ctx context.Context, b openami.Bucket, r io.Reader, size int64) (string, []byte, openami.Checksum, error) {
	bs, err := s.blobsOf(b)
	if err != nil {
		return "", nil, openami.Checksum{}, err
	}
	key := newBlobKey(b)
	sr, ok := r.(Summed)
	if !ok {
		sr = &md5Reader{r: r, h: md5.New()}
	}
	if err := bs.Put(ctx, key, sr, size); err != nil {
		var oe *openami.Error
		if errors.As(err, &oe) && oe.Class != openami.Internal {
			return "", nil, openami.Checksum{}, err
		}
		return "", nil, openami.Checksum{}, fmt.Errorf("objects: store %d bytes: %w", size, err)
	}
	return key, sr.MD5(), sr.Checksum(), nil
}

// dropBlobs deletes blobs no record names any more. A failure leaves them
// to Sweep, which removes every blob no record names: it is not the
// caller's failure, whose record is already gone.
func (s *Buckets) dropBlobs(b openami.Bucket, parts []openami.ObjectPart) {
	bs, err := s.blobsOf(b)
	if err != nil {
		return
	}
	for _, p := range parts {
		bs.Delete(context.Background(), p.Blob) //nolint:errcheck // Sweep removes what is left
	}
}

// writable checks that c may write key into b.
func writable(b openami.Bucket, c Caller, key string) error {
	return allowed(b, c, access{action: ActPutObject, resource: objectARN(b.Name, key), owner: b.AccountID, acl: b.ACL, perm: openami.PermWrite})
}

// PutObject stores an object, replacing any of the same key.
func (s *Buckets) PutObject(ctx context.Context, c Caller, in PutInput) (openami.Object, error) {
	if err := checkKey(in.Key); err != nil {
		return openami.Object{}, err
	}
	if in.Size > MaxPutSize {
		return openami.Object{}, tooLarge("a single PUT", MaxPutSize)
	}
	if err := CheckTags(in.Headers.Tags); err != nil {
		return openami.Object{}, err
	}
	var b openami.Bucket
	var acl openami.ACL
	err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		if b, err = bucket(tx, in.Bucket); err != nil {
			return err
		}
		if err := writable(b, c, in.Key); err != nil {
			return err
		}
		acl, err = in.ACL.resolve(b.AccountID, func() ([]string, error) { return identity.AccountIDs(tx) })
		return err
	})
	if err != nil {
		return openami.Object{}, err
	}
	key, sum, cs, err := s.storeBlob(ctx, b, in.Body, in.Size)
	if err != nil {
		return openami.Object{}, err
	}
	o := openami.Object{BucketID: b.ID, Key: in.Key, AccountID: ownerOf(c, b), Size: in.Size, ETag: hex.EncodeToString(sum),
		LastModified: s.nowUTC(), Headers: in.Headers, ACL: acl, Parts: []openami.ObjectPart{{Blob: key, Size: in.Size}}, Checksum: cs}
	return o, s.commit(ctx, b, c, o)
}

// ownerOf is the owner of an object c writes into b: c's account, or
// the bucket's owner when EC2 writes.
func ownerOf(c Caller, b openami.Bucket) string {
	if c.account() == "" {
		return b.AccountID
	}
	return c.account()
}

// commit records o, whose blobs are stored, checking again that c may
// write it (the bucket may have gone or changed since), then deletes the
// blobs of the object it replaced; when it fails, o's blobs are deleted.
func (s *Buckets) commit(ctx context.Context, b openami.Bucket, c Caller, o openami.Object) error {
	var old *openami.Object
	err := s.update(ctx, func(tx metadata.Tx) error {
		old = nil
		nb, err := bucket(tx, b.Name)
		if err != nil {
			return err
		}
		if nb.ID != b.ID {
			return openami.Errorf(openami.NotFound, openami.ResourceBucket, "The specified bucket does not exist")
		}
		if err := writable(nb, c, o.Key); err != nil {
			return err
		}
		old, err = tx.Objects().Put(o)
		return err
	})
	if err != nil {
		s.dropBlobs(b, o.Parts)
		return err
	}
	if old != nil {
		s.dropBlobs(b, old.Parts)
	}
	return nil
}

// Conditions are a request's preconditions (zero fields: none).
type Conditions struct {
	IfMatch           string // ETag, without quotes, or "*"
	IfNoneMatch       string
	IfModifiedSince   time.Time
	IfUnmodifiedSince time.Time
}

// check applies the conditions to o as S3 does: If-Match, then
// If-Unmodified-Since (ignored when If-Match held), fail with
// ReasonPrecondition; If-None-Match, then If-Modified-Since (ignored when
// If-None-Match was given), with ReasonNotModified on a read (get) and
// ReasonPrecondition otherwise.
func (cd Conditions) check(o openami.Object, get bool) error {
	failed := func() error {
		return openami.ReasonErrorf(openami.IncorrectState, openami.ResourceObject, openami.ReasonPrecondition,
			"At least one of the pre-conditions you specified did not hold")
	}
	notMod := func() error {
		if !get {
			return failed()
		}
		return openami.ReasonErrorf(openami.IncorrectState, openami.ResourceObject, openami.ReasonNotModified, "Not Modified")
	}
	lm := o.LastModified.Truncate(time.Second)
	if cd.IfMatch != "" {
		if cd.IfMatch != "*" && cd.IfMatch != o.ETag {
			return failed()
		}
	} else if !cd.IfUnmodifiedSince.IsZero() && lm.After(cd.IfUnmodifiedSince) {
		return failed()
	}
	if cd.IfNoneMatch != "" {
		if cd.IfNoneMatch == "*" || cd.IfNoneMatch == o.ETag {
			return notMod()
		}
	} else if !cd.IfModifiedSince.IsZero() && !lm.After(cd.IfModifiedSince) {
		return notMod()
	}
	return nil
}

// ByteRange is a range of an object's bytes: First to Last inclusive;
// Last < 0 means to the end; First < 0 means the last -First bytes
// (a suffix range).
type ByteRange struct {
	First, Last int64
}

// resolve returns the offset and length of r in an object of size bytes;
// InvalidParameter with ReasonRange when it selects nothing.
func (r ByteRange) resolve(size int64) (int64, int64, error) {
	first, last := r.First, r.Last
	if first < 0 {
		first = max(size+first, 0)
		last = size - 1
	} else if last < 0 || last >= size {
		last = size - 1
	}
	if first >= size || first > last {
		return 0, 0, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceObject, openami.ReasonRange,
			"The requested range is not satisfiable")
	}
	return first, last - first + 1, nil
}

// Reading is an object opened for reading: its record, the range of its
// bytes Body holds (Offset, Length), and Body, which the caller closes.
type Reading struct {
	Object openami.Object
	Offset int64
	Length int64
	Ranged bool
	Body   io.ReadCloser
}

// readable checks that c may read the object o of b.
func readable(b openami.Bucket, o openami.Object, c Caller) error {
	return allowed(b, c, access{action: ActGetObject, resource: objectARN(b.Name, o.Key), owner: o.AccountID, acl: o.ACL, perm: openami.PermRead})
}

// lookup returns the bucket and object of key if c may read it.
func (s *Buckets) lookup(ctx context.Context, c Caller, bucketName, key string) (openami.Bucket, openami.Object, error) {
	var b openami.Bucket
	var o openami.Object
	err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		if b, err = bucket(tx, bucketName); err != nil {
			return err
		}
		o, err = tx.Objects().Get(b.ID, key)
		if errors.Is(err, openami.ErrNotFound) {
			// S3 answers AccessDenied for a missing key to one who may
			// not list the bucket, so that keys do not leak.
			if lerr := allowed(b, c, access{action: ActListBucket, resource: bucketARN(b.Name), owner: b.AccountID, acl: b.ACL, perm: openami.PermRead}); lerr != nil {
				return lerr
			}
			return err
		}
		if err != nil {
			return err
		}
		if err := readable(b, o, c); err != nil {
			return err
		}
		o = tagsVisible(b, o, c)
		return nil
	})
	return b, o, err
}

// HeadObject returns an object's record if c may read it and cond holds.
func (s *Buckets) HeadObject(ctx context.Context, c Caller, bucketName, key string, cond Conditions) (openami.Object, error) {
	_, o, err := s.lookup(ctx, c, bucketName, key)
	if err != nil {
		return o, err
	}
	return o, cond.check(o, true)
}

// GetObject opens an object, or the range rng of it when not nil, for
// reading, if c may read it and cond holds.
func (s *Buckets) GetObject(ctx context.Context, c Caller, bucketName, key string, rng *ByteRange, cond Conditions) (*Reading, error) {
	b, o, err := s.lookup(ctx, c, bucketName, key)
	if err != nil {
		return nil, err
	}
	if err := cond.check(o, true); err != nil {
		return nil, err
	}
	off, n := int64(0), o.Size
	if rng != nil {
		if off, n, err = rng.resolve(o.Size); err != nil {
			return nil, err
		}
	}
	bs, err := s.blobsOf(b)
	if err != nil {
		return nil, err
	}
	return &Reading{Object: o, Offset: off, Length: n, Ranged: rng != nil, Body: &partsReader{ctx: ctx, store: bs, parts: o.Parts, skip: off, left: n}}, nil
}

// partsReader reads Length bytes from Offset of the concatenation of
// parts' blobs, opening each blob when it reaches it: never more than one
// open, never a blob in memory.
type partsReader struct {
	ctx   context.Context
	store blob.Store
	parts []openami.ObjectPart
	skip  int64 // bytes still to skip before the range
	left  int64 // bytes of the range still to read
	cur   io.ReadCloser
}

func (r *partsReader) Read(p []byte) (int, error) {
	for {
		if r.left <= 0 {
			return 0, io.EOF
		}
		if r.cur == nil {
			for len(r.parts) > 0 && r.skip >= r.parts[0].Size {
				r.skip -= r.parts[0].Size
				r.parts = r.parts[1:]
			}
			if len(r.parts) == 0 {
				return 0, fmt.Errorf("objects: object shorter than its record")
			}
			rc, err := r.store.Get(r.ctx, r.parts[0].Blob)
			if err != nil {
				return 0, fmt.Errorf("objects: open blob: %w", err)
			}
			r.cur = rc
			if r.skip > 0 {
				if sk, ok := rc.(io.Seeker); ok {
					_, err = sk.Seek(r.skip, io.SeekStart)
				} else {
					_, err = io.CopyN(io.Discard, rc, r.skip)
				}
				if err != nil {
					return 0, fmt.Errorf("objects: skip in blob: %w", err)
				}
				r.skip = 0
			}
			r.parts = r.parts[1:]
		}
		if int64(len(p)) > r.left {
			p = p[:r.left]
		}
		n, err := r.cur.Read(p)
		r.left -= int64(n)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

func (r *partsReader) Close() error {
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}

// DeleteObject deletes an object; a missing key is not an error (as on
// S3).
func (s *Buckets) DeleteObject(ctx context.Context, c Caller, bucketName, key string) error {
	var b openami.Bucket
	var gone openami.Object
	err := s.update(ctx, func(tx metadata.Tx) error {
		gone = openami.Object{}
		var err error
		if b, err = bucket(tx, bucketName); err != nil {
			return err
		}
		if err := allowed(b, c, access{action: ActDeleteObject, resource: objectARN(b.Name, key), owner: b.AccountID, acl: b.ACL, perm: openami.PermWrite}); err != nil {
			return err
		}
		gone, err = tx.Objects().Delete(b.ID, key)
		if errors.Is(err, openami.ErrNotFound) {
			return nil
		}
		return err
	})
	if err == nil {
		s.dropBlobs(b, gone.Parts)
	}
	return err
}

// DeleteObjects deletes keys and returns each one's error (nil: deleted,
// or there was none); the error of the whole request when the bucket is
// missing.
func (s *Buckets) DeleteObjects(ctx context.Context, c Caller, bucketName string, keys []string) ([]error, error) {
	if _, err := s.headBucketOnly(ctx, bucketName); err != nil {
		return nil, err
	}
	errs := make([]error, len(keys))
	for i, k := range keys {
		errs[i] = s.DeleteObject(ctx, c, bucketName, k)
	}
	return errs, nil
}

// headBucketOnly returns a bucket without checking access.
func (s *Buckets) headBucketOnly(ctx context.Context, name string) (openami.Bucket, error) {
	var b openami.Bucket
	err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		b, err = bucket(tx, name)
		return err
	})
	return b, err
}

// ObjectACL returns an object's owner and ACL.
func (s *Buckets) ObjectACL(ctx context.Context, c Caller, bucketName, key string) (string, openami.ACL, error) {
	var o openami.Object
	err := s.view(ctx, func(tx metadata.Tx) error {
		b, err := bucket(tx, bucketName)
		if err != nil {
			return err
		}
		if o, err = tx.Objects().Get(b.ID, key); err != nil {
			return err
		}
		return allowed(b, c, access{action: ActGetObjectACL, resource: objectARN(b.Name, key), owner: o.AccountID, acl: o.ACL, perm: openami.PermReadACP})
	})
	return o.AccountID, o.ACL, err
}

// PutObjectACL replaces an object's ACL.
func (s *Buckets) PutObjectACL(ctx context.Context, c Caller, bucketName, key string, in ACLInput) error {
	return s.update(ctx, func(tx metadata.Tx) error {
		b, err := bucket(tx, bucketName)
		if err != nil {
			return err
		}
		o, err := tx.Objects().Get(b.ID, key)
		if err != nil {
			return err
		}
		if err := allowed(b, c, access{action: ActPutObjectACL, resource: objectARN(b.Name, key), owner: o.AccountID, acl: o.ACL, perm: openami.PermWriteACP}); err != nil {
			return err
		}
		if o.ACL, err = in.resolve(b.AccountID, func() ([]string, error) { return identity.AccountIDs(tx) }); err != nil {
			return err
		}
		_, err = tx.Objects().Put(o)
		return err
	})
}
