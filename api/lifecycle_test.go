package api

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sluice"
	"sluice/service"
	"sluice/storage"
)

// An analyst reports a suspected error; the owner answers and resolves it;
// both see its state. Closing the dataset stops queries under every
// authorization at once; versions are kept.
func TestCorrectionsAndClosing(t *testing.T) {
	s := newStack(t)
	bank, authID := s.approved(t, sluice.Budget{Epsilon: 5, Delta: 1e-5, EpsilonPerQuery: 0.5, DeltaPerQuery: 1e-6})
	owner := s.token(t, "wang.fang", "shanghai-tax-bureau", sluice.RoleOwner)
	otherOwner := s.token(t, "zhao.lei", "shanghai-public-utilities", sluice.RoleOwner)

	var c sluice.Correction
	s.must(t, 201, s.do(t, "POST", "/v1/corrections", bank, map[string]string{"dataset": "tax_monthly", "column": "tax_paid", "description": "negative tax in 2024-03 for several firms"}, "")).decode(t, &c)
	if c.State != "open" || c.Version == "" {
		t.Fatalf("correction %+v", c)
	}
	// Only the dataset's owner answers.
	if e := s.must(t, 403, s.do(t, "POST", "/v1/corrections/"+c.ID+"/answer", otherOwner, map[string]string{"state": "resolved", "answer": "x"}, "")).errBody(t); e.Rule != "correction.owner" {
		t.Errorf("other owner: %+v", e)
	}
	s.must(t, 200, s.do(t, "POST", "/v1/corrections/"+c.ID+"/answer", owner, map[string]string{"state": "resolved", "answer": "refunds were recorded as negative payments; corrected in the next version"}, ""))
	for _, tok := range []string{bank, owner} {
		var list struct{ Corrections []sluice.Correction }
		s.must(t, 200, s.do(t, "GET", "/v1/corrections", tok, nil, "")).decode(t, &list)
		if len(list.Corrections) != 1 || list.Corrections[0].State != "resolved" || len(list.Corrections[0].History) != 2 {
			t.Errorf("corrections seen: %+v", list)
		}
	}
	var none struct{ Corrections []sluice.Correction }
	s.must(t, 200, s.do(t, "GET", "/v1/corrections", otherOwner, nil, "")).decode(t, &none)
	if len(none.Corrections) != 0 {
		t.Errorf("an unrelated owner sees %d corrections", len(none.Corrections))
	}

	run := service.Run{Authorization: authID, SQL: "SELECT count(*) FROM tax_monthly"}
	s.must(t, 200, s.do(t, "POST", "/v1/queries", bank, run, ""))
	s.must(t, 200, s.do(t, "POST", "/v1/datasets/tax_monthly/status", owner, map[string]string{"status": "closed", "reason": "legal review of the sharing agreement"}, ""))
	run.SQL = "SELECT count(*) FROM tax_monthly WHERE tax_paid > 0"
	if e := s.must(t, 403, s.do(t, "POST", "/v1/queries", bank, run, "")).errBody(t); e.Rule != "dataset.closed" {
		t.Errorf("query on a closed dataset: %+v", e)
	}
	var vs struct{ Versions []sluice.Dataset }
	s.must(t, 200, s.do(t, "GET", "/v1/datasets/tax_monthly/versions", owner, nil, "")).decode(t, &vs)
	if len(vs.Versions) != 1 {
		t.Errorf("versions: %d", len(vs.Versions))
	}
}

// importParquet imports body as version v of tax_monthly, an hour after
// the last step, and requires it to be published.
func (s *stack) importParquet(t *testing.T, owner, v string, body []byte) {
	t.Helper()
	s.clock.Add(time.Hour)
	req, _ := http.NewRequest("POST", s.url+"/v1/datasets/tax_monthly/versions?format=parquet&version="+v, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+owner)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("import %s: %d", v, resp.StatusCode)
	}
}

// newRetentionStack starts a stack that keeps two versions of a dataset,
// with the examples registered, and returns a data owner's token and the
// example tax_monthly file to import.
func newRetentionStack(t *testing.T) (s *stack, owner string, body []byte) {
	t.Helper()
	s = newStack(t, stackOptions{retention: 2})
	s.registerExamples(t)
	owner = s.token(t, "wang.fang", "shanghai-tax-bureau", sluice.RoleOwner)
	body, err := os.ReadFile(filepath.Join(s.data, "tax_monthly.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	return s, owner, body
}

// Imports publish new versions locally; retention keeps the newest two and
// removes the retired version's file.
func TestImportVersionsAndRetention(t *testing.T) {
	s, owner, body := newRetentionStack(t)
	for _, v := range []string{"2026.01", "2026.02", "2026.03"} {
		s.importParquet(t, owner, v, body)
	}
	var vs struct{ Versions []sluice.Dataset }
	s.must(t, 200, s.do(t, "GET", "/v1/datasets/tax_monthly/versions", owner, nil, "")).decode(t, &vs)
	if len(vs.Versions) != 2 || vs.Versions[1].Version != "2026.03" {
		t.Errorf("versions after retention: %+v", vs.Versions)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "tax_monthly", "2026.01.parquet")); !os.IsNotExist(err) {
		t.Errorf("retired version file still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "tax_monthly", "2026.03.parquet")); err != nil {
		t.Errorf("current version file: %v", err)
	}
}

// Retention never removes a file another kept version still points at: an
// owner re-registered an imported version's file under a new version name.
func TestRetentionKeepsFilesStillInUse(t *testing.T) {
	s, owner, body := newRetentionStack(t)
	importVersion := func(v string) { s.importParquet(t, owner, v, body) }
	importVersion("2026.01")
	d, err := storage.LoadManifest(filepath.Join(s.data, "tax_monthly.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d.Version, d.Location, d.Imported = "r1", filepath.Join("tax_monthly", "2026.01.parquet"), true
	s.clock.Add(time.Hour)
	s.must(t, 200, s.do(t, "PUT", "/v1/datasets/tax_monthly", owner, d, ""))
	importVersion("2026.02") // retires 2025.12 and 2026.01; r1 is kept
	var vs struct{ Versions []sluice.Dataset }
	s.must(t, 200, s.do(t, "GET", "/v1/datasets/tax_monthly/versions", owner, nil, "")).decode(t, &vs)
	if len(vs.Versions) != 2 || vs.Versions[0].Version != "r1" || vs.Versions[0].Imported {
		t.Fatalf("versions after retention: %+v", vs.Versions)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "tax_monthly", "2026.01.parquet")); err != nil {
		t.Errorf("the file r1 points at was removed: %v", err)
	}
	importVersion("2026.03") // retires r1, which was registered, not imported
	if _, err := os.Stat(filepath.Join(s.dir, "tax_monthly", "2026.01.parquet")); err != nil {
		t.Errorf("a registered version's file was removed: %v", err)
	}
}

// A dataset whose unit column's type differs from its population's other
// datasets is refused at registration, naming both.
func TestRegisterRefusesMixedUnitTypes(t *testing.T) {
	s := newStack(t)
	s.registerExamples(t)
	owner := s.token(t, "wang.fang", "shanghai-tax-bureau", sluice.RoleOwner)
	d, err := storage.LoadManifest(filepath.Join(s.data, "tax_monthly.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d.ID, d.Location = "tax_numbered", "tax_monthly.parquet"
	for i := range d.Columns {
		if d.Columns[i].Name == d.Unit {
			d.Columns[i].Type = "BIGINT"
		}
	}
	r := s.do(t, "PUT", "/v1/datasets/tax_numbered", owner, d, "")
	if r.status != 400 || !strings.Contains(string(r.body), "dataset.unit_type") || !strings.Contains(string(r.body), "BIGINT") {
		t.Errorf("mixed unit types: %d %.300s", r.status, r.body)
	}
}
