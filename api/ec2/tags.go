package ec2

import (
	"github.com/openami/openami"
	"github.com/openami/openami/rules/describe"
)

type createTagsInput struct {
	dryRunParam
	Resources []string   `query:"ResourceId"` // checked by noResources
	Tags      []tagParam `query:"Tag,required"`
}

type returnResponse struct {
	response
	Return bool `xml:"return"`
}

// noResources is EC2's refusal of CreateTags or DeleteTags naming no
// resource: it names the parameter by its internal name, resourceIdSet.
func noResources(ids []string) error {
	if len(ids) == 0 {
		return openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter resourceIdSet")
	}
	return nil
}

func (h *Handler) createTags(c *call) (responder, error) {
	var in createTagsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := noResources(in.Resources); err != nil {
		return nil, err
	}
	if err := h.tags.CreateTags(c.ctx, c.p, in.Resources, tagsOf(in.Tags)); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

// deleteTagParam is a Tag.N of DeleteTags, where an absent Value means
// "whatever the value" and an empty one means "only if empty".
type deleteTagParam struct {
	Key   string  `query:"Key"`
	Value *string `query:"Value"`
}

type deleteTagsInput struct {
	dryRunParam
	Resources []string         `query:"ResourceId"` // checked by noResources
	Tags      []deleteTagParam `query:"Tag"`
}

func (h *Handler) deleteTags(c *call) (responder, error) {
	var in deleteTagsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := noResources(in.Resources); err != nil {
		return nil, err
	}
	keys := make([]openami.TagKey, len(in.Tags))
	for i, t := range in.Tags {
		keys[i] = openami.TagKey{Key: t.Key, Value: t.Value}
	}
	if err := h.tags.DeleteTags(c.ctx, c.p, in.Resources, keys); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

type describeTagsInput struct {
	dryRunParam
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

type tagDescriptionItem struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

type describeTagsResponse struct {
	response
	Tags      items[tagDescriptionItem] `xml:"tagSet"`
	NextToken string                    `xml:"nextToken,omitempty"`
}

func (h *Handler) describeTags(c *call) (responder, error) {
	var in describeTagsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, tagFilterNames)
	if err != nil {
		return nil, err
	}
	rows, next, err := h.tags.DescribeTags(c.ctx, c.p, fs, describe.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeTagsResponse{NextToken: next}
	for _, r := range rows {
		out.Tags = append(out.Tags, tagDescriptionItem{r.ResourceID, string(r.ResourceType), r.Key, r.Value})
	}
	return out, nil
}
