package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"sluice"
)

// The command-line path end to end: generate data, explain, query in
// every format, and a refusal.
func TestCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("generates data")
	}
	ctx := context.Background()
	dir := t.TempDir()
	var out, errw bytes.Buffer
	if err := run(ctx, []string{"gen", "-data", dir, "-scale", "0.05"}, &out, &errw); err != nil {
		t.Fatalf("gen: %v %s", err, errw.String())
	}
	sql := "SELECT filing_status, count(*) AS n FROM tax_monthly GROUP BY filing_status"
	out.Reset()
	if err := run(ctx, []string{"explain", "--data", dir, sql}, &out, &errw); err != nil || !strings.Contains(out.String(), "bounded SQL") {
		t.Fatalf("explain: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"query", "--data", dir, "--epsilon", "0.5", "--format", "json", sql}, &out, &errw); err != nil {
		t.Fatal(err)
	}
	var res struct{ Release sluice.Release }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Release.Epsilon != 0.5 || len(res.Release.Columns) != 2 {
		t.Fatalf("json: %v %+v", err, res.Release)
	}
	out.Reset()
	if err := run(ctx, []string{"query", "--data", dir, "--format", "csv", sql}, &out, &errw); err != nil || !strings.HasPrefix(out.String(), "filing_status,n,n_ci95_lower,n_ci95_upper\n") {
		t.Fatalf("csv: %v %q", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"query", "--data", dir, sql}, &out, &errw); err != nil || !strings.Contains(out.String(), "spent: ε = 1") {
		t.Fatalf("table: %v %s", err, out.String())
	}
	err := run(ctx, []string{"query", "--data", dir, "SELECT credit_code FROM tax_monthly"}, &out, &errw)
	var se *sluice.Error
	if !errors.As(err, &se) || se.Rule != "sql.row_output" {
		t.Errorf("refusal: %v", err)
	}
	if err := run(ctx, []string{"query", "--data", dir, "--format", "xml", sql}, &out, &errw); err == nil {
		t.Error("--format xml accepted")
	}
}

// Whole numbers (noisy counts) print without decimals; others keep two
// significant decimals, or three significant digits below one.
func TestFormatNumber(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{292, "292"}, {-3, "-3"}, {0, "0"}, {12874.4, "12874"}, {2.5, "2.50"}, {0.123456, "0.123"}, {1e16, "10000000000000000"},
	} {
		if got := formatNumber(tc.v, 'f'); got != tc.want {
			t.Errorf("formatNumber(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if got := intervalText(292, sluice.Interval{Lower: 221, Upper: 363}); got != "± 71" {
		t.Errorf("interval %q, want ± 71", got)
	}
}
