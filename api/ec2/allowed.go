package ec2

import (
	"github.com/openami/openami/rules/images"
)

type allowedStateInput struct {
	dryRunParam
	State string `query:"AllowedImagesSettingsState"`
}

type allowedStateResponse struct {
	response
	State string `xml:"allowedImagesSettingsState"`
}

func (h *Handler) enableAllowedImagesSettings(c *call) (responder, error) {
	var in allowedStateInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.State == "" {
		in.State = "enabled"
	}
	if in.State == "disabled" {
		return nil, errInvalidValue("AllowedImagesSettingsState", in.State)
	}
	if err := h.images.SetAllowedImagesState(c.ctx, c.p, in.State); err != nil {
		return nil, err
	}
	return &allowedStateResponse{State: in.State}, nil
}

func (h *Handler) disableAllowedImagesSettings(c *call) (responder, error) {
	var in allowedStateInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.images.SetAllowedImagesState(c.ctx, c.p, "disabled"); err != nil {
		return nil, err
	}
	return &allowedStateResponse{State: "disabled"}, nil
}

type daysCreated struct {
	Days int `xml:"maximumDaysSinceCreated"`
}

type daysDeprecated struct {
	Days int `xml:"maximumDaysSinceDeprecated"`
}

type criterionItem struct {
	Providers  items[string]   `xml:"imageProviderSet"`
	Codes      items[string]   `xml:"marketplaceProductCodeSet"`
	Names      items[string]   `xml:"imageNameSet"`
	Deprecated *daysDeprecated `xml:"deprecationTimeCondition"`
	Created    *daysCreated    `xml:"creationDateCondition"`
}

type getAllowedImagesSettingsResponse struct {
	response
	State     string               `xml:"state"`
	Criteria  items[criterionItem] `xml:"imageCriterionSet"`
	ManagedBy string               `xml:"managedBy"`
}

func (h *Handler) getAllowedImagesSettings(c *call) (responder, error) {
	var in allowedStateInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	a, err := h.images.AllowedImagesSettings(c.ctx, c.p)
	if err != nil {
		return nil, err
	}
	out := &getAllowedImagesSettingsResponse{State: a.State, ManagedBy: "account", Criteria: items[criterionItem]{}}
	for _, cr := range a.Criteria {
		item := criterionItem{Providers: cr.ImageProviders, Codes: cr.MarketplaceProductCodes, Names: cr.ImageNames}
		if cr.MaximumDaysSinceCreated > 0 {
			item.Created = &daysCreated{cr.MaximumDaysSinceCreated}
		}
		if cr.MaximumDaysSinceDeprecated > 0 {
			item.Deprecated = &daysDeprecated{cr.MaximumDaysSinceDeprecated}
		}
		out.Criteria = append(out.Criteria, item)
	}
	return out, nil
}

type criterionParam struct {
	ImageProviders           []string `query:"ImageProvider"`
	MarketplaceProductCodes  []string `query:"MarketplaceProductCode"`
	ImageNames               []string `query:"ImageName"`
	DeprecationTimeCondition *struct {
		Days int `query:"MaximumDaysSinceDeprecated"`
	} `query:"DeprecationTimeCondition"`
	CreationDateCondition *struct {
		Days int `query:"MaximumDaysSinceCreated"`
	} `query:"CreationDateCondition"`
}

type replaceImageCriteriaInput struct {
	dryRunParam
	Criteria []criterionParam `query:"ImageCriterion"`
}

func (h *Handler) replaceImageCriteriaInAllowedImagesSettings(c *call) (responder, error) {
	var in replaceImageCriteriaInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	var criteria []images.ImageCriterion
	for _, cp := range in.Criteria {
		cr := images.ImageCriterion{ImageProviders: cp.ImageProviders, MarketplaceProductCodes: cp.MarketplaceProductCodes, ImageNames: cp.ImageNames}
		if cp.DeprecationTimeCondition != nil {
			cr.MaximumDaysSinceDeprecated = cp.DeprecationTimeCondition.Days
		}
		if cp.CreationDateCondition != nil {
			cr.MaximumDaysSinceCreated = cp.CreationDateCondition.Days
		}
		criteria = append(criteria, cr)
	}
	if err := h.images.ReplaceImageCriteria(c.ctx, c.p, criteria); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}
