package sluice

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Interval is a confidence interval around a released value.
type Interval struct {
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// Value is one released cell: a group key (Key) or a noisy aggregate (Number
// with its 95 % confidence interval).
type Value struct {
	Key    any       `json:"key,omitempty"`
	Number *float64  `json:"value,omitempty"`
	CI     *Interval `json:"ci95,omitempty"`
}

// Suppression records why groups were withheld. For keys from a public
// domain the key is named; for keys derived from the data it is not, and
// neither is their number (that number would itself leak).
type Suppression struct {
	Rule   string  `json:"rule"` // e.g. release.min_units, release.partition_selection
	Reason string  `json:"reason"`
	Keys   [][]any `json:"keys,omitempty"`
	Count  int     `json:"count,omitempty"`
}

// Charge is the part of a query's budget one mechanism used.
type Charge struct {
	What      string  `json:"what"`      // "units (selection + threshold)", "sum(tax_paid)", …
	Mechanism string  `json:"mechanism"` // laplace, gaussian
	Epsilon   float64 `json:"epsilon"`
	Delta     float64 `json:"delta"`
	L0        int64   `json:"l0"`
	Linf      float64 `json:"linf"` // L∞ sensitivity in the value's own units
}

// ReleaseColumn describes one column of a release.
type ReleaseColumn struct {
	Name string  `json:"name"`
	Kind string  `json:"kind"` // group, aggregate
	Func AggFunc `json:"func,omitempty"`
}

// Release is what leaves Sluice: noisy values, suppressed groups, and the
// budget the release cost.
type Release struct {
	Columns    []ReleaseColumn `json:"columns"`
	Rows       [][]Value       `json:"rows"`
	Suppressed []Suppression   `json:"suppressed,omitempty"`
	Epsilon    float64         `json:"epsilon"`
	Delta      float64         `json:"delta"`
	Charges    []Charge        `json:"charges"`
	Notes      []string        `json:"notes,omitempty"`
	// Cached is set when the release is a stored answer to the same
	// canonical query: it cost nothing now.
	Cached bool `json:"cached,omitempty"`
}

// KeyText renders a released group key as text, which is also how a key
// is matched against a declared domain: dates as YYYY-MM-DD, times in
// RFC 3339, numbers in plain decimals (1000000, not 1e+06, below 10^21),
// bytes as their text, NULL as the empty string.
func KeyText(k any) string {
	switch v := k.(type) {
	case nil:
		return ""
	case time.Time:
		if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
			return v.Format("2006-01-02")
		}
		return v.Format(time.RFC3339Nano)
	case float64:
		return floatText(v, 64)
	case float32:
		return floatText(float64(v), 32)
	case []byte:
		return string(v)
	}
	return fmt.Sprint(k)
}

// floatText writes a float in plain decimals, as JSON does, below 10^21.
func floatText(f float64, bits int) string {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.FormatFloat(f, 'g', -1, bits)
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}

// WriteCSV writes the release as CSV: one column per key, three per
// aggregate (the value and its 95 % interval).
func (r *Release) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	var head []string
	for _, c := range r.Columns {
		head = append(head, c.Name)
		if c.Kind == "aggregate" {
			head = append(head, c.Name+"_ci95_lower", c.Name+"_ci95_upper")
		}
	}
	cw.Write(head)
	num := func(f *float64) string {
		if f == nil {
			return ""
		}
		return strconv.FormatFloat(*f, 'g', -1, 64)
	}
	for _, row := range r.Rows {
		var rec []string
		for i, v := range row {
			if r.Columns[i].Kind != "aggregate" {
				rec = append(rec, KeyText(v.Key))
				continue
			}
			lo, hi := "", ""
			if v.CI != nil {
				lo, hi = num(&v.CI.Lower), num(&v.CI.Upper)
			}
			rec = append(rec, num(v.Number), lo, hi)
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}
