// Package templates holds the rules of launch templates: named, versioned
// sets of launch parameters (CreateLaunchTemplate,
// CreateLaunchTemplateVersion, ModifyLaunchTemplate, DeleteLaunchTemplate,
// DeleteLaunchTemplateVersions, and the two Describes), and the
// resolution of a template and version into the parameters of a launch
// (uses.go: Templates.Resolve), which rules/instances calls in its
// RunInstances transaction and Auto Scaling will call for each launch.
//
// As on EC2, a version's data is checked for its form when it is made
// (names, lengths, tag specifications, user data's encoding) and for its
// meaning (the image exists and may be launched, the key pair, subnet and
// groups exist, the type fits the image) only when a launch uses it:
// rules/instances checks those as it checks RunInstances' own inputs.
package templates

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// Config is what Templates is built from. Store and Tokens are required.
type Config struct {
	Store metadata.Store
	// Tokens signs the NextTokens of the Describes.
	Tokens *pagetoken.Codec
	// Clock defaults to time.Now.
	Clock openami.Clock
	// ResolveSSM, when not nil, returns the value of the caller's SSM
	// parameter NAME[:VERSION] (an image id), in the caller's
	// transaction; NotFound with ReasonSSMParameter when there is none.
	// nil (openami has no SSM parameters yet, issue 16) refuses every
	// resolve:ssm: image as a parameter that does not exist.
	ResolveSSM func(tx metadata.Tx, p openami.Principal, name string) (string, error)
}

// Templates implements launch templates over a metadata store.
type Templates struct {
	store      metadata.Store
	tokens     *pagetoken.Codec
	now        openami.Clock
	resolveSSM func(tx metadata.Tx, p openami.Principal, name string) (string, error)
}

// New returns Templates built from cfg.
func New(cfg Config) *Templates {
	t := &Templates{store: cfg.Store, tokens: cfg.Tokens, now: cfg.Clock, resolveSSM: cfg.ResolveSSM}
	if t.now == nil {
		t.now = time.Now
	}
	return t
}

// EC2's quotas: templates per account and region, versions per template.
const (
	templateQuota = 5000
	versionQuota  = 10000
)

// maxUserData is EC2's limit on user data, decoded.
const maxUserData = 16 << 10

// ssmPrefix starts an image id that names an SSM parameter.
const ssmPrefix = "resolve:ssm:"

// TemplateView is a template with the caller's tags on it.
type TemplateView struct {
	openami.LaunchTemplate
	Tags []openami.Tag
}

// CreateInput are CreateLaunchTemplate's parameters.
type CreateInput struct {
	LaunchTemplateName string
	VersionDescription string
	// LaunchTemplateData is required (nil: MissingParameter).
	LaunchTemplateData *openami.LaunchTemplateData
	// Tags are the template's own (TagSpecifications of launch-template).
	Tags        []openami.Tag
	ClientToken string
}

// CreateLaunchTemplate records a template with its version 1, which is
// its default. A name the account uses in the region is Duplicate; a
// repeated ClientToken returns the template it made the first time
// (Duplicate with ReasonTokenReused for another name).
func (t *Templates) CreateLaunchTemplate(ctx context.Context, p openami.Principal, in CreateInput) (TemplateView, error) {
	if err := checkName(in.LaunchTemplateName); err != nil {
		return TemplateView{}, err
	}
	if err := checkVersionInput(in.VersionDescription, in.LaunchTemplateData); err != nil {
		return TemplateView{}, err
	}
	if err := tagset.Validate(in.Tags); err != nil {
		return TemplateView{}, err
	}
	now := t.now().UTC().Truncate(time.Millisecond)
	var out TemplateView
	err := t.store.Update(ctx, func(tx metadata.Tx) error {
		out = TemplateView{}
		mine, err := tx.LaunchTemplates().List(p.Region, metadata.LaunchTemplateQuery{AccountID: p.AccountID})
		if err != nil {
			return err
		}
		if in.ClientToken != "" {
			for _, lt := range mine {
				if lt.ClientToken != in.ClientToken {
					continue
				}
				if lt.Name != in.LaunchTemplateName {
					return param.TokenReused(openami.ResourceLaunchTemplate, in.ClientToken)
				}
				tags, err := tx.Tags().Of(p.Region, p.AccountID, []string{lt.ID})
				out = TemplateView{LaunchTemplate: lt, Tags: tags[lt.ID]}
				return err
			}
		}
		for _, lt := range mine {
			if lt.Name == in.LaunchTemplateName {
				return nameTaken()
			}
		}
		if len(mine) >= templateQuota {
			return openami.Errorf(openami.LimitExceeded, openami.ResourceLaunchTemplate, "You have reached the maximum of %d launch templates in this region.", templateQuota)
		}
		data := *in.LaunchTemplateData
		if err := t.checkImage(tx, p, data.ImageID); err != nil {
			return err
		}
		lt := openami.LaunchTemplate{ID: ids.New("lt"), Region: p.Region, AccountID: p.AccountID, Name: in.LaunchTemplateName,
			CreateTime: now, CreatedBy: createdBy(p), DefaultVersion: 1, LatestVersion: 1, ClientToken: in.ClientToken}
		v := openami.LaunchTemplateVersion{TemplateID: lt.ID, Number: 1, Description: in.VersionDescription, CreateTime: now,
			CreatedBy: lt.CreatedBy, ClientToken: in.ClientToken, Data: data}
		if err := tx.LaunchTemplates().Create(lt, v); err != nil {
			if errors.Is(err, openami.ErrDuplicate) {
				return nameTaken()
			}
			return err
		}
		if len(in.Tags) > 0 {
			if err := tx.Tags().Set(p.Region, p.AccountID, lt.ID, openami.ResourceLaunchTemplate, in.Tags); err != nil {
				return err
			}
		}
		out = TemplateView{LaunchTemplate: lt, Tags: tagset.Sorted(in.Tags)}
		return nil
	})
	if err != nil {
		return TemplateView{}, err
	}
	return out, nil
}

// VersionInput are CreateLaunchTemplateVersion's parameters.
type VersionInput struct {
	// TemplateID or TemplateName names the template (one, not both).
	TemplateID, TemplateName string
	// SourceVersion, when not "", is the version (a number, $Latest or
	// $Default) whose data the new version starts from: the fields
	// LaunchTemplateData gives replace the source's, the others keep it.
	SourceVersion      string
	VersionDescription string
	LaunchTemplateData *openami.LaunchTemplateData
	ClientToken        string
}

// VersionView is a version with what the Describe of versions returns
// beside it: its template's name and whether it is the default.
type VersionView struct {
	openami.LaunchTemplateVersion
	TemplateName string
	Default      bool
}

// CreateLaunchTemplateVersion adds a version to the caller's template,
// numbered one past its latest. A repeated ClientToken returns the
// version it made the first time.
func (t *Templates) CreateLaunchTemplateVersion(ctx context.Context, p openami.Principal, in VersionInput) (VersionView, error) {
	if err := checkVersionInput(in.VersionDescription, in.LaunchTemplateData); err != nil {
		return VersionView{}, err
	}
	if err := checkRef(in.TemplateID, in.TemplateName); err != nil {
		return VersionView{}, err
	}
	now := t.now().UTC().Truncate(time.Millisecond)
	var out VersionView
	err := t.store.Update(ctx, func(tx metadata.Tx) error {
		out = VersionView{}
		lt, err := t.lookup(tx, p, in.TemplateID, in.TemplateName)
		if err != nil {
			return err
		}
		// Every version's record is read once, for the token and the
		// quota: a template holds at most versionQuota.
		all, err := tx.LaunchTemplates().Versions(lt.ID, metadata.VersionQuery{})
		if err != nil {
			return err
		}
		for _, v := range all {
			if in.ClientToken != "" && v.ClientToken == in.ClientToken && v.Number > 1 {
				out = VersionView{LaunchTemplateVersion: v, TemplateName: lt.Name, Default: v.Number == lt.DefaultVersion}
				return nil
			}
		}
		data := *in.LaunchTemplateData
		if in.SourceVersion != "" {
			n, err := versionNumber(lt, in.SourceVersion)
			if err != nil {
				return err
			}
			src, err := tx.LaunchTemplates().Version(lt.ID, n)
			if errors.Is(err, openami.ErrNotFound) {
				return versionNotFound(lt.ID, in.SourceVersion)
			}
			if err != nil {
				return err
			}
			data = Overlay(src.Data, data)
		}
		if err := t.checkImage(tx, p, data.ImageID); err != nil {
			return err
		}
		if len(all) >= versionQuota {
			return openami.Errorf(openami.LimitExceeded, openami.ResourceLaunchTemplate, "The launch template %s has the maximum of %d versions.", lt.ID, versionQuota)
		}
		lt.LatestVersion++
		v := openami.LaunchTemplateVersion{TemplateID: lt.ID, Number: lt.LatestVersion, Description: in.VersionDescription,
			CreateTime: now, CreatedBy: createdBy(p), ClientToken: in.ClientToken, Data: data}
		if err := tx.LaunchTemplates().AddVersion(v); err != nil {
			return err
		}
		if err := tx.LaunchTemplates().Update(lt); err != nil {
			return err
		}
		out = VersionView{LaunchTemplateVersion: v, TemplateName: lt.Name, Default: v.Number == lt.DefaultVersion}
		return nil
	})
	if err != nil {
		return VersionView{}, err
	}
	return out, nil
}

// Overlay returns src with every field that over gives replaced by
// over's: CreateLaunchTemplateVersion's partial data over its
// SourceVersion. A list (groups, mappings, interfaces, tag
// specifications) given replaces the source's whole, as on EC2.
func Overlay(src, over openami.LaunchTemplateData) openami.LaunchTemplateData {
	out := src
	str := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	str(&out.ImageID, over.ImageID)
	str(&out.InstanceType, over.InstanceType)
	str(&out.KeyName, over.KeyName)
	str(&out.UserData, over.UserData)
	str(&out.AvailabilityZone, over.AvailabilityZone)
	str(&out.InstanceInitiatedShutdownBehavior, over.InstanceInitiatedShutdownBehavior)
	str(&out.CPUCredits, over.CPUCredits)
	if over.SecurityGroupIDs != nil {
		out.SecurityGroupIDs = over.SecurityGroupIDs
	}
	if over.SecurityGroups != nil {
		out.SecurityGroups = over.SecurityGroups
	}
	if over.NetworkInterfaces != nil {
		out.NetworkInterfaces = over.NetworkInterfaces
	}
	if over.BlockDeviceMappings != nil {
		out.BlockDeviceMappings = over.BlockDeviceMappings
	}
	if over.TagSpecifications != nil {
		out.TagSpecifications = over.TagSpecifications
	}
	if over.MetadataOptions != nil {
		out.MetadataOptions = over.MetadataOptions
	}
	for _, b := range []struct{ dst, v **bool }{
		{&out.DisableAPITermination, &over.DisableAPITermination}, {&out.DisableAPIStop, &over.DisableAPIStop},
		{&out.EbsOptimized, &over.EbsOptimized}, {&out.Monitoring, &over.Monitoring},
	} {
		if *b.v != nil {
			*b.dst = *b.v
		}
	}
	return out
}

// ModifyInput are ModifyLaunchTemplate's parameters.
type ModifyInput struct {
	TemplateID, TemplateName string
	// DefaultVersion is the version to make the default ("": leave it).
	DefaultVersion string
}

// ModifyLaunchTemplate sets the default version of the caller's template
// to one of its versions (a number, or $Latest) and returns the template.
func (t *Templates) ModifyLaunchTemplate(ctx context.Context, p openami.Principal, in ModifyInput) (openami.LaunchTemplate, error) {
	if err := checkRef(in.TemplateID, in.TemplateName); err != nil {
		return openami.LaunchTemplate{}, err
	}
	var out openami.LaunchTemplate
	err := t.store.Update(ctx, func(tx metadata.Tx) error {
		lt, err := t.lookup(tx, p, in.TemplateID, in.TemplateName)
		if err != nil {
			return err
		}
		out = lt
		if in.DefaultVersion == "" {
			return nil
		}
		n, err := versionNumber(lt, in.DefaultVersion)
		if err != nil {
			return err
		}
		if _, err := tx.LaunchTemplates().Version(lt.ID, n); errors.Is(err, openami.ErrNotFound) {
			return versionNotFound(lt.ID, in.DefaultVersion)
		} else if err != nil {
			return err
		}
		lt.DefaultVersion = n
		out = lt
		return tx.LaunchTemplates().Update(lt)
	})
	if err != nil {
		return openami.LaunchTemplate{}, err
	}
	return out, nil
}

// DeleteLaunchTemplate deletes the caller's template with every version
// and its tags, and returns it as it was.
func (t *Templates) DeleteLaunchTemplate(ctx context.Context, p openami.Principal, id, name string) (openami.LaunchTemplate, error) {
	if err := checkRef(id, name); err != nil {
		return openami.LaunchTemplate{}, err
	}
	var out openami.LaunchTemplate
	err := t.store.Update(ctx, func(tx metadata.Tx) error {
		lt, err := t.lookup(tx, p, id, name)
		if err != nil {
			return err
		}
		out = lt
		if err := tx.LaunchTemplates().Delete(p.Region, lt.ID); err != nil {
			return err
		}
		return tx.Tags().DeleteAll(p.Region, p.AccountID, lt.ID)
	})
	if err != nil {
		return openami.LaunchTemplate{}, err
	}
	return out, nil
}

// VersionOutcome is what DeleteLaunchTemplateVersions did with one of the
// versions asked for: deleted (Err nil) or not, and why.
type VersionOutcome struct {
	Version string // as asked for
	Number  int64  // 0 when Version is no number
	Err     error
}

// maxDeleteVersions is the most versions one DeleteLaunchTemplateVersions
// deletes, as on EC2.
const maxDeleteVersions = 200

// DeleteLaunchTemplateVersions deletes versions of the caller's template,
// each on its own: a version that does not exist, or the default (which
// goes only with its template), fails alone (NotFound with ReasonVersion,
// InUse with ReasonDefault) and the others are deleted. A template that
// does not exist fails the whole request.
func (t *Templates) DeleteLaunchTemplateVersions(ctx context.Context, p openami.Principal, id, name string, versions []string) (openami.LaunchTemplate, []VersionOutcome, error) {
	if err := checkRef(id, name); err != nil {
		return openami.LaunchTemplate{}, nil, err
	}
	if len(versions) == 0 {
		return openami.LaunchTemplate{}, nil, param.Missing("Versions")
	}
	if len(versions) > maxDeleteVersions {
		return openami.LaunchTemplate{}, nil, param.Invalid("Versions", strconv.Itoa(len(versions)), "You can delete up to %d launch template versions in a single request.", maxDeleteVersions)
	}
	var (
		lt  openami.LaunchTemplate
		out []VersionOutcome
	)
	err := t.store.Update(ctx, func(tx metadata.Tx) error {
		out = nil
		var err error
		if lt, err = t.lookup(tx, p, id, name); err != nil {
			return err
		}
		for _, s := range versions {
			o := VersionOutcome{Version: s}
			n, err := strconv.ParseInt(s, 10, 64)
			switch {
			case err != nil || n < 1:
				o.Err = versionNotFound(lt.ID, s)
			case n == lt.DefaultVersion:
				o.Number = n
				o.Err = openami.ReasonErrorf(openami.InUse, openami.ResourceLaunchTemplate, openami.ReasonDefault,
					"Version %d is the default version of launch template %s: it cannot be deleted.", n, lt.ID)
			default:
				o.Number = n
				if err := tx.LaunchTemplates().DeleteVersion(lt.ID, n); errors.Is(err, openami.ErrNotFound) {
					o.Err = versionNotFound(lt.ID, s)
				} else if err != nil {
					return err
				}
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return openami.LaunchTemplate{}, nil, err
	}
	return lt, out, nil
}

// lookup returns the caller's template named by id or name (one of
// them): NotFound otherwise, about the id or, with ReasonName, the name.
func (t *Templates) lookup(tx metadata.Tx, p openami.Principal, id, name string) (openami.LaunchTemplate, error) {
	if id != "" {
		if !ids.Valid("lt", id) {
			return openami.LaunchTemplate{}, openami.Errorf(openami.Malformed, openami.ResourceLaunchTemplate,
				"The specified ID for the launch template (%s) is malformed.", id)
		}
		lt, err := tx.LaunchTemplates().Get(p.Region, id)
		if errors.Is(err, openami.ErrNotFound) || err == nil && lt.AccountID != p.AccountID {
			return openami.LaunchTemplate{}, idNotFound(id)
		}
		return lt, err
	}
	if err := checkName(name); err != nil {
		return openami.LaunchTemplate{}, err
	}
	list, err := tx.LaunchTemplates().List(p.Region, metadata.LaunchTemplateQuery{AccountID: p.AccountID, Names: []string{name}})
	if err != nil {
		return openami.LaunchTemplate{}, err
	}
	if len(list) == 0 {
		return openami.LaunchTemplate{}, nameNotFound(name)
	}
	return list[0], nil
}

func idNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceLaunchTemplate,
		"The specified launch template, with template ID %s, does not exist.", id)
}

func nameNotFound(name string) error {
	return openami.ReasonErrorf(openami.NotFound, openami.ResourceLaunchTemplate, openami.ReasonName,
		"The specified launch template, with template name %s, does not exist.", name)
}

func versionNotFound(id, version string) error {
	return openami.ReasonErrorf(openami.NotFound, openami.ResourceLaunchTemplate, openami.ReasonVersion,
		"Could not find the specified version %s for the launch template with ID %s.", version, id)
}

func nameTaken() error {
	return openami.Errorf(openami.Duplicate, openami.ResourceLaunchTemplate, "Launch template name already in use.")
}

// versionNumber turns a version as requests give it (a number, $Latest,
// $Default) into a number of lt; NotFound with ReasonVersion otherwise.
func versionNumber(lt openami.LaunchTemplate, v string) (int64, error) {
	switch v {
	case "$Latest":
		return lt.LatestVersion, nil
	case "$Default", "":
		return lt.DefaultVersion, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, versionNotFound(lt.ID, v)
	}
	return n, nil
}

// checkRef refuses a request that names its template by neither id nor
// name, or by both.
func checkRef(id, name string) error {
	switch {
	case id == "" && name == "":
		return param.MissingEither("TemplateID", "TemplateName")
	case id != "" && name != "":
		return param.Exclusive("TemplateID", "TemplateName")
	}
	return nil
}

// checkName checks EC2's rule for a template's name: 3 to 128 of
// letters, digits and ( ) . / _ -.
func checkName(name string) error {
	if name == "" {
		return param.Missing("TemplateName")
	}
	ok := len(name) >= 3 && len(name) <= 128
	for _, c := range name {
		if !ok {
			break
		}
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("()./_-", c)
	}
	if !ok {
		return openami.ReasonErrorf(openami.Malformed, openami.ResourceLaunchTemplate, openami.ReasonName,
			"A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.")
	}
	return nil
}

// checkVersionInput checks what EC2 checks of a version when it is made:
// the data is given, the description's length, the user data's encoding
// and size, and the tag specifications' types and tags.
func checkVersionInput(description string, d *openami.LaunchTemplateData) error {
	if d == nil {
		return param.Missing("LaunchTemplateData")
	}
	if len(description) > 255 {
		return param.TooLong("VersionDescription", description, "Length exceeds maximum of 255 characters.")
	}
	if d.UserData != "" {
		b, err := base64.StdEncoding.DecodeString(d.UserData)
		if err != nil {
			return openami.Errorf(openami.InvalidParameter, "", "Invalid BASE64 encoding of user data.")
		}
		if len(b) > maxUserData {
			return openami.Errorf(openami.InvalidParameter, "", "User data is limited to %d bytes.", maxUserData)
		}
	}
	seen := map[openami.ResourceType]bool{}
	for _, ts := range d.TagSpecifications {
		switch ts.ResourceType {
		case openami.ResourceInstance, openami.ResourceVolume, openami.ResourceNetworkInterface, "spot-instances-request":
		default:
			return openami.Errorf(openami.InvalidParameter, "", "'%s' is not a valid taggable resource type for this operation.", ts.ResourceType)
		}
		if seen[ts.ResourceType] {
			return openami.Errorf(openami.InvalidParameter, "", "The tag specification resource type %s is specified more than once.", ts.ResourceType)
		}
		seen[ts.ResourceType] = true
		if err := tagset.Validate(ts.Tags); err != nil {
			return err
		}
	}
	if s := d.InstanceInitiatedShutdownBehavior; s != "" {
		if err := param.OneOf("InstanceInitiatedShutdownBehavior", s, "stop", "terminate"); err != nil {
			return err
		}
	}
	return nil
}

// checkImage refuses an image id that names an SSM parameter that does
// not exist: every one while openami has no SSM parameters (ResolveSSM
// nil).
func (t *Templates) checkImage(tx metadata.Tx, p openami.Principal, image string) error {
	_, err := t.imageOf(tx, p, image)
	return err
}

// imageOf returns the image id a template's ImageID stands for: itself,
// or the value of the SSM parameter it names.
func (t *Templates) imageOf(tx metadata.Tx, p openami.Principal, image string) (string, error) {
	name, ok := strings.CutPrefix(image, ssmPrefix)
	if !ok {
		return image, nil
	}
	if t.resolveSSM == nil {
		return "", openami.ReasonErrorf(openami.NotFound, "", openami.ReasonSSMParameter,
			"The parameter %s does not exist in Systems Manager Parameter Store.", name)
	}
	return t.resolveSSM(tx, p, name)
}

// createdBy is the ARN EC2 records as a template's or version's creator:
// the account's root, openami having no IAM users.
func createdBy(p openami.Principal) string {
	return "arn:aws:iam::" + p.AccountID + ":root"
}
