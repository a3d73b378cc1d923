package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-out", dir, "-scale", "0.01", "-months", "3", "-only", "enterprise, tax_monthly"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "200 firms, 500 people, 3 months, seed 1") || !strings.Contains(out.String(), "tax_monthly") {
		t.Errorf("output:\n%s", out.String())
	}
	for _, f := range []string{"enterprise.parquet", "enterprise.yaml", "tax_monthly.parquet", "tax_monthly.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestRunRejects(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-out", t.TempDir(), "extra"},
		{"-out", t.TempDir(), "-scale", "0"},
		{"-out", t.TempDir(), "-bench", "-months", "12"},
		{"-out", t.TempDir(), "-only", "nope"},
		{"-nosuchflag"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("run %q succeeded", args)
		}
	}
}
