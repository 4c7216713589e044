package awsquery

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/openami/openami"
)

// kind is what a codec decodes: one scalar form, a struct, or a list.
type kind uint8

const (
	kString kind = iota
	kBool
	kInt
	kFloat
	kTime
	kBytes
	kStruct
	kList
)

func (k kind) scalar() bool { return k < kStruct }

// codec says how to decode one Go type. It is built once per type and
// shared by every request, so it holds no per-request state.
type codec struct {
	kind kind
	typ  reflect.Type // the Go type, pointer included
	ptr  bool         // typ is a pointer to the decoded type
	bits int          // kInt: the integer's size, for range checks
	elem *codec       // kList: the element's codec
	st   *structPlan  // kStruct: the struct's fields
}

// field is one struct field that takes parameters.
type field struct {
	name     string // wire name; may contain dots (e.g. "Tags.member")
	index    []int  // reflect index path, through embedded structs
	required bool
	c        *codec
}

// structPlan is the decoding plan of one struct type.
type structPlan struct {
	typ    reflect.Type
	fields []field
	byName map[string]int
	// dotted is true when some wire name contains a dot, so that lookup
	// has to try more than the first segment of a parameter name.
	dotted bool
}

// plans caches *planResult by reflect.Type of the struct.
var plans sync.Map

type planResult struct {
	st  *structPlan
	err error
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	bytesKind = reflect.Uint8
)

// planFor returns the cached plan of struct type t, building it on first
// use. A type that cannot be decoded (an unsupported field kind, two fields
// with one wire name) yields an Internal error every time: it is a bug in
// the caller's request type, not the client's fault.
func planFor(t reflect.Type) (*structPlan, error) {
	if r, ok := plans.Load(t); ok {
		pr := r.(*planResult)
		return pr.st, pr.err
	}
	b := &builder{building: map[reflect.Type]*structPlan{}}
	st, err := b.structPlan(t)
	r, _ := plans.LoadOrStore(t, &planResult{st, err})
	pr := r.(*planResult)
	return pr.st, pr.err
}

// builder builds plans; building holds structs under construction so that
// recursive types (a struct holding a list of itself) terminate.
type builder struct {
	building map[reflect.Type]*structPlan
}

func (b *builder) structPlan(t reflect.Type) (*structPlan, error) {
	if st, ok := b.building[t]; ok {
		return st, nil
	}
	st := &structPlan{typ: t, byName: map[string]int{}}
	b.building[t] = st
	if err := b.addFields(st, t, nil); err != nil {
		return nil, err
	}
	return st, nil
}

// addFields adds t's fields to st; index is the path to t inside st.typ,
// non-empty when t is an embedded struct whose fields are promoted.
func (b *builder) addFields(st *structPlan, t reflect.Type, index []int) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("query")
		if tag == "-" {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		if sf.Anonymous && !hasTag && sf.Type.Kind() == reflect.Struct && sf.Type != timeType {
			// Promote the fields of an untagged embedded struct, as
			// encoding/json does, so request types can share common
			// members such as DryRun.
			if err := b.addFields(st, sf.Type, idx); err != nil {
				return err
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		f := field{name: name, index: idx}
		for opts != "" {
			var opt string
			opt, opts, _ = strings.Cut(opts, ",")
			switch opt {
			case "required":
				f.required = true
			case "":
			default:
				return planErr(st.typ, sf, "unknown tag option %q", opt)
			}
		}
		if !validWireName(name) {
			return planErr(st.typ, sf, "invalid wire name %q", name)
		}
		c, err := b.codec(sf.Type)
		if err != nil {
			return planErr(st.typ, sf, "%v", err)
		}
		f.c = c
		if _, dup := st.byName[name]; dup {
			return planErr(st.typ, sf, "wire name %q is used twice", name)
		}
		st.byName[name] = len(st.fields)
		st.fields = append(st.fields, f)
		if strings.Contains(name, ".") {
			st.dotted = true
		}
	}
	return nil
}

func validWireName(name string) bool {
	for seg := range strings.SplitSeq(name, ".") {
		if seg == "" {
			return false
		}
	}
	return true
}

func planErr(t reflect.Type, sf reflect.StructField, format string, args ...any) error {
	return openami.Errorf(openami.Internal, "", "awsquery: %v.%s: %s", t, sf.Name, fmt.Sprintf(format, args...))
}

// codec returns the codec of a field of type t.
func (b *builder) codec(t reflect.Type) (*codec, error) {
	c := &codec{typ: t}
	if t.Kind() == reflect.Pointer {
		c.ptr = true
		t = t.Elem()
		if t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice && t.Elem().Kind() != bytesKind {
			return nil, fmt.Errorf("unsupported type %v", c.typ)
		}
	}
	if t == timeType {
		c.kind = kTime
		return c, nil
	}
	switch t.Kind() {
	case reflect.String:
		c.kind = kString
	case reflect.Bool:
		c.kind = kBool
	case reflect.Int, reflect.Int32, reflect.Int64:
		c.kind = kInt
		c.bits = t.Bits()
	case reflect.Float64:
		c.kind = kFloat
	case reflect.Struct:
		c.kind = kStruct
		st, err := b.structPlan(t)
		if err != nil {
			return nil, err
		}
		c.st = st
	case reflect.Slice:
		if t.Elem().Kind() == bytesKind {
			c.kind = kBytes
			break
		}
		c.kind = kList
		elem, err := b.codec(t.Elem())
		if err != nil {
			return nil, err
		}
		c.elem = elem
	default:
		return nil, fmt.Errorf("unsupported type %v", c.typ)
	}
	return c, nil
}

// lookup finds the number of the field that takes the parameter name rest, relative to
// this struct, and returns it with what remains of the name after the
// field's wire name (without the separating dot). A scalar field must
// consume the whole name, and a struct or list field must leave something:
// this is what lets "Tags.member" (a list) and "Tags" (a struct) coexist
// without ambiguity.
func (st *structPlan) lookup(rest string) (int, string, bool) {
	if !st.dotted {
		head, tail, more := strings.Cut(rest, ".")
		i, ok := st.byName[head]
		if !ok || st.fields[i].c.kind.scalar() == more {
			return 0, "", false
		}
		return i, tail, true
	}
	for end := 0; end <= len(rest); end++ {
		if end < len(rest) && rest[end] != '.' {
			continue
		}
		i, ok := st.byName[rest[:end]]
		if !ok {
			continue
		}
		more := end < len(rest)
		if st.fields[i].c.kind.scalar() == more {
			continue
		}
		if more {
			return i, rest[end+1:], true
		}
		return i, "", true
	}
	return 0, "", false
}
