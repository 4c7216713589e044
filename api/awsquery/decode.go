// Package awsquery decodes the parameters of AWS Query-protocol requests
// (EC2's "ec2" protocol and STS's "query" protocol) into typed Go structs.
//
// A request is a flat set of name=value pairs. Structure is carried in the
// names: members of a structure are dotted (Ebs.VolumeSize) and lists are
// flattened with 1-based indexes (Filter.2.Value.1). A request type states
// the wire names in struct tags:
//
//	type DescribeImagesInput struct {
//		ImageIDs   []string `query:"ImageId"`
//		Filters    []Filter `query:"Filter"`
//		MaxResults *int32
//		DryRun     bool
//	}
//
//	type Filter struct {
//		Name   string   `query:"Name,required"`
//		Values []string `query:"Value"`
//	}
//
// A wire name may itself contain dots, which is how STS's non-flattened
// lists are written: `query:"Tags.member"` on a []Tag field takes
// Tags.member.1.Key.
//
// Decoding is the first thing every request does with untrusted input, so
// it never panics on any input, reports the first problem in a fixed order,
// and caches a plan per request type.
package awsquery

import (
	"encoding/base64"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openami/openami"
)

// MaxListItems is the largest list index a request may use. It bounds the
// work and memory one request can ask of the server.
const MaxListItems = 1000

// Decode fills the struct pointed to by v from params.
//
// Each field takes the parameter named by its `query:"Name"` tag (its Go
// name when untagged; `query:"-"` skips it); the option `query:"Name,required"`
// makes it mandatory. Supported field types are string, bool, int, int32,
// int64, float64, time.Time (RFC 3339), []byte (standard base64), pointers
// to these (left nil when absent), structs and pointers to structs (dotted
// members), and slices of any of these (1-based, possibly sparse, indexes;
// the slice holds the items in index order with gaps closed). Untagged
// embedded structs have their fields promoted. Named types with these
// underlying kinds work too. Fields whose parameters are absent are left as
// they were, so v should normally be a fresh value.
//
// The parameters Action, Version and any named X-Amz-* (a presigned
// request's signature) are not the action's own and are ignored.
//
// On failure Decode returns an *openami.Error and v may be partly filled.
// Problems with individual parameters are found in order of parameter name
// and the first is returned: UnknownParameter for a parameter no field
// takes; InvalidParameter for an unparseable value, a list index outside 1
// to MaxListItems, or a parameter given twice with different values. Only
// then are required fields checked, giving MissingParameter with the full
// wire name of the first missing one (required fields of a nested struct
// are checked only when the struct is present). A v that is not a non-nil
// pointer to a struct, or a struct type Decode cannot handle, is a
// programming error and yields an Internal error.
func Decode(params url.Values, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return openami.Errorf(openami.Internal, "", "awsquery: Decode needs a non-nil pointer to a struct, not %T", v)
	}
	st, err := planFor(rv.Elem().Type())
	if err != nil {
		return err
	}

	names := make([]string, 0, len(params))
	for name := range params {
		if ignored(name) {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)

	// Most parameters make one or two nodes; allocating them in slabs
	// saves an allocation per node.
	a := arena{slab: make([]node, 0, 2*len(names)+1)}
	root := a.new()
	root.fields = make([]*node, len(st.fields))
	for _, name := range names {
		vals := params[name]
		if len(vals) == 0 {
			continue
		}
		for _, other := range vals[1:] {
			if other != vals[0] {
				return openami.Errorf(openami.InvalidParameter, "", "The parameter %s is given more than once with different values", name)
			}
		}
		if err := a.insert(root, st, name, vals[0]); err != nil {
			return err
		}
	}
	if m := storeStruct(st, root, rv.Elem()); m != nil {
		return openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter %s", m.name)
	}
	return nil
}

// ignored reports whether a parameter belongs to the protocol rather than
// to the action.
func ignored(name string) bool {
	return name == "Action" || name == "Version" || strings.HasPrefix(name, "X-Amz-")
}

// node is one parameter, struct or list in the request, as a tree built
// from the parameter names before anything is stored in the Go value. The
// tree exists because sparse lists can only be laid out once every index
// is known, and because params must be visited in name order for errors
// to be deterministic, which is not the order of the Go value.
type node struct {
	fields []*node       // a struct's members, by field number
	items  map[int]*node // a list's items, by wire index
	set    bool          // a scalar has been given
	raw    string        // a scalar's text
	val    scalar        // a scalar's parsed value
}

// scalar is a parsed scalar value; which member is meaningful depends on
// the codec's kind. Parsing happens while the tree is built, so that value
// errors are reported in parameter-name order.
type scalar struct {
	i     int64
	f     float64
	b     bool
	t     time.Time
	bytes []byte
}

// arena hands out nodes from slabs. A full slab is left to the nodes that
// point into it and a new one started, so node pointers stay valid.
type arena struct {
	slab []node
}

func (a *arena) new() *node {
	if len(a.slab) == cap(a.slab) {
		a.slab = make([]node, 0, max(2*cap(a.slab), 16))
	}
	a.slab = a.slab[:len(a.slab)+1]
	return &a.slab[len(a.slab)-1]
}

// insert adds the parameter name=value to the tree rooted at root, whose
// struct plan is st.
func (a *arena) insert(root *node, st *structPlan, name, value string) error {
	n, rest := root, name
	for {
		pos, tail, ok := st.lookup(rest)
		if !ok {
			return unknown(name)
		}
		child := n.fields[pos]
		if child == nil {
			child = a.new()
			n.fields[pos] = child
		}
		c := st.fields[pos].c
		rest = tail
		for c.kind == kList {
			if rest == "" {
				return unknown(name)
			}
			var seg string
			seg, rest, _ = strings.Cut(rest, ".")
			idx, err := parseIndex(seg, name)
			if err != nil {
				return err
			}
			if child.items == nil {
				child.items = map[int]*node{}
			}
			item := child.items[idx]
			if item == nil {
				item = a.new()
				child.items[idx] = item
			}
			child, c = item, c.elem
		}
		if c.kind == kStruct {
			if rest == "" {
				return unknown(name)
			}
			if child.fields == nil {
				child.fields = make([]*node, len(c.st.fields))
			}
			n, st = child, c.st
			continue
		}
		if rest != "" {
			return unknown(name)
		}
		if child.set {
			// Two spellings of one parameter (Filter.1.Name given also
			// through another dotted field name) must agree.
			if child.raw != value {
				return openami.Errorf(openami.InvalidParameter, "", "The parameter %s is given more than once with different values", name)
			}
			return nil
		}
		v, ok := parseScalar(c, value)
		if !ok {
			return openami.Errorf(openami.InvalidParameter, "", "Invalid value '%s' for %s", value, name)
		}
		child.set, child.raw, child.val = true, value, v
		return nil
	}
}

func unknown(name string) error {
	return openami.Errorf(openami.UnknownParameter, "", "The parameter %s is not recognized", name)
}

// parseIndex parses one list index of parameter name. An index must be a
// canonical decimal from 1 to MaxListItems: leading zeros are refused so
// that one item cannot be spelled two ways. A segment that is not a number
// at all means the name is not one the action takes.
func parseIndex(seg, name string) (int, error) {
	digits := strings.TrimPrefix(seg, "-")
	if digits == "" || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, unknown(name)
	}
	if seg[0] == '-' || seg[0] == '0' || len(seg) > 4 {
		return 0, badIndex(seg, name)
	}
	n, _ := strconv.Atoi(seg)
	if n > MaxListItems {
		return 0, badIndex(seg, name)
	}
	return n, nil
}

func badIndex(seg, name string) error {
	return openami.Errorf(openami.InvalidParameter, "", "Invalid list index '%s' in %s: lists are numbered from 1 to %d", seg, name, MaxListItems)
}

// parseScalar parses s as the scalar kind of c.
func parseScalar(c *codec, s string) (scalar, bool) {
	var v scalar
	switch c.kind {
	case kString:
		return v, true
	case kBool:
		switch {
		case strings.EqualFold(s, "true"):
			v.b = true
		case strings.EqualFold(s, "false"):
		default:
			return v, false
		}
	case kInt:
		i, err := strconv.ParseInt(s, 10, c.bits)
		if err != nil {
			return v, false
		}
		v.i = i
	case kFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return v, false
		}
		v.f = f
	case kTime:
		// RFC3339 parsing accepts fractional seconds whether or not the
		// layout names them.
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return v, false
		}
		v.t = t.UTC()
	case kBytes:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return v, false
		}
		if b == nil {
			b = []byte{}
		}
		v.bytes = b
	default:
		return v, false
	}
	return v, true
}

// missing reports a required field that is absent. Its name is built up
// as the error returns through the levels of the tree, so that wire names
// are only ever spelled out on this error path.
type missing struct{ name string }

// storeStruct stores the tree n into the struct rv, whose plan is st.
func storeStruct(st *structPlan, n *node, rv reflect.Value) *missing {
	for i := range st.fields {
		f := &st.fields[i]
		child := n.fields[i]
		if child == nil {
			if f.required {
				return &missing{f.name}
			}
			continue
		}
		if m := store(f.c, child, rv.FieldByIndex(f.index)); m != nil {
			m.name = f.name + "." + m.name
			return m
		}
	}
	return nil
}

// store stores n into rv, a settable value of c's type.
func store(c *codec, n *node, rv reflect.Value) *missing {
	if c.ptr {
		if rv.IsNil() {
			rv.Set(reflect.New(c.typ.Elem()))
		}
		rv = rv.Elem()
	}
	switch c.kind {
	case kString:
		rv.SetString(n.raw)
	case kBool:
		rv.SetBool(n.val.b)
	case kInt:
		rv.SetInt(n.val.i)
	case kFloat:
		rv.SetFloat(n.val.f)
	case kTime:
		rv.Set(reflect.ValueOf(n.val.t))
	case kBytes:
		rv.SetBytes(n.val.bytes)
	case kStruct:
		return storeStruct(c.st, n, rv)
	case kList:
		var buf [16]int
		idx := buf[:0]
		for i := range n.items {
			idx = append(idx, i)
		}
		slices.Sort(idx)
		// Replace any slice already there; growing the zero slice in
		// place costs one allocation where MakeSlice costs two.
		rv.SetZero()
		rv.Grow(len(idx))
		rv.SetLen(len(idx))
		for j, i := range idx {
			if m := store(c.elem, n.items[i], rv.Index(j)); m != nil {
				m.name = strconv.Itoa(i) + "." + m.name
				return m
			}
		}
	}
	return nil
}
