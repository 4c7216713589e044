package rbin

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/images"
)

// Rules is what the Recycle Bin API calls, and all it calls, of the rules
// of images (*images.Registry of rules/images, which api.New takes from
// the service): the caller's retention rules. Every method takes the
// caller's principal and returns *openami.Error values this package maps
// to exceptions.
type Rules interface {
	CreateRetentionRule(ctx context.Context, p openami.Principal, r images.RetentionRule) (images.RetentionRule, error)
	RetentionRules(ctx context.Context, p openami.Principal, resourceType string, tags []images.ResourceTag) ([]images.RetentionRule, error)
	RetentionRule(ctx context.Context, p openami.Principal, id string) (images.RetentionRule, error)
	DeleteRetentionRule(ctx context.Context, p openami.Principal, id string) error
}

// The rules of rules/images are what this package needs.
var _ Rules = (*images.Registry)(nil)
