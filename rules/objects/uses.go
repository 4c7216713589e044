package objects

import (
	"context"
	"errors"
	"io"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// What other subsystems use of object storage, in process: rules/images
// reads bundle manifests, rules/instances reads bundle parts to launch
// (as EC2, which reads what an ACL grants GranteeEC2) and writes bundles
// (BundleInstance, CopyImage) into a bucket it makes sure exists.

// Open opens the object key of a bucket for reading by c (an account's
// principal, or EC2()), with its record. The caller closes the reader.
func (s *Buckets) Open(ctx context.Context, c Caller, bucketName, key string) (io.ReadCloser, openami.Object, error) {
	r, err := s.GetObject(ctx, c, bucketName, key, nil, Conditions{})
	if err != nil {
		return nil, openami.Object{}, err
	}
	return r.Body, r.Object, nil
}

// Put stores size bytes of r as the object key of a bucket, written by c
// (the account's principal on whose behalf EC2 writes, as BundleInstance
// writes into its caller's bucket: c must be allowed to write there),
// with the canned ACL acl ("" for private), and returns it.
func (s *Buckets) Put(ctx context.Context, c Caller, bucketName, key string, r io.Reader, size int64, h openami.ObjectHeaders, acl CannedACL) (openami.Object, error) {
	return s.PutObject(ctx, c, PutInput{Bucket: bucketName, Key: key, Headers: h, ACL: ACLInput{Canned: acl}, Body: r, Size: size})
}

// EnsureBucket makes sure p's account has the bucket name, creating it
// in p's region when nobody has it: Duplicate when another account has
// it.
func (s *Buckets) EnsureBucket(ctx context.Context, p openami.Principal, name string) (openami.Bucket, error) {
	b, err := s.CreateBucket(ctx, As(p), name, "", ACLInput{})
	if errors.Is(err, openami.ErrDuplicate) && openami.ReasonOf(err) == openami.ReasonOwnedByYou {
		return b, nil
	}
	return b, err
}

// Writable checks that c may write the object key into the bucket name:
// NotFound (about ResourceBucket) when there is no such bucket,
// AccessDenied when c may not (BundleInstance checks its caller's
// bucket before it records a task).
func (s *Buckets) Writable(ctx context.Context, c Caller, name, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return s.view(ctx, func(tx metadata.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		return writable(b, c, key)
	})
}
