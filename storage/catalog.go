// Package storage holds Sluice's catalog of datasets and the files behind
// them: YAML manifests describing each dataset, and the prepared DuckDB files
// the sandbox attaches.
package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"sluice"
)

var (
	idPattern      = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	columnPattern  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	decimalPattern = regexp.MustCompile(`^DECIMAL\((\d+),(\d+)\)$`)
	// yamlUnknownField matches yaml.v3's message for a field KnownFields rejects.
	yamlUnknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)
)

// UpdateFrequencies lists the update frequencies a manifest may declare.
var UpdateFrequencies = []string{"daily", "weekly", "monthly", "quarterly", "yearly", "irregular"}

// ColumnTypes lists the column types a manifest may declare, besides
// DECIMAL(p,s) with 1 ≤ p ≤ 38 and 0 ≤ s ≤ p.
var ColumnTypes = []string{"VARCHAR", "BIGINT", "INTEGER", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN"}

// MaxScale is the largest fixed-point scale a measure may declare.
const MaxScale = 6

// maxScaledBound is the largest |bound|·10^scale a measure may declare (2^40):
// it keeps per-unit fixed-point sums far inside int64.
const maxScaledBound = 1 << 40

// LoadManifest reads and validates one YAML dataset manifest. Its fields are
// the yaml tags of sluice.Dataset and sluice.Column; an unknown (for instance
// misspelt) field is an error. Column types are upper-cased and stripped of
// blanks, so "decimal(18, 2)" reads as DECIMAL(18,2). A relative location is
// resolved against the manifest's directory; s3:// locations are kept as they
// are.
//
// A manifest that does not validate yields every problem found, joined with
// errors.Join; each is a *sluice.Error (EINVALID) whose message names the
// file, the field and what is wrong, e.g.
// "tax_monthly.yaml: columns[3] (tax_paid): lower (5) must be below upper (1)".
func LoadManifest(path string) (*sluice.Dataset, error) {
	file := filepath.Base(path)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var d sluice.Dataset
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, invalid(file, "the manifest is empty")
		}
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, invalid(file, "the manifest must hold exactly one YAML document")
	}
	for i := range d.Columns {
		d.Columns[i].Type = NormalizeType(d.Columns[i].Type)
	}
	if problems := validate(&d); len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = invalid(file, "%s", p)
		}
		return nil, errors.Join(errs...)
	}
	if !strings.HasPrefix(d.Location, "s3://") && !filepath.IsAbs(d.Location) {
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return nil, fmt.Errorf("resolve location of %s: %w", file, err)
		}
		d.Location = filepath.Join(dir, d.Location)
	}
	return &d, nil
}

// NormalizeType returns a column type in the canonical spelling ValidateDataset
// expects: upper case, without blanks.
func NormalizeType(t string) string {
	return strings.ToUpper(strings.Join(strings.Fields(t), ""))
}

// ValidateDataset checks a dataset's catalog entry: its id, title, owner,
// level, open attribute, update frequency, location, unit and population, and
// every column's name, role, type, domain and bounds. Types must be in their
// canonical spelling (see NormalizeType). It returns every problem found,
// joined with errors.Join; each is a *sluice.Error (EINVALID) whose message
// names the field, e.g. "columns[3] (tax_paid): lower (5) must be below upper
// (1)". It returns nil for a valid dataset.
func ValidateDataset(d *sluice.Dataset) error {
	if d == nil {
		return sluice.Errorf(sluice.EINVALID, "no dataset")
	}
	problems := validate(d)
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = sluice.Errorf(sluice.EINVALID, "%s", p)
	}
	return errors.Join(errs...)
}

// validate returns a description of every problem of d, each starting with
// the field it concerns.
func validate(d *sluice.Dataset) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if d.ID == "" {
		add("id: must not be empty")
	} else if !idPattern.MatchString(d.ID) {
		add("id: %q must match %s", d.ID, idPattern)
	}
	if strings.TrimSpace(d.Title) == "" {
		add("title: must not be empty")
	}
	if strings.TrimSpace(d.Owner) == "" {
		add("owner: must not be empty")
	}
	if d.Level < 1 || d.Level > 4 {
		add("level: %d must be between 1 and 4", d.Level)
	}
	if !d.Open.Valid() {
		add("open: %q must be one of %s, %s, %s", d.Open, sluice.Open, sluice.Conditional, sluice.Closed)
	}
	if !slices.Contains(UpdateFrequencies, d.UpdateFrequency) {
		add("update_frequency: %q must be one of %s", d.UpdateFrequency, strings.Join(UpdateFrequencies, ", "))
	}
	if strings.TrimSpace(d.Location) == "" {
		add("location: must not be empty")
	}
	if strings.TrimSpace(d.Population) == "" {
		add("population: must not be empty")
	}

	var units []string
	seen := map[string]int{}
	for i := range d.Columns {
		c := &d.Columns[i]
		at := fmt.Sprintf("columns[%d]", i)
		if c.Name != "" {
			at += " (" + c.Name + ")"
		}
		switch {
		case c.Name == "":
			add("%s: name must not be empty", at)
		case !columnPattern.MatchString(c.Name):
			add("%s: name %q must match %s", at, c.Name, columnPattern)
		case len(c.Name) > 63:
			add("%s: name must not be longer than 63 characters", at)
		}
		if j, dup := seen[c.Name]; dup && c.Name != "" {
			add("%s: name %q is already used by columns[%d]", at, c.Name, j)
		} else {
			seen[c.Name] = i
		}
		if !c.Role.Valid() {
			add("%s: role %q must be one of unit, dimension, measure, identifier, attribute", at, c.Role)
		}
		if c.Role == sluice.RoleUnit {
			units = append(units, c.Name)
		}
		if problem := checkType(c.Type); problem != "" {
			add("%s: %s", at, problem)
		}

		if c.Role == sluice.RoleMeasure {
			for _, m := range checkMeasure(c) {
				add("%s: %s", at, m)
			}
		} else {
			if c.Lower != nil {
				add("%s: lower: only measures may declare bounds, this column is a %s", at, roleName(c.Role))
			}
			if c.Upper != nil {
				add("%s: upper: only measures may declare bounds, this column is a %s", at, roleName(c.Role))
			}
			if c.Scale != 0 {
				add("%s: scale: only measures may declare a scale, this column is a %s", at, roleName(c.Role))
			}
		}

		if len(c.Domain) > 0 && c.Role != sluice.RoleDimension {
			add("%s: domain: only dimensions may declare a domain, this column is a %s", at, roleName(c.Role))
		}
		first := map[string]int{}
		for k, v := range c.Domain {
			if v == "" {
				add("%s: domain[%d]: must not be empty", at, k)
				continue
			}
			if j, dup := first[v]; dup {
				add("%s: domain[%d]: %q is already listed as domain[%d]", at, k, v, j)
				continue
			}
			first[v] = k
		}
	}

	if len(d.Columns) == 0 {
		add("columns: must declare at least one column")
	}
	if len(units) != 1 {
		add("columns: exactly one column must have role unit, found %d%s", len(units), listed(units))
	}
	switch c := d.Column(d.Unit); {
	case d.Unit == "":
		add("unit: must name the unit column")
	case c == nil:
		add("unit: column %q does not exist", d.Unit)
	case c.Role != sluice.RoleUnit:
		add("unit: column %q has role %s, not unit", d.Unit, roleName(c.Role))
	}
	if len(d.Key) > 0 {
		keyed := map[string]int{}
		for i, k := range d.Key {
			if j, dup := keyed[k]; dup {
				add("key[%d]: %q is already listed as key[%d]", i, k, j)
				continue
			}
			keyed[k] = i
			if d.Column(k) == nil {
				add("key[%d]: column %q does not exist", i, k)
			}
		}
		if _, ok := keyed[d.Unit]; !ok && d.Unit != "" {
			add("key: must include the unit column %q", d.Unit)
		}
	}
	return p
}

// checkType describes what is wrong with a column type, or returns "".
func checkType(t string) string {
	if t == "" {
		return "type must not be empty"
	}
	if slices.Contains(ColumnTypes, t) {
		return ""
	}
	if m := decimalPattern.FindStringSubmatch(t); m != nil {
		prec, _ := strconv.Atoi(m[1])
		scale, _ := strconv.Atoi(m[2])
		if prec < 1 || prec > 38 {
			return fmt.Sprintf("type %s: precision %d must be between 1 and 38", t, prec)
		}
		if scale > prec {
			return fmt.Sprintf("type %s: scale %d must not exceed precision %d", t, scale, prec)
		}
		return ""
	}
	return fmt.Sprintf("type %q must be one of %s or DECIMAL(p,s)", t, strings.Join(ColumnTypes, ", "))
}

// isNumeric reports whether t is a type a measure may have.
func isNumeric(t string) bool {
	switch t {
	case "BIGINT", "INTEGER", "DOUBLE":
		return true
	}
	return decimalPattern.MatchString(t)
}

// checkMeasure describes what is wrong with a measure's type, bounds and scale.
func checkMeasure(c *sluice.Column) []string {
	var p []string
	if c.Type != "" && !isNumeric(c.Type) && checkType(c.Type) == "" {
		p = append(p, fmt.Sprintf("type: a measure must be numeric (BIGINT, INTEGER, DOUBLE or DECIMAL(p,s)), not %s", c.Type))
	}
	scaleOK := c.Scale >= 0 && c.Scale <= MaxScale
	if !scaleOK {
		p = append(p, fmt.Sprintf("scale (%d) must be between 0 and %d", c.Scale, MaxScale))
	}
	finite := true
	for _, b := range []struct {
		name string
		v    *float64
	}{{"lower", c.Lower}, {"upper", c.Upper}} {
		switch {
		case b.v == nil:
			p = append(p, fmt.Sprintf("%s: a measure must declare its %s bound", b.name, b.name))
			finite = false
		case math.IsNaN(*b.v) || math.IsInf(*b.v, 0):
			p = append(p, fmt.Sprintf("%s (%s) must be a finite number", b.name, num(*b.v)))
			finite = false
		case scaleOK && math.Abs(*b.v)*math.Pow10(c.Scale) > maxScaledBound:
			p = append(p, fmt.Sprintf("%s (%s) is too large for scale %d: |%s|·10^scale must not exceed 2^40 (%d)",
				b.name, num(*b.v), c.Scale, b.name, int64(maxScaledBound)))
		}
	}
	if finite && !(*c.Lower < *c.Upper) {
		p = append(p, fmt.Sprintf("lower (%s) must be below upper (%s)", num(*c.Lower), num(*c.Upper)))
	}
	return p
}

// num formats a bound for a message: plainly (5000000, not 5e+06) unless it
// is very large or very small.
func num(v float64) string {
	if a := math.Abs(v); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func roleName(r sluice.ColumnRole) string {
	if r == "" {
		return "column without a role"
	}
	return string(r)
}

func listed(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// invalid returns an EINVALID *sluice.Error about a manifest file.
func invalid(file, format string, args ...any) error {
	return sluice.Errorf(sluice.EINVALID, "%s: %s", file, fmt.Sprintf(format, args...))
}

// yamlError turns a YAML decoding error into EINVALID errors naming the file
// and the line, one per problem.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return invalid(file, "%s", msg)
	}
	errs := make([]error, len(te.Errors))
	for i, e := range te.Errors {
		errs[i] = invalid(file, "%s", yamlUnknownField.ReplaceAllString(e, `unknown field "$1"`))
	}
	return errors.Join(errs...)
}

// Catalog is the set of datasets described by the manifests of one
// directory. It is read-only once opened and safe for concurrent use; the
// datasets it returns are copies the caller may keep or change.
type Catalog struct {
	dir      string
	datasets map[string]*sluice.Dataset
	files    map[string]string // dataset id → manifest path
	ids      []string          // sorted
}

// OpenCatalog loads every *.yaml manifest of dir, in name order. It reports
// every invalid manifest and every dataset id declared by more than one file
// (naming both files), joined with errors.Join.
func OpenCatalog(dir string) (*Catalog, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", dir, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	if !info.IsDir() {
		return nil, sluice.Errorf(sluice.EINVALID, "open catalog: %s is not a directory", dir)
	}
	paths, err := filepath.Glob(filepath.Join(abs, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", dir, err)
	}
	sort.Strings(paths)
	c := &Catalog{dir: abs, datasets: map[string]*sluice.Dataset{}, files: map[string]string{}}
	var errs []error
	for _, p := range paths {
		d, err := LoadManifest(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := c.files[d.ID]; dup {
			errs = append(errs, sluice.Errorf(sluice.EINVALID, "%s: id: dataset %q is already declared by %s",
				filepath.Base(p), d.ID, filepath.Base(prev)))
			continue
		}
		c.datasets[d.ID] = d
		c.files[d.ID] = p
		c.ids = append(c.ids, d.ID)
	}
	sort.Strings(c.ids)
	// Datasets of one population are joined on their units, which must
	// then be values of one type.
	first := map[string]*sluice.Dataset{}
	for _, id := range c.ids {
		d := c.datasets[id]
		if d.Population == "" {
			continue
		}
		if f, ok := first[d.Population]; !ok {
			first[d.Population] = d
		} else if err := SameUnitType(f, d); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", filepath.Base(c.files[id]), err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// SameUnitType refuses two datasets of one population whose unit columns
// have different declared types: joined on their units, DuckDB would cast
// one to the other ('01' and ' 1' both equal 1).
func SameUnitType(a, b *sluice.Dataset) error {
	ta, tb := a.UnitType(), b.UnitType()
	if ta != tb {
		return sluice.Errorf(sluice.EINVALID, "unit: column %s of %s is %s, but %s (population %s) keys the same units as %s",
			b.Unit, b.ID, tb, a.ID, a.Population, ta)
	}
	return nil
}

// Dir returns the catalog's directory, as an absolute path.
func (c *Catalog) Dir() string { return c.dir }

// Get returns a copy of the dataset with the given id, or an ENOTFOUND
// *sluice.Error naming the id.
func (c *Catalog) Get(id string) (*sluice.Dataset, error) {
	d, ok := c.datasets[id]
	if !ok {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "dataset %q is not in the catalog", id)
	}
	return cloneDataset(d), nil
}

// List returns copies of all datasets, sorted by id.
func (c *Catalog) List() []*sluice.Dataset {
	out := make([]*sluice.Dataset, len(c.ids))
	for i, id := range c.ids {
		out[i] = cloneDataset(c.datasets[id])
	}
	return out
}

// cloneDataset returns a deep copy of d.
func cloneDataset(d *sluice.Dataset) *sluice.Dataset {
	cp := *d
	cp.Columns = make([]sluice.Column, len(d.Columns))
	for i, col := range d.Columns {
		col.Domain = slices.Clone(col.Domain)
		if col.Lower != nil {
			v := *col.Lower
			col.Lower = &v
		}
		if col.Upper != nil {
			v := *col.Upper
			col.Upper = &v
		}
		cp.Columns[i] = col
	}
	return &cp
}
