package parameters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/rules/rulestest"
)

func TestPutGetVersions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v, tier, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/app/db/host", Value: "a", Type: openami.ParameterString,
		Description: ptr("the host"), Tags: []openami.Tag{{Key: "team", Value: "x"}}})
	if err != nil || v != 1 || tier != "Standard" {
		t.Fatalf("PutParameter = %d, %q, %v; want 1, Standard", v, tier, err)
	}
	// Without Overwrite: ParameterAlreadyExists, nothing changes.
	_, _, err = f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/app/db/host", Value: "b", Type: openami.ParameterString})
	rulestest.WantClass(t, "put again", err, openami.Duplicate, openami.ResourceParameter)
	// Overwrite with tags is refused.
	_, _, err = f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/app/db/host", Value: "b", Overwrite: true,
		Tags: []openami.Tag{{Key: "k", Value: "v"}}})
	rulestest.WantClass(t, "overwrite with tags", err, openami.InvalidCombination, openami.ResourceParameter)
	if got := f.history(t, f.p, "/app/db/host"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after refusals: %q", got)
	}
	v, _, err = f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/app/db/host", Value: "b", Overwrite: true})
	if err != nil || v != 2 {
		t.Fatalf("overwrite = %d, %v; want 2", v, err)
	}
	got, err := f.params.GetParameter(ctx, f.p, "/app/db/host")
	if err != nil || got.Value != "b" || got.Version != 2 || got.Type != openami.ParameterString || got.Description != "the host" ||
		got.DataType != "text" || got.Selector != "" || got.ARN() != "arn:aws:ssm:us-east-1:"+f.p.AccountID+":parameter/app/db/host" {
		t.Fatalf("GetParameter = %+v, %v", got, err)
	}
	got, err = f.params.GetParameter(ctx, f.p, "/app/db/host:1")
	if err != nil || got.Value != "a" || got.Selector != ":1" {
		t.Fatalf("GetParameter :1 = %+v, %v", got, err)
	}
	_, err = f.params.GetParameter(ctx, f.p, "/app/db/host:3")
	rulestest.WantClass(t, "version 3", err, openami.NotFound, openami.ResourceParameter)
	var oe *openami.Error
	if !errors.As(err, &oe) || oe.Reason != openami.ReasonVersion {
		t.Errorf("version 3: %v, want ReasonVersion", err)
	}
	_, err = f.params.GetParameter(ctx, f.p, "/app/none")
	rulestest.WantClass(t, "missing", err, openami.NotFound, openami.ResourceParameter)

	// Another account sees none of it.
	other := rulestest.NewAccount(t, f.accounts, "other")
	_, err = f.params.GetParameter(ctx, other, "/app/db/host")
	rulestest.WantClass(t, "other account", err, openami.NotFound, openami.ResourceParameter)

	found, invalid, err := f.params.GetParameters(ctx, f.p, []string{"/app/db/host", "/nope", "/app/db/host:1", "/nope"})
	if err != nil || len(found) != 2 || found[0].Value != "b" || found[1].Value != "a" || !slices.Equal(invalid, []string{"/nope"}) {
		t.Fatalf("GetParameters = %+v, %q, %v", found, invalid, err)
	}
	h, _, err := f.params.GetParameterHistory(ctx, f.p, "/app/db/host", 0, "")
	if err != nil || len(h) != 2 || h[0].Value != "a" || h[1].Value != "b" {
		t.Fatalf("GetParameterHistory = %+v, %v", h, err)
	}

	if err := f.params.DeleteParameter(ctx, f.p, "/app/db/host"); err != nil {
		t.Fatal(err)
	}
	err = f.params.DeleteParameter(ctx, f.p, "/app/db/host")
	rulestest.WantClass(t, "delete again", err, openami.NotFound, openami.ResourceParameter)
}

func TestPutRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const name = "/x/y"
	if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: name, Value: "abc", Type: openami.ParameterString,
		AllowedPattern: ptr("^[a-z]+$")}); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat("/l", 16)
	for _, c := range []struct {
		what     string
		in       PutParameterInput
		class    openami.Class
		resource openami.ResourceType
	}{
		{"no type", PutParameterInput{Name: "/new", Value: "v"}, openami.MissingParameter, openami.ResourceParameter},
		{"empty value", PutParameterInput{Name: "/new", Type: "String"}, openami.MissingParameter, ""},
		{"bad type", PutParameterInput{Name: "/new", Value: "v", Type: "Number"}, openami.InvalidParameter, ""},
		{"secure", PutParameterInput{Name: "/new", Value: "v", Type: openami.ParameterSecureString}, openami.Unsupported, openami.ResourceParameter},
		{"key with string", PutParameterInput{Name: "/new", Value: "v", Type: "String", KeyID: "alias/x"}, openami.InvalidParameter, openami.ResourceParameter},
		{"aws path", PutParameterInput{Name: "/aws/x", Value: "v", Type: "String"}, openami.Unauthorized, openami.ResourceParameter},
		{"Aws path", PutParameterInput{Name: "/AWSds/x", Value: "v", Type: "String"}, openami.Unauthorized, openami.ResourceParameter},
		{"aws name", PutParameterInput{Name: "awsthing", Value: "v", Type: "String"}, openami.InvalidParameter, openami.ResourceParameter},
		{"aws level", PutParameterInput{Name: "/aws", Value: "v", Type: "String"}, openami.InvalidParameter, openami.ResourceParameter},
		{"ssm path", PutParameterInput{Name: "/Ssm/x", Value: "v", Type: "String"}, openami.InvalidParameter, openami.ResourceParameter},
		{"ssm prefix", PutParameterInput{Name: "SSMthing", Value: "v", Type: "String"}, openami.InvalidParameter, openami.ResourceParameter},
		{"openami service", PutParameterInput{Name: "/openami/service/x", Value: "v", Type: "String"}, openami.Unauthorized, openami.ResourceParameter},
		{"bad chars", PutParameterInput{Name: "/a b", Value: "v", Type: "String"}, openami.InvalidParameter, openami.ResourceParameter},
		{"not qualified", PutParameterInput{Name: "a/b", Value: "v", Type: "String"}, openami.InvalidParameter, openami.ResourceParameter},
		{"16 levels", PutParameterInput{Name: deep, Value: "v", Type: "String"}, openami.LimitExceeded, openami.ResourceParameter},
		{"too long", PutParameterInput{Name: "/new", Value: strings.Repeat("v", 4097), Type: "String"}, openami.InvalidParameter, openami.ResourceParameter},
		{"advanced", PutParameterInput{Name: "/new", Value: "v", Type: "String", Tier: "Advanced"}, openami.Unsupported, openami.ResourceParameter},
		{"data type", PutParameterInput{Name: "/new", Value: "v", Type: "String", DataType: "aws:ec2:thing"}, openami.InvalidParameter, openami.ResourceParameter},
		{"pattern", PutParameterInput{Name: name, Value: "ABC", Overwrite: true}, openami.InvalidParameter, openami.ResourceParameter},
		{"bad pattern", PutParameterInput{Name: name, Value: "abc", Overwrite: true, AllowedPattern: ptr("(")}, openami.InvalidParameter, openami.ResourceParameter},
		{"image form", PutParameterInput{Name: "/new", Value: "ami-zz", Type: "String", DataType: "aws:ec2:image"}, openami.InvalidParameter, openami.ResourceParameter},
		{"no image", PutParameterInput{Name: "/new", Value: "ami-0123456789abcdef0", Type: "String", DataType: "aws:ec2:image"}, openami.InvalidParameter, openami.ResourceParameter},
		{"image list", PutParameterInput{Name: "/new", Value: "ami-0123456789abcdef0", Type: "StringList", DataType: "aws:ec2:image"}, openami.InvalidParameter, openami.ResourceParameter},
	} {
		_, _, err := f.params.PutParameter(ctx, f.p, c.in)
		rulestest.WantClass(t, c.what, err, c.class, c.resource)
	}
	if got := f.history(t, f.p, name); !slices.Equal(got, []string{"abc"}) {
		t.Errorf("%s after refusals: %q", name, got)
	}
	if got := f.history(t, f.p, "/new"); len(got) != 0 {
		t.Errorf("/new after refusals: %q", got)
	}
	var oe *openami.Error
	_, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: name, Value: "ABC", Overwrite: true})
	if !errors.As(err, &oe) || oe.Reason != openami.ReasonPattern {
		t.Errorf("pattern: %v, want ReasonPattern", err)
	}
	// Fifteen levels are fine.
	if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: strings.Repeat("/l", 15), Value: "v", Type: "String"}); err != nil {
		t.Errorf("15 levels: %v", err)
	}
}

func TestImageDataType(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := rulestest.NewAccount(t, f.accounts, "other")
	private := f.image(t, other, false)
	public := f.image(t, other, true)
	own := f.image(t, f.p, false)
	for id, ok := range map[string]bool{private: false, public: true, own: true} {
		_, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/img/" + id, Value: id, Type: "String", DataType: "aws:ec2:image"})
		if ok && err != nil || !ok && err == nil {
			t.Errorf("image %s: %v, want ok %v", id, err, ok)
		}
	}
	got, err := f.params.ResolveImage(ctx, f.p, "resolve:ssm:/img/"+own)
	if err != nil || got != own {
		t.Errorf("ResolveImage = %q, %v; want %s", got, err, own)
	}
	if got, err := f.params.ResolveImage(ctx, f.p, own); err != nil || got != own {
		t.Errorf("ResolveImage of a plain id = %q, %v", got, err)
	}
	for _, ref := range []string{"resolve:ssm:/img/none", "resolve:ssm:/img/" + own + ":9", "resolve:ssm:/img/" + own + ":nolabel", "resolve:ssm:bad name"} {
		_, err := f.params.ResolveImage(ctx, f.p, ref)
		rulestest.WantClass(t, ref, err, openami.NotFound, openami.ResourceParameter)
		var oe *openami.Error
		if !errors.As(err, &oe) || oe.Reason != openami.ReasonSSMParameter {
			t.Errorf("%s: %v, want ReasonSSMParameter", ref, err)
		}
	}
	// A text parameter resolves too, if its value is an image id.
	if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/txt", Value: "hello", Type: "String"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.params.ResolveImage(ctx, f.p, "resolve:ssm:/txt")
	rulestest.WantClass(t, "text", err, openami.InvalidParameter, openami.ResourceParameter)
}

func TestPublish(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := rulestest.NewAccount(t, f.accounts, "publisher")
	img := f.image(t, admin, true)
	const name = "/aws/service/debian/release/12/latest/amd64"
	for _, in := range []PublishInput{
		{Region: "us-east-1", Name: "/app/x", Value: img},
		{Region: "nowhere", Name: name, Value: img},
		{Region: "us-east-1", Name: name, Value: "ami-0123456789abcdef0", DataType: "aws:ec2:image"},
	} {
		if _, err := f.params.Publish(ctx, in); err == nil {
			t.Errorf("Publish(%+v) succeeded", in)
		}
	}
	if got := f.history(t, f.p, name); len(got) != 0 {
		t.Fatalf("after refusals: %q", got)
	}
	prm, err := f.params.Publish(ctx, PublishInput{Region: "us-east-1", Name: name, Value: img, DataType: "aws:ec2:image"})
	if err != nil || prm.Version != 1 || prm.ARN() != "arn:aws:ssm:us-east-1::parameter"+name {
		t.Fatalf("Publish = %+v, %v", prm, err)
	}
	// Every account reads it, by name, by path, and resolves it.
	for _, p := range []openami.Principal{f.p, admin} {
		got, err := f.params.GetParameter(ctx, p, name)
		if err != nil || got.Value != img {
			t.Errorf("GetParameter = %+v, %v", got, err)
		}
		list, _, err := f.params.GetParametersByPath(ctx, p, ByPathInput{Path: "/aws/service/debian", Recursive: true})
		if err != nil || len(list) != 1 || list[0].Name != name {
			t.Errorf("GetParametersByPath = %+v, %v", list, err)
		}
		id, err := f.params.ResolveImage(ctx, p, "resolve:ssm:"+name)
		if err != nil || id != img {
			t.Errorf("ResolveImage = %q, %v", id, err)
		}
	}
	// No account writes or deletes it, nor lists it among its own.
	_, _, err = f.params.PutParameter(ctx, f.p, PutParameterInput{Name: name, Value: img, Type: "String", Overwrite: true})
	rulestest.WantClass(t, "account overwrites", err, openami.Unauthorized, openami.ResourceParameter)
	err = f.params.DeleteParameter(ctx, f.p, name)
	rulestest.WantClass(t, "account deletes", err, openami.NotFound, openami.ResourceParameter)
	if list, _, err := f.params.DescribeParameters(ctx, f.p, DescribeInput{}); err != nil || len(list) != 0 {
		t.Errorf("DescribeParameters = %+v, %v; want none", list, err)
	}
	if prm, err = f.params.Publish(ctx, PublishInput{Region: "us-east-1", Name: name, Value: img, DataType: "aws:ec2:image"}); err != nil || prm.Version != 2 {
		t.Errorf("Publish again = %+v, %v; want version 2", prm, err)
	}
	if err := f.params.Unpublish(ctx, "us-east-1", name); err != nil {
		t.Fatal(err)
	}
	_, err = f.params.GetParameter(ctx, f.p, name)
	rulestest.WantClass(t, "unpublished", err, openami.NotFound, openami.ResourceParameter)
}

func TestListings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, n := range []string{"/a/b", "/a/c", "/a/b/c", "/a/b/c/d", "/ab", "plain"} {
		typ := openami.ParameterString
		if n == "/a/c" {
			typ = openami.ParameterStringList
		}
		if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: n, Value: "v", Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(list []openami.Parameter) []string {
		var out []string
		for _, p := range list {
			out = append(out, p.Name)
		}
		return out
	}
	for _, c := range []struct {
		in   ByPathInput
		want []string
	}{
		{ByPathInput{Path: "/a"}, []string{"/a/b", "/a/c"}},
		{ByPathInput{Path: "/a/", Recursive: true}, []string{"/a/b", "/a/b/c", "/a/b/c/d", "/a/c"}},
		{ByPathInput{Path: "/a", Recursive: true, Filters: []Filter{{Key: "Type", Values: []string{"StringList"}}}}, []string{"/a/c"}},
		{ByPathInput{Path: "/", Recursive: true}, []string{"/a/b", "/a/b/c", "/a/b/c/d", "/a/c", "/ab"}},
		{ByPathInput{Path: "/z"}, nil},
	} {
		got, next, err := f.params.GetParametersByPath(ctx, f.p, c.in)
		if err != nil || next != "" || !slices.Equal(names(got), c.want) {
			t.Errorf("GetParametersByPath(%+v) = %q, %q, %v; want %q", c.in, names(got), next, err, c.want)
		}
	}
	// Pages of 3, then the rest; the token is bound to its query.
	page1, next, err := f.params.GetParametersByPath(ctx, f.p, ByPathInput{Path: "/", Recursive: true, MaxResults: 3})
	if err != nil || len(page1) != 3 || next == "" {
		t.Fatalf("page 1 = %q, %q, %v", names(page1), next, err)
	}
	page2, next2, err := f.params.GetParametersByPath(ctx, f.p, ByPathInput{Path: "/", Recursive: true, MaxResults: 3, NextToken: next})
	if err != nil || !slices.Equal(names(page2), []string{"/a/c", "/ab"}) || next2 != "" {
		t.Errorf("page 2 = %q, %q, %v", names(page2), next2, err)
	}
	_, _, err = f.params.GetParametersByPath(ctx, f.p, ByPathInput{Path: "/a", MaxResults: 3, NextToken: next})
	rulestest.WantClass(t, "token of another query", err, openami.InvalidToken, "")
	for what, in := range map[string]ByPathInput{
		"max 11":     {Path: "/a", MaxResults: 11},
		"name key":   {Path: "/a", Filters: []Filter{{Key: "Name", Values: []string{"x"}}}},
		"bad key":    {Path: "/a", Filters: []Filter{{Key: "Color", Values: []string{"x"}}}},
		"bad option": {Path: "/a", Filters: []Filter{{Key: "Type", Option: "BeginsWith", Values: []string{"x"}}}},
		"no slash":   {Path: "a"},
		"deep":       {Path: strings.Repeat("/l", 16)},
	} {
		if _, _, err := f.params.GetParametersByPath(ctx, f.p, in); err == nil {
			t.Errorf("%s: no error", what)
		}
	}

	for _, c := range []struct {
		filters []Filter
		want    []string
	}{
		{nil, []string{"/a/b", "/a/b/c", "/a/b/c/d", "/a/c", "/ab", "plain"}},
		{[]Filter{{Key: "Name", Option: "BeginsWith", Values: []string{"a/b"}}}, []string{"/a/b", "/a/b/c", "/a/b/c/d"}},
		{[]Filter{{Key: "Name", Values: []string{"plain", "/ab"}}}, []string{"/ab", "plain"}},
		{[]Filter{{Key: "Name", Option: "Contains", Values: []string{"c"}}}, []string{"/a/b/c", "/a/b/c/d", "/a/c"}},
		{[]Filter{{Key: "Path", Option: "OneLevel", Values: []string{"/a/b"}}}, []string{"/a/b/c"}},
		{[]Filter{{Key: "Path", Option: "Recursive", Values: []string{"/a/b"}}}, []string{"/a/b/c", "/a/b/c/d"}},
		{[]Filter{{Key: "Type", Values: []string{"String"}}, {Key: "Name", Option: "BeginsWith", Values: []string{"/a/"}}}, []string{"/a/b", "/a/b/c", "/a/b/c/d"}},
		{[]Filter{{Key: "KeyId", Values: []string{"alias/aws/ssm"}}}, nil},
	} {
		got, _, err := f.params.DescribeParameters(ctx, f.p, DescribeInput{Filters: c.filters, MaxResults: 50})
		if err != nil || !slices.Equal(names(got), c.want) {
			t.Errorf("DescribeParameters(%+v) = %q, %v; want %q", c.filters, names(got), err, c.want)
		}
	}
	// Unpaged callers get SSM's default page of 10.
	for i := range 12 {
		if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: fmt.Sprintf("/many/%02d", i), Value: "v", Type: "String"}); err != nil {
			t.Fatal(err)
		}
	}
	got, next, err := f.params.DescribeParameters(ctx, f.p, DescribeInput{})
	if err != nil || len(got) != 10 || next == "" {
		t.Errorf("DescribeParameters unpaged = %d, %q, %v; want 10 and a token", len(got), next, err)
	}
	deleted, invalid, err := f.params.DeleteParameters(ctx, f.p, []string{"/a/b", "/nope", "plain"})
	if err != nil || !slices.Equal(deleted, []string{"/a/b", "plain"}) || !slices.Equal(invalid, []string{"/nope"}) {
		t.Errorf("DeleteParameters = %q, %q, %v", deleted, invalid, err)
	}
}

func TestLabels(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, v := range []string{"one", "two", "three"} {
		if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/l", Value: v, Type: "String", Overwrite: true}); err != nil {
			t.Fatal(err)
		}
	}
	invalid, v, err := f.params.LabelParameterVersion(ctx, f.p, "/l", 1, []string{"prod", "1bad", "awsx", "prod"})
	if err != nil || v != 1 || !slices.Equal(invalid, []string{"1bad", "awsx"}) {
		t.Fatalf("LabelParameterVersion = %q, %d, %v", invalid, v, err)
	}
	if got, err := f.params.GetParameter(ctx, f.p, "/l:prod"); err != nil || got.Value != "one" || got.Selector != ":prod" {
		t.Errorf("GetParameter :prod = %+v, %v", got, err)
	}
	// The label moves to the latest version.
	if _, v, err := f.params.LabelParameterVersion(ctx, f.p, "/l", 0, []string{"prod"}); err != nil || v != 3 {
		t.Fatalf("move label = %d, %v", v, err)
	}
	h, _, err := f.params.GetParameterHistory(ctx, f.p, "/l", 0, "")
	if err != nil || len(h[0].Labels) != 0 || !slices.Equal(h[2].Labels, []string{"prod"}) {
		t.Errorf("history after move = %+v, %v", h, err)
	}
	// An eleventh label is refused and changes nothing.
	many := []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"}
	if _, _, err := f.params.LabelParameterVersion(ctx, f.p, "/l", 3, many); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.params.LabelParameterVersion(ctx, f.p, "/l", 3, []string{"b1"})
	rulestest.WantClass(t, "eleventh label", err, openami.LimitExceeded, openami.ResourceParameter)
	_, _, err = f.params.LabelParameterVersion(ctx, f.p, "/l", 9, []string{"x"})
	rulestest.WantClass(t, "no version 9", err, openami.NotFound, openami.ResourceParameter)
	_, _, err = f.params.LabelParameterVersion(ctx, f.p, "/none", 1, []string{"x"})
	rulestest.WantClass(t, "no parameter", err, openami.NotFound, openami.ResourceParameter)
	removed, invalid, err := f.params.UnlabelParameterVersion(ctx, f.p, "/l", 3, []string{"prod", "nope"})
	if err != nil || !slices.Equal(removed, []string{"prod"}) || !slices.Equal(invalid, []string{"nope"}) {
		t.Errorf("UnlabelParameterVersion = %q, %q, %v", removed, invalid, err)
	}
	_, err = f.params.GetParameter(ctx, f.p, "/l:prod")
	rulestest.WantClass(t, "removed label", err, openami.NotFound, openami.ResourceParameter)
	// A new version carries no labels.
	if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/l", Value: "four", Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.params.GetParameter(ctx, f.p, "/l:a1"); err != nil || got.Version != 3 {
		t.Errorf("GetParameter :a1 after a write = %+v, %v", got, err)
	}
}

func TestTags(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/t", Value: "v", Type: "String",
		Tags: []openami.Tag{{Key: "b", Value: "1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.params.TagParameter(ctx, f.p, "/t", []openami.Tag{{Key: "a", Value: "2"}, {Key: "b", Value: "3"}}); err != nil {
		t.Fatal(err)
	}
	// A write keeps the tags.
	if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/t", Value: "w", Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	tags, err := f.params.ParameterTags(ctx, f.p, "/t")
	if err != nil || !slices.Equal(tags, []openami.Tag{{Key: "a", Value: "2"}, {Key: "b", Value: "3"}}) {
		t.Errorf("ParameterTags = %v, %v", tags, err)
	}
	if err := f.params.UntagParameter(ctx, f.p, "/t", []string{"a", "zz"}); err != nil {
		t.Fatal(err)
	}
	if tags, err := f.params.ParameterTags(ctx, f.p, "/t"); err != nil || !slices.Equal(tags, []openami.Tag{{Key: "b", Value: "3"}}) {
		t.Errorf("after untag = %v, %v", tags, err)
	}
	var fifty []openami.Tag
	for i := range 50 {
		fifty = append(fifty, openami.Tag{Key: fmt.Sprint("k", i), Value: "v"})
	}
	err = f.params.TagParameter(ctx, f.p, "/t", fifty)
	rulestest.WantClass(t, "51 tags", err, openami.LimitExceeded, openami.ResourceTag)
	if tags, _ := f.params.ParameterTags(ctx, f.p, "/t"); len(tags) != 1 {
		t.Errorf("after a refusal: %v", tags)
	}
	_, err = f.params.ParameterTags(ctx, f.p, "/none")
	rulestest.WantClass(t, "no parameter", err, openami.NotFound, openami.ResourceParameter)
}

// TestVersionLimit: past 100 versions a write drops the oldest, unless
// it has a label, when the write is refused and changes nothing.
func TestVersionLimit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := 1; i <= 101; i++ {
		if _, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/v", Value: fmt.Sprint(i), Type: "String", Overwrite: true}); err != nil {
			t.Fatal(i, err)
		}
	}
	h := f.history(t, f.p, "/v")
	if len(h) != 100 || h[0] != "2" || h[99] != "101" {
		t.Fatalf("after 101 writes: %d versions, %s … %s", len(h), h[0], h[len(h)-1])
	}
	if _, _, err := f.params.LabelParameterVersion(ctx, f.p, "/v", 2, []string{"keep"}); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/v", Value: "102", Overwrite: true})
	rulestest.WantClass(t, "oldest labelled", err, openami.LimitExceeded, openami.ResourceParameter)
	if got := f.history(t, f.p, "/v"); !slices.Equal(got, h) {
		t.Errorf("after the refusal: %d versions", len(got))
	}
}

// TestConcurrentOverwrites: writes of one name at once each get their
// own version.
func TestConcurrentOverwrites(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 8
	versions := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			versions[i], _, errs[i] = f.params.PutParameter(ctx, f.p, PutParameterInput{Name: "/c", Value: fmt.Sprint(i), Type: "String", Overwrite: true})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("versions %v, want 1 to %d", versions, n)
		}
	}
	if got := f.history(t, f.p, "/c"); len(got) != n {
		t.Errorf("%d versions kept, want %d", len(got), n)
	}
}
