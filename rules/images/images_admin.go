package images

import (
	"context"
	"errors"
	"regexp"
	"slices"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// These operations belong to the operator (the openami command line), not
// to API callers: they act on any account's image.

// adminImage loads an image by id in a region for an operator change.
func (s *Registry) adminUpdateImage(ctx context.Context, region, id string, change func(img *openami.Image) error) (openami.Image, error) {
	if _, ok := s.identity.Region(region); !ok {
		return openami.Image{}, openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "region %s is not served", region)
	}
	if err := checkImageID(id); err != nil {
		return openami.Image{}, err
	}
	var img openami.Image
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		var err error
		img, err = tx.Images().Get(region, id)
		if errors.Is(err, openami.ErrNotFound) {
			return imageNotFound(id)
		}
		if err != nil {
			return err
		}
		if err := change(&img); err != nil {
			return err
		}
		return tx.Images().Update(img)
	})
	return img, err
}

// SetImageOwnerAlias publishes an image under an owner alias (amazon,
// aws-marketplace or aws-backup-vault), so that DescribeImages with that
// Owners value finds it; "" removes the alias.
func (s *Registry) SetImageOwnerAlias(ctx context.Context, region, id, alias string) (openami.Image, error) {
	if alias != "" && !ownerAliases[alias] {
		return openami.Image{}, openami.Errorf(openami.InvalidParameter, "", "owner alias must be amazon, aws-marketplace or aws-backup-vault, not %q", alias)
	}
	return s.adminUpdateImage(ctx, region, id, func(img *openami.Image) error {
		img.OwnerAlias = alias
		return nil
	})
}

var productCodeForm = regexp.MustCompile(`^[a-z0-9]{8,32}$`)

// SetImageProductCode attaches a marketplace (or devpay) product code to an
// image, or with remove detaches it. Product codes show in DescribeImages
// and in the productCodes attribute.
func (s *Registry) SetImageProductCode(ctx context.Context, region, id, code, kind string, remove bool) (openami.Image, error) {
	if !productCodeForm.MatchString(code) {
		return openami.Image{}, openami.Errorf(openami.InvalidParameter, "", "product code %q must be 8 to 32 lowercase letters and digits", code)
	}
	if kind == "" {
		kind = "marketplace"
	}
	if kind != "marketplace" && kind != "devpay" {
		return openami.Image{}, openami.Errorf(openami.InvalidParameter, "", "product code type must be marketplace or devpay, not %q", kind)
	}
	return s.adminUpdateImage(ctx, region, id, func(img *openami.Image) error {
		img.ProductCodes = slices.DeleteFunc(img.ProductCodes, func(pc openami.ProductCode) bool { return pc.ID == code })
		if !remove {
			img.ProductCodes = append(img.ProductCodes, openami.ProductCode{ID: code, Type: kind})
		}
		return nil
	})
}
