package images

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// ResourceTag selects resources for a retention rule: by tag key, and by
// value when Value is not empty.
type ResourceTag struct {
	Key   string `json:"k"`
	Value string `json:"v,omitempty"`
}

// RetentionRule is a Recycle Bin rule: resources of its type deleted in
// its account and region (all of them, or those carrying one of its
// resource tags, less those carrying an excluded tag) wait in the bin for
// RetentionDays before they are deleted for good, and can be restored
// until then.
type RetentionRule struct {
	ID                  string        `json:"id"`
	Description         string        `json:"description,omitempty"`
	ResourceType        string        `json:"type"` // EC2_IMAGE, EBS_SNAPSHOT, EBS_VOLUME
	RetentionDays       int           `json:"days"`
	ResourceTags        []ResourceTag `json:"tags,omitempty"`
	ExcludeResourceTags []ResourceTag `json:"exclude,omitempty"`
}

// ruleQuota is Recycle Bin's default limit of rules per account and region.
const ruleQuota = 250

func rulesSetting(p openami.Principal) string { return "rbin-rules/" + p.Region + "/" + p.AccountID }

func readRules(tx metadata.Tx, p openami.Principal) ([]RetentionRule, error) {
	v, err := tx.Settings().Get(rulesSetting(p))
	if errors.Is(err, openami.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rules []RetentionRule
	return rules, json.Unmarshal(v, &rules)
}

func writeRules(tx metadata.Tx, p openami.Principal, rules []RetentionRule) error {
	v, err := json.Marshal(rules)
	if err != nil {
		return err
	}
	return tx.Settings().Put(rulesSetting(p), v)
}

func ruleNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceRetentionRule, "The rule %s does not exist.", id)
}

// CreateRetentionRule creates a Recycle Bin rule. Only EC2_IMAGE rules are
// accepted: the bin does not hold snapshots or volumes yet, and a rule
// that seemed to protect them while DeleteSnapshot deleted them for good
// would lose data its author meant to keep.
func (s *Registry) CreateRetentionRule(ctx context.Context, p openami.Principal, r RetentionRule) (RetentionRule, error) {
	if err := param.OneOf("ResourceType", r.ResourceType, "EC2_IMAGE", "EBS_SNAPSHOT", "EBS_VOLUME"); err != nil {
		return r, err
	}
	if r.ResourceType != "EC2_IMAGE" {
		return r, openami.Errorf(openami.Unsupported, "", "Retention rules for %s are not supported yet: the Recycle Bin holds images only.", r.ResourceType)
	}
	if r.RetentionDays < 1 || r.RetentionDays > 365 {
		return r, openami.Errorf(openami.InvalidParameter, "", "The retention period must be 1 to 365 days.")
	}
	if len(r.ResourceTags) > 0 && len(r.ExcludeResourceTags) > 0 {
		return r, openami.Errorf(openami.InvalidCombination, "", "A rule takes ResourceTags or ExcludeResourceTags, not both.")
	}
	for _, t := range append(append([]ResourceTag(nil), r.ResourceTags...), r.ExcludeResourceTags...) {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return r, openami.Errorf(openami.InvalidParameter, "", "Resource tag keys are 1 to 128 characters, values at most 256.")
		}
	}
	// Rule ids are 11 characters of [0-9a-zA-Z] on AWS.
	r.ID = strings.TrimPrefix(ids.New("r"), "r-")[:11]
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		rules, err := readRules(tx, p)
		if err != nil {
			return err
		}
		if len(rules) >= ruleQuota {
			return openami.Errorf(openami.LimitExceeded, openami.ResourceRetentionRule, "At most %d rules per account and region.", ruleQuota)
		}
		return writeRules(tx, p, append(rules, r))
	})
	return r, err
}

// RetentionRules returns the caller's rules for a resource type, narrowed
// to those with all the given resource tags when any are given.
func (s *Registry) RetentionRules(ctx context.Context, p openami.Principal, resourceType string, tags []ResourceTag) ([]RetentionRule, error) {
	if err := param.OneOf("ResourceType", resourceType, "EC2_IMAGE", "EBS_SNAPSHOT", "EBS_VOLUME"); err != nil {
		return nil, err
	}
	var out []RetentionRule
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		rules, err := readRules(tx, p)
		for _, r := range rules {
			if r.ResourceType == resourceType && !slices.ContainsFunc(tags, func(t ResourceTag) bool { return !slices.Contains(r.ResourceTags, t) }) {
				out = append(out, r)
			}
		}
		return err
	})
	return out, err
}

// RetentionRule returns one of the caller's rules. NotFound if none.
func (s *Registry) RetentionRule(ctx context.Context, p openami.Principal, id string) (RetentionRule, error) {
	var out RetentionRule
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		rules, err := readRules(tx, p)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(rules, func(r RetentionRule) bool { return r.ID == id })
		if i < 0 {
			return ruleNotFound(id)
		}
		out = rules[i]
		return nil
	})
	return out, err
}

// DeleteRetentionRule deletes one of the caller's rules. Resources already
// in the bin keep the exit time they entered with.
func (s *Registry) DeleteRetentionRule(ctx context.Context, p openami.Principal, id string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		rules, err := readRules(tx, p)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(rules, func(r RetentionRule) bool { return r.ID == id })
		if i < 0 {
			return ruleNotFound(id)
		}
		return writeRules(tx, p, slices.Delete(rules, i, i+1))
	})
}

// retention returns how long a deleted resource of the type with these
// tags stays in the bin: the longest retention of the rules that apply, or
// zero when none does.
func retention(rules []RetentionRule, resourceType string, tags map[string]string) time.Duration {
	has := func(ts []ResourceTag) bool {
		return slices.ContainsFunc(ts, func(t ResourceTag) bool {
			v, ok := tags[t.Key]
			return ok && (t.Value == "" || t.Value == v)
		})
	}
	var best time.Duration
	for _, r := range rules {
		if r.ResourceType != resourceType {
			continue
		}
		applies := len(r.ResourceTags) == 0 && !has(r.ExcludeResourceTags) || len(r.ResourceTags) > 0 && has(r.ResourceTags)
		if d := time.Duration(r.RetentionDays) * 24 * time.Hour; applies && d > best {
			best = d
		}
	}
	return best
}

// ImagesInRecycleBin returns the caller's images in the Recycle Bin of the
// region: all, or those named (unknown ones are left out, as AWS does).
func (s *Registry) ImagesInRecycleBin(ctx context.Context, p openami.Principal, imageIDs []string, pg Page) ([]openami.Image, string, error) {
	for _, id := range imageIDs {
		if err := checkImageID(id); err != nil {
			return nil, "", err
		}
	}
	fetch := func(after string, limit int) ([]openami.Image, error) {
		var out []openami.Image
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			out, err = tx.Images().List(p.Region, metadata.ImageQuery{OwnerIDs: []string{p.AccountID}, IDs: imageIDs,
				States: []openami.ImageState{openami.ImageDeregistered}, After: after, Limit: limit})
			return err
		})
		return out, err
	}
	scope := describe.Scope("ListImagesInRecycleBin", p, nil, strings.Join(imageIDs, ","))
	return describe.List(s.tokens, scope, pg, describe.Bounds{Min: 1, Max: 1000}, fetch, func(i openami.Image) string { return i.ID },
		func(i openami.Image) bool { return !i.RecycleBinExitTime.IsZero() })
}

// RestoreImageFromRecycleBin makes an image of the caller's Recycle Bin
// available again, with its tags and launch permissions.
func (s *Registry) RestoreImageFromRecycleBin(ctx context.Context, p openami.Principal, id string) error {
	if err := checkImageID(id); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		img, err := tx.Images().Get(p.Region, id)
		if errors.Is(err, openami.ErrNotFound) || err == nil && (img.AccountID != p.AccountID || img.State != openami.ImageDeregistered) {
			return openami.Errorf(openami.NotFound, openami.ResourceImage, "The image id '[%s]' is not in the Recycle Bin", id)
		}
		if err != nil {
			return err
		}
		img.State = openami.ImageAvailable
		img.RecycleBinEnterTime, img.RecycleBinExitTime = time.Time{}, time.Time{}
		return tx.Images().Update(img)
	})
}

// EmptyRecycleBin deletes for good the images whose time in the bin is up.
func (s *Registry) EmptyRecycleBin(ctx context.Context) error {
	now := s.nowUTC()
	for _, r := range s.regions {
		var due []openami.Image
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			imgs, err := tx.Images().List(r.Name, metadata.ImageQuery{States: []openami.ImageState{openami.ImageDeregistered}})
			for _, img := range imgs {
				if !img.RecycleBinExitTime.IsZero() && !now.Before(img.RecycleBinExitTime) {
					due = append(due, img)
				}
			}
			return err
		})
		if err != nil {
			return err
		}
		for _, img := range due {
			err := s.store.Update(ctx, func(tx metadata.Tx) error {
				cur, err := tx.Images().Get(r.Name, img.ID)
				if errors.Is(err, openami.ErrNotFound) || err == nil && cur.State != openami.ImageDeregistered {
					return nil // restored meanwhile
				}
				if err != nil {
					return err
				}
				if err := tx.Tags().DeleteAll(r.Name, cur.AccountID, cur.ID); err != nil {
					return err
				}
				return tx.Images().Delete(r.Name, cur.ID)
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}
