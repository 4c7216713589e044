// Package objects is openami's object storage, the rules behind the S3
// API: buckets, objects, multipart uploads, ACLs and a subset of bucket
// policies.
//
// Bucket names are global (as on S3) and each bucket lives in one region.
// An object's bytes are blobs in its bucket's region's blob store (the
// same store the block store uses), named objects/BUCKET-ID/RANDOM — never
// by the user's key. A single PUT is one blob; each part of a multipart
// upload is one blob, and completing the upload writes the object's
// record naming its parts' blobs, without copying a byte. Bytes are
// stored first (a blob Put is atomic), then the record that names them in
// one metadata transaction; deleting an object removes its record, then
// its blobs. A blob no record names (a crash between the two, a failed
// delete) is removed by Sweep once older than a grace period and found
// unnamed by two sweeps.
//
// Who may do what: a bucket's or object's owner may do everything to it;
// others what its ACL grants (docs/S3.md) and its bucket's policy allows,
// and an explicit Deny of the policy refuses even the owner's principals.
// A Caller is an account's principal, an anonymous caller, or EC2 itself
// (reading bundles it launches: what the ACL grants GranteeEC2, as the
// canned ACL aws-exec-read does).
package objects

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/blob"
	"github.com/openami/openami/metadata"
)

// Limits of S3.
const (
	// MaxObjectSize is the largest object: 5 TiB.
	MaxObjectSize = 5 << 40
	// MaxPutSize is the largest object a single PUT (or copy) stores,
	// and the largest part: 5 GiB.
	MaxPutSize = 5 << 30
	// MinPartSize is the smallest part but the last: 5 MiB.
	MinPartSize = 5 << 20
	// MaxParts is the most parts of an upload, and the highest part
	// number.
	MaxParts = 10000
	// MaxKeyLen is the longest object key, in bytes.
	MaxKeyLen = 1024
	// MaxListKeys is the most keys, uploads or parts one listing returns.
	MaxListKeys = 1000
)

// SweepGrace is how old an unnamed blob must be before Sweep removes it:
// far above the time between a blob's Put and the commit of the record
// that names it.
const SweepGrace = time.Hour

// SweepConfirm is how long a blob must have been found unnamed, by an
// earlier Sweep, before a Sweep removes it: far above the time between a
// blob's Put returning and the commit of the record that names it.
const SweepConfirm = time.Minute

// Config is what Buckets is built from.
type Config struct {
	Store   metadata.Store
	Regions []openami.Region
	// Blobs is each region's blob store: objects are stored in their
	// bucket's region's.
	Blobs map[string]blob.Store
	Clock openami.Clock
}

// Buckets is object storage: buckets and their objects.
type Buckets struct {
	store   metadata.Store
	regions []openami.Region
	blobs   map[string]blob.Store
	now     openami.Clock

	// unnamed holds the blobs the last Sweep found unnamed, with when
	// they were first found so (sweep.go).
	sweepMu sync.Mutex
	unnamed map[string]time.Time
}

// New returns object storage over cfg.
func New(cfg Config) *Buckets {
	b := &Buckets{store: cfg.Store, regions: cfg.Regions, blobs: cfg.Blobs, now: cfg.Clock}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// Caller is who makes a request: an account's principal, an anonymous
// caller (the zero Caller), or EC2 itself.
type Caller struct {
	// Principal is the account's principal; AccountID is "" for an
	// anonymous caller and for EC2.
	Principal openami.Principal
	// EC2 is true when EC2 itself reads (a launch, BundleInstance).
	EC2 bool
}

// As is the caller a principal is.
func As(p openami.Principal) Caller { return Caller{Principal: p} }

// Anonymous is a caller who did not sign the request.
func Anonymous() Caller { return Caller{} }

// EC2 is EC2 itself, reading for a launch.
func EC2() Caller { return Caller{EC2: true} }

// account returns the caller's account id, "" for anonymous and EC2.
func (c Caller) account() string { return c.Principal.AccountID }

// nowUTC returns the clock's time in UTC, truncated to milliseconds as
// S3's timestamps are.
func (s *Buckets) nowUTC() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// blobsOf returns the blob store of a bucket's region.
func (s *Buckets) blobsOf(b openami.Bucket) (blob.Store, error) {
	bs, ok := s.blobs[b.Region]
	if !ok {
		return nil, fmt.Errorf("objects: bucket %s: no blob store for region %s", b.Name, b.Region)
	}
	return bs, nil
}

// randomHex returns n random bytes in lower-case hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// blobPrefix is the prefix of every object blob.
const blobPrefix = "objects/"

// newBlobKey names a new blob of bucket b.
func newBlobKey(b openami.Bucket) string { return blobPrefix + b.ID + "/" + randomHex(16) }

// view and update run fn in a read or write transaction.
func (s *Buckets) view(ctx context.Context, fn func(metadata.Tx) error) error {
	return s.store.View(ctx, fn)
}

func (s *Buckets) update(ctx context.Context, fn func(metadata.Tx) error) error {
	return s.store.Update(ctx, fn)
}

// region returns the served region of that name.
func (s *Buckets) region(name string) bool {
	for _, r := range s.regions {
		if r.Name == name {
			return true
		}
	}
	return false
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
