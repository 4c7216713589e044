package filter

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/openami/openami"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"", []string{""}, []string{"a", " "}},
		{"abc", []string{"abc"}, []string{"ab", "abcd", "ABC", "xabc"}},
		{"*", []string{"", "a", "anything at all", "\n"}, nil},
		{"**", []string{"", "ab"}, nil},
		{"?", []string{"a", "é", "世", "\xff"}, []string{"", "ab"}},
		{"??", []string{"ab", "é世"}, []string{"a", "abc"}},
		{"a*", []string{"a", "abc", "a*"}, []string{"", "ba"}},
		{"*a", []string{"a", "bca"}, []string{"ab", ""}},
		{"a*b", []string{"ab", "axxb", "abab"}, []string{"a", "ba", "abc"}},
		{"a*b*c", []string{"abc", "aXbYc", "abbbcc", "acbc"}, []string{"acb", "ab", "bac"}},
		{"*ab*ab*", []string{"abab", "xabyabz"}, []string{"ab", "aab"}},
		{"a?c", []string{"abc", "a?c", "aéc"}, []string{"ac", "abbc"}},
		{"*?", []string{"a", "ab"}, []string{""}},
		{"?*?", []string{"ab", "abc"}, []string{"a"}},
		{"al2023-ami-*-x86_64", []string{"al2023-ami-2023.4.20240401.1-kernel-6.1-x86_64"}, []string{"al2023-ami-2023-arm64"}},
		{"2021-09-29T*", []string{"2021-09-29T00:00:00.000Z"}, []string{"2021-09-30T00:00:00.000Z"}},
		{`a\*b`, []string{"a*b"}, []string{"ab", "axb", `a\*b`}},
		{`a\?`, []string{"a?"}, []string{"ab"}},
		{`\\`, []string{`\`}, []string{`\\`}},
		{`\\*`, []string{`\`, `\abc`}, []string{"abc"}},
		{`\a`, []string{"a"}, []string{`\a`}},
		{`a\`, []string{`a\`}, []string{"a"}},
		{`*\*`, []string{"*", "abc*"}, []string{"abc"}},
		{"a*a*a*a*a*a*a*a*b", []string{"aaaaaaaab", "aaaaaaaaaaaaaaaaaab"}, []string{strings.Repeat("a", 200)}},
		{"*é?", []string{"xéy", "éé"}, []string{"xé"}},
		{"*\xff", []string{"a\xff"}, []string{"a"}},
	}
	for _, tt := range tests {
		p := NewPattern(tt.pattern)
		for _, s := range tt.match {
			if !p.Match(s) {
				t.Errorf("NewPattern(%q).Match(%q) = false, want true", tt.pattern, s)
			}
		}
		for _, s := range tt.noMatch {
			if p.Match(s) {
				t.Errorf("NewPattern(%q).Match(%q) = true, want false", tt.pattern, s)
			}
		}
	}
	if !(Pattern{}).Match("") || (Pattern{}).Match("a") {
		t.Error("the zero Pattern should match only the empty string")
	}
}

func TestPatternLiteralAndSQL(t *testing.T) {
	tests := []struct {
		pattern string
		literal string
		isLit   bool
		like    string
	}{
		{"", "", true, ""},
		{"ami-123", "ami-123", true, "ami-123"},
		{"a*", "", false, "a%"},
		{"a?c", "", false, "a_c"},
		{`a\*b`, "a*b", true, `a*b`},
		{`a\?b`, "a?b", true, `a?b`},
		{`\\`, `\`, true, `\\`},
		{`a\`, `a\`, true, `a\\`},
		{"x86_64", "x86_64", true, `x86\_64`},
		{"100%", "100%", true, `100\%`},
		{`*_%\\?`, "", false, `%\_\%\\_`},
	}
	for _, tt := range tests {
		p := NewPattern(tt.pattern)
		lit, ok := p.Literal()
		if lit != tt.literal || ok != tt.isLit {
			t.Errorf("NewPattern(%q).Literal() = %q, %v; want %q, %v", tt.pattern, lit, ok, tt.literal, tt.isLit)
		}
		if got := p.SQLLike(); got != tt.like {
			t.Errorf("NewPattern(%q).SQLLike() = %q, want %q", tt.pattern, got, tt.like)
		}
		if p.String() != tt.pattern {
			t.Errorf("String() = %q, want %q", p.String(), tt.pattern)
		}
	}
}

// TestPatternLinear guards against exponential backtracking: a classic
// pathological pattern against a long non-matching subject. It fails only
// if matching takes absurdly long, not on a timing threshold near normal.
func TestPatternLinear(t *testing.T) {
	p := NewPattern(strings.Repeat("a*", 30) + "b")
	s := strings.Repeat("a", 10000)
	done := make(chan bool)
	go func() { done <- p.Match(s) }()
	select {
	case m := <-done:
		if m {
			t.Error("matched, want no match")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Match did not finish: backtracking is not bounded")
	}
}

func TestPatternMatchDoesNotAllocate(t *testing.T) {
	p := NewPattern("ab*c?d*e")
	allocs := testing.AllocsPerRun(100, func() { p.Match("abxxcydzze") })
	if allocs != 0 {
		t.Errorf("Match allocates %v times per call", allocs)
	}
}

var imageFilters = []Attr{"name", "architecture", "state", "block-device-mapping.device-name", "is-public"}

type resource struct {
	attrs map[Attr][]string
	tags  map[string]string
}

func (r resource) attr(name Attr) []string { return r.attrs[name] }

func TestSetMatch(t *testing.T) {
	img := resource{
		attrs: map[Attr][]string{
			"name":                             {"al2023-ami-2023.4-x86_64"},
			"architecture":                     {"x86_64"},
			"state":                            {"available"},
			"block-device-mapping.device-name": {"/dev/xvda", "/dev/sdb"},
			"is-public":                        {"false"},
		},
		tags: map[string]string{"Env": "prod", "Team": "core", "empty": ""},
	}
	bare := resource{attrs: map[Attr][]string{"name": {"x"}}}
	tests := []struct {
		name    string
		filters []Filter
		r       resource
		want    bool
	}{
		{"no filters", nil, img, true},
		{"exact", []Filter{{"architecture", []string{"x86_64"}}}, img, true},
		{"exact miss", []Filter{{"architecture", []string{"arm64"}}}, img, false},
		{"OR within a filter", []Filter{{"architecture", []string{"arm64", "x86_64"}}}, img, true},
		{"AND across filters", []Filter{{"architecture", []string{"x86_64"}}, {"state", []string{"pending"}}}, img, false},
		{"AND both hold", []Filter{{"architecture", []string{"x86_64"}}, {"state", []string{"available"}}}, img, true},
		{"wildcard", []Filter{{"name", []string{"al2023-*"}}}, img, true},
		{"case-sensitive", []Filter{{"name", []string{"AL2023-*"}}}, img, false},
		{"multi-valued attribute", []Filter{{"block-device-mapping.device-name", []string{"/dev/sdb"}}}, img, true},
		{"multi-valued attribute miss", []Filter{{"block-device-mapping.device-name", []string{"/dev/sdc"}}}, img, false},
		{"attribute with no values", []Filter{{"block-device-mapping.device-name", []string{"*"}}}, bare, false},
		{"repeated name is ANDed", []Filter{{"name", []string{"al2023*"}}, {"name", []string{"*arm64"}}}, img, false},
		{"repeated name both hold", []Filter{{"name", []string{"al2023*"}}, {"name", []string{"*x86_64"}}}, img, true},
		{"tag:KEY", []Filter{{"tag:Env", []string{"prod"}}}, img, true},
		{"tag:KEY wildcard", []Filter{{"tag:Env", []string{"dev", "pr*"}}}, img, true},
		{"tag:KEY wrong value", []Filter{{"tag:Env", []string{"dev"}}}, img, false},
		{"tag:KEY absent", []Filter{{"tag:Owner", []string{"*"}}}, img, false},
		{"tag:KEY empty value", []Filter{{"tag:empty", []string{""}}}, img, true},
		{"tag:KEY no tags", []Filter{{"tag:Env", []string{"*"}}}, bare, false},
		{"tag:KEY with colon in key", []Filter{{"tag:aws:cloudformation:stack", []string{"*"}}}, resource{tags: map[string]string{"aws:cloudformation:stack": "s"}}, true},
		{"tag-key", []Filter{{"tag-key", []string{"Team"}}}, img, true},
		{"tag-key wildcard", []Filter{{"tag-key", []string{"T*"}}}, img, true},
		{"tag-key miss", []Filter{{"tag-key", []string{"Owner"}}}, img, false},
		{"tag-value", []Filter{{"tag-value", []string{"core"}}}, img, true},
		{"tag-value miss", []Filter{{"tag-value", []string{"Team"}}}, img, false},
		{"tags and attributes", []Filter{{"tag:Env", []string{"prod"}}, {"is-public", []string{"false"}}}, img, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(tt.filters, imageFilters...)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if s.Empty() != (len(tt.filters) == 0) {
				t.Errorf("Empty() = %v", s.Empty())
			}
			if got := s.Match(tt.r.attr, tt.r.tags); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetMatchNilInputs(t *testing.T) {
	s, err := Compile([]Filter{{"name", []string{"*"}}}, "name")
	if err != nil {
		t.Fatal(err)
	}
	if s.Match(nil, nil) {
		t.Error("a nil attr should give no values")
	}
	var zero Set
	if !zero.Empty() || !zero.Match(nil, nil) {
		t.Error("the zero Set should be empty and match everything")
	}
}

func TestSetMatchDoesNotAllocate(t *testing.T) {
	s, err := Compile([]Filter{
		{"name", []string{"al2023-*", "amzn2-*"}},
		{"tag:Env", []string{"prod"}},
		{"tag-key", []string{"Team"}},
	}, imageFilters...)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"al2023-ami-x86_64"}
	attr := func(Attr) []string { return names }
	tags := map[string]string{"Env": "prod", "Team": "core"}
	allocs := testing.AllocsPerRun(100, func() {
		if !s.Match(attr, tags) {
			t.Fatal("no match")
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per call", allocs)
	}
}

func TestCompileErrors(t *testing.T) {
	many := make([]Filter, MaxFilters+1)
	for i := range many {
		many[i] = Filter{"name", []string{"x"}}
	}
	tooManyValues := make([]string, MaxValues+1)
	tests := []struct {
		name    string
		filters []Filter
		class   openami.Class
		msg     string
	}{
		{"unknown name", []Filter{{"colour", []string{"x"}}}, openami.InvalidParameter, "The filter 'colour' is invalid"},
		{"empty name", []Filter{{"", []string{"x"}}}, openami.InvalidParameter, "The filter '' is invalid"},
		{"tag: without key", []Filter{{"tag:", []string{"x"}}}, openami.InvalidParameter, "The filter 'tag:' is invalid"},
		{"case matters", []Filter{{"Name", []string{"x"}}}, openami.InvalidParameter, "The filter 'Name' is invalid"},
		{"second one bad", []Filter{{"name", []string{"x"}}, {"owner", []string{"x"}}}, openami.InvalidParameter, "The filter 'owner' is invalid"},
		{"no values", []Filter{{"name", nil}}, openami.InvalidParameter, "The filter 'name' has no values"},
		{"tag filter without values", []Filter{{"tag:Env", []string{}}}, openami.InvalidParameter, "The filter 'tag:Env' has no values"},
		{"too many filters", many, openami.LimitExceeded, "The request has 51 filters; the limit is 50"},
		{"too many values", []Filter{{"name", tooManyValues}}, openami.LimitExceeded, "The filter 'name' has 201 values; the limit is 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.filters, imageFilters...)
			var e *openami.Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile = %v, want an *openami.Error", err)
			}
			if e.Class != tt.class || e.Resource != openami.ResourceFilter || e.Message != tt.msg {
				t.Errorf("Compile = (%v, %q, %q), want (%v, %q, %q)", e.Class, e.Resource, e.Message, tt.class, openami.ResourceFilter, tt.msg)
			}
		})
	}
	// The limits themselves are allowed.
	atLimit := make([]Filter, MaxFilters)
	for i := range atLimit {
		atLimit[i] = Filter{"tag:k", make([]string, MaxValues)}
	}
	if _, err := Compile(atLimit); err != nil {
		t.Errorf("Compile at the limits: %v", err)
	}
}

func TestValues(t *testing.T) {
	in := []Filter{
		{"name", []string{"a", "b*"}},
		{"state", []string{"available"}},
		{"name", []string{"c"}},
	}
	s, err := Compile(in, imageFilters...)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Values("name"); !ok || !reflect.DeepEqual(v, []string{"a", "b*", "c"}) {
		t.Errorf("Values(name) = %q, %v", v, ok)
	}
	if v, ok := s.Values("state"); !ok || !reflect.DeepEqual(v, []string{"available"}) {
		t.Errorf("Values(state) = %q, %v", v, ok)
	}
	if v, ok := s.Values("architecture"); ok || v != nil {
		t.Errorf("Values(architecture) = %q, %v", v, ok)
	}
	// Compile keeps its own copy, and Values hands out a fresh one.
	in[1].Values[0] = "changed"
	v, _ := s.Values("state")
	v[0] = "changed too"
	if v, _ := s.Values("state"); v[0] != "available" {
		t.Errorf("Values(state) = %q after the caller's slices changed", v)
	}
}

// reference matches by translating the pattern into a regexp.
func reference(pattern, s string) (bool, error) {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '\\' && i+1 < len(pattern):
			i++
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		case c == '*':
			b.WriteString(`.*`)
		case c == '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return false, err
	}
	return re.MatchString(s), nil
}

// FuzzPattern checks Match against the regexp reference.
func FuzzPattern(f *testing.F) {
	seeds := [][2]string{
		{"", ""}, {"*", "abc"}, {"a*b", "aXb"}, {"a?c", "abc"}, {`a\*`, "a*"}, {`\\?`, `\x`},
		{"*a*a*a*b", "aaaaaaa"}, {"?*?", "é"}, {"*é*", "aéb"}, {"ab*ab", "abab"}, {"*?b", "\xffb"},
		{"a\\", "a\\"}, {"**?*", "\n"}, {"x*y*z", "xyzxyz"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		// The reference can only speak for valid UTF-8 patterns, and
		// regexp compares U+FFFD in a pattern with any invalid byte in
		// the subject, where Match compares bytes.
		if !utf8.ValidString(pattern) || strings.ContainsRune(pattern, utf8.RuneError) || len(pattern) > 200 {
			t.Skip()
		}
		want, err := reference(pattern, s)
		if err != nil {
			t.Skip()
		}
		p := NewPattern(pattern)
		if got := p.Match(s); got != want {
			t.Fatalf("NewPattern(%q).Match(%q) = %v, reference says %v", pattern, s, got, want)
		}
		if lit, ok := p.Literal(); ok && (lit == s) != want {
			t.Fatalf("NewPattern(%q).Literal() = %q disagrees with matching %q", pattern, lit, s)
		}
	})
}

func BenchmarkSetMatch(b *testing.B) {
	s, err := Compile([]Filter{
		{"name", []string{"al2023-ami-*-x86_64", "amzn2-ami-*"}},
		{"state", []string{"available"}},
		{"tag:Env", []string{"prod"}},
	}, imageFilters...)
	if err != nil {
		b.Fatal(err)
	}
	attrs := map[Attr][]string{"name": {"al2023-ami-2023.4.20240401.1-kernel-6.1-x86_64"}, "state": {"available"}}
	attr := func(n Attr) []string { return attrs[n] }
	tags := map[string]string{"Env": "prod"}
	for b.Loop() {
		if !s.Match(attr, tags) {
			b.Fatal("no match")
		}
	}
}

func ExampleSet_Match() {
	s, err := Compile([]Filter{{Name: "name", Values: []string{"al2023-*"}}, {Name: "tag:Env", Values: []string{"prod"}}}, "name")
	if err != nil {
		panic(err)
	}
	attr := func(name Attr) []string { return []string{"al2023-ami-minimal"} }
	fmt.Println(s.Match(attr, map[string]string{"Env": "prod"}))
	fmt.Println(s.Match(attr, map[string]string{"Env": "dev"}))
	// Output:
	// true
	// false
}

// TestRename: wire names become attributes, tag forms pass as sent, and
// what Rename refuses it refuses as Compile would, naming the filter as
// sent.
func TestRename(t *testing.T) {
	names := map[string]Attr{"is-default": "default", "isDefault": "default", "vpc-id": "id"}
	in := []Filter{{"isDefault", []string{"true"}}, {"tag:Env", []string{"prod"}}, {"vpc-id", []string{"vpc-1"}}, {"tag-key", []string{"k"}}}
	got, err := Rename(in, names)
	if err != nil {
		t.Fatal(err)
	}
	want := []Filter{{"default", []string{"true"}}, {"tag:Env", []string{"prod"}}, {"id", []string{"vpc-1"}}, {"tag-key", []string{"k"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rename = %v, want %v", got, want)
	}
	if in[0].Name != "isDefault" {
		t.Error("Rename changed its input")
	}
	if got, err := Rename([]Filter{}, names); err != nil || got == nil || len(got) != 0 {
		t.Errorf("Rename(empty) = %#v, %v; want an empty non-nil list", got, err)
	}
	for _, tt := range []struct {
		in  []Filter
		msg string
	}{
		{[]Filter{{"default", []string{"x"}}}, "The filter 'default' is invalid"}, // an attribute is no wire name
		{[]Filter{{"", []string{"x"}}}, "The filter '' is invalid"},
		{[]Filter{{"vpc-id", nil}}, "The filter 'vpc-id' has no values"},
		{[]Filter{{"vpc-id", make([]string, MaxValues+1)}}, fmt.Sprintf("The filter 'vpc-id' has %d values; the limit is %d", MaxValues+1, MaxValues)},
		{make([]Filter, MaxFilters+1), fmt.Sprintf("The request has %d filters; the limit is %d", MaxFilters+1, MaxFilters)},
	} {
		_, rerr := Rename(tt.in, names)
		var e *openami.Error
		if !errors.As(rerr, &e) || e.Message != tt.msg || e.Resource != openami.ResourceFilter {
			t.Errorf("Rename(%v) = %v, want %q", tt.in, rerr, tt.msg)
		}
	}
}

// TestTimeValuesMatchAsTimes: a literal time value matches a resource's
// time stamp at the same instant in whichever RFC 3339 form either is
// written (whole seconds or milliseconds, Z or an offset); another
// instant, a wildcard over the text, and non-time values behave as
// before.
func TestTimeValuesMatchAsTimes(t *testing.T) {
	const attachTime Attr = "attachTime"
	at := func(v string) func(Attr) []string { return func(Attr) []string { return []string{v} } }
	for _, c := range []struct {
		value, resource string
		want            bool
	}{
		{"2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000Z", true},
		{"2024-05-01T10:00:00.000Z", "2024-05-01T10:00:00Z", true},
		{"2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000Z", true},
		{"2024-05-01T10:00:01Z", "2024-05-01T10:00:00.000Z", false},
		{"2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.500Z", true},
		{"2024-05-*", "2024-05-01T10:00:00.000Z", true},
		{"2024-05-01T10:00:00Z", "attached", false},
	} {
		s, err := Compile([]Filter{{Name: string(attachTime), Values: []string{c.value}}}, attachTime)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Match(at(c.resource), nil); got != c.want {
			t.Errorf("value %q against %q: %v, want %v", c.value, c.resource, got, c.want)
		}
	}
}
