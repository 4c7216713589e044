package ssm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/api/sigv4"
	"github.com/openami/openami/rules/param"
	"github.com/openami/openami/rules/parameters"
)

// TestExceptions is the table from openami errors to SSM exceptions.
func TestExceptions(t *testing.T) {
	for _, c := range []struct {
		err    error
		typ    string
		status int
		msg    string
	}{
		{openami.Errorf(openami.NotFound, openami.ResourceParameter, "Parameter /x not found."), "ParameterNotFound", 400, ""},
		{openami.ReasonErrorf(openami.NotFound, openami.ResourceParameter, openami.ReasonVersion, "v"), "ParameterVersionNotFound", 400, "v"},
		{openami.Errorf(openami.Duplicate, openami.ResourceParameter, "d"), "ParameterAlreadyExists", 400, "d"},
		{openami.ReasonErrorf(openami.LimitExceeded, openami.ResourceParameter, openami.ReasonHierarchy, "h"), "HierarchyLevelLimitExceededException", 400, "h"},
		{openami.Errorf(openami.LimitExceeded, openami.ResourceParameter, "m"), "ParameterMaxVersionLimitExceeded", 400, "m"},
		{&openami.Error{Class: openami.Unsupported, Resource: openami.ResourceParameter, Field: "Type", Message: "s"}, "UnsupportedParameterType", 400, "s"},
		{openami.Errorf(openami.Unsupported, openami.ResourceParameter, "a"), "ValidationException", 400, "a"},
		{openami.Errorf(openami.Unauthorized, openami.ResourceParameter, "r"), "AccessDeniedException", 400, "r"},
		{openami.Errorf(openami.InvalidToken, "", "t"), "InvalidNextToken", 400, "t"},
		{openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceParameter, openami.ReasonPattern, "p"), "ParameterPatternMismatchException", 400, "p"},
		{openami.ReasonErrorf(openami.InvalidParameter, openami.ResourceParameter, openami.ReasonConstraint, "r"), "InvalidAllowedPatternException", 400, "r"},
		{&openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceFilter, Field: "Key", Message: "k"}, "InvalidFilterKey", 400, "k"},
		{&openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceFilter, Field: "Option", Message: "o"}, "InvalidFilterOption", 400, "o"},
		{&openami.Error{Class: openami.InvalidParameter, Resource: openami.ResourceFilter, Field: "Values", Message: "v"}, "InvalidFilterValue", 400, "v"},
		{param.Breaks("MaxResults", "11", "must have value less than or equal to 10"), "ValidationException", 400,
			"1 validation error detected: Value '11' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10"},
		{param.Empty("Value", "must have length greater than or equal to 1"), "ValidationException", 400, ""},
		{openami.Errorf(openami.MissingParameter, openami.ResourceParameter, "type"), "ValidationException", 400, "type"},
		{&openami.Error{Class: openami.NotFound, Resource: openami.ResourceParameter, Field: "ResourceID", Message: "id"}, "InvalidResourceId", 400, "id"},
		{errResourceType, "InvalidResourceType", 400, ""},
		{openami.Errorf(openami.LimitExceeded, openami.ResourceTag, "t"), "TooManyTagsError", 400, "t"},
		{&openami.Error{Class: openami.LimitExceeded, Resource: openami.ResourceParameter, Field: "Labels", Message: "l"}, "ParameterVersionLabelLimitExceeded", 400, "l"},
		{&sigv4.Error{Failure: sigv4.UnknownKey, Message: "x"}, "UnrecognizedClientException", 400, "x"},
		{errors.New("disk on fire"), "InternalServerError", 500, "An internal error has occurred."},
	} {
		w := httptest.NewRecorder()
		got := (&Handler{}).WriteError(w, "req", c.err)
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %q: %v", c.err, w.Body, err)
		}
		if got != c.typ || body["__type"] != c.typ || w.Code != c.status || w.Header().Get("Content-Type") != contentType {
			t.Errorf("%v: %s %d %v, want %s %d", c.err, got, w.Code, body, c.typ, c.status)
		}
		if c.msg != "" && body["message"] != c.msg {
			t.Errorf("%v: message %q, want %q", c.err, body["message"], c.msg)
		}
	}
}

// fake is the rules as far as the shape tests need them.
type fake struct {
	Rules
	got parameters.PutParameterInput
}

var modified = time.Date(2026, 3, 4, 5, 6, 7, 250e6, time.UTC)

func (f *fake) GetParameter(_ context.Context, p openami.Principal, name string) (parameters.Selected, error) {
	return parameters.Selected{Parameter: openami.Parameter{Region: p.Region, AccountID: p.AccountID, Name: "/a/b", Version: 3,
		Type: openami.ParameterString, Value: "v", DataType: "text", ModifiedAt: modified}, Selector: ":3"}, nil
}

func (f *fake) PutParameter(_ context.Context, _ openami.Principal, in parameters.PutParameterInput) (int64, string, error) {
	f.got = in
	return 4, "Standard", nil
}

func (f *fake) GetParameters(context.Context, openami.Principal, []string) ([]parameters.Selected, []string, error) {
	return nil, nil, nil
}

func call(t *testing.T, h *Handler, target, body string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("X-Amz-Target", target)
	w := httptest.NewRecorder()
	h.Serve(w, r, []byte(body), openami.Principal{AccountID: "111122223333", Region: "us-east-1"}, "req")
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: body %q: %v", target, w.Body, err)
	}
	return w.Code, out
}

// TestShapes: the members of the answers, as the SDKs read them, and the
// decoding of PutParameter's input.
func TestShapes(t *testing.T) {
	f := &fake{}
	h := New(f)
	code, out := call(t, h, "AmazonSSM.GetParameter", `{"Name":"/a/b:3","WithDecryption":true}`)
	want := `{"Parameter":{"ARN":"arn:aws:ssm:us-east-1:111122223333:parameter/a/b","DataType":"text","LastModifiedDate":1772600767.25,"Name":"/a/b","Selector":":3","Type":"String","Value":"v","Version":3}}`
	if b, _ := json.Marshal(out); code != 200 || string(b) != want {
		t.Errorf("GetParameter = %d %s, want %s", code, b, want)
	}
	code, out = call(t, h, "AmazonSSM.PutParameter", `{"Name":"/a","Value":"v","Type":"StringList","Overwrite":true,"Description":"","DataType":"text","Tags":[{"Key":"k","Value":"x"}]}`)
	if code != 200 || out["Version"] != float64(4) || out["Tier"] != "Standard" {
		t.Errorf("PutParameter = %d %v", code, out)
	}
	if g := f.got; g.Name != "/a" || g.Type != openami.ParameterStringList || !g.Overwrite || g.Description == nil || *g.Description != "" ||
		g.AllowedPattern != nil || len(g.Tags) != 1 || g.Tags[0] != (openami.Tag{Key: "k", Value: "x"}) {
		t.Errorf("PutParameter decoded %+v", g)
	}
	// Empty lists are lists, not nulls.
	code, out = call(t, h, "AmazonSSM.GetParameters", `{"Names":["/x"]}`)
	if b, _ := json.Marshal(out); code != 200 || string(b) != `{"InvalidParameters":[],"Parameters":[]}` {
		t.Errorf("GetParameters = %d %s", code, b)
	}
	for target, typ := range map[string]string{"AmazonSSM.SendCommand": "UnknownOperationException", "TrentService.GetParameter": "UnknownOperationException"} {
		if code, out := call(t, h, target, `{}`); code != 400 || out["__type"] != typ {
			t.Errorf("%s = %d %v", target, code, out)
		}
	}
	if code, out := call(t, h, "AmazonSSM.GetParameter", `{"Name":`); code != 400 || out["__type"] != "SerializationException" {
		t.Errorf("bad body = %d %v", code, out)
	}
}
