package parameters

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// This file holds the labels of parameter versions (a label names one
// version of a parameter at a time; NAME:LABEL selects it) and the tags
// of parameters (kept on the latest version's record; a write copies
// them on).

// maxLabels is how many labels one version may carry, as SSM has it.
const maxLabels = 10

var labelForm = regexp.MustCompile(`^[a-zA-Z0-9_.\-]{1,100}$`)

// validLabel reports whether a label has SSM's form: 1–100 letters,
// digits and . - _, not beginning with a digit, nor with aws or ssm in
// any case.
func validLabel(l string) bool {
	low := strings.ToLower(l)
	return labelForm.MatchString(l) && (l[0] < '0' || l[0] > '9') && !strings.HasPrefix(low, "aws") && !strings.HasPrefix(low, "ssm")
}

// ownVersion returns every version of one of the caller's parameters and
// the index of version (0: the latest) among them.
func ownVersion(tx metadata.Tx, p openami.Principal, name string, version int64) ([]openami.Parameter, int, error) {
	all, err := tx.Parameters().History(p.Region, p.AccountID, name)
	if err != nil {
		return nil, 0, err
	}
	if len(all) == 0 {
		return nil, 0, notFound(name)
	}
	if version == 0 {
		return all, len(all) - 1, nil
	}
	i := slices.IndexFunc(all, func(prm openami.Parameter) bool { return prm.Version == version })
	if i < 0 {
		return nil, 0, openami.ReasonErrorf(openami.NotFound, openami.ResourceParameter, openami.ReasonVersion,
			"Systems Manager could not find version %d of %s. Verify the version and try again.", version, name)
	}
	return all, i, nil
}

// checkLabelNames checks the count of labels a call names.
func checkLabelNames(labels []string) error {
	if len(labels) == 0 {
		return param.Empty("Labels", "must have length greater than or equal to 1")
	}
	if len(labels) > maxLabels {
		return param.Breaks("Labels", "", "must have length less than or equal to %d", maxLabels)
	}
	return nil
}

// LabelParameterVersion puts labels on a version (0: the latest) of one
// of the caller's parameters, moving each from the version that had it.
// It returns the labels of an invalid form (the others are applied) and
// the version labelled. More than 10 labels on the version is
// LimitExceeded, and changes nothing.
func (s *Parameters) LabelParameterVersion(ctx context.Context, p openami.Principal, name string, version int64, labels []string) ([]string, int64, error) {
	if err := checkName(name, false); err != nil {
		return nil, 0, err
	}
	if err := checkLabelNames(labels); err != nil {
		return nil, 0, err
	}
	var (
		invalid []string
		labeled int64
	)
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		invalid = nil
		all, i, err := ownVersion(tx, p, name, version)
		if err != nil {
			return err
		}
		target := all[i]
		labeled = target.Version
		var valid []string
		for _, l := range labels {
			switch {
			case !validLabel(l):
				invalid = append(invalid, l)
			case !slices.Contains(valid, l):
				valid = append(valid, l)
			}
		}
		for j, prm := range all {
			if j == i {
				continue
			}
			kept := slices.DeleteFunc(slices.Clone(prm.Labels), func(l string) bool { return slices.Contains(valid, l) })
			if len(kept) != len(prm.Labels) {
				prm.Labels = kept
				if err := tx.Parameters().Update(prm); err != nil {
					return err
				}
			}
		}
		for _, l := range valid {
			if !slices.Contains(target.Labels, l) {
				target.Labels = append(target.Labels, l)
			}
		}
		if len(target.Labels) > maxLabels {
			return &openami.Error{Class: openami.LimitExceeded, Resource: openami.ResourceParameter, Field: "Labels",
				Message: "A parameter version can have maximum 10 labels.Move one or more labels to another version and try again."}
		}
		return tx.Parameters().Update(target)
	})
	return invalid, labeled, err
}

// UnlabelParameterVersion removes labels from a version of one of the
// caller's parameters and returns those removed and those the version
// did not have.
func (s *Parameters) UnlabelParameterVersion(ctx context.Context, p openami.Principal, name string, version int64, labels []string) (removed, invalid []string, err error) {
	if err := checkName(name, false); err != nil {
		return nil, nil, err
	}
	if version < 1 {
		return nil, nil, param.Breaks("ParameterVersion", "", "must not be null")
	}
	if err := checkLabelNames(labels); err != nil {
		return nil, nil, err
	}
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		removed, invalid = nil, nil
		all, i, err := ownVersion(tx, p, name, version)
		if err != nil {
			return err
		}
		target := all[i]
		for _, l := range labels {
			if slices.Contains(target.Labels, l) {
				if !slices.Contains(removed, l) {
					removed = append(removed, l)
				}
			} else if !slices.Contains(invalid, l) {
				invalid = append(invalid, l)
			}
		}
		target.Labels = slices.DeleteFunc(target.Labels, func(l string) bool { return slices.Contains(removed, l) })
		return tx.Parameters().Update(target)
	})
	return removed, invalid, err
}

// byLabel returns the version of a parameter that carries label.
func byLabel(tx metadata.Tx, p openami.Principal, name, label string) (openami.Parameter, error) {
	all, err := tx.Parameters().History(p.Region, ownerOf(p, name), name)
	if err != nil {
		return openami.Parameter{}, err
	}
	if len(all) == 0 {
		return openami.Parameter{}, notFound(name)
	}
	for _, prm := range all {
		if slices.Contains(prm.Labels, label) {
			return prm, nil
		}
	}
	return openami.Parameter{}, openami.ReasonErrorf(openami.NotFound, openami.ResourceParameter, openami.ReasonVersion,
		"Systems Manager could not find label %s of %s. Verify the label and try again.", label, name)
}

// taggable returns the latest version of one of the caller's parameters,
// which carries its tags; NotFound (about the ResourceID the tagging
// calls name) if there is none.
func taggable(tx metadata.Tx, p openami.Principal, name string) (openami.Parameter, error) {
	prm, err := tx.Parameters().Get(p.Region, p.AccountID, name, 0)
	if errors.Is(err, openami.ErrNotFound) {
		return prm, &openami.Error{Class: openami.NotFound, Resource: openami.ResourceParameter, Field: "ResourceID", Value: name,
			Message: "The resource ID \"" + name + "\" is not valid. Verify the ID and try again."}
	}
	return prm, err
}

// ParameterTags returns the tags of one of the caller's parameters.
func (s *Parameters) ParameterTags(ctx context.Context, p openami.Principal, name string) ([]openami.Tag, error) {
	var tags []openami.Tag
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		prm, err := taggable(tx, p, name)
		tags = tagset.Sorted(prm.Tags)
		return err
	})
	return tags, err
}

// TagParameter adds tags to one of the caller's parameters, or changes
// their values (at most 50 tags in all).
func (s *Parameters) TagParameter(ctx context.Context, p openami.Principal, name string, tags []openami.Tag) error {
	if len(tags) == 0 {
		return param.Empty("Tags", "must have length greater than or equal to 1")
	}
	if err := tagset.Validate(tags); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		prm, err := taggable(tx, p, name)
		if err != nil {
			return err
		}
		prm.Tags = tagset.Merge(prm.Tags, tags)
		if err := tagset.Validate(prm.Tags); err != nil {
			return err
		}
		return tx.Parameters().Update(prm)
	})
}

// UntagParameter removes tags, by key, from one of the caller's
// parameters.
func (s *Parameters) UntagParameter(ctx context.Context, p openami.Principal, name string, keys []string) error {
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		prm, err := taggable(tx, p, name)
		if err != nil {
			return err
		}
		prm.Tags = slices.DeleteFunc(prm.Tags, func(t openami.Tag) bool { return slices.Contains(keys, t.Key) })
		return tx.Parameters().Update(prm)
	})
}
