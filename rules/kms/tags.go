package kms

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/openami/openami"
)

// This file holds the tags of KMS keys: AWS's limits on them and who may
// change or read them.

// validateKMSTags checks KMS tags: TagException (InvalidParameter about
// tag) for bad keys and values, LimitExceeded past 50 tags.
func validateKMSTags(tags []openami.Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		n := utf8.RuneCountInString(t.Key)
		switch {
		case n < 1 || n > 128:
			return openami.Errorf(openami.InvalidParameter, openami.ResourceTag, "Tag keys must be between 1 and 128 characters long.")
		case utf8.RuneCountInString(t.Value) > 256:
			return openami.Errorf(openami.InvalidParameter, openami.ResourceTag, "Tag values must be at most 256 characters long.")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return openami.Errorf(openami.InvalidParameter, openami.ResourceTag, "Tags beginning with aws: are reserved.")
		case seen[t.Key]:
			return openami.Errorf(openami.InvalidParameter, openami.ResourceTag, "Duplicate tag keys: %s", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// mergeKMSTags returns tags with add applied: new keys appended, existing
// ones given the new value. LimitExceeded past 50 tags.
func mergeKMSTags(tags, add []openami.Tag) ([]openami.Tag, error) {
	out := append([]openami.Tag(nil), tags...)
next:
	for _, t := range add {
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value = t.Value
				continue next
			}
		}
		out = append(out, t)
	}
	if len(out) > kmsTagsPerKey {
		return nil, openami.Errorf(openami.LimitExceeded, openami.ResourceTag, "A KMS key may have at most %d tags.", kmsTagsPerKey)
	}
	return out, nil
}

// TagKey adds tags to a key of the caller's account, replacing the values
// of keys it has. IncorrectState if the key is pending deletion.
func (s *Keys) TagKey(ctx context.Context, p openami.Principal, keyID string, tags []openami.Tag) error {
	if err := validateKMSTags(tags); err != nil {
		return err
	}
	_, err := s.updateKey(ctx, p, keyID, actTagResource, func(k *openami.Key) error {
		if k.State == openami.KeyPendingDeletion {
			return pendingDeletion(*k)
		}
		var err error
		k.Tags, err = mergeKMSTags(k.Tags, tags)
		return err
	})
	return err
}

// UntagKey removes tags by key from a key of the caller's account; keys
// it lacks are ignored.
func (s *Keys) UntagKey(ctx context.Context, p openami.Principal, keyID string, keys []string) error {
	_, err := s.updateKey(ctx, p, keyID, actUntagResource, func(k *openami.Key) error {
		if k.State == openami.KeyPendingDeletion {
			return pendingDeletion(*k)
		}
		var kept []openami.Tag
		for _, t := range k.Tags {
			drop := false
			for _, key := range keys {
				drop = drop || t.Key == key
			}
			if !drop {
				kept = append(kept, t)
			}
		}
		k.Tags = kept
		return nil
	})
	return err
}

// KeyTags returns the tags of a key of the caller's account.
func (s *Keys) KeyTags(ctx context.Context, p openami.Principal, keyID string) ([]openami.Tag, error) {
	k, err := s.viewKey(ctx, p, keyID, actListResourceTags, sameAccount)
	return k.Tags, err
}
