package images

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// ImageCriterion is one Allowed AMIs criterion. An image meets it when it
// meets every condition the criterion sets; an image is allowed when it
// meets any criterion.
type ImageCriterion struct {
	// ImageProviders: account ids, the aliases amazon, aws-marketplace and
	// aws-backup-vault, or "none" for images published under no alias.
	ImageProviders []string `json:"providers,omitempty"`
	// ImageNames may use * and ? wildcards.
	ImageNames                 []string `json:"names,omitempty"`
	MarketplaceProductCodes    []string `json:"codes,omitempty"`
	MaximumDaysSinceCreated    int      `json:"created,omitempty"`
	MaximumDaysSinceDeprecated int      `json:"deprecated,omitempty"`
}

// AllowedImages are an account's Allowed AMIs settings in a region. State
// is "enabled" (images outside the criteria are neither discoverable nor
// launchable), "audit-mode" (they are, and DescribeImages reports which
// would be allowed), or "disabled".
type AllowedImages struct {
	State    string           `json:"state"`
	Criteria []ImageCriterion `json:"criteria,omitempty"`
}

func allowedSetting(p openami.Principal) string {
	return "allowed-images/" + p.Region + "/" + p.AccountID
}

// AllowedImagesSettings returns the caller's settings in the region.
func (s *Registry) AllowedImagesSettings(ctx context.Context, p openami.Principal) (AllowedImages, error) {
	var a AllowedImages
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		a, err = readAllowed(tx, p)
		return err
	})
	return a, err
}

func readAllowed(tx metadata.Tx, p openami.Principal) (AllowedImages, error) {
	a := AllowedImages{State: "disabled"}
	v, err := tx.Settings().Get(allowedSetting(p))
	if errors.Is(err, openami.ErrNotFound) {
		return a, nil
	}
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal(v, &a)
}

// updateAllowed changes the caller's settings in the region.
func (s *Registry) updateAllowed(ctx context.Context, p openami.Principal, change func(a *AllowedImages)) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		a, err := readAllowed(tx, p)
		if err != nil {
			return err
		}
		change(&a)
		v, err := json.Marshal(a)
		if err != nil {
			return err
		}
		return tx.Settings().Put(allowedSetting(p), v)
	})
}

// SetAllowedImagesState sets the state: enabled, audit-mode or disabled.
// The criteria are kept.
func (s *Registry) SetAllowedImagesState(ctx context.Context, p openami.Principal, state string) error {
	if err := param.OneOf("AllowedImagesSettingsState", state, "enabled", "audit-mode", "disabled"); err != nil {
		return err
	}
	return s.updateAllowed(ctx, p, func(a *AllowedImages) { a.State = state })
}

// ReplaceImageCriteria replaces the criteria (at most 10 of them, each
// with at most 200 providers, names and product codes).
func (s *Registry) ReplaceImageCriteria(ctx context.Context, p openami.Principal, criteria []ImageCriterion) error {
	if len(criteria) > 10 {
		return openami.Errorf(openami.LimitExceeded, "", "At most 10 image criteria are allowed.")
	}
	for _, c := range criteria {
		if len(c.ImageProviders) > 200 || len(c.ImageNames) > 50 || len(c.MarketplaceProductCodes) > 50 {
			return openami.Errorf(openami.LimitExceeded, "", "An image criterion has too many values.")
		}
		for _, pv := range c.ImageProviders {
			if !ownerAliases[pv] && pv != "none" && !ids.ValidAccountID(pv) {
				return openami.Errorf(openami.InvalidParameter, "", "Invalid image provider: %s", pv)
			}
		}
		if c.MaximumDaysSinceCreated < 0 || c.MaximumDaysSinceDeprecated < 0 {
			return openami.Errorf(openami.InvalidParameter, "", "Day counts must not be negative.")
		}
	}
	return s.updateAllowed(ctx, p, func(a *AllowedImages) { a.Criteria = criteria })
}

// allows reports whether the image meets any criterion at now.
func (a AllowedImages) allows(img *openami.Image, now time.Time) bool {
	for _, c := range a.Criteria {
		if c.meets(img, now) {
			return true
		}
	}
	return false
}

func (c ImageCriterion) meets(img *openami.Image, now time.Time) bool {
	if len(c.ImageProviders) > 0 && !slices.ContainsFunc(c.ImageProviders, func(pv string) bool {
		return pv == img.AccountID || pv == img.OwnerAlias || pv == "none" && img.OwnerAlias == ""
	}) {
		return false
	}
	if len(c.ImageNames) > 0 && !slices.ContainsFunc(c.ImageNames, func(n string) bool { return filter.NewPattern(n).Match(img.Name) }) {
		return false
	}
	if len(c.MarketplaceProductCodes) > 0 && !slices.ContainsFunc(img.ProductCodes, func(pc openami.ProductCode) bool {
		return slices.Contains(c.MarketplaceProductCodes, pc.ID)
	}) {
		return false
	}
	if c.MaximumDaysSinceCreated > 0 && now.Sub(img.CreatedAt) > time.Duration(c.MaximumDaysSinceCreated)*24*time.Hour {
		return false
	}
	if c.MaximumDaysSinceDeprecated > 0 && !img.DeprecationTime.IsZero() && now.Sub(img.DeprecationTime) > time.Duration(c.MaximumDaysSinceDeprecated)*24*time.Hour {
		return false
	}
	return true
}
