package sluice

import (
	"strings"
	"time"
)

// OpenAttribute is a dataset's opening grade.
type OpenAttribute string

// Opening grades of a dataset.
const (
	Open        OpenAttribute = "open"        // open to anyone
	Conditional OpenAttribute = "conditional" // only under an active authorization
	Closed      OpenAttribute = "closed"      // never queried
)

// Valid reports whether a is one of the known grades.
func (a OpenAttribute) Valid() bool { return a == Open || a == Conditional || a == Closed }

// ColumnRole says what an analyst may do with a column.
type ColumnRole string

// Column roles.
const (
	// RoleUnit is the privacy unit (a person id, a company credit code). It is
	// never output and never grouped by; it only bounds contributions and joins.
	RoleUnit ColumnRole = "unit"
	// RoleDimension is categorical: it may be grouped by and filtered on.
	RoleDimension ColumnRole = "dimension"
	// RoleMeasure is numeric with declared bounds; it may be aggregated.
	RoleMeasure ColumnRole = "measure"
	// RoleIdentifier is a direct identifier (name, phone number): never readable.
	RoleIdentifier ColumnRole = "identifier"
	// RoleAttribute may be used in filters only; it is never output.
	RoleAttribute ColumnRole = "attribute"
)

// UnitIDColumn names the column a prepared dataset file holds beside the
// manifest's columns: a dense INTEGER standing for the unit's value (NULL
// where the unit is NULL), numbered in the order of the values. The bounded
// SQL groups and joins its per-unit stages on it, which DuckDB does several
// times faster than on an 18-character credit code. A manifest cannot name
// a column so (names begin with a letter), and an analyst cannot read it:
// it is not in the catalog.
const UnitIDColumn = "__unit_id"

// UnitHashColumn names a second hidden column of a prepared file: DuckDB's
// hash of the unit's value (NULL where the unit is NULL). The choice of a
// unit's at most L0 groups hashes it with the keys and a per-query seed:
// it must be a function of the unit's own value, which UnitIDColumn, a
// rank among all the units, is not. Through the rank, one unit more or
// less would change the choices of every unit after it.
const UnitHashColumn = "__unit_hash"

// Valid reports whether r is one of the known roles.
func (r ColumnRole) Valid() bool {
	switch r {
	case RoleUnit, RoleDimension, RoleMeasure, RoleIdentifier, RoleAttribute:
		return true
	}
	return false
}

// Column is one column of a dataset and its role.
type Column struct {
	Name        string     `json:"name" yaml:"name"`
	Type        string     `json:"type" yaml:"type"` // DuckDB type, e.g. VARCHAR, BIGINT, DATE, DOUBLE
	Role        ColumnRole `json:"role" yaml:"role"`
	Description string     `json:"description,omitempty" yaml:"description,omitempty"`
	// Domain is the declared public domain of a dimension. Group keys over a
	// column with a domain are released as they are, without partition selection.
	Domain []string `json:"domain,omitempty" yaml:"domain,omitempty"`
	// Lower and Upper bound a measure; values are clamped to them before
	// aggregation and noise is calibrated to them.
	Lower *float64 `json:"lower,omitempty" yaml:"lower,omitempty"`
	Upper *float64 `json:"upper,omitempty" yaml:"upper,omitempty"`
	// Scale is the number of decimal digits a measure is summed with in fixed
	// point (0 for integers). Sums are exact and order-independent.
	Scale int `json:"scale,omitempty" yaml:"scale,omitempty"`
}

// Dataset is a catalog entry.
type Dataset struct {
	ID              string        `json:"id" yaml:"id"`
	Title           string        `json:"title" yaml:"title"`
	Owner           string        `json:"owner" yaml:"owner"`
	Level           int           `json:"level" yaml:"level"` // classification 1 (lowest) … 4 (highest)
	Open            OpenAttribute `json:"open" yaml:"open"`
	UpdateFrequency string        `json:"update_frequency" yaml:"update_frequency"`
	Location        string        `json:"location" yaml:"location"` // local path or s3://bucket/key
	Version         string        `json:"version" yaml:"version"`
	// Unit names the privacy-unit column.
	Unit string `json:"unit" yaml:"unit"`
	// Population names the people or firms behind the unit ("enterprise",
	// "person"). Datasets keyed by the same population share a lifetime budget.
	Population string `json:"population" yaml:"population"`
	// Key, when declared, names columns no two rows share values of (the
	// unit among them: credit_code and month for monthly records); rows
	// with a NULL in the key are not counted, as a join's = never meets
	// them. The import and the file's preparation check it. A join may add
	// a dataset only on its whole key, so that joining never multiplies a
	// unit's rows.
	Key []string `json:"key,omitempty" yaml:"key,omitempty"`
	// BudgetCap, when set by the owner, caps the privacy budget spent on this
	// dataset across every authorization.
	BudgetCap *Cap      `json:"budget_cap,omitempty" yaml:"budget_cap,omitempty"`
	Columns   []Column  `json:"columns" yaml:"columns"`
	UpdatedAt time.Time `json:"updated_at,omitempty" yaml:"updated_at,omitempty"`
	// Deprecated datasets still answer queries but warn that a successor
	// exists; closing a dataset (Open = closed) stops every query at once.
	Deprecated bool `json:"deprecated,omitempty" yaml:"deprecated,omitempty"`
	// Checksum is the SHA-256 of the dataset file of this version.
	Checksum string `json:"checksum,omitempty" yaml:"checksum,omitempty"`
	// Imported marks a version whose file Sluice itself wrote (an import);
	// version retention removes only such files. Set by the service only.
	Imported bool `json:"imported,omitempty" yaml:"-"`
}

// Correction is a suspected data error an analyst reports on a dataset,
// and the owner's answer. (The seeds call for error correction and
// objection handling on the open platform.)
type Correction struct {
	ID           string       `json:"id"`
	Dataset      string       `json:"dataset"`
	Version      string       `json:"version"`
	Column       string       `json:"column,omitempty"`
	Description  string       `json:"description"`
	Reporter     string       `json:"reporter"`
	Organisation string       `json:"organisation"`
	State        string       `json:"state"` // open, answered, resolved, rejected
	Answer       string       `json:"answer,omitempty"`
	History      []Transition `json:"history"`
}

// Cap is a privacy-budget limit and how releases compose under it.
type Cap struct {
	Epsilon    float64 `json:"epsilon" yaml:"epsilon"`
	Delta      float64 `json:"delta" yaml:"delta"`
	Accounting string  `json:"accounting,omitempty" yaml:"accounting,omitempty"` // pure (default) or zcdp
}

// Column returns the column named name, or nil.
func (d *Dataset) Column(name string) *Column {
	for i := range d.Columns {
		if d.Columns[i].Name == name {
			return &d.Columns[i]
		}
	}
	return nil
}

// UnitType returns the declared type of the unit column, in upper case
// without spaces ("" if there is none). Datasets of one population must
// agree on it: joined on their units, DuckDB would cast one to the other.
func (d *Dataset) UnitType() string {
	c := d.Column(d.Unit)
	if c == nil {
		return ""
	}
	return strings.ToUpper(strings.Join(strings.Fields(c.Type), ""))
}
