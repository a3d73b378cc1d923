package policy

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestRegoBundle runs the embedded bundle's Rego tests.
func TestRegoBundle(t *testing.T) {
	var out bytes.Buffer
	err := Test(context.Background(), "", &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}

// TestRegoTestReportsFailure checks that Test names a failing Rego test and
// returns an error.
func TestRegoTestReportsFailure(t *testing.T) {
	dir := copyBundle(t)
	writeFile(t, dir, "extra_test.rego", `package sluice_test

import data.sluice

test_passes if sluice.decision.allow with input as query

test_fails if {
	d := sluice.decision with input as query
	not d.allow
}
`)
	var out bytes.Buffer
	err := Test(context.Background(), dir, &out)
	t.Log("\n" + out.String())
	if err == nil || !strings.Contains(err.Error(), "1 of") {
		t.Fatalf("err = %v, want one failure", err)
	}
	for _, want := range []string{"FAIL  data.sluice_test.test_fails", "extra_test.rego:7", "PASS  data.sluice_test.test_passes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not name %q", want)
		}
	}
}

func TestRegoTestRefusesBadModule(t *testing.T) {
	dir := copyBundle(t)
	writeFile(t, dir, "bad_test.rego", "package sluice_test\n\ntest_x if {\n")
	err := Test(context.Background(), dir, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "bad_test.rego:") || !strings.Contains(err.Error(), "rego_parse_error") {
		t.Fatalf("err = %v, want a located parse error", err)
	}
}
