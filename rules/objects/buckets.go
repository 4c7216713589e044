package objects

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/identity"
)

// CheckBucketName returns nil for a name S3 accepts for a new bucket, and
// a Malformed error on ResourceBucket otherwise: 3 to 63 characters of
// lower-case letters, digits, dots and hyphens, beginning and ending with
// a letter or digit, no two adjacent dots, not an IPv4 address, not
// beginning with xn--, sthree- or amzn-s3-demo-, and not ending with
// -s3alias or --ol-s3.
func CheckBucketName(name string) error {
	bad := func() error {
		return openami.Errorf(openami.Malformed, openami.ResourceBucket, "The specified bucket is not valid.")
	}
	if len(name) < 3 || len(name) > 63 {
		return bad()
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return bad()
		}
	}
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	if !alnum(name[0]) || !alnum(name[len(name)-1]) || strings.Contains(name, "..") {
		return bad()
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
		return bad()
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return bad()
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3"} {
		if strings.HasSuffix(name, s) {
			return bad()
		}
	}
	return nil
}

// CreateBucket creates the bucket name in region (the request's
// LocationConstraint, or the caller's region when ""), owned by the
// caller's account, with acl. Duplicate with ReasonOwnedByYou when the
// caller's account already has it (S3 answers so in every region but
// us-east-1, where it succeeds; the API decides), Duplicate when another
// has it; Malformed for a bad name; InvalidParameter for a region not
// served; Unauthorized for an anonymous caller.
func (s *Buckets) CreateBucket(ctx context.Context, c Caller, name, region string, acl ACLInput) (openami.Bucket, error) {
	if c.account() == "" {
		return openami.Bucket{}, openami.Errorf(openami.Unauthorized, "", "Access Denied")
	}
	if err := CheckBucketName(name); err != nil {
		return openami.Bucket{}, err
	}
	if region == "" {
		region = c.Principal.Region
	}
	if !s.region(region) {
		return openami.Bucket{}, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceRegion, openami.ReasonConstraint,
			"The specified location-constraint is not valid")
	}
	b := openami.Bucket{ID: randomHex(8), Name: name, Region: region, AccountID: c.account(), CreatedAt: s.nowUTC()}
	err := s.update(ctx, func(tx metadata.Tx) error {
		a, err := acl.resolve(b.AccountID, func() ([]string, error) { return identity.AccountIDs(tx) })
		if err != nil {
			return err
		}
		b.ACL = a
		err = tx.Buckets().Create(b)
		if errors.Is(err, openami.ErrDuplicate) {
			if old, gerr := tx.Buckets().Get(name); gerr == nil && old.AccountID == b.AccountID {
				b = old
				return openami.ReasonErrorf(openami.Duplicate, openami.ResourceBucket, openami.ReasonOwnedByYou,
					"Your previous request to create the named bucket succeeded and you already own it.")
			}
			return openami.Errorf(openami.Duplicate, openami.ResourceBucket,
				"The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
		}
		return err
	})
	return b, err
}

// bucket returns the bucket name; NotFound if there is none.
func bucket(tx metadata.Tx, name string) (openami.Bucket, error) {
	return tx.Buckets().Get(name)
}

// HeadBucket returns the bucket name if the caller may list it.
func (s *Buckets) HeadBucket(ctx context.Context, c Caller, name string) (openami.Bucket, error) {
	var b openami.Bucket
	err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		if b, err = bucket(tx, name); err != nil {
			return err
		}
		return allowed(b, c, access{action: ActListBucket, resource: bucketARN(name), owner: b.AccountID, acl: b.ACL, perm: openami.PermRead})
	})
	return b, err
}

// BucketLocation returns the region of the bucket; only its owner (or
// whom its policy allows) may ask.
func (s *Buckets) BucketLocation(ctx context.Context, c Caller, name string) (string, error) {
	var b openami.Bucket
	err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		if b, err = bucket(tx, name); err != nil {
			return err
		}
		return allowed(b, c, access{action: ActGetBucketLocation, resource: bucketARN(name), owner: b.AccountID})
	})
	return b.Region, err
}

// ListBuckets returns the caller's account's buckets, by name.
func (s *Buckets) ListBuckets(ctx context.Context, c Caller) ([]openami.Bucket, error) {
	if c.account() == "" {
		return nil, openami.Errorf(openami.Unauthorized, "", "Access Denied")
	}
	var list []openami.Bucket
	err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		list, err = tx.Buckets().List(c.account())
		return err
	})
	return list, err
}

// DeleteBucket deletes an empty bucket: InUse with ReasonNotEmpty while
// it holds objects or multipart uploads.
func (s *Buckets) DeleteBucket(ctx context.Context, c Caller, name string) error {
	return s.update(ctx, func(tx metadata.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		if err := allowed(b, c, access{action: ActDeleteBucket, resource: bucketARN(name), owner: b.AccountID}); err != nil {
			return err
		}
		empty, err := tx.Objects().Empty(b.ID)
		if err != nil {
			return err
		}
		if !empty {
			return openami.ReasonErrorf(openami.InUse, openami.ResourceBucket, openami.ReasonNotEmpty, "The bucket you tried to delete is not empty")
		}
		return tx.Buckets().Delete(name)
	})
}

// BucketACL returns a bucket's owner and ACL.
func (s *Buckets) BucketACL(ctx context.Context, c Caller, name string) (owner string, acl openami.ACL, err error) {
	err = s.view(ctx, func(tx metadata.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		owner, acl = b.AccountID, b.ACL
		return allowed(b, c, access{action: ActGetBucketACL, resource: bucketARN(name), owner: b.AccountID, acl: b.ACL, perm: openami.PermReadACP})
	})
	return owner, acl, err
}

// PutBucketACL replaces a bucket's ACL.
func (s *Buckets) PutBucketACL(ctx context.Context, c Caller, name string, in ACLInput) error {
	return s.update(ctx, func(tx metadata.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		if err := allowed(b, c, access{action: ActPutBucketACL, resource: bucketARN(name), owner: b.AccountID, acl: b.ACL, perm: openami.PermWriteACP}); err != nil {
			return err
		}
		if b.ACL, err = in.resolve(b.AccountID, func() ([]string, error) { return identity.AccountIDs(tx) }); err != nil {
			return err
		}
		return tx.Buckets().Update(b)
	})
}

// BucketPolicy returns a bucket's policy; NotFound on ResourceBucketPolicy
// when it has none. Only the owner may ask.
func (s *Buckets) BucketPolicy(ctx context.Context, c Caller, name string) (string, error) {
	var doc string
	err := s.view(ctx, func(tx metadata.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		if err := onlyOwner(c, b.AccountID); err != nil {
			return err
		}
		if b.Policy == "" {
			return openami.Errorf(openami.NotFound, openami.ResourceBucketPolicy, "The bucket policy does not exist")
		}
		doc = b.Policy
		return nil
	})
	return doc, err
}

// PutBucketPolicy sets a bucket's policy, which must be of the supported
// subset (Malformed on ResourceBucketPolicy otherwise). Only the owner
// may.
func (s *Buckets) PutBucketPolicy(ctx context.Context, c Caller, name, doc string) error {
	return s.update(ctx, func(tx metadata.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		if err := onlyOwner(c, b.AccountID); err != nil {
			return err
		}
		if _, err := parsePolicy(doc, name); err != nil {
			return err
		}
		if doc == "" {
			return malformed("Policies must be valid JSON and the first byte must be '{'")
		}
		b.Policy = doc
		return tx.Buckets().Update(b)
	})
}

// DeleteBucketPolicy removes a bucket's policy (none is not an error).
func (s *Buckets) DeleteBucketPolicy(ctx context.Context, c Caller, name string) error {
	return s.update(ctx, func(tx metadata.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		if err := onlyOwner(c, b.AccountID); err != nil {
			return err
		}
		b.Policy = ""
		return tx.Buckets().Update(b)
	})
}
