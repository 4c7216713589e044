package parameters

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
	"github.com/openami/openami/rules/param"
)

// Filter is one ParameterFilters entry: a key, an option (Equals when
// empty) and values.
type Filter struct {
	Key    string
	Option string
	Values []string
}

// The filter keys openami takes, and the options each takes (the first
// is the default).
var filterOptions = map[string][]string{
	"Name":     {"Equals", "BeginsWith", "Contains"},
	"Type":     {"Equals"},
	"DataType": {"Equals"},
	"Tier":     {"Equals"},
	"KeyId":    {"Equals"},
	"Path":     {"OneLevel", "Recursive"},
}

// compiled is a checked filter: whether it matches a parameter.
type compiled func(openami.Parameter) bool

// compileFilters checks filters and returns their conjunction. byPath
// is GetParametersByPath's subset: it takes no Name or Path filter, as
// SSM's has it.
func compileFilters(filters []Filter, byPath bool) (compiled, []string, error) {
	var (
		fns   []compiled
		scope []string
		seen  = map[string]bool{}
	)
	for _, f := range filters {
		options, ok := filterOptions[f.Key]
		if !ok || byPath && (f.Key == "Name" || f.Key == "Path") {
			return nil, nil, &openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceFilter, Field: "Key", Value: f.Key,
				Message: fmt.Sprintf("The following filter key is not valid: %s.", f.Key)}
		}
		if seen[f.Key] {
			return nil, nil, &openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceFilter, Field: "Key", Value: f.Key,
				Message: fmt.Sprintf("The following filter is duplicated in the request: %s. A request can contain only one occurrence of a specific filter.", f.Key)}
		}
		seen[f.Key] = true
		opt := f.Option
		if opt == "" {
			opt = options[0]
		}
		if !containsString(options, opt) {
			return nil, nil, &openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceFilter, Field: "Option", Value: opt,
				Message: fmt.Sprintf("The following filter option is not valid: %s. Valid options include: %s.", opt, strings.Join(options, ", "))}
		}
		if len(f.Values) == 0 && f.Key != "Path" {
			return nil, nil, &openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceFilter, Field: "Values", Value: f.Key,
				Message: fmt.Sprintf("The following filter values are missing : null for filter key %s.", f.Key)}
		}
		values := f.Values
		scope = append(scope, f.Key, opt, strings.Join(values, "\x00"))
		switch f.Key {
		case "Name":
			fns = append(fns, func(p openami.Parameter) bool {
				for _, v := range values {
					// SSM matches names with or without their leading slash.
					n, v := strings.TrimPrefix(p.Name, "/"), strings.TrimPrefix(v, "/")
					if opt == "Equals" && n == v || opt == "BeginsWith" && strings.HasPrefix(n, v) || opt == "Contains" && strings.Contains(n, v) {
						return true
					}
				}
				return false
			})
		case "Type":
			fns = append(fns, func(p openami.Parameter) bool { return containsString(values, string(p.Type)) })
		case "DataType":
			fns = append(fns, func(p openami.Parameter) bool { return containsString(values, p.DataType) })
		case "Tier":
			fns = append(fns, func(p openami.Parameter) bool { return containsString(values, p.Tier) })
		case "KeyId":
			// Only SecureString parameters have a key, and openami keeps none.
			fns = append(fns, func(openami.Parameter) bool { return false })
		case "Path":
			if len(values) == 0 {
				values = []string{"/"}
			}
			for _, v := range values {
				if err := checkPath(v); err != nil {
					return nil, nil, err
				}
			}
			fns = append(fns, func(p openami.Parameter) bool {
				for _, v := range values {
					if underPath(p.Name, v, opt == "Recursive") {
						return true
					}
				}
				return false
			})
		}
	}
	return func(p openami.Parameter) bool {
		for _, fn := range fns {
			if !fn(p) {
				return false
			}
		}
		return true
	}, scope, nil
}

// checkPath checks a hierarchy's path: it begins with / and has at most
// 15 levels.
func checkPath(path string) error {
	if !strings.HasPrefix(path, "/") || !nameChars.MatchString(path) || strings.Contains(path, "//") {
		return openami.Errorf(openami.InvalidParameter, openami.ResourceParameter,
			"The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.")
	}
	if strings.Count(strings.TrimSuffix(path, "/"), "/") > maxLevels {
		return openami.ReasonErrorf(openami.LimitExceeded, openami.ResourceParameter, openami.ReasonHierarchy,
			"A hierarchy can have a maximum of %d levels.", maxLevels)
	}
	return nil
}

// underPath reports whether a name is in the hierarchy under path: one
// level below it, or any level with recursive.
func underPath(name, path string, recursive bool) bool {
	prefix := strings.TrimSuffix(path, "/") + "/"
	rest, ok := strings.CutPrefix(name, prefix)
	return ok && rest != "" && (recursive || !strings.Contains(rest, "/"))
}

// pageOf checks a listing's MaxResults against its maximum (0: the
// default, 10, as SSM has it).
func pageOf(maxResults int, token string, max int) (describe.Page, error) {
	if maxResults < 0 {
		return describe.Page{}, param.Breaks("MaxResults", strconv.Itoa(maxResults), "must have value greater than or equal to 1")
	}
	if maxResults > max {
		return describe.Page{}, param.Breaks("MaxResults", strconv.Itoa(maxResults), "must have value less than or equal to %d", max)
	}
	if maxResults == 0 {
		maxResults = 10
	}
	return describe.Page{MaxResults: maxResults, NextToken: token}, nil
}

// ByPathInput is GetParametersByPath's input.
type ByPathInput struct {
	Path       string
	Recursive  bool
	Filters    []Filter
	MaxResults int
	NextToken  string
}

// GetParametersByPath returns a page of the parameters in the hierarchy
// under a path, in name order: the caller's, or the operator's public
// ones under /aws/service/ or /openami/service/.
func (s *Parameters) GetParametersByPath(ctx context.Context, p openami.Principal, in ByPathInput) ([]openami.Parameter, string, error) {
	if in.Path == "" {
		return nil, "", param.Empty("Path", "must have length greater than or equal to 1")
	}
	if err := checkPath(in.Path); err != nil {
		return nil, "", err
	}
	match, fscope, err := compileFilters(in.Filters, true)
	if err != nil {
		return nil, "", err
	}
	pg, err := pageOf(in.MaxResults, in.NextToken, 10)
	if err != nil {
		return nil, "", err
	}
	prefix := strings.TrimSuffix(in.Path, "/") + "/"
	owner := ownerOf(p, prefix)
	if prefix != "/" && (strings.HasPrefix("/aws/service/", prefix) || strings.HasPrefix("/openami/service/", prefix)) {
		// A path above the public ones (/aws): accounts have no
		// parameters there, the operator's public ones are below.
		owner = openami.PublicParameterOwner
	}
	scope := describe.Scope("GetParametersByPath", p, nil, append([]string{in.Path, strconv.FormatBool(in.Recursive)}, fscope...)...)
	return describe.List(s.tokens, scope, pg, describe.Bounds{Min: 1, Max: 10}, s.fetch(ctx, p.Region, owner, prefix),
		name, func(prm openami.Parameter) bool { return underPath(prm.Name, in.Path, in.Recursive) && match(prm) })
}

func name(p openami.Parameter) string { return p.Name }

// fetch returns the fetch of describe.List over an account's parameters
// (the latest version of each) whose names begin with prefix: a batch in
// name order after a name, each in a read transaction of its own.
func (s *Parameters) fetch(ctx context.Context, region, owner, prefix string) func(after string, limit int) ([]openami.Parameter, error) {
	return func(after string, limit int) ([]openami.Parameter, error) {
		var batch []openami.Parameter
		err := s.store.View(ctx, func(tx metadata.Tx) (err error) {
			batch, err = tx.Parameters().List(region, owner, prefix, after, limit)
			return err
		})
		return batch, err
	}
}

// DescribeInput is DescribeParameters' input: ParameterFilters (the
// older Filters come as Equals filters on Name and Type).
type DescribeInput struct {
	Filters    []Filter
	MaxResults int
	NextToken  string
}

// DescribeParameters returns a page of the caller's own parameters (the
// latest version of each) that the filters match, in name order. Public
// parameters are not listed, as SSM lists none.
func (s *Parameters) DescribeParameters(ctx context.Context, p openami.Principal, in DescribeInput) ([]openami.Parameter, string, error) {
	match, fscope, err := compileFilters(in.Filters, false)
	if err != nil {
		return nil, "", err
	}
	pg, err := pageOf(in.MaxResults, in.NextToken, 50)
	if err != nil {
		return nil, "", err
	}
	scope := describe.Scope("DescribeParameters", p, nil, fscope...)
	return describe.List(s.tokens, scope, pg, describe.Bounds{Min: 1, Max: 50}, s.fetch(ctx, p.Region, p.AccountID, ""), name, match)
}

// GetParameterHistory returns a page of the versions of a parameter,
// oldest first: the caller's, or a public one.
func (s *Parameters) GetParameterHistory(ctx context.Context, p openami.Principal, paramName string, maxResults int, token string) ([]openami.Parameter, string, error) {
	if err := checkName(paramName, false); err != nil {
		return nil, "", err
	}
	pg, err := pageOf(maxResults, token, 50)
	if err != nil {
		return nil, "", err
	}
	var all []openami.Parameter
	if err := s.store.View(ctx, func(tx metadata.Tx) error {
		all, err = tx.Parameters().History(p.Region, ownerOf(p, paramName), paramName)
		return err
	}); err != nil {
		return nil, "", err
	}
	if len(all) == 0 {
		return nil, "", notFound(paramName)
	}
	scope := describe.Scope("GetParameterHistory", p, nil, paramName)
	return describe.List(s.tokens, scope, pg, describe.Bounds{Min: 1, Max: 50}, describe.Slice(all, nil, versionKey), versionKey,
		func(openami.Parameter) bool { return true })
}

// versionKey orders versions as text: zero-padded.
func versionKey(p openami.Parameter) string { return fmt.Sprintf("%020d", p.Version) }
