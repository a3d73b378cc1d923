package sluice

import (
	"cmp"
	"encoding/json"
	"math"
	"math/big"
)

// Decimal is a DECIMAL value that float64 cannot keep apart from its
// neighbours, as its exact text ("12345678901234567.89"). Group keys of
// such values stay distinct and ordered; JSON writes them as numbers.
type Decimal string

// MarshalJSON writes the decimal as a JSON number (a string if its text is
// not one).
func (d Decimal) MarshalJSON() ([]byte, error) {
	if len(d) > 0 && (d[0] == '-' || (d[0] >= '0' && d[0] <= '9')) && json.Valid([]byte(d)) {
		return []byte(d), nil
	}
	return json.Marshal(string(d))
}

// numericPrec is the big.Float precision numbers are compared at: exact for
// every float64 and int64, and far finer than the 38 digits of the widest
// DECIMAL, so distinct values never compare equal.
const numericPrec = 256

// CompareNumbers orders two numbers of the kinds a result carries (int64,
// float64, *big.Int, Decimal; NaN first) exactly. ok is false when either
// is not one of them.
func CompareNumbers(a, b any) (c int, ok bool) {
	if x, isInt := a.(int64); isInt {
		if y, isInt := b.(int64); isInt {
			return cmp.Compare(x, y), true
		}
	}
	x, okx := bigOf(a)
	y, oky := bigOf(b)
	if !okx || !oky {
		return 0, false
	}
	switch {
	case x == nil || y == nil: // NaN
		return cmp.Compare(btoi(x != nil), btoi(y != nil)), true
	}
	return x.Cmp(y), true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// bigOf converts a number to a big.Float; nil for NaN.
func bigOf(v any) (*big.Float, bool) {
	f := new(big.Float).SetPrec(numericPrec)
	switch x := v.(type) {
	case int64:
		return f.SetInt64(x), true
	case float64:
		if math.IsNaN(x) {
			return nil, true
		}
		return f.SetFloat64(x), true
	case *big.Int:
		return f.SetInt(x), true
	case Decimal:
		if _, ok := f.SetString(string(x)); ok {
			return f, true
		}
	}
	return nil, false
}
