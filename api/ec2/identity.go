package ec2

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/rules/identity"
)

// Identity is what the EC2 API calls, and all it calls, of the rules of
// identity (*identity.Accounts of rules/identity, which api.New takes from
// the service): key pairs, and the regions, zones and account attributes
// the caller sees. Every method takes the caller's principal and returns
// *openami.Error values this package maps to error codes (errors.go).
type Identity interface {
	CreateKeyPair(ctx context.Context, p openami.Principal, in identity.CreateKeyPairInput) (identity.NewKeyPair, error)
	ImportKeyPair(ctx context.Context, p openami.Principal, name string, material []byte, tags []openami.Tag) (identity.KeyPairView, error)
	DescribeKeyPairs(ctx context.Context, p openami.Principal, names, keyIDs []string, filters []filter.Filter) ([]identity.KeyPairView, error)
	DeleteKeyPair(ctx context.Context, p openami.Principal, name, id string) (string, error)
	DescribeRegions(p openami.Principal, names []string, filters []filter.Filter, endpoint string) ([]identity.RegionInfo, error)
	DescribeAvailabilityZones(p openami.Principal, names, ids []string, filters []filter.Filter) ([]identity.ZoneInfo, error)
	DescribeAccountAttributes(p openami.Principal, names []string) ([]identity.AccountAttribute, error)
	// Region returns the served region with the name (zone names for
	// zone ids, in instance responses).
	Region(name string) (openami.Region, bool)
}

// The rules of rules/identity are what this package needs.
var _ Identity = (*identity.Accounts)(nil)
