// Package ssm serves the Parameter Store part of the AWS Systems Manager
// API (version 2014-11-06, JSON 1.1, signed service "ssm"): PutParameter,
// GetParameter, GetParameters, GetParametersByPath, DescribeParameters,
// GetParameterHistory, DeleteParameter, DeleteParameters, the labels of
// versions (Label/UnlabelParameterVersion) and the tags of parameters
// (AddTagsToResource, ListTagsForResource, RemoveTagsFromResource). The
// operation is named by the X-Amz-Target header (AmazonSSM.Operation).
// Every rule is in package rules/parameters (which Rules names);
// docs/SSM.md describes the subset.
package ssm

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/api/awsjson"
	"github.com/openami/openami/rules/parameters"
)

const (
	contentType  = awsjson.ContentType
	targetPrefix = "AmazonSSM."
)

// Handler serves the SSM protocol.
type Handler struct {
	rules Rules
	ops   map[string]operation
}

type operation func(h *Handler, q *request) (any, error)

// request is one SSM call on its way through.
type request struct {
	r    *http.Request
	body []byte
	p    openami.Principal
}

// op adapts a handler that takes its decoded input into an operation.
func op[In any](fn func(*Handler, *request, In) (any, error)) operation {
	return func(h *Handler, q *request) (any, error) {
		var in In
		if err := awsjson.Decode(q.body, &in); err != nil {
			return nil, err
		}
		return fn(h, q, in)
	}
}

// New returns the SSM protocol handler over the rules of parameters.
func New(rules Rules) *Handler {
	return &Handler{rules: rules, ops: map[string]operation{
		"GetParameter":            op((*Handler).getParameter),
		"GetParameters":           op((*Handler).getParameters),
		"GetParametersByPath":     op((*Handler).getParametersByPath),
		"PutParameter":            op((*Handler).putParameter),
		"DeleteParameter":         op((*Handler).deleteParameter),
		"DeleteParameters":        op((*Handler).deleteParameters),
		"DescribeParameters":      op((*Handler).describeParameters),
		"GetParameterHistory":     op((*Handler).getParameterHistory),
		"LabelParameterVersion":   op((*Handler).labelParameterVersion),
		"UnlabelParameterVersion": op((*Handler).unlabelParameterVersion),
		"AddTagsToResource":       op((*Handler).addTagsToResource),
		"ListTagsForResource":     op((*Handler).listTagsForResource),
		"RemoveTagsFromResource":  op((*Handler).removeTagsFromResource),
	}}
}

// Serve answers an authenticated SSM request. It returns the operation,
// the error code it answered with ("" on success) and the error.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, body []byte, p openami.Principal, requestID string) (string, string, error) {
	name, ok := awsjson.Operation(r, targetPrefix)
	op := h.ops[name]
	if !ok || op == nil {
		return name, h.WriteError(w, requestID, awsjson.ErrUnknownOperation), awsjson.ErrUnknownOperation
	}
	out, err := op(h, &request{r: r, body: body, p: p})
	if err == nil {
		if err = awsjson.WriteResult(w, out); err == nil {
			return name, "", nil
		}
	}
	return name, h.WriteError(w, requestID, err), err
}

// epoch formats a time as JSON 1.1 timestamps are: seconds since the
// epoch, as a JSON number.
func epoch(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64))
}

// parameter is SSM's Parameter shape.
type parameter struct {
	Name             string      `json:"Name"`
	Type             string      `json:"Type"`
	Value            string      `json:"Value"`
	Version          int64       `json:"Version"`
	Selector         string      `json:"Selector,omitempty"`
	LastModifiedDate json.Number `json:"LastModifiedDate"`
	ARN              string      `json:"ARN"`
	DataType         string      `json:"DataType"`
}

func parameterOf(p openami.Parameter, selector string) parameter {
	return parameter{Name: p.Name, Type: string(p.Type), Value: p.Value, Version: p.Version, Selector: selector,
		LastModifiedDate: epoch(p.ModifiedAt), ARN: p.ARN(), DataType: p.DataType}
}

func parametersOf(list []openami.Parameter) []parameter {
	out := make([]parameter, len(list))
	for i, p := range list {
		out[i] = parameterOf(p, "")
	}
	return out
}

type getParameterInput struct {
	Name           string `json:"Name"`
	WithDecryption bool   `json:"WithDecryption"`
}

func (h *Handler) getParameter(q *request, in getParameterInput) (any, error) {
	p, err := h.rules.GetParameter(q.r.Context(), q.p, in.Name)
	if err != nil {
		return nil, err
	}
	return struct {
		Parameter parameter `json:"Parameter"`
	}{parameterOf(p.Parameter, p.Selector)}, nil
}

type getParametersInput struct {
	Names          []string `json:"Names"`
	WithDecryption bool     `json:"WithDecryption"`
}

func (h *Handler) getParameters(q *request, in getParametersInput) (any, error) {
	found, invalid, err := h.rules.GetParameters(q.r.Context(), q.p, in.Names)
	if err != nil {
		return nil, err
	}
	out := struct {
		Parameters        []parameter `json:"Parameters"`
		InvalidParameters []string    `json:"InvalidParameters"`
	}{Parameters: []parameter{}, InvalidParameters: []string{}}
	for _, p := range found {
		out.Parameters = append(out.Parameters, parameterOf(p.Parameter, p.Selector))
	}
	out.InvalidParameters = append(out.InvalidParameters, invalid...)
	return out, nil
}

// filter is SSM's ParameterStringFilter.
type filter struct {
	Key    string   `json:"Key"`
	Option string   `json:"Option"`
	Values []string `json:"Values"`
}

func filtersIn(in []filter) []parameters.Filter {
	out := make([]parameters.Filter, len(in))
	for i, f := range in {
		out[i] = parameters.Filter{Key: f.Key, Option: f.Option, Values: f.Values}
	}
	return out
}

type getParametersByPathInput struct {
	Path             string   `json:"Path"`
	Recursive        bool     `json:"Recursive"`
	ParameterFilters []filter `json:"ParameterFilters"`
	WithDecryption   bool     `json:"WithDecryption"`
	MaxResults       int      `json:"MaxResults"`
	NextToken        string   `json:"NextToken"`
}

type parametersPage struct {
	Parameters []parameter `json:"Parameters"`
	NextToken  string      `json:"NextToken,omitempty"`
}

func (h *Handler) getParametersByPath(q *request, in getParametersByPathInput) (any, error) {
	list, next, err := h.rules.GetParametersByPath(q.r.Context(), q.p, parameters.ByPathInput{Path: in.Path, Recursive: in.Recursive,
		Filters: filtersIn(in.ParameterFilters), MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	return parametersPage{parametersOf(list), next}, nil
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type putParameterInput struct {
	Name           string  `json:"Name"`
	Description    *string `json:"Description"`
	Value          string  `json:"Value"`
	Type           string  `json:"Type"`
	KeyID          string  `json:"KeyId"`
	Overwrite      bool    `json:"Overwrite"`
	AllowedPattern *string `json:"AllowedPattern"`
	Tags           []tag   `json:"Tags"`
	Tier           string  `json:"Tier"`
	Policies       string  `json:"Policies"`
	DataType       string  `json:"DataType"`
}

func (h *Handler) putParameter(q *request, in putParameterInput) (any, error) {
	tags := tagsIn(in.Tags)
	version, tier, err := h.rules.PutParameter(q.r.Context(), q.p, parameters.PutParameterInput{Name: in.Name, Value: in.Value,
		Type: openami.ParameterType(in.Type), Description: in.Description, AllowedPattern: in.AllowedPattern, DataType: in.DataType,
		Tier: in.Tier, KeyID: in.KeyID, Overwrite: in.Overwrite, Tags: tags, Policies: in.Policies})
	if err != nil {
		return nil, err
	}
	return struct {
		Version int64  `json:"Version"`
		Tier    string `json:"Tier"`
	}{version, tier}, nil
}

type nameInput struct {
	Name string `json:"Name"`
}

func (h *Handler) deleteParameter(q *request, in nameInput) (any, error) {
	return struct{}{}, h.rules.DeleteParameter(q.r.Context(), q.p, in.Name)
}

type namesInput struct {
	Names []string `json:"Names"`
}

func (h *Handler) deleteParameters(q *request, in namesInput) (any, error) {
	deleted, invalid, err := h.rules.DeleteParameters(q.r.Context(), q.p, in.Names)
	if err != nil {
		return nil, err
	}
	return struct {
		DeletedParameters []string `json:"DeletedParameters"`
		InvalidParameters []string `json:"InvalidParameters"`
	}{append([]string{}, deleted...), append([]string{}, invalid...)}, nil
}

// parameterMetadata is SSM's ParameterMetadata shape; with Value and
// Labels, ParameterHistory's.
type parameterMetadata struct {
	Name             string      `json:"Name"`
	ARN              string      `json:"ARN,omitempty"`
	Type             string      `json:"Type"`
	Value            *string     `json:"Value,omitempty"`
	LastModifiedDate json.Number `json:"LastModifiedDate"`
	LastModifiedUser string      `json:"LastModifiedUser"`
	Description      string      `json:"Description,omitempty"`
	AllowedPattern   string      `json:"AllowedPattern,omitempty"`
	Version          int64       `json:"Version"`
	Labels           []string    `json:"Labels,omitempty"`
	Tier             string      `json:"Tier"`
	Policies         []struct{}  `json:"Policies"`
	DataType         string      `json:"DataType"`
}

func metadataOf(p openami.Parameter) parameterMetadata {
	return parameterMetadata{Name: p.Name, ARN: p.ARN(), Type: string(p.Type), LastModifiedDate: epoch(p.ModifiedAt),
		LastModifiedUser: p.ModifiedBy, Description: p.Description, AllowedPattern: p.AllowedPattern, Version: p.Version,
		Tier: p.Tier, Policies: []struct{}{}, DataType: p.DataType}
}

// oldFilter is DescribeParameters' older Filters entry
// (ParametersFilter): Name, Type or KeyId, equal to one of the values.
type oldFilter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

type describeParametersInput struct {
	Filters          []oldFilter `json:"Filters"`
	ParameterFilters []filter    `json:"ParameterFilters"`
	MaxResults       int         `json:"MaxResults"`
	NextToken        string      `json:"NextToken"`
	Shared           bool        `json:"Shared"`
}

func (h *Handler) describeParameters(q *request, in describeParametersInput) (any, error) {
	filters := filtersIn(in.ParameterFilters)
	for _, f := range in.Filters {
		filters = append(filters, parameters.Filter{Key: f.Key, Values: f.Values})
	}
	list, next, err := h.rules.DescribeParameters(q.r.Context(), q.p, parameters.DescribeInput{Filters: filters,
		MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := struct {
		Parameters []parameterMetadata `json:"Parameters"`
		NextToken  string              `json:"NextToken,omitempty"`
	}{Parameters: make([]parameterMetadata, len(list)), NextToken: next}
	for i, p := range list {
		out.Parameters[i] = metadataOf(p)
	}
	return out, nil
}

type historyInput struct {
	Name           string `json:"Name"`
	WithDecryption bool   `json:"WithDecryption"`
	MaxResults     int    `json:"MaxResults"`
	NextToken      string `json:"NextToken"`
}

func (h *Handler) getParameterHistory(q *request, in historyInput) (any, error) {
	list, next, err := h.rules.GetParameterHistory(q.r.Context(), q.p, in.Name, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := struct {
		Parameters []parameterMetadata `json:"Parameters"`
		NextToken  string              `json:"NextToken,omitempty"`
	}{Parameters: make([]parameterMetadata, len(list)), NextToken: next}
	for i, p := range list {
		m := metadataOf(p)
		m.ARN, m.Value, m.Labels = "", &p.Value, append([]string{}, p.Labels...)
		out.Parameters[i] = m
	}
	return out, nil
}

func tagsIn(in []tag) []openami.Tag {
	out := make([]openami.Tag, len(in))
	for i, t := range in {
		out[i] = openami.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

type labelInput struct {
	Name             string   `json:"Name"`
	ParameterVersion int64    `json:"ParameterVersion"`
	Labels           []string `json:"Labels"`
}

func (h *Handler) labelParameterVersion(q *request, in labelInput) (any, error) {
	invalid, version, err := h.rules.LabelParameterVersion(q.r.Context(), q.p, in.Name, in.ParameterVersion, in.Labels)
	if err != nil {
		return nil, err
	}
	return struct {
		InvalidLabels    []string `json:"InvalidLabels"`
		ParameterVersion int64    `json:"ParameterVersion"`
	}{append([]string{}, invalid...), version}, nil
}

func (h *Handler) unlabelParameterVersion(q *request, in labelInput) (any, error) {
	removed, invalid, err := h.rules.UnlabelParameterVersion(q.r.Context(), q.p, in.Name, in.ParameterVersion, in.Labels)
	if err != nil {
		return nil, err
	}
	return struct {
		RemovedLabels []string `json:"RemovedLabels"`
		InvalidLabels []string `json:"InvalidLabels"`
	}{append([]string{}, removed...), append([]string{}, invalid...)}, nil
}

// resourceInput names the resource of a tagging call: openami tags
// parameters only.
type resourceInput struct {
	ResourceType string   `json:"ResourceType"`
	ResourceID   string   `json:"ResourceId"`
	Tags         []tag    `json:"Tags"`
	TagKeys      []string `json:"TagKeys"`
}

// errResourceType is a tagging call about another kind of resource than
// a parameter.
var errResourceType = &openami.Error{Class: openami.Unsupported, Resource: openami.ResourceTag, Field: "ResourceType",
	Message: "The resource type is not valid: openami tags parameters only (ResourceType Parameter)."}

func (h *Handler) addTagsToResource(q *request, in resourceInput) (any, error) {
	if in.ResourceType != "Parameter" {
		return nil, errResourceType
	}
	return struct{}{}, h.rules.TagParameter(q.r.Context(), q.p, in.ResourceID, tagsIn(in.Tags))
}

func (h *Handler) listTagsForResource(q *request, in resourceInput) (any, error) {
	if in.ResourceType != "Parameter" {
		return nil, errResourceType
	}
	tags, err := h.rules.ParameterTags(q.r.Context(), q.p, in.ResourceID)
	if err != nil {
		return nil, err
	}
	out := struct {
		TagList []tag `json:"TagList"`
	}{make([]tag, len(tags))}
	for i, t := range tags {
		out.TagList[i] = tag{t.Key, t.Value}
	}
	return out, nil
}

func (h *Handler) removeTagsFromResource(q *request, in resourceInput) (any, error) {
	if in.ResourceType != "Parameter" {
		return nil, errResourceType
	}
	return struct{}{}, h.rules.UntagParameter(q.r.Context(), q.p, in.ResourceID, in.TagKeys)
}
