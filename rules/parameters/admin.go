package parameters

import (
	"context"
	"errors"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// These operations belong to the operator (the openami command line:
// openami parameter publish/unpublish), not to API callers, as the
// images' owner aliases do (rules/images/images_admin.go): they write the
// public parameters every account of the region reads.

// PublishInput is Publish's input: the parameter, as PutParameter takes
// it, always overwriting.
type PublishInput struct {
	Region      string
	Name        string
	Value       string
	Type        openami.ParameterType
	DataType    string
	Description *string
}

// Publish writes a new version of a public parameter, under
// /aws/service/ or /openami/service/ (PublicParameterPath), that every
// account of the region reads (GetParameter, GetParametersByPath,
// resolve:ssm: in RunInstances). With DataType aws:ec2:image the value
// must be an image of the region, whatever its owner: publish it under
// an owner alias (openami image alias) and make it public for others to
// launch it.
func (s *Parameters) Publish(ctx context.Context, in PublishInput) (openami.Parameter, error) {
	if _, ok := s.identity.Region(in.Region); !ok {
		return openami.Parameter{}, openami.Errorf(openami.InvalidParameter, openami.ResourceRegion, "region %s is not served", in.Region)
	}
	if err := checkName(in.Name, false); err != nil {
		return openami.Parameter{}, err
	}
	if !openami.PublicParameterPath(in.Name) {
		return openami.Parameter{}, openami.Errorf(openami.InvalidParameter, openami.ResourceParameter,
			"public parameters are named /aws/service/... or /openami/service/..., not %s", in.Name)
	}
	if in.Type == "" {
		in.Type = openami.ParameterString
	}
	var prm openami.Parameter
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		prev, err := tx.Parameters().Get(in.Region, openami.PublicParameterOwner, in.Name, 0)
		if err != nil && !errors.Is(err, openami.ErrNotFound) {
			return err
		}
		operator := openami.Principal{Region: in.Region}
		prm, err = s.next(tx, operator, PutParameterInput{Name: in.Name, Value: in.Value, Type: in.Type, DataType: in.DataType,
			Description: in.Description, Overwrite: true}, prev, err == nil)
		if err != nil {
			return err
		}
		prm.Region, prm.AccountID, prm.ModifiedBy = in.Region, openami.PublicParameterOwner, "openami"
		if err := dropOldest(tx, prm); err != nil {
			return err
		}
		return tx.Parameters().Put(prm)
	})
	return prm, err
}

// Unpublish deletes every version of a public parameter.
func (s *Parameters) Unpublish(ctx context.Context, region, name string) error {
	if !openami.PublicParameterPath(name) {
		return notFound(name)
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		return tx.Parameters().Delete(region, openami.PublicParameterOwner, name)
	})
}
