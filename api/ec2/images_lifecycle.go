package ec2

import (
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/images"
)

type imageIDParam struct {
	dryRunParam
	ImageID string `query:"ImageId,required"`
}

type enableImageDeprecationInput struct {
	dryRunParam
	ImageID     string    `query:"ImageId,required"`
	DeprecateAt time.Time `query:"DeprecateAt,required"`
}

func (h *Handler) enableImageDeprecation(c *call) (responder, error) {
	var in enableImageDeprecationInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.images.EnableImageDeprecation(c.ctx, c.p, in.ImageID, in.DeprecateAt); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

// imageAction adapts a service call on one image to an EC2 action that
// answers <return>true</return>.
func (h *Handler) imageAction(do func(c *call, id string) error) action {
	return func(c *call) (responder, error) {
		var in imageIDParam
		if err := c.decode(&in); err != nil {
			return nil, err
		}
		if err := do(c, in.ImageID); err != nil {
			return nil, err
		}
		return &returnResponse{Return: true}, nil
	}
}

type enableProtectionInput struct {
	dryRunParam
	ImageID      string `query:"ImageId,required"`
	WithCooldown bool   `query:"WithCooldown"`
}

// protectionWords returns EC2's text for an image's deregistration
// protection: its state, or, for protection with cooldown that was
// disabled, "disabled-until" and the end of the cooldown (UTC, to the
// millisecond), as long as the record keeps it.
func protectionWords(p openami.DeregistrationProtection) string {
	if !p.Until.IsZero() {
		return "disabled-until " + p.Until.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return p.State
}

type protectionResponse struct {
	response
	Return string `xml:"return"`
}

func (h *Handler) enableImageDeregistrationProtection(c *call) (responder, error) {
	var in enableProtectionInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	prot, err := h.images.EnableImageDeregistrationProtection(c.ctx, c.p, in.ImageID, in.WithCooldown)
	if err != nil {
		return nil, err
	}
	return &protectionResponse{Return: protectionWords(prot)}, nil
}

func (h *Handler) disableImageDeregistrationProtection(c *call) (responder, error) {
	var in imageIDParam
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	prot, err := h.images.DisableImageDeregistrationProtection(c.ctx, c.p, in.ImageID)
	if err != nil {
		return nil, err
	}
	return &protectionResponse{Return: protectionWords(prot)}, nil
}

type blockPublicAccessInput struct {
	dryRunParam
	State string `query:"ImageBlockPublicAccessState"`
}

type blockPublicAccessResponse struct {
	response
	State     string `xml:"imageBlockPublicAccessState"`
	ManagedBy string `xml:"managedBy,omitempty"`
}

func (h *Handler) enableImageBlockPublicAccess(c *call) (responder, error) {
	var in blockPublicAccessInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.images.SetImageBlockPublicAccess(c.ctx, c.p, in.State); err != nil {
		return nil, err
	}
	return &blockPublicAccessResponse{State: in.State}, nil
}

func (h *Handler) disableImageBlockPublicAccess(c *call) (responder, error) {
	var in blockPublicAccessInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.images.SetImageBlockPublicAccess(c.ctx, c.p, "unblocked"); err != nil {
		return nil, err
	}
	return &blockPublicAccessResponse{State: "unblocked"}, nil
}

func (h *Handler) getImageBlockPublicAccessState(c *call) (responder, error) {
	var in blockPublicAccessInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	state, err := h.images.ImageBlockPublicAccess(c.ctx, c.p)
	if err != nil {
		return nil, err
	}
	return &blockPublicAccessResponse{State: state, ManagedBy: "account"}, nil
}

type listImagesInRecycleBinInput struct {
	dryRunParam
	ImageIDs   []string `query:"ImageId"`
	MaxResults int      `query:"MaxResults"`
	NextToken  string   `query:"NextToken"`
}

type recycledImageItem struct {
	ImageID             string `xml:"imageId"`
	Name                string `xml:"name"`
	Description         string `xml:"description,omitempty"`
	RecycleBinEnterTime string `xml:"recycleBinEnterTime"`
	RecycleBinExitTime  string `xml:"recycleBinExitTime"`
}

type listImagesInRecycleBinResponse struct {
	response
	Images    items[recycledImageItem] `xml:"imageSet"`
	NextToken string                   `xml:"nextToken,omitempty"`
}

func (h *Handler) listImagesInRecycleBin(c *call) (responder, error) {
	var in listImagesInRecycleBinInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	imgs, next, err := h.images.ImagesInRecycleBin(c.ctx, c.p, in.ImageIDs, images.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &listImagesInRecycleBinResponse{NextToken: next, Images: items[recycledImageItem]{}}
	for _, img := range imgs {
		out.Images = append(out.Images, recycledImageItem{img.ID, img.Name, img.Description, timestamp(img.RecycleBinEnterTime), timestamp(img.RecycleBinExitTime)})
	}
	return out, nil
}

type ancestryEntryItem struct {
	CreationDate      string `xml:"creationDate"`
	ImageID           string `xml:"imageId"`
	ImageOwnerAlias   string `xml:"imageOwnerAlias,omitempty"`
	SourceImageID     string `xml:"sourceImageId,omitempty"`
	SourceImageRegion string `xml:"sourceImageRegion,omitempty"`
}

type getImageAncestryResponse struct {
	response
	Entries items[ancestryEntryItem] `xml:"imageAncestryEntrySet"`
}

func (h *Handler) getImageAncestry(c *call) (responder, error) {
	var in imageIDParam
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	chain, err := h.images.ImageAncestry(c.ctx, c.p, in.ImageID)
	if err != nil {
		return nil, err
	}
	out := &getImageAncestryResponse{Entries: items[ancestryEntryItem]{}}
	for _, img := range chain {
		out.Entries = append(out.Entries, ancestryEntryItem{timestamp(img.CreatedAt), img.ID, img.OwnerAlias, img.SourceImageID, img.SourceImageRegion})
	}
	return out, nil
}
