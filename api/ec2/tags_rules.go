package ec2

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/describe"
)

// Tags is what the EC2 API calls, and all it calls, of the service
// itself (*service.Service, which api.New passes; api/ec2 does not import
// package service: the check that it satisfies Tags is in api.New's
// package): the tags of every
// type of resource stay in the service, above every subsystem, because
// that is where the ownership of each is checked. Every method takes the
// caller's principal and returns *openami.Error values this package maps
// to error codes (errors.go).
type Tags interface {
	CreateTags(ctx context.Context, p openami.Principal, resourceIDs []string, tags []openami.Tag) error
	DeleteTags(ctx context.Context, p openami.Principal, resourceIDs []string, keys []openami.TagKey) error
	DescribeTags(ctx context.Context, p openami.Principal, filters []filter.Filter, page describe.Page) ([]openami.TagRow, string, error)
}
