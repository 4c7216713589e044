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
// image id, is refused as ResolveSSM refuses it; it reads in its own
// transaction.
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
	return s.ResolveSSM(tx, p, ref)
}

// ResolveSSM returns the image id the parameter NAME[:VERSION|:LABEL]
// holds for the caller (its own, or a public one), in tx: the hook of
// launch templates (templates.Config.ResolveSSM) and ResolveImageIn's
// work. A name that does not resolve (no such parameter, version or
// label, or a name of the wrong form) is NotFound with
// ReasonSSMParameter; a value that is no image id (or not a String) is
// InvalidParameter about the parameter.
func (s *Parameters) ResolveSSM(tx metadata.Tx, p openami.Principal, ref string) (string, error) {
	missing := func(why string) error {
		return openami.ReasonErrorf(openami.NotFound, openami.ResourceParameter, openami.ReasonSSMParameter,
			"Error resolving the SSM parameter %s: %s", ref, why)
	}
	sel, err := parseSelector(ref)
	if err != nil {
		return "", missing("the parameter name is not valid")
	}
	prm, err := lookup(tx, p, sel)
	var oe *openami.Error
	switch {
	case errors.As(err, &oe) && oe.Reason == openami.ReasonVersion:
		return "", missing("the parameter has no such version or label")
	case errors.Is(err, openami.ErrNotFound):
		return "", missing("the parameter does not exist")
	case err != nil:
		return "", err
	case prm.Type != openami.ParameterString || !imageIDForm.MatchString(prm.Value):
		return "", openami.Errorf(openami.InvalidParameter, openami.ResourceParameter,
			"Error resolving the SSM parameter %s: its value is not an image id", ref)
	}
	return prm.Value, nil
}
