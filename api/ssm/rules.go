package ssm

import (
	"context"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/parameters"
)

// Rules is what the SSM API calls, and all it calls, of the rules of
// parameters (*parameters.Parameters of rules/parameters, which
// cmd/openami wires through api.New). Every method takes the caller's
// principal and returns *openami.Error values this package maps to
// SSM's exceptions (errors.go).
type Rules interface {
	GetParameter(ctx context.Context, p openami.Principal, name string) (parameters.Selected, error)
	GetParameters(ctx context.Context, p openami.Principal, names []string) ([]parameters.Selected, []string, error)
	GetParametersByPath(ctx context.Context, p openami.Principal, in parameters.ByPathInput) ([]openami.Parameter, string, error)
	PutParameter(ctx context.Context, p openami.Principal, in parameters.PutParameterInput) (int64, string, error)
	DeleteParameter(ctx context.Context, p openami.Principal, name string) error
	DeleteParameters(ctx context.Context, p openami.Principal, names []string) ([]string, []string, error)
	DescribeParameters(ctx context.Context, p openami.Principal, in parameters.DescribeInput) ([]openami.Parameter, string, error)
	GetParameterHistory(ctx context.Context, p openami.Principal, name string, maxResults int, token string) ([]openami.Parameter, string, error)
	LabelParameterVersion(ctx context.Context, p openami.Principal, name string, version int64, labels []string) ([]string, int64, error)
	UnlabelParameterVersion(ctx context.Context, p openami.Principal, name string, version int64, labels []string) ([]string, []string, error)
	ParameterTags(ctx context.Context, p openami.Principal, name string) ([]openami.Tag, error)
	TagParameter(ctx context.Context, p openami.Principal, name string, tags []openami.Tag) error
	UntagParameter(ctx context.Context, p openami.Principal, name string, keys []string) error
}

// The rules of rules/parameters are what this package needs.
var _ Rules = (*parameters.Parameters)(nil)
