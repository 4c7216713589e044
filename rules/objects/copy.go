package objects

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/identity"
)

// CopyInput is a CopyObject: the source, under SourceConditions, copied
// to Bucket/Key with the source's headers (ReplaceHeaders false: the
// metadata directive COPY) or Headers (REPLACE), and ACL. The tags are
// the source's that the caller may read (ReplaceTags false: the tagging
// directive COPY) or Tags (REPLACE), whatever the metadata directive.
type CopyInput struct {
	SourceBucket, SourceKey string
	SourceConditions        Conditions
	Bucket, Key             string
	ReplaceHeaders          bool
	Headers                 openami.ObjectHeaders
	ReplaceTags             bool
	Tags                    []openami.Tag
	ACL                     ACLInput
}

// CopyObject copies an object's bytes into a new object (objects never
// share blobs, so that deleting one never touches another). Copying an
// object onto itself with COPY is InvalidParameter, as on S3.
func (s *Buckets) CopyObject(ctx context.Context, c Caller, in CopyInput) (openami.Object, error) {
	if err := checkKey(in.Key); err != nil {
		return openami.Object{}, err
	}
	if err := CheckTags(in.Tags); err != nil {
		return openami.Object{}, err
	}
	if in.SourceBucket == in.Bucket && in.SourceKey == in.Key && !in.ReplaceHeaders {
		return openami.Object{}, openami.Errorf(openami.InvalidParameter, openami.ResourceObject,
			"This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	src, err := s.GetObject(ctx, c, in.SourceBucket, in.SourceKey, nil, Conditions{})
	if err != nil {
		return openami.Object{}, err
	}
	defer src.Body.Close()
	if err := in.SourceConditions.check(src.Object, false); err != nil {
		return openami.Object{}, err
	}
	if src.Length > MaxPutSize {
		return openami.Object{}, tooLarge("a copy", MaxPutSize)
	}
	var b openami.Bucket
	var acl openami.ACL
	err = s.view(ctx, func(tx metadata.Tx) error {
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
	key, sum, _, err := s.storeBlob(ctx, b, src.Body, src.Length)
	if err != nil {
		return openami.Object{}, err
	}
	h := src.Object.Headers
	if in.ReplaceHeaders {
		h = in.Headers
	}
	h.Tags = src.Object.Headers.Tags
	if in.ReplaceTags {
		h.Tags = in.Tags
	}
	o := openami.Object{BucketID: b.ID, Key: in.Key, AccountID: ownerOf(c, b), Size: src.Length, LastModified: s.nowUTC(),
		Headers: h, ACL: acl, Parts: []openami.ObjectPart{{Blob: key, Size: src.Length}}}
	o.ETag = hexString(sum)
	if !src.Object.Checksum.Composite {
		// The same bytes: the same sum. A composite sum names parts the
		// copy does not have.
		o.Checksum = src.Object.Checksum
	}
	return o, s.commit(ctx, b, c, o)
}
