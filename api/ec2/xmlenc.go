package ec2

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The response encoder. encoding/xml reflects over every field of every
// value it encodes, asking each whether it implements its marshaler
// interfaces, and allocates as it goes: a quarter of the server's time for
// a page of 100 images. encodeResponse does the same job from a plan made
// once per type, for the subset of encoding/xml's rules the response
// structs use: elements named by `xml:"name"` tags, `omitempty`,
// `,chardata`, untagged embedded structs promoted, nil pointers left out,
// text escaped as xml.EscapeText escapes it, bools, integers and floats
// formatted as encoding/xml formats them, a plain slice as one element
// per entry, and items[T] as a list of <item> elements.
// TestEncoderMatchesEncodingXML checks that it writes exactly what
// encoding/xml writes, for random values of every response type.

// itemList marks items[T], whose elements are written as <item>s.
type itemList interface{ isItemList() }

func (items[T]) isItemList() {}

var itemListType = reflect.TypeFor[itemList]()

// field is one field of a struct's plan.
type field struct {
	name      string
	index     int
	omitEmpty bool
	chardata  bool
	list      bool  // an items[T]
	embedded  *plan // an untagged embedded struct: its fields are promoted
}

type plan struct{ fields []field }

var plans sync.Map // reflect.Type → *plan

func planOf(t reflect.Type) (*plan, error) {
	if p, ok := plans.Load(t); ok {
		return p.(*plan), nil
	}
	p := &plan{}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("xml")
		if tag == "-" || !sf.IsExported() && !sf.Anonymous {
			continue
		}
		if sf.Anonymous && tag == "" && sf.Type.Kind() == reflect.Struct {
			sub, err := planOf(sf.Type)
			if err != nil {
				return nil, err
			}
			p.fields = append(p.fields, field{index: i, embedded: sub})
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := field{name: name, index: i, list: sf.Type.Implements(itemListType)}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "omitempty":
				f.omitEmpty = true
			case "chardata":
				f.chardata = true
			case "":
			default:
				return nil, fmt.Errorf("ec2: xml option %q of %s.%s is not supported", o, t, sf.Name)
			}
		}
		if f.name == "" && !f.chardata {
			f.name = sf.Name
		}
		p.fields = append(p.fields, f)
	}
	plans.Store(t, p)
	return p, nil
}

// encodeResponse writes v as the root element name with the xmlns
// attribute of the EC2 namespace.
func encodeResponse(b *bytes.Buffer, name string, v any) error {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteString(` xmlns="` + namespace + `">`)
	if err := encodeFields(b, rv); err != nil {
		return err
	}
	closeTag(b, name)
	return nil
}

func openTag(b *bytes.Buffer, name string) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
}

func closeTag(b *bytes.Buffer, name string) {
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}

// encodeElement writes v as the element name, unless it is a nil pointer.
func encodeElement(b *bytes.Buffer, name string, v reflect.Value, list bool) error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
		list = list || v.Type().Implements(itemListType)
	}
	openTag(b, name)
	if list {
		for i := range v.Len() {
			if err := encodeElement(b, "item", v.Index(i), false); err != nil {
				return err
			}
		}
		closeTag(b, name)
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		if err := encodeFields(b, v); err != nil {
			return err
		}
	case reflect.String:
		escape(b, v.String())
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.Write(strconv.AppendInt(b.AvailableBuffer(), v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		b.Write(strconv.AppendUint(b.AvailableBuffer(), v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		b.Write(strconv.AppendFloat(b.AvailableBuffer(), v.Float(), 'g', -1, v.Type().Bits()))
	default:
		return fmt.Errorf("ec2: cannot encode a %s as XML", v.Type())
	}
	closeTag(b, name)
	return nil
}

func encodeFields(b *bytes.Buffer, v reflect.Value) error {
	p, err := planOf(v.Type())
	if err != nil {
		return err
	}
	for _, f := range p.fields {
		fv := v.Field(f.index)
		switch {
		case f.embedded != nil:
			if err := encodeFields(b, fv); err != nil {
				return err
			}
		case f.chardata:
			escape(b, fv.String())
		case f.omitEmpty && isEmpty(fv):
		case !f.list && fv.Kind() == reflect.Slice:
			// A plain slice is one element per entry, as encoding/xml
			// writes it (a template's <groupSet><groupId>…).
			for i := range fv.Len() {
				if err := encodeElement(b, f.name, fv.Index(i), false); err != nil {
					return err
				}
			}
		default:
			if err := encodeElement(b, f.name, fv, f.list); err != nil {
				return err
			}
		}
	}
	return nil
}

// isEmpty is encoding/xml's test for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Struct:
		return false
	}
	return v.IsZero()
}

// escape writes s as xml.EscapeText does: the five markup characters and
// tab, newline and carriage return as character references, and anything
// that is not a valid XML character (or not UTF-8) as U+FFFD.
func escape(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch r {
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if !isXMLChar(r) || r == utf8.RuneError && width == 1 {
				esc = "\uFFFD"
				break
			}
			i += width
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		i += width
		last = i
	}
	b.WriteString(s[last:])
}

// isXMLChar reports whether r is in XML 1.0's Char production.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
