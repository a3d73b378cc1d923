package policy

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

// astValue converts x to the ast.Value that encoding/json and OPA would make
// of it (rego.EvalInput marshals to JSON, unmarshals, and converts), without
// the JSON text in between: the conversion is most of a decision's cost
// otherwise. It follows encoding/json's rules for the types the policy input
// is made of, and falls back to the JSON round trip for any type with its
// own marshalling other than time.Time. TestASTValueMatchesJSON keeps it honest.
func astValue(x any) (ast.Value, error) {
	return toValue(reflect.ValueOf(x))
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func toValue(v reflect.Value) (ast.Value, error) {
	if !v.IsValid() {
		return ast.Null{}, nil
	}
	t := v.Type()
	switch {
	case t == timeType:
		return ast.String(v.Interface().(time.Time).Format(time.RFC3339Nano)), nil
	case v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface:
		if v.IsNil() {
			return ast.Null{}, nil
		}
		if v.Kind() == reflect.Interface || !customJSON(t) {
			return toValue(v.Elem())
		}
		return viaJSON(v)
	case customJSON(t):
		return viaJSON(v)
	}
	switch v.Kind() {
	case reflect.Bool:
		return ast.Boolean(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return ast.Number(strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return ast.Number(strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		return floatNumber(v.Float(), t.Bits())
	case reflect.String:
		return ast.String(v.String()), nil
	case reflect.Slice:
		if v.IsNil() {
			return ast.Null{}, nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return viaJSON(v) // []byte is base64 text
		}
		fallthrough
	case reflect.Array:
		terms := make([]*ast.Term, v.Len())
		for i := range terms {
			e, err := toValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			terms[i] = ast.NewTerm(e)
		}
		return ast.NewArray(terms...), nil
	case reflect.Map:
		if v.IsNil() {
			return ast.Null{}, nil
		}
		if t.Key().Kind() != reflect.String {
			return viaJSON(v)
		}
		obj := ast.NewObjectWithCapacity(v.Len())
		for it := v.MapRange(); it.Next(); {
			e, err := toValue(it.Value())
			if err != nil {
				return nil, err
			}
			obj.Insert(ast.StringTerm(it.Key().String()), ast.NewTerm(e))
		}
		return obj, nil
	case reflect.Struct:
		fields := structFields(t)
		if fields == nil {
			return viaJSON(v)
		}
		obj := ast.NewObjectWithCapacity(len(fields))
	field:
		for _, f := range fields {
			fv := v
			for _, i := range f.index {
				if fv.Kind() == reflect.Pointer {
					if fv.IsNil() {
						continue field // a nil embedded pointer: its fields are absent
					}
					fv = fv.Elem()
				}
				fv = fv.Field(i)
			}
			if f.omitEmpty && isEmpty(fv) || f.omitZero && isZero(fv) {
				continue
			}
			e, err := toValue(fv)
			if err != nil {
				return nil, err
			}
			obj.Insert(f.key, ast.NewTerm(e))
		}
		return obj, nil
	}
	return nil, fmt.Errorf("cannot give the policy a value of type %s", t)
}

var customCache sync.Map // reflect.Type → bool

// customJSON reports whether t marshals itself.
func customJSON(t reflect.Type) bool {
	if c, ok := customCache.Load(t); ok {
		return c.(bool)
	}
	c := t.Implements(marshalerType) || t.Implements(textMarshalerType) ||
		reflect.PointerTo(t).Implements(marshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)
	customCache.Store(t, c)
	return c
}

// viaJSON converts v the slow way, through its JSON.
func viaJSON(v reflect.Value) (ast.Value, error) {
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	var x any
	if err := util.UnmarshalJSON(b, &x); err != nil {
		return nil, err
	}
	return ast.InterfaceToValue(x)
}

// floatNumber formats f as encoding/json does.
func floatNumber(f float64, bits int) (ast.Value, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("cannot give the policy the number %v", f)
	}
	format, abs := byte('f'), math.Abs(f)
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	b := strconv.AppendFloat(nil, f, format, -1, bits)
	if format == 'e' { // clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2], b = b[n-1], b[:n-1]
		}
	}
	return ast.Number(b), nil
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZero is encoding/json's omitzero test: the type's IsZero method, or the zero value.
func isZero(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}

// field is one JSON field of a struct: its name and where it is.
type field struct {
	name                string
	key                 *ast.Term // name, made once and shared (terms are not mutated)
	index               []int     // through embedded structs
	omitEmpty, omitZero bool
	depth               int
	tagged              bool
}

var fieldCache sync.Map // reflect.Type → []field (nil: use JSON)

// structFields lists t's JSON fields as encoding/json does: exported fields
// by their tag names, the fields of untagged embedded structs promoted, the
// shallowest (then the tagged) field winning a name. It returns nil when a
// field asks for an option this converter does not follow (",string").
func structFields(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	var all []field
	ok := collectFields(t, nil, 0, &all)
	var fields []field
	if ok {
		byName := map[string][]field{}
		var order []string
		for _, f := range all {
			if _, seen := byName[f.name]; !seen {
				order = append(order, f.name)
			}
			byName[f.name] = append(byName[f.name], f)
		}
		fields = []field{}
		for _, name := range order {
			if f, ok := dominant(byName[name]); ok {
				f.key = ast.StringTerm(f.name)
				fields = append(fields, f)
			}
		}
	}
	fieldCache.Store(t, fields)
	return fields
}

func collectFields(t reflect.Type, index []int, depth int, out *[]field) bool {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		idx := append(append([]int{}, index...), i)
		if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct && !customJSON(ft) {
			if !collectFields(ft, idx, depth+1, out) {
				return false
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		f := field{name: name, index: idx, depth: depth, tagged: name != ""}
		if name == "" {
			f.name = sf.Name
		}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "omitempty":
				f.omitEmpty = true
			case "omitzero":
				f.omitZero = true
			case "string":
				return false
			}
		}
		*out = append(*out, f)
	}
	return true
}

// dominant picks the field that wins a name, if one does.
func dominant(fs []field) (field, bool) {
	least := fs[0].depth
	for _, f := range fs {
		least = min(least, f.depth)
	}
	var top []field
	for _, f := range fs {
		if f.depth == least {
			top = append(top, f)
		}
	}
	if len(top) == 1 {
		return top[0], true
	}
	var tagged []field
	for _, f := range top {
		if f.tagged {
			tagged = append(tagged, f)
		}
	}
	if len(tagged) == 1 {
		return tagged[0], true
	}
	return field{}, false
}
