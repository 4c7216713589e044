package templates

import (
	"context"
	"errors"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Ref names a template and one of its versions as a launch does
// (RunInstances' LaunchTemplate, an Auto Scaling group's): by id or by
// name, and a version number, $Latest or $Default ("": $Default).
type Ref struct {
	ID, Name string
	Version  string
}

// Launch is what a template's version gives a launch: the template, the
// version's number and its data, with ImageID resolved to an image id
// when it names an SSM parameter.
type Launch struct {
	Template openami.LaunchTemplate
	Version  int64
	Data     openami.LaunchTemplateData
}

// Resolve returns the data of the caller's template version ref names, in
// the caller's transaction: NotFound for a template the caller does not
// have (ReasonName when named by name), NotFound with ReasonVersion for a
// version it does not have, and the errors of ResolveSSM. It checks no
// more than that: the launch checks the data as it checks its own inputs.
func (t *Templates) Resolve(tx metadata.Tx, p openami.Principal, ref Ref) (Launch, error) {
	if err := checkRef(ref.ID, ref.Name); err != nil {
		return Launch{}, err
	}
	lt, err := t.lookup(tx, p, ref.ID, ref.Name)
	if err != nil {
		return Launch{}, err
	}
	n, err := versionNumber(lt, ref.Version)
	if err != nil {
		return Launch{}, err
	}
	v, err := tx.LaunchTemplates().Version(lt.ID, n)
	if errors.Is(err, openami.ErrNotFound) {
		version := ref.Version
		if version == "" {
			version = "$Default"
		}
		return Launch{}, versionNotFound(lt.ID, version)
	}
	if err != nil {
		return Launch{}, err
	}
	data := v.Data
	if data.ImageID, err = t.imageOf(tx, p, data.ImageID); err != nil {
		return Launch{}, err
	}
	return Launch{Template: lt, Version: n, Data: data}, nil
}

// Owned returns nil if the caller has the template id in its region, and
// the NotFound error of the template otherwise (tagging checks it).
func (t *Templates) Owned(tx metadata.Tx, p openami.Principal, id string) error {
	_, err := t.lookup(tx, p, id, "")
	return err
}

// Lookup is Resolve in a transaction of its own, for a caller that only
// reads: Auto Scaling checking the template a group names, say.
func (t *Templates) Lookup(ctx context.Context, p openami.Principal, ref Ref) (Launch, error) {
	var l Launch
	err := t.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		l, err = t.Resolve(tx, p, ref)
		return err
	})
	return l, err
}
