package templates

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// The attributes of a launch template that DescribeLaunchTemplates'
// filters test (api/ec2/filters.go maps EC2's names onto them).
const (
	AttrTemplateName       filter.Attr = "templateName"
	AttrTemplateCreateTime filter.Attr = "templateCreateTime"
)

// TemplateAttrs are the attributes DescribeLaunchTemplates filters by.
// Read-only.
var TemplateAttrs = []filter.Attr{AttrTemplateName, AttrTemplateCreateTime}

// The attributes of a version that DescribeLaunchTemplateVersions'
// filters test.
const (
	AttrVersionCreateTime     filter.Attr = "versionCreateTime"
	AttrVersionDefault        filter.Attr = "versionDefault"
	AttrVersionImageID        filter.Attr = "versionImageID"
	AttrVersionInstanceType   filter.Attr = "versionInstanceType"
	AttrVersionKeyName        filter.Attr = "versionKeyName"
	AttrVersionEbsOptimized   filter.Attr = "versionEbsOptimized"
	AttrVersionDescription    filter.Attr = "versionDescription"
	AttrVersionDisableAPITerm filter.Attr = "versionDisableAPITermination"
	AttrVersionHttpTokens     filter.Attr = "versionHttpTokens"
	AttrVersionHttpEndpoint   filter.Attr = "versionHttpEndpoint"
	AttrVersionHopLimit       filter.Attr = "versionHopLimit"
)

// VersionAttrs are the attributes DescribeLaunchTemplateVersions filters
// by. Read-only.
var VersionAttrs = []filter.Attr{AttrVersionCreateTime, AttrVersionDefault, AttrVersionImageID, AttrVersionInstanceType,
	AttrVersionKeyName, AttrVersionEbsOptimized, AttrVersionDescription, AttrVersionDisableAPITerm,
	AttrVersionHttpTokens, AttrVersionHttpEndpoint, AttrVersionHopLimit}

// Page is a Describe's paging.
type Page = describe.Page

// bounds are the limits of both Describes' MaxResults, as on EC2.
var bounds = describe.Bounds{Min: 1, Max: 200}

// DescribeLaunchTemplates returns a page of the caller's templates in the
// region: all, or those named by id or by name (any unknown one is
// NotFound, the whole request failing), that match the filters.
func (t *Templates) DescribeLaunchTemplates(ctx context.Context, p openami.Principal, idList, names []string, filters []filter.Filter, pg Page) ([]TemplateView, string, error) {
	fs, err := filter.Compile(filters, TemplateAttrs...)
	if err != nil {
		return nil, "", err
	}
	if err := describe.CheckIDs(openami.ResourceLaunchTemplate, append(slices.Clone(idList), names...), pg); err != nil {
		return nil, "", err
	}
	for _, id := range idList {
		if !ids.Valid("lt", id) {
			return nil, "", openami.Errorf(openami.Malformed, openami.ResourceLaunchTemplate,
				"The specified ID for the launch template (%s) is malformed.", id)
		}
	}
	for _, n := range names {
		if err := checkName(n); err != nil {
			return nil, "", err
		}
	}
	if len(idList) > 0 || len(names) > 0 {
		var found []openami.LaunchTemplate
		err := t.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			found, err = tx.LaunchTemplates().List(p.Region, metadata.LaunchTemplateQuery{AccountID: p.AccountID, IDs: idList, Names: names})
			return err
		})
		if err != nil {
			return nil, "", err
		}
		if missing := describe.MissingIDs(idList, found, func(lt openami.LaunchTemplate) string { return lt.ID }); missing != "" {
			return nil, "", idNotFound(missing)
		}
		if missing := describe.MissingIDs(names, found, func(lt openami.LaunchTemplate) string { return lt.Name }); missing != "" {
			return nil, "", nameNotFound(missing)
		}
	}
	scope := describe.Scope("DescribeLaunchTemplates", p, filters, strings.Join(idList, ","), strings.Join(names, ","))
	items, tags, next, err := describe.Tagged(ctx, t.store, t.tokens, p, scope, pg, bounds,
		func(tx metadata.Tx, after string, limit int) ([]openami.LaunchTemplate, error) {
			return tx.LaunchTemplates().List(p.Region, metadata.LaunchTemplateQuery{AccountID: p.AccountID, IDs: idList, Names: names, After: after, Limit: limit})
		},
		func(lt openami.LaunchTemplate) string { return lt.ID },
		func(lt openami.LaunchTemplate, tags map[string]string) bool {
			return fs.Match(func(a filter.Attr) []string {
				switch a {
				case AttrTemplateName:
					return []string{lt.Name}
				case AttrTemplateCreateTime:
					return []string{describe.Timestamp(lt.CreateTime)}
				}
				return nil
			}, tags)
		})
	if err != nil {
		return nil, "", err
	}
	out := make([]TemplateView, len(items))
	for i, lt := range items {
		out[i] = TemplateView{LaunchTemplate: lt, Tags: tags[lt.ID]}
	}
	return out, next, nil
}

// VersionsQuery are DescribeLaunchTemplateVersions' parameters.
type VersionsQuery struct {
	// TemplateID or TemplateName names the template. With neither, the
	// versions asked for must all be $Latest or $Default, and the
	// answer holds those of every template of the caller's.
	TemplateID, TemplateName string
	// Versions are numbers, $Latest or $Default (none: every version).
	Versions []string
	// MinVersion and MaxVersion bound the numbers ("": no bound).
	MinVersion, MaxVersion string
	Filters                []filter.Filter
	Page
}

// DescribeLaunchTemplateVersions returns a page of versions of the
// caller's template (or, with no template named, of the $Latest or
// $Default versions of all of them), in number order, that match the
// filters. A version asked for by number that does not exist is NotFound
// with ReasonVersion.
func (t *Templates) DescribeLaunchTemplateVersions(ctx context.Context, p openami.Principal, q VersionsQuery) ([]VersionView, string, error) {
	fs, err := filter.Compile(q.Filters, VersionAttrs...)
	if err != nil {
		return nil, "", err
	}
	if q.TemplateID != "" && q.TemplateName != "" {
		return nil, "", param.Exclusive("TemplateID", "TemplateName")
	}
	lo, err := boundOf("MinVersion", q.MinVersion)
	if err != nil {
		return nil, "", err
	}
	hi, err := boundOf("MaxVersion", q.MaxVersion)
	if err != nil {
		return nil, "", err
	}
	match := func(v VersionView) bool {
		return fs.Match(func(a filter.Attr) []string { return versionAttr(v, a) }, nil)
	}
	if q.TemplateID == "" && q.TemplateName == "" {
		return t.describeAllTemplates(ctx, p, q, match)
	}
	var (
		lt      openami.LaunchTemplate
		numbers []int64
	)
	err = t.store.View(ctx, func(tx metadata.Tx) error {
		var err error
		if lt, err = t.lookup(tx, p, q.TemplateID, q.TemplateName); err != nil {
			return err
		}
		numbers = nil
		for _, s := range q.Versions {
			n, err := versionNumber(lt, s)
			if err != nil {
				return err
			}
			if !slices.Contains(numbers, n) {
				numbers = append(numbers, n)
			}
		}
		if len(numbers) == 0 {
			return nil
		}
		found, err := tx.LaunchTemplates().Versions(lt.ID, metadata.VersionQuery{Numbers: numbers})
		if err != nil {
			return err
		}
		for _, n := range numbers {
			if !slices.ContainsFunc(found, func(v openami.LaunchTemplateVersion) bool { return v.Number == n }) {
				return versionNotFound(lt.ID, strconv.FormatInt(n, 10))
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	scope := describe.Scope("DescribeLaunchTemplateVersions", p, q.Filters, lt.ID, fmt.Sprint(numbers), q.MinVersion, q.MaxVersion)
	return describe.List(t.tokens, scope, q.Page, bounds,
		func(after string, limit int) ([]VersionView, error) {
			var a int64
			if after != "" {
				a, _ = strconv.ParseInt(after, 10, 64)
			}
			var list []openami.LaunchTemplateVersion
			err := t.store.View(ctx, func(tx metadata.Tx) error {
				var err error
				list, err = tx.LaunchTemplates().Versions(lt.ID, metadata.VersionQuery{Numbers: numbers, Min: lo, Max: hi, After: a, Limit: limit})
				return err
			})
			out := make([]VersionView, len(list))
			for i, v := range list {
				out[i] = VersionView{LaunchTemplateVersion: v, TemplateName: lt.Name, Default: v.Number == lt.DefaultVersion}
			}
			return out, err
		}, versionKey, match)
}

// versionKey is a version's place in a page's order: its number, padded
// so that the order of the strings is that of the numbers.
func versionKey(v VersionView) string { return fmt.Sprintf("%019d", v.Number) }

// describeAllTemplates answers DescribeLaunchTemplateVersions with no
// template named: the $Latest or $Default versions (as asked) of every
// template of the caller's, in the templates' id order.
func (t *Templates) describeAllTemplates(ctx context.Context, p openami.Principal, q VersionsQuery, match func(VersionView) bool) ([]VersionView, string, error) {
	latest, dflt := false, false
	for _, s := range q.Versions {
		switch s {
		case "$Latest":
			latest = true
		case "$Default":
			dflt = true
		default:
			return nil, "", param.MissingEither("TemplateID", "TemplateName")
		}
	}
	if !latest && !dflt {
		return nil, "", param.MissingEither("TemplateID", "TemplateName")
	}
	scope := describe.Scope("DescribeLaunchTemplateVersions", p, q.Filters, "", fmt.Sprint(latest, dflt))
	type item struct {
		VersionView
		key string
	}
	items, next, err := describe.List(t.tokens, scope, q.Page, bounds,
		func(after string, limit int) ([]item, error) {
			var out []item
			err := t.store.View(ctx, func(tx metadata.Tx) error {
				out = nil
				lts, err := tx.LaunchTemplates().List(p.Region, metadata.LaunchTemplateQuery{AccountID: p.AccountID})
				if err != nil {
					return err
				}
				for _, lt := range lts {
					var numbers []int64
					if dflt {
						numbers = append(numbers, lt.DefaultVersion)
					}
					if latest && !slices.Contains(numbers, lt.LatestVersion) {
						numbers = append(numbers, lt.LatestVersion)
					}
					vs, err := tx.LaunchTemplates().Versions(lt.ID, metadata.VersionQuery{Numbers: numbers})
					if err != nil {
						return err
					}
					for _, v := range vs {
						it := item{VersionView{LaunchTemplateVersion: v, TemplateName: lt.Name, Default: v.Number == lt.DefaultVersion}, ""}
						it.key = lt.ID + "/" + versionKey(it.VersionView)
						if it.key > after {
							out = append(out, it)
						}
					}
					if len(out) >= limit {
						break
					}
				}
				return nil
			})
			return out, err
		}, func(it item) string { return it.key }, func(it item) bool { return match(it.VersionView) })
	if err != nil {
		return nil, "", err
	}
	out := make([]VersionView, len(items))
	for i, it := range items {
		out[i] = it.VersionView
	}
	return out, next, nil
}

// versionAttr returns the values a version has for a filter attribute.
func versionAttr(v VersionView, a filter.Attr) []string {
	d := v.Data
	boolOf := func(b *bool) []string { return []string{strconv.FormatBool(b != nil && *b)} }
	switch a {
	case AttrVersionCreateTime:
		return []string{describe.Timestamp(v.CreateTime)}
	case AttrVersionDefault:
		return []string{strconv.FormatBool(v.Default)}
	case AttrVersionImageID:
		return []string{d.ImageID}
	case AttrVersionInstanceType:
		return []string{d.InstanceType}
	case AttrVersionKeyName:
		return []string{d.KeyName}
	case AttrVersionEbsOptimized:
		return boolOf(d.EbsOptimized)
	case AttrVersionDescription:
		return []string{v.Description}
	case AttrVersionDisableAPITerm:
		return boolOf(d.DisableAPITermination)
	}
	if m := d.MetadataOptions; m != nil {
		switch a {
		case AttrVersionHttpTokens:
			return []string{m.HttpTokens}
		case AttrVersionHttpEndpoint:
			return []string{m.HttpEndpoint}
		case AttrVersionHopLimit:
			return []string{strconv.Itoa(m.HttpPutResponseHopLimit)}
		}
	}
	return nil
}

// boundOf returns MinVersion's or MaxVersion's number (v, given for
// field), 0 for none.
func boundOf(field, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		switch field {
		case "MinVersion":
			return 0, param.Invalid("MinVersion", v, "Expecting a version number.")
		default:
			return 0, param.Invalid("MaxVersion", v, "Expecting a version number.")
		}
	}
	return n, nil
}
