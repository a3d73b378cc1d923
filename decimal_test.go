package sluice

import (
	"encoding/json"
	"math"
	"math/big"
	"testing"
)

// Numbers of every kind a result carries order exactly, including
// decimals and integers that float64 would merge.
func TestCompareNumbers(t *testing.T) {
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	ordered := []any{math.NaN(), Decimal("-1e3"), int64(-3), -2.5, int64(0), Decimal("0.1"), 0.25,
		int64(9007199254740993), Decimal("9007199254740993.5"), 1e16, Decimal("12345678901234567.89"),
		Decimal("12345678901234567.90"), huge}
	for i, a := range ordered {
		for j, b := range ordered {
			c, ok := CompareNumbers(a, b)
			want := cmpInt(i, j)
			if !ok || c != want {
				t.Errorf("CompareNumbers(%v, %v) = %d, %v; want %d", a, b, c, ok, want)
			}
		}
	}
	if _, ok := CompareNumbers("1", int64(1)); ok {
		t.Error("a string compared as a number")
	}
}

func cmpInt(i, j int) int {
	switch {
	case i < j:
		return -1
	case i > j:
		return 1
	}
	return 0
}

func TestDecimalJSON(t *testing.T) {
	b, err := json.Marshal([]any{Decimal("12345678901234567.89"), Decimal("-0.5"), Decimal("not a number")})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[12345678901234567.89,-0.5,"not a number"]` {
		t.Errorf("JSON %s", b)
	}
}
