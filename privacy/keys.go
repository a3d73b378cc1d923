package privacy

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"sluice"
)

// keyString renders a group key value for matching against a declared
// domain (whose values are strings), as sluice.KeyText shows it; NULL
// matches nothing.
func keyString(v any) (string, bool) {
	if v == nil {
		return "", false
	}
	return sluice.KeyText(v), true
}

// keyClass orders values of different kinds: NULL, booleans, numbers,
// strings, times, then anything else.
func keyClass(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, *big.Int, sluice.Decimal:
		return 2
	case string, []byte:
		return 3
	case time.Time:
		return 4
	}
	return 5
}

// asInt returns an integer key as int64 when it fits.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), true
		}
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// asFloat returns a numeric key as float64.
func asFloat(v any) float64 {
	if i, ok := asInt(v); ok {
		return float64(i)
	}
	switch x := v.(type) {
	case uint:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

// numeric returns a numeric key in a kind sluice.CompareNumbers takes.
func numeric(v any) any {
	switch x := v.(type) {
	case *big.Int, sluice.Decimal, float64:
		return x
	case float32:
		return float64(x)
	case uint64:
		return new(big.Int).SetUint64(x)
	case uint:
		return new(big.Int).SetUint64(uint64(x))
	}
	if i, ok := asInt(v); ok {
		return i
	}
	return v
}

// compareKey orders two key values deterministically.
func compareKey(a, b any) int {
	ca, cb := keyClass(a), keyClass(b)
	if ca != cb {
		return cmp.Compare(ca, cb)
	}
	switch ca {
	case 0:
		return 0
	case 1:
		x, y := a.(bool), b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case 2:
		x, okx := asInt(a)
		y, oky := asInt(b)
		if okx && oky {
			return cmp.Compare(x, y)
		}
		if c, ok := sluice.CompareNumbers(numeric(a), numeric(b)); ok {
			return c // exact for HUGEINT and wide DECIMAL keys
		}
		return cmp.Compare(asFloat(a), asFloat(b)) // NaN first
	case 3:
		x, _ := keyString(a)
		y, _ := keyString(b)
		return strings.Compare(x, y)
	case 4:
		return a.(time.Time).Compare(b.(time.Time))
	}
	return strings.Compare(EncodeKeys([]any{a}), EncodeKeys([]any{b}))
}

// EncodeKeys renders group keys as a string that is equal for two key
// tuples exactly when the values are: every value carries its type and,
// where it has parts (strings, lists, structs), their lengths, so no two
// distinct tuples share an encoding. The service matches a query's two
// result sets by it.
func EncodeKeys(keys []any) string {
	var b strings.Builder
	for _, k := range keys {
		encodeKey(&b, k)
	}
	return b.String()
}

func encodeKey(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("n;")
	case string:
		fmt.Fprintf(b, "s%d:%s;", len(x), x)
	case []byte:
		fmt.Fprintf(b, "y%d:%s;", len(x), x)
	case time.Time:
		fmt.Fprintf(b, "t%s;", x.UTC().Format(time.RFC3339Nano))
	case float64:
		fmt.Fprintf(b, "f%s;", strconv.FormatFloat(x, 'g', -1, 64))
	case []any:
		fmt.Fprintf(b, "l%d[", len(x))
		for _, e := range x {
			encodeKey(b, e)
		}
		b.WriteString("];")
	case map[string]any:
		names := make([]string, 0, len(x))
		for n := range x {
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Fprintf(b, "m%d{", len(x))
		for _, n := range names {
			fmt.Fprintf(b, "%d:%s=", len(n), n)
			encodeKey(b, x[n])
		}
		b.WriteString("};")
	default:
		s := fmt.Sprintf("%v", x)
		fmt.Fprintf(b, "%T%d:%s;", x, len(s), s)
	}
}

// compareKeys orders two groups' keys lexicographically.
func compareKeys(a, b []any) int {
	for i := range min(len(a), len(b)) {
		if c := compareKey(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// checkOutputs verifies that every output is one group key or one
// aggregate of the plan.
func checkOutputs(plan *sluice.Plan) error {
	for _, o := range plan.Outputs {
		if (o.Group < 0) == (o.Agg < 0) || o.Group >= len(plan.Groups) || o.Agg >= len(plan.Aggregates) {
			return internal("release.outputs", "output %q refers to neither one group key nor one aggregate", o.Name)
		}
	}
	return nil
}
