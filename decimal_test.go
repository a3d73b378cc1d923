package sluice

import (
	"encoding/json"
	"math"
	"math/big"
	"testing"
	"time"
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

// Keys render as plain text, which is also how they match declared domain
// values: no exponent for ordinary numbers, bytes as text, dates as dates.
func TestKeyText(t *testing.T) {
	for _, tc := range []struct {
		k    any
		want string
	}{
		{1e6, "1000000"}, {0.25, "0.25"}, {-3.0, "-3"}, {1e21, "1e+21"}, {1e-7, "1e-07"}, {float32(0.1), "0.1"},
		{int64(42), "42"}, {[]byte("Huangpu"), "Huangpu"}, {Decimal("12345678901234567.89"), "12345678901234567.89"},
		{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "2025-01-01"}, {nil, ""},
	} {
		if got := KeyText(tc.k); got != tc.want {
			t.Errorf("KeyText(%#v) = %q, want %q", tc.k, got, tc.want)
		}
	}
}
