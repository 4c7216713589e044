package parameters

import (
	"context"
	"errors"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// This file is what EC2's rules (rules/instances' RunInstances, launch
// templates) use of parameters: an image id given as resolve:ssm:NAME.

// ResolvePrefix begins an image id that names a parameter whose value is
// the image id.
const ResolvePrefix = "resolve:ssm:"

// ResolveImage returns the image id imageID stands for: imageID itself,
// unless it is resolve:ssm:NAME[:VERSION], when it is the value of that
// parameter (the caller's, or a public one: /aws/service/...), as EC2
// resolves it. A parameter that does not exist, or whose value is no
// image id, is InvalidParameter about the parameter, its Value the
// imageID as given; it reads in its own transaction.
func (s *Parameters) ResolveImage(ctx context.Context, p openami.Principal, imageID string) (string, error) {
	if !strings.HasPrefix(imageID, ResolvePrefix) {
		return imageID, nil
	}
	var id string
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		id, err = s.ResolveImageIn(tx, p, imageID)
		return err
	})
	return id, err
}

// ResolveImageIn is ResolveImage in the caller's transaction.
func (s *Parameters) ResolveImageIn(tx metadata.Tx, p openami.Principal, imageID string) (string, error) {
	ref, ok := strings.CutPrefix(imageID, ResolvePrefix)
	if !ok {
		return imageID, nil
	}
	fail := func(why string) error {
		return &openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceParameter, Field: "ImageID", Value: imageID,
			Message: "Error resolving the SSM parameter " + ref + ": " + why}
	}
	sel, err := parseSelector(ref)
	if err != nil {
		return "", fail("the parameter name is not valid")
	}
	prm, err := lookup(tx, p, sel)
	var oe *openami.Error
	switch {
	case errors.As(err, &oe) && oe.Reason == openami.ReasonVersion:
		return "", fail("the parameter has no such version")
	case errors.Is(err, openami.ErrNotFound):
		return "", fail("the parameter does not exist")
	case err != nil:
		return "", err
	case prm.Type != openami.ParameterString || !imageIDForm.MatchString(prm.Value):
		return "", fail("its value is not an image id")
	}
	return prm.Value, nil
}
