package policy

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"sluice"
)

// viaOPA converts x the way rego.EvalInput does.
func viaOPA(t *testing.T, x any) ast.Value {
	t.Helper()
	var m any = x
	if err := util.RoundTrip(&m); err != nil {
		t.Fatal(err)
	}
	v, err := ast.InterfaceToValue(m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// floats exercise encoding/json's number formats.
var floats = []float64{0.5, 1e-7, 3e21, 1234567.25, 1e-6, -2.5e-9, 1e20, 0.1}

// fill sets every field reachable from v to a non-zero value, so that a
// field added to the root vocabulary is converted too.
func fill(v reflect.Value, depth int, seq *int) {
	*seq++
	n := *seq
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 3 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1, seq)
	case reflect.Struct:
		if v.Type() == timeType {
			loc := time.FixedZone("CST", 8*3600)
			v.Set(reflect.ValueOf(time.Date(2025, 3, n%28+1, 9, 30, 0, n*1000, loc)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth, seq)
			}
		}
	case reflect.Slice:
		if depth > 3 {
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), depth+1, seq)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, depth+1, seq)
			fill(e, depth+1, seq)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.String:
		v.SetString("s" + string(rune('a'+n%26)) + "-ε")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(floats[n%len(floats)])
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Interface:
		vals := []any{"x", 2.5, true, []any{"a", 1e-7}, map[string]any{"k": nil}}
		v.Set(reflect.ValueOf(vals[n%len(vals)]))
	}
}

func TestASTValueMatchesJSON(t *testing.T) {
	full := Input{}
	seq := 0
	fill(reflect.ValueOf(&full).Elem(), 0, &seq)
	if full.Plan == nil || full.Plan.Having == nil || full.Authorization == nil || len(full.Datasets) == 0 {
		t.Fatal("fill left parts of the input empty")
	}
	stored := storedAuthorization{full.Authorization, 1, 2}

	for name, x := range map[string]any{
		"zero input":           newEvalInput(&Input{}),
		"fixture":              newEvalInput(&Input{Principal: analyst(), Authorization: authorization(), Datasets: catalog(), Plan: taxPlan(), Time: now}),
		"every field":          newEvalInput(&full),
		"stored authorization": stored,
		"empty slices":         &sluice.Plan{Datasets: []string{}, Columns: []sluice.ColumnUse{}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := astValue(x)
			if err != nil {
				t.Fatal(err)
			}
			// Compare, and the text too: numbers must be written alike, as
			// messages print them.
			if want := viaOPA(t, x); ast.Compare(got, want) != 0 || canonical(got) != canonical(want) {
				t.Fatalf("astValue differs from the JSON round trip:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestASTValueRefusesNaN(t *testing.T) {
	d := catalog()["tax_monthly"]
	nan := 0.0
	nan /= nan
	d.Columns[2].Upper = &nan
	if _, err := astValue(d); err == nil {
		t.Fatal("a NaN bound was converted")
	}
}

// canonical is v's text with object keys sorted.
func canonical(v ast.Value) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var x any
	if err := util.UnmarshalJSON(b, &x); err != nil {
		panic(err)
	}
	b, _ = json.Marshal(x) // maps marshal with sorted keys; json.Number keeps its text
	return string(b)
}
