package objects

import (
	"context"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// S3's limits on an object's tag set.
const (
	// MaxObjectTags is the most tags an object has.
	MaxObjectTags = 10
	// MaxTagKeyLen is the longest tag key, in Unicode characters.
	MaxTagKeyLen = 128
	// MaxTagValueLen is the longest tag value, in Unicode characters.
	MaxTagValueLen = 256
)

// tagError is the refusal of a tag set, as S3 words it.
func tagError(format string, args ...any) error {
	return openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceObject, openami.ReasonTag, format, args...)
}

// CheckTags checks a tag set against S3's rules: at most MaxObjectTags
// tags; keys of 1 to MaxTagKeyLen characters, not starting with "aws:",
// and values of at most MaxTagValueLen, both UTF-8 of letters, digits,
// spaces and + - = . _ : / @ (S3's tag restrictions); no key twice.
// It returns InvalidParameter with ReasonTag.
func CheckTags(tags []openami.Tag) error {
	if len(tags) > MaxObjectTags {
		return tagError("Object tags cannot be greater than %d", MaxObjectTags)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		switch {
		case t.Key == "" || !tagChars(t.Key):
			return tagError("The TagKey you have provided is invalid")
		case utf8.RuneCountInString(t.Key) > MaxTagKeyLen:
			return tagError("The TagKey you have provided is too long, max %d", MaxTagKeyLen)
		case strings.HasPrefix(t.Key, "aws:"):
			return tagError("Your TagKey cannot be prefixed with aws:")
		case !tagChars(t.Value):
			return tagError("The TagValue you have provided is invalid")
		case utf8.RuneCountInString(t.Value) > MaxTagValueLen:
			return tagError("The TagValue you have provided is too long, max %d", MaxTagValueLen)
		case seen[t.Key]:
			return tagError("Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

// tagChars reports whether s is UTF-8 of the characters S3 takes in a
// tag: letters, digits and spaces in any script, and + - = . _ : / @.
func tagChars(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsSpace(r) {
			continue
		}
		if !strings.ContainsRune("+-=._:/@", r) {
			return false
		}
	}
	return true
}

// Tagging actions, as bucket policies name them. No ACL grants them:
// S3's ACL permissions map to GetObject and the ACL actions only, so
// tags are the object owner's and whoever the bucket's policy allows.
const (
	ActGetObjectTagging    = "s3:GetObjectTagging"
	ActPutObjectTagging    = "s3:PutObjectTagging"
	ActDeleteObjectTagging = "s3:DeleteObjectTagging"
)

// tagAccess checks that c may do the tagging action act to the object
// o of b: its owner may, others what b's policy allows.
func tagAccess(b openami.Bucket, o openami.Object, c Caller, act string) error {
	return allowed(b, c, access{action: act, resource: objectARN(b.Name, o.Key), owner: o.AccountID})
}

// tagsVisible returns o with its tags removed unless c may read them:
// GetObject and HeadObject count only the tags their caller may read,
// and a copy carries only those.
func tagsVisible(b openami.Bucket, o openami.Object, c Caller) openami.Object {
	if len(o.Headers.Tags) > 0 && tagAccess(b, o, c, ActGetObjectTagging) != nil {
		o.Headers.Tags = nil
	}
	return o
}

// taggedObject returns in tx the bucket and the object key of it that c
// may do the tagging action act to. A missing key is NotFound for those
// who may list the bucket, AccessDenied to others (as lookup).
func taggedObject(tx metadata.Tx, c Caller, bucketName, key, act string) (openami.Bucket, openami.Object, error) {
	b, err := bucket(tx, bucketName)
	if err != nil {
		return b, openami.Object{}, err
	}
	o, err := tx.Objects().Get(b.ID, key)
	if errors.Is(err, openami.ErrNotFound) {
		if lerr := allowed(b, c, access{action: ActListBucket, resource: bucketARN(b.Name), owner: b.AccountID, acl: b.ACL, perm: openami.PermRead}); lerr != nil {
			return b, o, lerr
		}
		return b, o, err
	}
	if err != nil {
		return b, o, err
	}
	return b, o, tagAccess(b, o, c, act)
}

// ObjectTags returns an object's tag set (GetObjectTagging), empty for
// an object without tags.
func (s *Buckets) ObjectTags(ctx context.Context, c Caller, bucketName, key string) ([]openami.Tag, error) {
	var o openami.Object
	err := s.view(ctx, func(tx metadata.Tx) error {
		var err error
		_, o, err = taggedObject(tx, c, bucketName, key, ActGetObjectTagging)
		return err
	})
	return o.Headers.Tags, err
}

// PutObjectTags replaces an object's tag set (PutObjectTagging) with
// tags, which must keep S3's rules (CheckTags). A refusal changes
// nothing.
func (s *Buckets) PutObjectTags(ctx context.Context, c Caller, bucketName, key string, tags []openami.Tag) error {
	if err := CheckTags(tags); err != nil {
		return err
	}
	return s.setTags(ctx, c, bucketName, key, ActPutObjectTagging, tags)
}

// DeleteObjectTags removes an object's tag set (DeleteObjectTagging).
func (s *Buckets) DeleteObjectTags(ctx context.Context, c Caller, bucketName, key string) error {
	return s.setTags(ctx, c, bucketName, key, ActDeleteObjectTagging, nil)
}

// setTags sets the tag set of an object c may do act to. The object's
// bytes, ETag and Last-Modified stay as they are (as on S3: tags are a
// subresource, not a new version of the object).
func (s *Buckets) setTags(ctx context.Context, c Caller, bucketName, key, act string, tags []openami.Tag) error {
	return s.update(ctx, func(tx metadata.Tx) error {
		_, o, err := taggedObject(tx, c, bucketName, key, act)
		if err != nil {
			return err
		}
		o.Headers.Tags = append([]openami.Tag(nil), tags...)
		_, err = tx.Objects().Put(o)
		return err
	})
}
