package policy

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sluice"
)

// now is the fixed clock of the tests: within the fixture authorization's
// validity period.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return now }

func f64(x float64) *float64 { return &x }

// catalog is a small catalog: two conditional datasets keyed by firm, an
// open one, a closed one and a level-4 one keyed by person.
func catalog() map[string]*sluice.Dataset {
	return map[string]*sluice.Dataset{
		"enterprise": {ID: "enterprise", Title: "Registered enterprises", Owner: "market-regulation", Level: 2, Open: sluice.Conditional, Unit: "credit_code", Population: "enterprise",
			Columns: []sluice.Column{
				{Name: "credit_code", Type: "VARCHAR", Role: sluice.RoleUnit},
				{Name: "name", Type: "VARCHAR", Role: sluice.RoleIdentifier},
				{Name: "district", Type: "VARCHAR", Role: sluice.RoleDimension, Domain: []string{"Huangpu", "Xuhui", "Pudong"}},
				{Name: "industry", Type: "VARCHAR", Role: sluice.RoleDimension},
				{Name: "registered_capital", Type: "DOUBLE", Role: sluice.RoleMeasure, Lower: f64(0), Upper: f64(1e8)},
				{Name: "founded", Type: "DATE", Role: sluice.RoleAttribute},
			}},
		"tax_monthly": {ID: "tax_monthly", Title: "Monthly tax paid", Owner: "tax", Level: 3, Open: sluice.Conditional, Unit: "credit_code", Population: "enterprise",
			Columns: []sluice.Column{
				{Name: "credit_code", Type: "VARCHAR", Role: sluice.RoleUnit},
				{Name: "month", Type: "DATE", Role: sluice.RoleDimension},
				{Name: "tax_paid", Type: "DOUBLE", Role: sluice.RoleMeasure, Lower: f64(0), Upper: f64(5e6)},
			}},
		"bus_stops": {ID: "bus_stops", Title: "Bus stops", Owner: "transport", Level: 1, Open: sluice.Open, Unit: "stop_id",
			Columns: []sluice.Column{
				{Name: "stop_id", Type: "VARCHAR", Role: sluice.RoleUnit},
				{Name: "district", Type: "VARCHAR", Role: sluice.RoleDimension},
			}},
		"court_cases": {ID: "court_cases", Title: "Court cases", Owner: "court", Level: 3, Open: sluice.Closed, Unit: "case_id",
			Columns: []sluice.Column{{Name: "case_id", Type: "VARCHAR", Role: sluice.RoleUnit}}},
		"clinic_visits": {ID: "clinic_visits", Title: "Clinic visits", Owner: "health", Level: 4, Open: sluice.Conditional, Unit: "person_id", Population: "person",
			Columns: []sluice.Column{
				{Name: "person_id", Type: "VARCHAR", Role: sluice.RoleUnit},
				{Name: "diagnosis", Type: "VARCHAR", Role: sluice.RoleDimension},
			}},
	}
}

// analyst is alice of bank-a.
func analyst() sluice.Principal {
	return sluice.Principal{Subject: "alice", Organisation: "bank-a", Roles: []string{sluice.RoleAnalyst}}
}

// authorization is bank-a's active authorization for SME credit scoring.
func authorization() *sluice.Authorization {
	return &sluice.Authorization{
		ID: "authz-1", Application: "app-1", Organisation: "bank-a", Principals: []string{"alice"},
		State: sluice.AuthActive, ApprovedBy: "rita", ApprovedAt: time.Date(2024, 12, 20, 0, 0, 0, 0, time.UTC),
		Terms: sluice.Terms{
			Purpose: "inclusive-finance-sme-credit",
			Grants: []sluice.Grant{
				{Dataset: "enterprise", Columns: []string{"district", "industry", "registered_capital"}},
				{Dataset: "tax_monthly", Columns: []string{"month", "tax_paid"}},
				{Dataset: "clinic_visits", Columns: []string{"diagnosis"}},
			},
			ValidFrom:  time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			ValidUntil: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Budget:     sluice.Budget{Epsilon: 10, Delta: 1e-5, EpsilonPerQuery: 1, DeltaPerQuery: 1e-6},
			MinUnits:   20,
			Aggregates: []sluice.AggFunc{sluice.AggCount, sluice.AggCountUnits, sluice.AggSum, sluice.AggAvg},
			L0:         2,
		},
	}
}

// taxPlan is SELECT district, count(DISTINCT credit_code), sum(tax_paid)
// FROM tax_monthly JOIN enterprise USING (credit_code) GROUP BY district.
func taxPlan() *sluice.Plan {
	return &sluice.Plan{
		SQL:        "SELECT district, count(DISTINCT credit_code) AS firms, sum(tax_paid) AS total FROM tax_monthly JOIN enterprise USING (credit_code) GROUP BY district",
		Datasets:   []string{"enterprise", "tax_monthly"},
		Population: "enterprise",
		Columns: []sluice.ColumnUse{
			{Dataset: "enterprise", Column: "credit_code", Role: sluice.RoleUnit, Usage: "join"},
			{Dataset: "tax_monthly", Column: "credit_code", Role: sluice.RoleUnit, Usage: "join"},
			{Dataset: "enterprise", Column: "district", Role: sluice.RoleDimension, Usage: "group"},
			{Dataset: "tax_monthly", Column: "tax_paid", Role: sluice.RoleMeasure, Usage: "aggregate"},
		},
		Groups: []sluice.GroupKey{{Name: "district", SQL: "district", Domain: []string{"Huangpu", "Xuhui", "Pudong"}}},
		Aggregates: []sluice.Aggregate{
			{Name: "firms", Func: sluice.AggCountUnits, SQL: "count(DISTINCT credit_code)", Arg: "credit_code", Original: "count"},
			{Name: "total", Func: sluice.AggSum, SQL: "sum(tax_paid)", Arg: "tax_paid", Lower: 0, Upper: 5e6, Original: "sum"},
		},
		Outputs:      []sluice.Output{{Name: "district", Group: 0, Agg: -1}, {Name: "firms", Group: -1, Agg: 0}, {Name: "total", Group: -1, Agg: 1}},
		PublicGroups: true,
	}
}

// busPlan is SELECT district, count(*) FROM bus_stops GROUP BY district.
func busPlan() *sluice.Plan {
	return &sluice.Plan{
		SQL:      "SELECT district, count(*) AS n FROM bus_stops GROUP BY district",
		Datasets: []string{"bus_stops"},
		Columns:  []sluice.ColumnUse{{Dataset: "bus_stops", Column: "district", Role: sluice.RoleDimension, Usage: "group"}},
		Groups:   []sluice.GroupKey{{Name: "district", SQL: "district"}},
		Aggregates: []sluice.Aggregate{
			{Name: "n", Func: sluice.AggCount, SQL: "count_star()", Original: "count"},
		},
		Outputs: []sluice.Output{{Name: "district", Group: 0, Agg: -1}, {Name: "n", Group: -1, Agg: 0}},
	}
}

// query is alice's tax query under authz-1.
func query() Input {
	return Input{Principal: analyst(), Authorization: authorization(), Datasets: catalog(), Plan: taxPlan()}
}

func newEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	e, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// copyBundle copies the embedded bundle's policies and data into a new
// temporary directory and returns it.
func copyBundle(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(bundleFS, "bundle", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := bundleFS.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeFile replaces dir/name atomically (write, then rename), so that a
// concurrent reader sees the old or the new content, never half of it.
func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
