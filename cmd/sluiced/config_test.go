package main

import (
	"os"
	"testing"
	"time"
)

// The example configuration parses with every field known, and the
// environment overrides it.
func TestExampleConfig(t *testing.T) {
	var m Main
	env := map[string]string{"SLUICE_LISTEN": "127.0.0.1:9999", "SLUICE_SANDBOX_THREADS": "1"}
	if err := m.ParseFlags([]string{"-config", "../../examples/sluiced.yaml"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Listen != "127.0.0.1:9999" || c.Sandbox.Threads != 1 || c.Sandbox.Timeout != time.Minute || c.VersionRetention != 5 {
		t.Errorf("config %+v", c)
	}
	if p := c.Budgets.Populations["enterprise"]; p.Epsilon != 200 || p.Accounting != "zcdp" {
		t.Errorf("population cap %+v", p)
	}
	if len(c.Holidays) != 5 || c.Auth.JWKSURL == "" {
		t.Errorf("holidays %v, jwks %q", c.Holidays, c.Auth.JWKSURL)
	}
	// A misspelt field is refused.
	bad := t.TempDir() + "/bad.yaml"
	if err := writeFile(bad, "listn: x\n"); err != nil {
		t.Fatal(err)
	}
	if err := m.ParseFlags([]string{"-config", bad}, func(string) string { return "" }); err == nil {
		t.Error("misspelt field accepted")
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
