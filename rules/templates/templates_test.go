package templates

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/rulestest"
)

// fixture is Templates as service.New builds it over a SQLite store, with
// two accounts whose principals in us-east-1 are p and q.
type fixture struct {
	tpl   *Templates
	store metadata.Store
	clock *rulestest.Clock
	p, q  openami.Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := rulestest.Open(t, "", rulestest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)))
	f := &fixture{store: env.Store, clock: env.Clock,
		tpl: New(Config{Store: env.Store, Tokens: env.Tokens, Clock: env.Clock.Now})}
	accounts := env.Identity()
	f.p = rulestest.NewAccount(t, accounts, "one")
	f.q = rulestest.NewAccount(t, accounts, "two")
	return f
}

var ctx = context.Background()

func data(image, typ string) *openami.LaunchTemplateData {
	return &openami.LaunchTemplateData{ImageID: image, InstanceType: typ}
}

func (f *fixture) create(t *testing.T, name string, d *openami.LaunchTemplateData) TemplateView {
	t.Helper()
	lt, err := f.tpl.CreateLaunchTemplate(ctx, f.p, CreateInput{LaunchTemplateName: name, LaunchTemplateData: d})
	if err != nil {
		t.Fatalf("CreateLaunchTemplate %s: %v", name, err)
	}
	return lt
}

func (f *fixture) version(t *testing.T, id, source string, d *openami.LaunchTemplateData) VersionView {
	t.Helper()
	v, err := f.tpl.CreateLaunchTemplateVersion(ctx, f.p, VersionInput{TemplateID: id, SourceVersion: source, LaunchTemplateData: d})
	if err != nil {
		t.Fatalf("CreateLaunchTemplateVersion %s: %v", id, err)
	}
	return v
}

// state is everything the store holds of the caller's templates, to show
// that a refusal changed nothing.
func (f *fixture) state(t *testing.T) []any {
	t.Helper()
	var out []any
	err := f.store.View(ctx, func(tx metadata.Tx) error {
		lts, err := tx.LaunchTemplates().List(f.p.Region, metadata.LaunchTemplateQuery{})
		if err != nil {
			return err
		}
		for _, lt := range lts {
			vs, err := tx.LaunchTemplates().Versions(lt.ID, metadata.VersionQuery{})
			if err != nil {
				return err
			}
			tags, err := tx.Tags().Of(f.p.Region, lt.AccountID, []string{lt.ID})
			if err != nil {
				return err
			}
			out = append(out, lt, vs, tags)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantReason(t *testing.T, what string, err error, class openami.Class, reason openami.Reason) {
	t.Helper()
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != class || e.Reason != reason {
		t.Fatalf("%s: got %v, want %v with reason %q", what, err, class, reason)
	}
}

func TestCreateLaunchTemplate(t *testing.T) {
	f := newFixture(t)
	tags := []openami.Tag{{Key: "team", Value: "a"}}
	lt, err := f.tpl.CreateLaunchTemplate(ctx, f.p, CreateInput{LaunchTemplateName: "web-1", VersionDescription: "first",
		LaunchTemplateData: data("ami-12345678", "t3.micro"), Tags: tags})
	if err != nil {
		t.Fatal(err)
	}
	if lt.Name != "web-1" || lt.DefaultVersion != 1 || lt.LatestVersion != 1 || lt.CreatedBy != "arn:aws:iam::"+f.p.AccountID+":root" ||
		!lt.CreateTime.Equal(f.clock.Now().Truncate(time.Millisecond)) || !reflect.DeepEqual(lt.Tags, tags) {
		t.Errorf("created %+v", lt)
	}
	vs, _, err := f.tpl.DescribeLaunchTemplateVersions(ctx, f.p, VersionsQuery{TemplateID: lt.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Number != 1 || !vs[0].Default || vs[0].Description != "first" || vs[0].Data.ImageID != "ami-12345678" {
		t.Errorf("versions %+v", vs)
	}

	before := f.state(t)
	for _, c := range []struct {
		what   string
		in     CreateInput
		class  openami.Class
		reason openami.Reason
	}{
		{"name in use", CreateInput{LaunchTemplateName: "web-1", LaunchTemplateData: data("", "")}, openami.Duplicate, ""},
		{"short name", CreateInput{LaunchTemplateName: "ab", LaunchTemplateData: data("", "")}, openami.Malformed, openami.ReasonName},
		{"bad character", CreateInput{LaunchTemplateName: "web 2", LaunchTemplateData: data("", "")}, openami.Malformed, openami.ReasonName},
		{"no name", CreateInput{LaunchTemplateData: data("", "")}, openami.MissingParameter, ""},
		{"no data", CreateInput{LaunchTemplateName: "web-2"}, openami.MissingParameter, ""},
		{"ssm parameter", CreateInput{LaunchTemplateName: "web-2", LaunchTemplateData: data("resolve:ssm:/golden/ami", "")}, openami.NotFound, openami.ReasonSSMParameter},
		{"user data", CreateInput{LaunchTemplateName: "web-2", LaunchTemplateData: &openami.LaunchTemplateData{UserData: "not base64!"}}, openami.InvalidParameter, ""},
		{"tag type", CreateInput{LaunchTemplateName: "web-2", LaunchTemplateData: &openami.LaunchTemplateData{
			TagSpecifications: []openami.LaunchTemplateTagSpec{{ResourceType: openami.ResourceImage, Tags: tags}}}}, openami.InvalidParameter, ""},
		{"reserved tag", CreateInput{LaunchTemplateName: "web-2", LaunchTemplateData: data("", ""), Tags: []openami.Tag{{Key: "aws:x"}}}, openami.InvalidParameter, ""},
		{"shutdown", CreateInput{LaunchTemplateName: "web-2", LaunchTemplateData: &openami.LaunchTemplateData{InstanceInitiatedShutdownBehavior: "halt"}}, openami.InvalidParameter, ""},
	} {
		_, err := f.tpl.CreateLaunchTemplate(ctx, f.p, c.in)
		wantReason(t, c.what, err, c.class, c.reason)
	}
	if after := f.state(t); !reflect.DeepEqual(after, before) {
		t.Errorf("a refusal changed the store")
	}
	// Another account may use the name.
	if _, err := f.tpl.CreateLaunchTemplate(ctx, f.q, CreateInput{LaunchTemplateName: "web-1", LaunchTemplateData: data("", "")}); err != nil {
		t.Errorf("another account's template of the same name: %v", err)
	}
}

// TestCreateIdempotent: a repeated ClientToken returns the first template;
// with another name, it is refused.
func TestCreateIdempotent(t *testing.T) {
	f := newFixture(t)
	in := CreateInput{LaunchTemplateName: "web", LaunchTemplateData: data("ami-12345678", ""), ClientToken: "tok"}
	a, err := f.tpl.CreateLaunchTemplate(ctx, f.p, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.tpl.CreateLaunchTemplate(ctx, f.p, in)
	if err != nil || b.ID != a.ID {
		t.Fatalf("repeat: %+v, %v; want %s", b, err, a.ID)
	}
	in.LaunchTemplateName = "other"
	_, err = f.tpl.CreateLaunchTemplate(ctx, f.p, in)
	wantReason(t, "token reused", err, openami.Duplicate, openami.ReasonTokenReused)
}

// TestVersions: SourceVersion's data with the given fields replaced,
// numbering, $Latest and $Default, the default moved, and the refusals.
func TestVersions(t *testing.T) {
	f := newFixture(t)
	yes := true
	lt := f.create(t, "web", &openami.LaunchTemplateData{ImageID: "ami-11111111", InstanceType: "t3.micro", KeyName: "k",
		SecurityGroupIDs: []string{"sg-1"}, EbsOptimized: &yes})
	v2 := f.version(t, lt.ID, "1", &openami.LaunchTemplateData{ImageID: "ami-22222222"})
	want := openami.LaunchTemplateData{ImageID: "ami-22222222", InstanceType: "t3.micro", KeyName: "k", SecurityGroupIDs: []string{"sg-1"}, EbsOptimized: &yes}
	if v2.Number != 2 || v2.Default || !reflect.DeepEqual(v2.Data, want) {
		t.Errorf("version 2: %+v", v2)
	}
	v3 := f.version(t, lt.ID, "", &openami.LaunchTemplateData{InstanceType: "t3.small"})
	if v3.Number != 3 || !reflect.DeepEqual(v3.Data, openami.LaunchTemplateData{InstanceType: "t3.small"}) {
		t.Errorf("version 3 without a source: %+v", v3)
	}
	v4 := f.version(t, lt.ID, "$Latest", &openami.LaunchTemplateData{KeyName: "k2"})
	if v4.Number != 4 || v4.Data.InstanceType != "t3.small" || v4.Data.KeyName != "k2" {
		t.Errorf("version 4 from $Latest: %+v", v4)
	}
	if _, err := f.tpl.ModifyLaunchTemplate(ctx, f.p, ModifyInput{TemplateName: "web", DefaultVersion: "2"}); err != nil {
		t.Fatal(err)
	}
	v5 := f.version(t, lt.ID, "$Default", &openami.LaunchTemplateData{})
	if v5.Data.ImageID != "ami-22222222" {
		t.Errorf("version 5 from $Default (2): %+v", v5)
	}

	before := f.state(t)
	for _, c := range []struct {
		what   string
		in     VersionInput
		class  openami.Class
		reason openami.Reason
	}{
		{"missing source", VersionInput{TemplateID: lt.ID, SourceVersion: "9", LaunchTemplateData: data("", "")}, openami.NotFound, openami.ReasonVersion},
		{"bad source", VersionInput{TemplateID: lt.ID, SourceVersion: "x", LaunchTemplateData: data("", "")}, openami.NotFound, openami.ReasonVersion},
		{"unknown id", VersionInput{TemplateID: "lt-0123456789abcdef0", LaunchTemplateData: data("", "")}, openami.NotFound, ""},
		{"malformed id", VersionInput{TemplateID: "web", LaunchTemplateData: data("", "")}, openami.Malformed, ""},
		{"unknown name", VersionInput{TemplateName: "nope", LaunchTemplateData: data("", "")}, openami.NotFound, openami.ReasonName},
		{"both", VersionInput{TemplateID: lt.ID, TemplateName: "web", LaunchTemplateData: data("", "")}, openami.InvalidCombination, openami.ReasonExclusive},
		{"neither", VersionInput{LaunchTemplateData: data("", "")}, openami.MissingParameter, ""},
		{"no data", VersionInput{TemplateID: lt.ID}, openami.MissingParameter, ""},
		{"ssm", VersionInput{TemplateID: lt.ID, LaunchTemplateData: data("resolve:ssm:x", "")}, openami.NotFound, openami.ReasonSSMParameter},
	} {
		_, err := f.tpl.CreateLaunchTemplateVersion(ctx, f.p, c.in)
		wantReason(t, c.what, err, c.class, c.reason)
	}
	// Another account's template is not found.
	_, err := f.tpl.CreateLaunchTemplateVersion(ctx, f.q, VersionInput{TemplateID: lt.ID, LaunchTemplateData: data("", "")})
	wantReason(t, "another account's", err, openami.NotFound, "")
	_, err = f.tpl.ModifyLaunchTemplate(ctx, f.p, ModifyInput{TemplateID: lt.ID, DefaultVersion: "7"})
	wantReason(t, "default to a missing version", err, openami.NotFound, openami.ReasonVersion)
	if after := f.state(t); !reflect.DeepEqual(after, before) {
		t.Errorf("a refusal changed the store")
	}

	// A repeated ClientToken returns the version it made.
	in := VersionInput{TemplateID: lt.ID, LaunchTemplateData: data("", "t3.large"), ClientToken: "v-tok"}
	a, err := f.tpl.CreateLaunchTemplateVersion(ctx, f.p, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.tpl.CreateLaunchTemplateVersion(ctx, f.p, in)
	if err != nil || b.Number != a.Number {
		t.Errorf("repeated token: %d, %v; want %d", b.Number, err, a.Number)
	}
}

// TestDeleteVersions: each version on its own; the default and a missing
// one fail alone; a missing template fails the request.
func TestDeleteVersions(t *testing.T) {
	f := newFixture(t)
	lt := f.create(t, "web", data("ami-11111111", ""))
	f.version(t, lt.ID, "", data("ami-22222222", ""))
	f.version(t, lt.ID, "", data("ami-33333333", ""))
	_, out, err := f.tpl.DeleteLaunchTemplateVersions(ctx, f.p, "", "web", []string{"2", "1", "7"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0].Err != nil || out[0].Number != 2 {
		t.Fatalf("outcomes %+v", out)
	}
	wantReason(t, "default", out[1].Err, openami.InUse, openami.ReasonDefault)
	wantReason(t, "missing", out[2].Err, openami.NotFound, openami.ReasonVersion)
	vs, _, err := f.tpl.DescribeLaunchTemplateVersions(ctx, f.p, VersionsQuery{TemplateID: lt.ID})
	if err != nil || len(vs) != 2 || vs[0].Number != 1 || vs[1].Number != 3 {
		t.Errorf("versions left: %+v, %v", vs, err)
	}
	// A new version takes the next number, never a deleted one.
	if v := f.version(t, lt.ID, "", data("", "")); v.Number != 4 {
		t.Errorf("next version %d, want 4", v.Number)
	}
	before := f.state(t)
	_, _, err = f.tpl.DeleteLaunchTemplateVersions(ctx, f.p, "lt-0123456789abcdef0", "", []string{"3"})
	wantReason(t, "missing template", err, openami.NotFound, "")
	_, _, err = f.tpl.DeleteLaunchTemplateVersions(ctx, f.p, lt.ID, "", nil)
	wantReason(t, "no versions", err, openami.MissingParameter, "")
	if after := f.state(t); !reflect.DeepEqual(after, before) {
		t.Errorf("a refusal changed the store")
	}

	// DeleteLaunchTemplate takes every version and the tags with it.
	got, err := f.tpl.DeleteLaunchTemplate(ctx, f.p, lt.ID, "")
	if err != nil || got.ID != lt.ID {
		t.Fatalf("DeleteLaunchTemplate: %+v, %v", got, err)
	}
	if s := f.state(t); len(s) != 0 {
		t.Errorf("after delete: %+v", s)
	}
	_, err = f.tpl.DeleteLaunchTemplate(ctx, f.p, "", "web")
	wantReason(t, "deleted", err, openami.NotFound, openami.ReasonName)
}

// TestDescribeLaunchTemplates: ids, names, filters, pages, and the
// NotFound of a name or id asked for.
func TestDescribeLaunchTemplates(t *testing.T) {
	f := newFixture(t)
	var made []TemplateView
	for _, n := range []string{"web-a", "web-b", "db-a"} {
		made = append(made, f.create(t, n, data("", "")))
		f.clock.Add(time.Second)
	}
	if _, err := f.tpl.CreateLaunchTemplate(ctx, f.q, CreateInput{LaunchTemplateName: "theirs", LaunchTemplateData: data("", "")}); err != nil {
		t.Fatal(err)
	}
	names := func(vs []TemplateView) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.Name)
		}
		return out
	}
	all, _, err := f.tpl.DescribeLaunchTemplates(ctx, f.p, nil, nil, nil, Page{})
	if err != nil || len(all) != 3 {
		t.Fatalf("all: %v, %v", names(all), err)
	}
	got, _, err := f.tpl.DescribeLaunchTemplates(ctx, f.p, nil, []string{"web-b"}, nil, Page{})
	if err != nil || !reflect.DeepEqual(names(got), []string{"web-b"}) {
		t.Errorf("by name: %v, %v", names(got), err)
	}
	got, _, err = f.tpl.DescribeLaunchTemplates(ctx, f.p, []string{made[2].ID}, nil, nil, Page{})
	if err != nil || !reflect.DeepEqual(names(got), []string{"db-a"}) {
		t.Errorf("by id: %v, %v", names(got), err)
	}
	got, _, err = f.tpl.DescribeLaunchTemplates(ctx, f.p, nil, nil, []filter.Filter{{Name: string(AttrTemplateName), Values: []string{"web-*"}}}, Page{})
	if err != nil || len(got) != 2 {
		t.Errorf("name filter: %v, %v", names(got), err)
	}
	at := made[1].CreateTime.UTC().Format("2006-01-02T15:04:05.000Z")
	got, _, err = f.tpl.DescribeLaunchTemplates(ctx, f.p, nil, nil, []filter.Filter{{Name: string(AttrTemplateCreateTime), Values: []string{at}}}, Page{})
	if err != nil || !reflect.DeepEqual(names(got), []string{"web-b"}) {
		t.Errorf("create-time filter: %v, %v", names(got), err)
	}
	_, _, err = f.tpl.DescribeLaunchTemplates(ctx, f.p, nil, []string{"theirs"}, nil, Page{})
	wantReason(t, "another's name", err, openami.NotFound, openami.ReasonName)
	_, _, err = f.tpl.DescribeLaunchTemplates(ctx, f.p, []string{"lt-0123456789abcdef0"}, nil, nil, Page{})
	wantReason(t, "unknown id", err, openami.NotFound, "")
	_, _, err = f.tpl.DescribeLaunchTemplates(ctx, f.p, nil, []string{"web-a"}, nil, Page{MaxResults: 5})
	wantReason(t, "names with MaxResults", err, openami.InvalidCombination, openami.ReasonIDsWithPaging)
	var paged []string
	pg := Page{MaxResults: 1}
	for {
		page, next, err := f.tpl.DescribeLaunchTemplates(ctx, f.p, nil, nil, nil, pg)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, names(page)...)
		if next == "" {
			break
		}
		pg.NextToken = next
	}
	if !reflect.DeepEqual(paged, names(all)) {
		t.Errorf("pages %v, want %v", paged, names(all))
	}
}

// TestDescribeVersions: $Latest and $Default, ranges, filters, pages, and
// the versions of every template.
func TestDescribeVersions(t *testing.T) {
	f := newFixture(t)
	lt := f.create(t, "web", data("ami-11111111", "t3.micro"))
	for _, img := range []string{"ami-22222222", "ami-33333333", "ami-44444444"} {
		d := &openami.LaunchTemplateData{ImageID: img}
		if img == "ami-33333333" {
			d.MetadataOptions = &openami.MetadataOptions{HttpTokens: "required"}
		}
		f.version(t, lt.ID, "1", d)
	}
	other := f.create(t, "dbs", data("ami-55555555", "m5.large"))
	if _, err := f.tpl.ModifyLaunchTemplate(ctx, f.p, ModifyInput{TemplateID: lt.ID, DefaultVersion: "2"}); err != nil {
		t.Fatal(err)
	}
	numbers := func(vs []VersionView) []int64 {
		var out []int64
		for _, v := range vs {
			out = append(out, v.Number)
		}
		return out
	}
	for _, c := range []struct {
		what string
		q    VersionsQuery
		want []int64
	}{
		{"all", VersionsQuery{TemplateID: lt.ID}, []int64{1, 2, 3, 4}},
		{"$Latest and $Default", VersionsQuery{TemplateName: "web", Versions: []string{"$Latest", "$Default"}}, []int64{2, 4}},
		{"range", VersionsQuery{TemplateID: lt.ID, MinVersion: "2", MaxVersion: "3"}, []int64{2, 3}},
		{"default filter", VersionsQuery{TemplateID: lt.ID, Filters: []filter.Filter{{Name: string(AttrVersionDefault), Values: []string{"true"}}}}, []int64{2}},
		{"image filter", VersionsQuery{TemplateID: lt.ID, Filters: []filter.Filter{{Name: string(AttrVersionImageID), Values: []string{"ami-33333333"}}}}, []int64{3}},
		{"http-tokens filter", VersionsQuery{TemplateID: lt.ID, Filters: []filter.Filter{{Name: string(AttrVersionHttpTokens), Values: []string{"required"}}}}, []int64{3}},
		{"type filter", VersionsQuery{TemplateID: lt.ID, Filters: []filter.Filter{{Name: string(AttrVersionInstanceType), Values: []string{"t3.micro"}}}}, []int64{1, 2, 3, 4}},
	} {
		got, _, err := f.tpl.DescribeLaunchTemplateVersions(ctx, f.p, c.q)
		if err != nil || !reflect.DeepEqual(numbers(got), c.want) {
			t.Errorf("%s: %v, %v; want %v", c.what, numbers(got), err, c.want)
		}
	}
	for version, want := range map[string]int64{"$Latest": 4, "$Default": 2} {
		got, _, err := f.tpl.DescribeLaunchTemplateVersions(ctx, f.p, VersionsQuery{Versions: []string{version}})
		mine := map[string]int64{}
		for _, v := range got {
			mine[v.TemplateID] = v.Number
		}
		if err != nil || len(got) != 2 || mine[lt.ID] != want || mine[other.ID] != 1 {
			t.Errorf("every template's %s: %+v, %v", version, got, err)
		}
	}
	_, _, err := f.tpl.DescribeLaunchTemplateVersions(ctx, f.p, VersionsQuery{TemplateID: lt.ID, Versions: []string{"9"}})
	wantReason(t, "missing version", err, openami.NotFound, openami.ReasonVersion)
	_, _, err = f.tpl.DescribeLaunchTemplateVersions(ctx, f.p, VersionsQuery{Versions: []string{"1"}})
	wantReason(t, "a number without a template", err, openami.MissingParameter, "")
	var paged []int64
	q := VersionsQuery{TemplateID: lt.ID, Page: Page{MaxResults: 3}}
	for {
		page, next, err := f.tpl.DescribeLaunchTemplateVersions(ctx, f.p, q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, numbers(page)...)
		if next == "" {
			break
		}
		q.NextToken = next
	}
	if !reflect.DeepEqual(paged, []int64{1, 2, 3, 4}) {
		t.Errorf("pages: %v", paged)
	}
}

// TestResolve: the version a launch names, by number, $Latest, $Default
// or none, and the refusals.
func TestResolve(t *testing.T) {
	f := newFixture(t)
	lt := f.create(t, "web", data("ami-11111111", ""))
	f.version(t, lt.ID, "", data("ami-22222222", ""))
	resolve := func(ref Ref) (Launch, error) {
		var l Launch
		err := f.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			l, err = f.tpl.Resolve(tx, f.p, ref)
			return err
		})
		return l, err
	}
	for _, c := range []struct {
		ref     Ref
		version int64
		image   string
	}{
		{Ref{ID: lt.ID}, 1, "ami-11111111"},
		{Ref{Name: "web", Version: "$Latest"}, 2, "ami-22222222"},
		{Ref{ID: lt.ID, Version: "$Default"}, 1, "ami-11111111"},
		{Ref{ID: lt.ID, Version: "2"}, 2, "ami-22222222"},
	} {
		l, err := resolve(c.ref)
		if err != nil || l.Version != c.version || l.Data.ImageID != c.image || l.Template.ID != lt.ID {
			t.Errorf("%+v: %+v, %v", c.ref, l, err)
		}
	}
	if l, err := f.tpl.Lookup(ctx, f.p, Ref{Name: "web", Version: "2"}); err != nil || l.Data.ImageID != "ami-22222222" {
		t.Errorf("Lookup: %+v, %v", l, err)
	}
	if _, err := f.tpl.Lookup(ctx, f.q, Ref{ID: lt.ID}); openami.ClassOf(err) != openami.NotFound {
		t.Errorf("Lookup of another account's template: %v", err)
	}
	_, err := resolve(Ref{ID: lt.ID, Version: "3"})
	wantReason(t, "missing version", err, openami.NotFound, openami.ReasonVersion)
	_, err = resolve(Ref{Name: "nope"})
	wantReason(t, "missing name", err, openami.NotFound, openami.ReasonName)

	// With a resolver of SSM parameters, resolve:ssm: stands for its value.
	f.tpl.resolveSSM = func(tx metadata.Tx, p openami.Principal, name string) (string, error) {
		if name == "/golden" {
			return "ami-99999999", nil
		}
		return "", openami.ReasonErrorf(openami.NotFound, "", openami.ReasonSSMParameter, "no %s", name)
	}
	f.version(t, lt.ID, "", data("resolve:ssm:/golden", ""))
	l, err := resolve(Ref{ID: lt.ID, Version: "$Latest"})
	if err != nil || l.Data.ImageID != "ami-99999999" {
		t.Errorf("resolve:ssm: %+v, %v", l, err)
	}
}
