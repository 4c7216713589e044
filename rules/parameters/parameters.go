// Package parameters holds the rules of openami's SSM Parameter Store
// subset: an account's parameters (PutParameter, GetParameter(s),
// GetParametersByPath, DescribeParameters, GetParameterHistory,
// DeleteParameter(s)), their names and hierarchies, versions and
// selectors (NAME:VERSION), the aws:ec2:image data type, checked against
// the images the writer may launch (rules/images), and the operator's
// public parameters under /aws/service/ and /openami/service/ that every
// account reads (admin.go: Publish). EC2 resolves resolve:ssm: image ids
// through it (uses.go: ResolveImage). docs/SSM.md describes the whole.
//
// The SSM API (api/ssm) calls the exported methods of Parameters with the
// caller's openami.Principal and plain Go values. Methods return
// *openami.Error values whose class, resource and reason the API maps to
// SSM's exceptions.
package parameters

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/identity"
	"github.com/openami/openami/rules/images"
	"github.com/openami/openami/rules/param"
)

// Config is what Parameters are built from. Store, Identity, Images and
// Tokens are required.
type Config struct {
	Store metadata.Store
	// Identity answers region lookups (the operator's Publish).
	Identity *identity.Accounts
	// Images checks the values of aws:ec2:image parameters.
	Images *images.Registry
	// Tokens signs the NextTokens of the listings.
	Tokens *pagetoken.Codec
	// Clock defaults to time.Now.
	Clock openami.Clock
}

// Parameters implements the Parameter Store over a metadata store.
type Parameters struct {
	store    metadata.Store
	identity *identity.Accounts
	images   *images.Registry
	tokens   *pagetoken.Codec
	now      openami.Clock
}

// New returns Parameters built from cfg.
func New(cfg Config) *Parameters {
	s := &Parameters{store: cfg.Store, identity: cfg.Identity, images: cfg.Images, tokens: cfg.Tokens, now: cfg.Clock}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

func (s *Parameters) nowUTC() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// The limits of names and values, as SSM's Standard tier has them.
const (
	maxNameLength  = 2048
	maxLevels      = 15
	maxValueLength = 4096
	maxDescription = 1024
	maxPattern     = 1024
	maxVersions    = 100
	tierStandard   = "Standard"
)

// badName is SSM's sentence for a name of the wrong form (its
// characters), badSSMPath for a path under /ssm.
const (
	badName    = `Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`
	badSSMPath = `Parameter name: can't be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`
)

var nameChars = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)

// checkName checks a parameter's name as SSM reads it: 1 to 2048 of
// letters, digits and . - _ /; a path begins with / and has no empty
// level and at most 15 levels. With write, a name reserved for AWS (and
// the operator) is refused too: one that begins, after an optional /,
// with aws or ssm in any case, or one under /openami/service/.
func checkName(name string, write bool) error {
	if name == "" {
		return param.Empty("Name", "must have length greater than or equal to 1")
	}
	if len(name) > maxNameLength {
		return param.Breaks("Name", "", "must have length less than or equal to %d", maxNameLength)
	}
	if !nameChars.MatchString(name) {
		return openami.Errorf(openami.InvalidParameter, openami.ResourceParameter, "%s", badName)
	}
	if strings.Contains(name, "/") {
		if !strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
			return openami.Errorf(openami.InvalidParameter, openami.ResourceParameter,
				"Parameter name must be a fully qualified name.")
		}
		if strings.Count(name, "/") > maxLevels {
			return openami.ReasonErrorf(openami.LimitExceeded, openami.ResourceParameter, openami.ReasonHierarchy,
				"A hierarchy can have a maximum of %d levels.", maxLevels)
		}
	}
	if write {
		return checkReserved(name)
	}
	return nil
}

// checkReserved refuses a name a caller may not write, as SSM does: a
// path under /aws... (any case) is AccessDenied, as is one under
// /openami/service/ (the operator's, here); any other name whose first
// level begins with aws or ssm (any case) is invalid.
func checkReserved(name string) error {
	lower := strings.ToLower(name)
	bare := strings.TrimLeft(lower, "/")
	path := strings.Count(name, "/") > 1
	switch {
	case path && strings.HasPrefix(lower, "/aws") || openami.PublicParameterPath(name):
		return openami.Errorf(openami.Unauthorized, openami.ResourceParameter, "No access to reserved parameter name: %s.", name)
	case !strings.HasPrefix(bare, "aws") && !strings.HasPrefix(bare, "ssm"):
		return nil
	case path:
		return openami.Errorf(openami.InvalidParameter, openami.ResourceParameter, "%s", badSSMPath)
	}
	return openami.Errorf(openami.InvalidParameter, openami.ResourceParameter, `Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive).`)
}

// selector is a parsed NAME[:VERSION|:LABEL].
type selector struct {
	name, selector string
	version        int64
	label          string
}

// parseSelector splits a name with an optional selector: a version
// number or a label. Names have no colon, so the first one starts it.
func parseSelector(s string) (selector, error) {
	name, sel, has := strings.Cut(s, ":")
	out := selector{name: name}
	if err := checkName(name, false); err != nil {
		return out, err
	}
	if !has {
		return out, nil
	}
	out.selector = ":" + sel
	if sel == "" {
		return out, openami.Errorf(openami.InvalidParameter, openami.ResourceParameter, "Invalid parameter selector: %s", s)
	}
	if v, err := strconv.ParseInt(sel, 10, 64); err == nil {
		if v < 1 {
			return out, openami.Errorf(openami.InvalidParameter, openami.ResourceParameter, "Invalid parameter version: %s", sel)
		}
		out.version = v
		return out, nil
	}
	out.label = sel
	return out, nil
}

// ownerOf returns the account whose parameter a name means for the
// caller: the operator's for a public path, the caller's otherwise.
func ownerOf(p openami.Principal, name string) string {
	if openami.PublicParameterPath(name) {
		return openami.PublicParameterOwner
	}
	return p.AccountID
}

// notFound is the refusal of a name the caller has no parameter under.
func notFound(name string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceParameter, "Parameter %s not found.", name)
}

// lookup returns the parameter a selector names for the caller, in tx.
func lookup(tx metadata.Tx, p openami.Principal, sel selector) (openami.Parameter, error) {
	if sel.label != "" {
		return byLabel(tx, p, sel.name, sel.label)
	}
	prm, err := tx.Parameters().Get(p.Region, ownerOf(p, sel.name), sel.name, sel.version)
	if errors.Is(err, openami.ErrNotFound) {
		if sel.version != 0 {
			if _, err := tx.Parameters().Get(p.Region, ownerOf(p, sel.name), sel.name, 0); err == nil {
				return prm, openami.ReasonErrorf(openami.NotFound, openami.ResourceParameter, openami.ReasonVersion,
					"Systems Manager could not find version %d of %s. Verify the version and try again.", sel.version, sel.name)
			}
		}
		return prm, notFound(sel.name)
	}
	return prm, err
}

// Selected is a parameter as a Get returns it: the version and the
// selector (":3") it was asked with, if any.
type Selected struct {
	openami.Parameter
	Selector string
}

// GetParameter returns the parameter (its latest version, or the one a
// NAME:VERSION selector names) of the caller's account, or the public
// one under /aws/service/ or /openami/service/.
func (s *Parameters) GetParameter(ctx context.Context, p openami.Principal, name string) (Selected, error) {
	sel, err := parseSelector(name)
	if err != nil {
		return Selected{}, err
	}
	var out Selected
	err = s.store.View(ctx, func(tx metadata.Tx) error {
		prm, err := lookup(tx, p, sel)
		out = Selected{prm, sel.selector}
		return err
	})
	return out, err
}

// GetParameters returns the parameters of up to 10 names, as
// GetParameter would, and the names (as given) that name none.
func (s *Parameters) GetParameters(ctx context.Context, p openami.Principal, names []string) ([]Selected, []string, error) {
	if len(names) == 0 {
		return nil, nil, param.Empty("Names", "must have length greater than or equal to 1")
	}
	if len(names) > 10 {
		return nil, nil, param.Breaks("Names", "", "must have length less than or equal to 10")
	}
	sels := make([]selector, len(names))
	for i, n := range names {
		var err error
		if sels[i], err = parseSelector(n); err != nil {
			return nil, nil, err
		}
	}
	var (
		found   []Selected
		invalid []string
	)
	err := s.store.View(ctx, func(tx metadata.Tx) error {
		found, invalid = nil, nil
		for i, sel := range sels {
			prm, err := lookup(tx, p, sel)
			if errors.Is(err, openami.ErrNotFound) {
				if !containsString(invalid, names[i]) {
					invalid = append(invalid, names[i])
				}
				continue
			}
			if err != nil {
				return err
			}
			found = append(found, Selected{prm, sel.selector})
		}
		return nil
	})
	return found, invalid, err
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// PutParameterInput is PutParameter's input.
type PutParameterInput struct {
	Name           string
	Value          string
	Type           openami.ParameterType
	Description    *string
	AllowedPattern *string
	DataType       string
	Tier           string
	KeyID          string
	Overwrite      bool
	Tags           []openami.Tag
	Policies       string
}

// PutParameter writes a new version of a parameter of the caller's
// account (version 1 of a new one) and returns its version and tier.
// An existing name needs Overwrite; a new one needs a Type. Every
// refusal changes nothing.
func (s *Parameters) PutParameter(ctx context.Context, p openami.Principal, in PutParameterInput) (int64, string, error) {
	if err := checkName(in.Name, true); err != nil {
		return 0, "", err
	}
	var version int64
	err := s.store.Update(ctx, func(tx metadata.Tx) error {
		prev, err := tx.Parameters().Get(p.Region, p.AccountID, in.Name, 0)
		if err != nil && !errors.Is(err, openami.ErrNotFound) {
			return err
		}
		exists := err == nil
		prm, err := s.next(tx, p, in, prev, exists)
		if err != nil {
			return err
		}
		prm.Region, prm.AccountID = p.Region, p.AccountID
		prm.ModifiedBy = "arn:aws:iam::" + p.AccountID + ":root"
		version = prm.Version
		if err := dropOldest(tx, prm); err != nil {
			return err
		}
		return tx.Parameters().Put(prm)
	})
	return version, tierStandard, err
}

// next returns the version a write makes of a parameter, prev its latest
// (when exists), checking every input; image values are checked as p may
// launch them (p's zero value: the operator, any image of the region).
func (s *Parameters) next(tx metadata.Tx, p openami.Principal, in PutParameterInput, prev openami.Parameter, exists bool) (openami.Parameter, error) {
	var none openami.Parameter
	if in.Value == "" {
		return none, param.Empty("Value", "must have length greater than or equal to 1")
	}
	if utf8.RuneCountInString(in.Value) > maxValueLength {
		return none, openami.Errorf(openami.InvalidParameter, openami.ResourceParameter,
			"Standard tier parameters support a maximum parameter value of %d characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.", maxValueLength)
	}
	switch in.Tier {
	case "", tierStandard, "Intelligent-Tiering":
	case "Advanced":
		return none, openami.Errorf(openami.Unsupported, openami.ResourceParameter, "openami keeps Standard tier parameters only.")
	default:
		return none, param.Breaks("Tier", in.Tier, "must satisfy enum value set: [Standard, Advanced, Intelligent-Tiering]")
	}
	if in.Policies != "" {
		return none, openami.Errorf(openami.Unsupported, openami.ResourceParameter, "openami keeps no parameter policies (they need the Advanced tier).")
	}
	if exists && !in.Overwrite {
		return none, openami.Errorf(openami.Duplicate, openami.ResourceParameter,
			"The parameter already exists. To overwrite this request value set the overwrite option in the request to true.")
	}
	if exists && len(in.Tags) > 0 {
		return none, openami.Errorf(openami.InvalidCombination, openami.ResourceParameter,
			"Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags on an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	if err := tagset.Validate(in.Tags); err != nil {
		return none, err
	}
	next := openami.Parameter{Name: in.Name, Version: 1, Type: in.Type, Value: in.Value, DataType: in.DataType,
		Tier: tierStandard, Tags: in.Tags, ModifiedAt: s.nowUTC()}
	if exists {
		next.Version = prev.Version + 1
		next.Description, next.AllowedPattern, next.Tags = prev.Description, prev.AllowedPattern, prev.Tags
		if next.Type == "" {
			next.Type = prev.Type
		}
		if next.DataType == "" {
			next.DataType = prev.DataType
		}
	}
	switch next.Type {
	case "":
		return none, openami.Errorf(openami.MissingParameter, openami.ResourceParameter, "A parameter type is required when you create a parameter.")
	case openami.ParameterString, openami.ParameterStringList:
	case openami.ParameterSecureString:
		return none, &openami.Error{Class: openami.Unsupported, Resource: openami.ResourceParameter, Field: "Type", Value: string(next.Type),
			Message: "openami does not keep SecureString parameters: use String or StringList (docs/SSM.md)."}
	default:
		return none, param.Breaks("Type", string(in.Type), "must satisfy enum value set: [SecureString, StringList, String]")
	}
	if in.KeyID != "" {
		return none, openami.Errorf(openami.InvalidParameter, openami.ResourceParameter, "KeyId is required for SecureString type parameter only.")
	}
	if in.Description != nil {
		if len(*in.Description) > maxDescription {
			return none, param.Breaks("Description", "", "must have length less than or equal to %d", maxDescription)
		}
		next.Description = *in.Description
	}
	if in.AllowedPattern != nil {
		if len(*in.AllowedPattern) > maxPattern {
			return none, param.Breaks("AllowedPattern", "", "must have length less than or equal to %d", maxPattern)
		}
		next.AllowedPattern = *in.AllowedPattern
	}
	if next.AllowedPattern != "" {
		re, err := regexp.Compile(next.AllowedPattern)
		if err != nil {
			return none, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceParameter, openami.ReasonConstraint,
				"The request does not meet the regular expression requirement.")
		}
		if !re.MatchString(next.Value) {
			return none, openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceParameter, openami.ReasonPattern,
				"Parameter value, cannot be validated against allowedPattern: %s", next.AllowedPattern)
		}
	}
	switch next.DataType {
	case "":
		next.DataType = openami.DataTypeText
	case openami.DataTypeText:
	case openami.DataTypeEC2Image:
		if next.Type != openami.ParameterString {
			return none, openami.Errorf(openami.InvalidParameter, openami.ResourceParameter,
				"The %s data type is supported only for the String parameter type.", openami.DataTypeEC2Image)
		}
		if err := s.checkImage(tx, p, next.Value); err != nil {
			return none, err
		}
	default:
		return none, openami.Errorf(openami.InvalidParameter, openami.ResourceParameter,
			"The following data type is not supported: %s (Data type names are all lowercase.)", next.DataType)
	}
	return next, nil
}

var imageIDForm = regexp.MustCompile(`^ami-[0-9a-f]{8}([0-9a-f]{9})?$`)

// checkImage checks the value of an aws:ec2:image parameter: an image id
// p may launch (pending ones too), or, for the operator (p's zero value),
// any image of the region. SSM answers this check; openami answers it at
// once rather than after the write (docs/SSM.md).
func (s *Parameters) checkImage(tx metadata.Tx, p openami.Principal, id string) error {
	if !imageIDForm.MatchString(id) {
		return openami.Errorf(openami.InvalidParameter, openami.ResourceParameter,
			"Parameter value, %s, is not a valid image ID for the aws:ec2:image data type.", id)
	}
	var err error
	if p.AccountID == "" {
		_, err = s.images.ImageOf(tx, p.Region, id)
	} else {
		_, err = s.images.LaunchableImage(tx, p, id)
		var oe *openami.Error
		if errors.As(err, &oe) && oe.Class == openami.IncorrectState {
			err = nil // visible, only not (yet) available
		}
	}
	if errors.Is(err, openami.ErrNotFound) {
		return openami.Errorf(openami.InvalidParameter, openami.ResourceParameter,
			"Parameter value, %s, is not a valid image ID for the aws:ec2:image data type: the image does not exist or the caller may not launch it.", id)
	}
	return err
}

// DeleteParameter deletes every version of one of the caller's
// parameters.
func (s *Parameters) DeleteParameter(ctx context.Context, p openami.Principal, name string) error {
	if err := checkName(name, false); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx metadata.Tx) error {
		err := tx.Parameters().Delete(p.Region, p.AccountID, name)
		if errors.Is(err, openami.ErrNotFound) {
			return notFound(name)
		}
		return err
	})
}

// DeleteParameters deletes up to 10 of the caller's parameters and
// returns the names deleted and those that name none.
func (s *Parameters) DeleteParameters(ctx context.Context, p openami.Principal, names []string) (deleted, invalid []string, err error) {
	if len(names) == 0 {
		return nil, nil, param.Empty("Names", "must have length greater than or equal to 1")
	}
	if len(names) > 10 {
		return nil, nil, param.Breaks("Names", "", "must have length less than or equal to 10")
	}
	for _, n := range names {
		if err := checkName(n, false); err != nil {
			return nil, nil, err
		}
	}
	err = s.store.Update(ctx, func(tx metadata.Tx) error {
		deleted, invalid = nil, nil
		for _, n := range names {
			err := tx.Parameters().Delete(p.Region, p.AccountID, n)
			switch {
			case errors.Is(err, openami.ErrNotFound):
				if !containsString(invalid, n) {
					invalid = append(invalid, n)
				}
			case err != nil:
				return err
			default:
				deleted = append(deleted, n)
			}
		}
		return nil
	})
	return deleted, invalid, err
}

// dropOldest makes room for next, a new version, when its parameter
// already keeps maxVersions: it deletes the oldest version, as SSM does,
// unless that one has a label (LimitExceeded, and nothing changes).
func dropOldest(tx metadata.Tx, next openami.Parameter) error {
	if next.Version <= maxVersions {
		return nil
	}
	all, err := tx.Parameters().History(next.Region, next.AccountID, next.Name)
	if err != nil || len(all) < maxVersions {
		return err
	}
	oldest := all[0]
	if len(oldest.Labels) > 0 {
		return openami.Errorf(openami.LimitExceeded, openami.ResourceParameter,
			"You attempted to create a new version of %s by calling the PutParameter API with the overwrite flag. Version %d, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
			next.Name, oldest.Version)
	}
	return tx.Parameters().DeleteVersion(oldest.Region, oldest.AccountID, oldest.Name, oldest.Version)
}
