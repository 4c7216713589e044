package service

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/exports"
	"github.com/openami/openami/rules/param"
)

// TagKey selects a tag for DeleteTags: by key, or by key and value.
type TagKey = openami.TagKey

// TagRow is one tag of one resource, as DescribeTags returns it.
type TagRow = openami.TagRow

// The tag rules every resource shares live in internal/tagset, which
// rules/identity's key pairs use too; these are their names here.
const tagsPerResource = tagset.PerResource

var (
	validateTags = tagset.Validate
	tagMap       = tagset.Map
)

// resourceType returns the type of resource an id names, from its prefix.
// An id of no known form is Malformed.
func resourceType(id string) (openami.ResourceType, error) {
	prefixes := map[string]openami.ResourceType{
		"key": openami.ResourceKeyPair, "ami": openami.ResourceImage, "snap": openami.ResourceSnapshot,
		"vol": openami.ResourceVolume, "i": openami.ResourceInstance, "vpc": openami.ResourceVPC,
		"subnet": openami.ResourceSubnet, "sg": openami.ResourceSecurityGroup, "sgr": openami.ResourceSecurityGroupRule,
		"lt": openami.ResourceLaunchTemplate,
	}
	if exports.IsExportTaskID(id) {
		return openami.ResourceExportTask, nil
	}
	t, ok := prefixes[ids.Prefix(id)]
	if !ok || !ids.Valid(ids.Prefix(id), id) {
		return "", openami.Errorf(openami.Malformed, "", "Invalid id: \"%s\"", id)
	}
	return t, nil
}

// checkOwned returns the type of the resource id names, or NotFound (with
// that type) unless the caller owns such a resource in the region. Tags
// stay in package service, above every subsystem, because this is where
// the ownership of every type of resource is checked; key pairs are asked
// of rules/identity, VPCs, subnets, groups and their rules of rules/network.
func (s *Service) checkOwned(tx metadata.Tx, p openami.Principal, id string) (openami.ResourceType, error) {
	t, err := resourceType(id)
	if err != nil {
		return "", err
	}
	switch t {
	case openami.ResourceKeyPair:
		return t, s.identity.CheckKeyPairOwned(tx, p, id)
	case openami.ResourceSnapshot:
		_, err := s.ebs.OwnedSnapshot(tx, p, id)
		return t, err
	case openami.ResourceVolume:
		_, err := s.ebs.OwnedVolume(tx, p, id)
		return t, err
	case openami.ResourceImage:
		_, err := s.images.OwnedImage(tx, p, id)
		return t, err
	case openami.ResourceInstance:
		_, err := s.instances.OwnedInstance(tx, p, id)
		return t, err
	case openami.ResourceVPC:
		return t, s.network.OwnedVPC(tx, p, id)
	case openami.ResourceSubnet:
		return t, s.network.OwnedSubnet(tx, p, id)
	case openami.ResourceSecurityGroup:
		return t, s.network.OwnedGroup(tx, p, id)
	case openami.ResourceSecurityGroupRule:
		return t, s.network.OwnedRule(tx, p, id)
	case openami.ResourceLaunchTemplate:
		return t, s.templates.Owned(tx, p, id)
	case openami.ResourceExportTask:
		return t, s.exports.OwnedExportTask(tx, p, id)
	}
	return "", openami.Errorf(openami.NotFound, t, "The ID '%s' does not exist", id)
}

// CreateTags adds or overwrites tags on resources the caller owns in the
// region. Every resource must exist (NotFound otherwise) and stay within
// 50 tags; on any error nothing changes.
func (s *Service) CreateTags(ctx context.Context, p openami.Principal, resourceIDs []string, tags []openami.Tag) error {
	if len(resourceIDs) == 0 {
		return param.Missing("ResourceIDs")
	}
	if len(tags) == 0 {
		return param.Missing("Tags")
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		for _, id := range resourceIDs {
			t, err := s.checkOwned(tx, p, id)
			if err != nil {
				return err
			}
			have, err := tx.Tags().Of(p.Region, p.AccountID, []string{id})
			if err != nil {
				return err
			}
			keys := tagMap(have[id])
			for _, tg := range tags {
				keys[tg.Key] = tg.Value
			}
			if len(keys) > tagsPerResource {
				return openami.Errorf(openami.LimitExceeded, openami.ResourceTag, "The maximum number of tags per resource is %d", tagsPerResource)
			}
			if err := tx.Tags().Set(p.Region, p.AccountID, id, t, tags); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteTags removes tags from resources the caller owns in the region: the
// given keys (only where the value matches, when a value is given), or all
// tags when no key is given. Every resource must exist (NotFound
// otherwise); on any error nothing changes.
func (s *Service) DeleteTags(ctx context.Context, p openami.Principal, resourceIDs []string, keys []TagKey) error {
	if len(resourceIDs) == 0 {
		return param.Missing("ResourceIDs")
	}
	for _, k := range keys {
		if strings.HasPrefix(strings.ToLower(k.Key), "aws:") {
			return openami.Errorf(openami.InvalidParameter, "", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		for _, id := range resourceIDs {
			if _, err := s.checkOwned(tx, p, id); err != nil {
				return err
			}
			var err error
			if len(keys) == 0 {
				err = tx.Tags().DeleteAll(p.Region, p.AccountID, id)
			} else {
				err = tx.Tags().Delete(p.Region, p.AccountID, id, keys)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// DescribeTags returns a page of the caller's tags in the region, ordered
// by resource id and key, narrowed by filters, with the token of the next
// page ("" at the end). MaxResults must be 5–1000 (default 1000).
func (s *Service) DescribeTags(ctx context.Context, p openami.Principal, filters []filter.Filter, page Page) ([]TagRow, string, error) {
	limit := page.MaxResults
	if limit == 0 {
		limit = 1000
	}
	if limit < 5 || limit > 1000 {
		return nil, "", param.Invalid("MaxResults", strconv.Itoa(page.MaxResults), "Expecting a value between 5 and 1000.")
	}
	fs, err := filter.Compile(filters, tagset.RowAttrs...)
	if err != nil {
		return nil, "", err
	}
	scope := pagetoken.Scope("DescribeTags", p.AccountID, p.Region, describe.Fingerprint(filters))
	q := metadata.TagScan{}
	if page.NextToken != "" {
		raw, err := s.tokens.Decode(scope, page.NextToken)
		if err != nil {
			return nil, "", err
		}
		var c tagCursor
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, "", openami.Errorf(openami.InvalidToken, "", "The token '%s' is invalid", page.NextToken)
		}
		q.AfterResourceID, q.AfterKey = c.ResourceID, c.Key
	}
	// Push exact-match filters down to the store; the rest are applied here.
	q.ResourceIDs = literals(fs, tagset.AttrResourceID)
	q.Keys = literals(fs, tagset.AttrKey)
	for _, t := range literals(fs, tagset.AttrResourceType) {
		q.ResourceTypes = append(q.ResourceTypes, openami.ResourceType(t))
	}
	var out []TagRow
	more := false
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		batch := max(limit+1, 256)
		for {
			q.Limit = batch
			rows, err := tx.Tags().Scan(p.Region, p.AccountID, q)
			if err != nil {
				return err
			}
			for _, r := range rows {
				match := fs.Match(func(name filter.Attr) []string {
					switch name {
					case tagset.AttrKey:
						return []string{r.Key}
					case tagset.AttrValue:
						return []string{r.Value}
					case tagset.AttrResourceID:
						return []string{r.ResourceID}
					case tagset.AttrResourceType:
						return []string{string(r.ResourceType)}
					}
					return nil
				}, map[string]string{r.Key: r.Value})
				if !match {
					continue
				}
				if len(out) == limit {
					more = true
					return nil
				}
				out = append(out, r)
			}
			if len(rows) < batch {
				return nil
			}
			last := rows[len(rows)-1]
			q.AfterResourceID, q.AfterKey = last.ResourceID, last.Key
		}
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		last := out[len(out)-1]
		raw, _ := json.Marshal(tagCursor{ResourceID: last.ResourceID, Key: last.Key})
		next = s.tokens.Encode(scope, raw)
	}
	return out, next, nil
}

type tagCursor struct {
	ResourceID string `json:"r"`
	Key        string `json:"k"`
}

// literals returns the values of the filters of the attribute name when
// all of them are plain strings without wildcards, so that a store can
// match them exactly; otherwise nil, leaving the filter to Match.
func literals(fs filter.Set, name filter.Attr) []string {
	vals, ok := fs.Values(name)
	if !ok {
		return nil
	}
	var out []string
	for _, v := range vals {
		lit, ok := filter.NewPattern(v).Literal()
		if !ok {
			return nil
		}
		out = append(out, lit)
	}
	return out
}
