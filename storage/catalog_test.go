package storage

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sluice"
)

// baseManifest is a valid manifest the table test breaks one way at a time.
const baseManifest = `id: tax_monthly
title: Monthly tax payments
owner: shanghai-tax-bureau
level: 3
open: conditional
update_frequency: monthly
location: tax_monthly.parquet
version: "1"
unit: credit_code
population: enterprise
columns:
  - name: credit_code
    type: VARCHAR
    role: unit
  - name: month
    type: DATE
    role: dimension
  - name: filing_status
    type: VARCHAR
    role: dimension
    domain: [on_time, late, missing]
  - name: tax_paid
    type: DECIMAL(18,2)
    role: measure
    lower: 0
    upper: 5000000
    scale: 2
  - name: opened
    type: DATE
    role: attribute
`

func writeManifest(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// replace returns baseManifest with old replaced by new, failing when old is
// not in it (so a typo in a test case cannot make it pass vacuously).
func replace(t *testing.T, pairs ...string) string {
	t.Helper()
	s := baseManifest
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("test case: %q is not in the base manifest", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestLoadManifestGood(t *testing.T) {
	dir := t.TempDir()
	p := writeManifest(t, dir, "tax_monthly.yaml", strings.Replace(baseManifest, "DECIMAL(18,2)", "decimal(18, 2)", 1))
	d, err := LoadManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "tax_monthly.parquet"); d.Location != want {
		t.Errorf("location = %q, want %q", d.Location, want)
	}
	if got := d.Column("tax_paid"); got == nil || got.Type != "DECIMAL(18,2)" || *got.Upper != 5e6 || got.Scale != 2 {
		t.Errorf("tax_paid = %+v", got)
	}
	if err := ValidateDataset(d); err != nil {
		t.Errorf("ValidateDataset of a loaded manifest: %v", err)
	}

	s3 := writeManifest(t, dir, "s3.yaml", strings.Replace(baseManifest, "location: tax_monthly.parquet", "location: s3://bucket/tax/monthly.parquet", 1))
	d, err = LoadManifest(s3)
	if err != nil {
		t.Fatal(err)
	}
	if d.Location != "s3://bucket/tax/monthly.parquet" {
		t.Errorf("s3 location = %q", d.Location)
	}
}

func TestLoadManifestBad(t *testing.T) {
	cases := []struct {
		name string
		text string
		want []string // fragments, each expected in some error
	}{
		{"misspelt field", replace(t, "title:", "titel:"), []string{`line 2: unknown field "titel"`}},
		{"misspelt column field", replace(t, "    role: unit", "    rol: unit"), []string{`unknown field "rol"`}},
		{"bad id", replace(t, "id: tax_monthly", "id: Tax-Monthly"), []string{`id: "Tax-Monthly" must match`}},
		{"id too long", replace(t, "id: tax_monthly", "id: t"+strings.Repeat("x", 63)), []string{"id: ", "must match ^[a-z][a-z0-9_]{0,62}$"}},
		{"no title", replace(t, "title: Monthly tax payments", "title: ''"), []string{"title: must not be empty"}},
		{"no owner", replace(t, "owner: shanghai-tax-bureau\n", ""), []string{"owner: must not be empty"}},
		{"level 5", replace(t, "level: 3", "level: 5"), []string{"level: 5 must be between 1 and 4"}},
		{"level 0", replace(t, "level: 3", "level: 0"), []string{"level: 0 must be between 1 and 4"}},
		{"level not a number", replace(t, "level: 3", "level: high"), []string{"line 4: cannot unmarshal !!str `high` into int"}},
		{"open attribute", replace(t, "open: conditional", "open: semi"), []string{`open: "semi" must be one of open, conditional, closed`}},
		{"update frequency", replace(t, "update_frequency: monthly", "update_frequency: hourly"), []string{`update_frequency: "hourly" must be one of daily, weekly`}},
		{"no location", replace(t, "location: tax_monthly.parquet\n", ""), []string{"location: must not be empty"}},
		{"no population", replace(t, "population: enterprise", "population: ' '"), []string{"population: must not be empty"}},
		{"unit missing column", replace(t, "unit: credit_code", "unit: firm"), []string{`unit: column "firm" does not exist`}},
		{"unit not a unit", replace(t, "unit: credit_code", "unit: month"), []string{`unit: column "month" has role dimension, not unit`}},
		{"no unit field", replace(t, "unit: credit_code\n", ""), []string{"unit: must name the unit column"}},
		{"two unit columns", replace(t, "    type: DATE\n    role: dimension\n", "    type: DATE\n    role: unit\n"),
			[]string{"columns: exactly one column must have role unit, found 2 (credit_code, month)"}},
		{"no unit column", replace(t, "    role: unit", "    role: identifier"),
			[]string{"columns: exactly one column must have role unit, found 0", `unit: column "credit_code" has role identifier, not unit`}},
		{"duplicate column", replace(t, "name: opened", "name: month"), []string{`columns[4] (month): name "month" is already used by columns[1]`}},
		{"bad column name", replace(t, "name: opened", "name: Opened"), []string{`columns[4] (Opened): name "Opened" must match ^[a-z][a-z0-9_]*$`}},
		{"empty column name", replace(t, "name: opened", "name: ''"), []string{"columns[4]: name must not be empty"}},
		{"bad role", replace(t, "role: attribute", "role: metric"), []string{`columns[4] (opened): role "metric" must be one of`}},
		{"bad type", replace(t, "    type: DATE\n    role: attribute", "    type: TEXT\n    role: attribute"),
			[]string{`columns[4] (opened): type "TEXT" must be one of VARCHAR, BIGINT`}},
		{"decimal precision", replace(t, "DECIMAL(18,2)", "DECIMAL(40,2)"), []string{"columns[3] (tax_paid): type DECIMAL(40,2): precision 40 must be between 1 and 38"}},
		{"decimal scale", replace(t, "DECIMAL(18,2)", "DECIMAL(4,6)"), []string{"columns[3] (tax_paid): type DECIMAL(4,6): scale 6 must not exceed precision 4"}},
		{"measure not numeric", replace(t, "DECIMAL(18,2)", "VARCHAR"), []string{"columns[3] (tax_paid): type: a measure must be numeric"}},
		{"lower above upper", replace(t, "lower: 0", "lower: 5", "upper: 5000000", "upper: 1"),
			[]string{"tax_monthly.yaml: columns[3] (tax_paid): lower (5) must be below upper (1)"}},
		{"lower equals upper", replace(t, "lower: 0", "lower: 7", "upper: 5000000", "upper: 7"), []string{"columns[3] (tax_paid): lower (7) must be below upper (7)"}},
		{"no lower", replace(t, "    lower: 0\n", ""), []string{"columns[3] (tax_paid): lower: a measure must declare its lower bound"}},
		{"no upper", replace(t, "    upper: 5000000\n", ""), []string{"columns[3] (tax_paid): upper: a measure must declare its upper bound"}},
		{"infinite upper", replace(t, "upper: 5000000", "upper: .inf"), []string{"columns[3] (tax_paid): upper (+Inf) must be a finite number"}},
		{"NaN lower", replace(t, "lower: 0", "lower: .nan"), []string{"columns[3] (tax_paid): lower (NaN) must be a finite number"}},
		{"scale too large", replace(t, "scale: 2", "scale: 7"), []string{"columns[3] (tax_paid): scale (7) must be between 0 and 6"}},
		{"negative scale", replace(t, "scale: 2", "scale: -1"), []string{"columns[3] (tax_paid): scale (-1) must be between 0 and 6"}},
		{"bound too large", replace(t, "upper: 5000000", "upper: 1e11"), []string{"columns[3] (tax_paid): upper (100000000000) is too large for scale 2"}},
		{"lower too large", replace(t, "lower: 0", "lower: -2e10"), []string{"columns[3] (tax_paid): lower (-20000000000) is too large for scale 2"}},
		{"domain on a measure", replace(t, "    scale: 2\n", "    scale: 2\n    domain: ['1']\n"),
			[]string{"columns[3] (tax_paid): domain: only dimensions may declare a domain, this column is a measure"}},
		{"duplicate domain value", replace(t, "[on_time, late, missing]", "[on_time, late, on_time]"),
			[]string{`columns[2] (filing_status): domain[2]: "on_time" is already listed as domain[0]`}},
		{"empty domain value", replace(t, "[on_time, late, missing]", "[on_time, '']"), []string{"columns[2] (filing_status): domain[1]: must not be empty"}},
		{"bounds on a dimension", replace(t, "    domain: [on_time, late, missing]\n", "    lower: 0\n    upper: 1\n"),
			[]string{"columns[2] (filing_status): lower: only measures may declare bounds, this column is a dimension",
				"columns[2] (filing_status): upper: only measures may declare bounds"}},
		{"scale on an attribute", replace(t, "    role: attribute\n", "    role: attribute\n    scale: 2\n"),
			[]string{"columns[4] (opened): scale: only measures may declare a scale, this column is a attribute"}},
		{"no columns", strings.SplitAfter(baseManifest, "population: enterprise\n")[0] + "columns: []\n",
			[]string{"columns: must declare at least one column", `unit: column "credit_code" does not exist`}},
		{"key without the unit", replace(t, "population: enterprise\n", "population: enterprise\nkey: [month]\n"), []string{`key: must include the unit column "credit_code"`}},
		{"key of a missing column", replace(t, "population: enterprise\n", "population: enterprise\nkey: [credit_code, day]\n"), []string{`key[1]: column "day" does not exist`}},
		{"key listed twice", replace(t, "population: enterprise\n", "population: enterprise\nkey: [credit_code, month, month]\n"), []string{`key[2]: "month" is already listed as key[1]`}},
		{"empty file", "", []string{"the manifest is empty"}},
		{"two documents", baseManifest + "---\n" + baseManifest, []string{"exactly one YAML document"}},
		{"not yaml", "id: [unclosed\n", []string{"bad.yaml: "}},
		{"all errors at once", replace(t, "level: 3", "level: 9", "open: conditional", "open: maybe", "lower: 0", "lower: 9e6"),
			[]string{"level: 9 must be between 1 and 4", `open: "maybe"`, "lower (9000000) must be below upper (5000000)"}},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeManifest(t, dir, "bad.yaml", tc.text)
			if tc.name == "lower above upper" {
				p = writeManifest(t, dir, "tax_monthly.yaml", tc.text)
			}
			_, err := LoadManifest(p)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if sluice.ErrorCode(err) != sluice.EINVALID {
				t.Errorf("code = %q, want invalid", sluice.ErrorCode(err))
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not contain %q", msg, w)
				}
			}
			// Every line of the joined error names the file.
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, filepath.Base(p)+": ") {
					t.Errorf("error line %q does not name the file", line)
				}
			}
		})
	}
}

func TestLoadManifestCollectsAllErrors(t *testing.T) {
	p := writeManifest(t, t.TempDir(), "x.yaml", replace(t, "level: 3", "level: 9", "open: conditional", "open: maybe", "lower: 0", "lower: 9e6"))
	_, err := LoadManifest(p)
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Fatalf("want 3 joined errors, got %v", err)
	}
}

func TestValidateDataset(t *testing.T) {
	lo, hi := 0.0, 10.0
	d := &sluice.Dataset{
		ID: "x", Title: "X", Owner: "o", Level: 1, Open: sluice.Open, UpdateFrequency: "daily",
		Location: "x.parquet", Unit: "id", Population: "person",
		Columns: []sluice.Column{
			{Name: "id", Type: "VARCHAR", Role: sluice.RoleUnit},
			{Name: "v", Type: "DOUBLE", Role: sluice.RoleMeasure, Lower: &lo, Upper: &hi},
		},
	}
	if err := ValidateDataset(d); err != nil {
		t.Fatal(err)
	}
	d.Columns[1].Type = "double"
	err := ValidateDataset(d)
	if err == nil || !strings.HasPrefix(err.Error(), `columns[1] (v): type "double" must be one of`) {
		t.Errorf("lower-case type: %v", err)
	}
	if ValidateDataset(nil) == nil {
		t.Error("nil dataset validated")
	}
}

func TestOpenCatalog(t *testing.T) {
	dir := t.TempDir()
	writeManifest(t, dir, "b.yaml", baseManifest)
	writeManifest(t, dir, "a.yaml", replace(t, "id: tax_monthly", "id: alpha"))
	writeManifest(t, dir, "notes.txt", "not a manifest")
	c, err := OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range c.List() {
		ids = append(ids, d.ID)
	}
	if !slices.Equal(ids, []string{"alpha", "tax_monthly"}) {
		t.Errorf("List ids = %v", ids)
	}
	d, err := c.Get("tax_monthly")
	if err != nil {
		t.Fatal(err)
	}
	// Get returns a copy: changing it leaves the catalog alone.
	*d.Columns[3].Upper = 1
	d.Columns[2].Domain[0] = "x"
	d2, _ := c.Get("tax_monthly")
	if *d2.Columns[3].Upper != 5e6 || d2.Columns[2].Domain[0] != "on_time" {
		t.Error("Get returned the catalog's own dataset")
	}

	_, err = c.Get("nope")
	var se *sluice.Error
	if !errors.As(err, &se) || se.Code != sluice.ENOTFOUND || !strings.Contains(se.Message, `"nope"`) {
		t.Errorf("Get(nope) = %v", err)
	}

	// A duplicate id names both files; an invalid manifest is reported too.
	writeManifest(t, dir, "c.yaml", baseManifest)
	writeManifest(t, dir, "d.yaml", replace(t, "level: 3", "level: 7"))
	_, err = OpenCatalog(dir)
	if err == nil {
		t.Fatal("duplicate id accepted")
	}
	for _, w := range []string{`c.yaml: id: dataset "tax_monthly" is already declared by b.yaml`, "d.yaml: level: 7 must be between 1 and 4"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}

	if _, err := OpenCatalog(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory opened")
	}
}

func TestExampleCatalog(t *testing.T) {
	c, err := OpenCatalog("../examples/catalog")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"clinic_visits", "court_records", "enterprise", "housing_fund", "mortgages",
		"sealed_investigations", "social_insurance", "tax_monthly", "utilities"}
	var ids []string
	for _, d := range c.List() {
		ids = append(ids, d.ID)
		if !filepath.IsAbs(d.Location) || filepath.Base(d.Location) != d.ID+".parquet" {
			t.Errorf("%s: location %q", d.ID, d.Location)
		}
		if d.Population == "enterprise" && d.Unit != "credit_code" {
			t.Errorf("%s: unit %q", d.ID, d.Unit)
		}
	}
	if !slices.Equal(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
	ent, _ := c.Get("enterprise")
	if dom := ent.Column("industry").Domain; len(dom) != 20 || dom[0] != "A" || dom[13] != "N" || dom[14] != "O" || dom[19] != "T" {
		t.Errorf("industry domain = %q", dom)
	}
	if dom := ent.Column("district").Domain; len(dom) != 16 {
		t.Errorf("district domain = %q", dom)
	}
	clinic, _ := c.Get("clinic_visits")
	if dom := clinic.Column("age_band").Domain; !slices.Equal(dom, []string{"0-17", "18-34", "35-49", "50-64", "65-79", "80+"}) {
		t.Errorf("age_band domain = %q", dom)
	}
}

// Datasets of one population must key their units with one type: joined on
// their units, DuckDB would cast ('01' and ' 1' both equal 1).
func TestOpenCatalogRefusesMixedUnitTypes(t *testing.T) {
	dir := t.TempDir()
	writeManifest(t, dir, "a.yaml", baseManifest)
	other := replace(t, "id: tax_monthly", "id: numbered")
	other = strings.Replace(other, "type: VARCHAR", "type: BIGINT", 1)
	writeManifest(t, dir, "b.yaml", other)
	_, err := OpenCatalog(dir)
	want := "a.yaml: unit: column credit_code of tax_monthly is VARCHAR, but numbered (population enterprise) keys the same units as BIGINT"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("mixed unit types: %v, want %q", err, want)
	}
}
