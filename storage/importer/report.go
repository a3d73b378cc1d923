package importer

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"sluice"
)

// Kinds of problem an import can find.
const (
	KindMissingColumn = "missing_column" // a manifest column is not in the file
	KindCastFailure   = "cast_failure"   // values that cannot be read as the manifest's type
	KindOutOfBounds   = "out_of_bounds"  // measure values below lower or above upper
	KindOutsideDomain = "outside_domain" // dimension values outside the declared domain
	KindNullRate      = "null_rate"      // more empty values than the column allows
	KindDuplicates    = "duplicates"     // several rows for the same unit and period
	KindExtraColumn   = "extra_column"   // a file column the manifest does not declare
)

// Report describes what an import found in a source file. It never holds a
// value of a unit or identifier column: problems in those columns are shown by
// row number only.
type Report struct {
	DatasetID string `json:"dataset_id"`
	Source    string `json:"source"`
	Format    string `json:"format"` // csv or parquet
	// SourceChecksum is the SHA-256 of the source file, in hex.
	SourceChecksum string `json:"source_checksum,omitempty"`
	Rows           int64  `json:"rows"`
	// Columns describes the manifest's columns, in manifest order.
	Columns []ColumnReport `json:"columns"`
	// ExtraColumns lists the file's columns the manifest does not declare;
	// they are not imported.
	ExtraColumns []string `json:"extra_columns,omitempty"`
	// Duplicates counts rows repeating a unit and period, when the dataset
	// has a period column.
	Duplicates *DuplicateReport `json:"duplicates,omitempty"`
	Problems   []Problem        `json:"problems"`
	// Refused is true when at least one problem refuses the import; nothing
	// is written then.
	Refused bool `json:"refused"`
	// Output is the Parquet file written, empty when refused.
	Output string `json:"output,omitempty"`
	// OutputChecksum is the SHA-256 of Output, in hex.
	OutputChecksum string `json:"output_checksum,omitempty"`
}

// ColumnReport describes one manifest column as found in the source file.
type ColumnReport struct {
	Name string            `json:"name"`
	Role sluice.ColumnRole `json:"role"`
	Type string            `json:"type"` // the manifest's type
	// Missing is true when the file has no such column; the other fields
	// are then zero.
	Missing bool `json:"missing,omitempty"`
	// SourceName is the column's name in the file when it differs (in case
	// only) from Name.
	SourceName string `json:"source_name,omitempty"`
	// SourceType is the column's type in the file (VARCHAR for CSV).
	SourceType string `json:"source_type,omitempty"`
	// Nulls counts empty values in the file; values that fail to cast are
	// counted in CastFailures, not here.
	Nulls    int64   `json:"nulls"`
	NullRate float64 `json:"null_rate"`
	// MaxNullRate is the largest null rate the import accepts.
	MaxNullRate float64 `json:"max_null_rate"`
	// CastFailures counts non-empty values that cannot be read as Type.
	CastFailures int64 `json:"cast_failures"`
	// Examples shows up to five of the rows that failed to cast.
	Examples []Example `json:"examples,omitempty"`

	// Measures only.
	Lower      *float64 `json:"lower,omitempty"`
	Upper      *float64 `json:"upper,omitempty"`
	OutOfBound string   `json:"out_of_bounds,omitempty"` // clamp or refuse
	Min        *float64 `json:"min,omitempty"`
	Max        *float64 `json:"max,omitempty"`
	BelowLower *int64   `json:"below_lower,omitempty"`
	AboveUpper *int64   `json:"above_upper,omitempty"`

	// Dimensions only.
	Distinct *int64 `json:"distinct,omitempty"`
	// OutsideDomain counts rows whose value is not in the declared domain;
	// it is set only for dimensions that declare one.
	OutsideDomain *int64 `json:"outside_domain,omitempty"`
	// OutsideValues lists up to ten values outside the domain, the most
	// frequent first.
	OutsideValues []string `json:"outside_values,omitempty"`
}

// Example is one offending row of a source file.
type Example struct {
	// Row is the 1-based number of the data row, not counting a CSV header:
	// row 1 is on the second line of a CSV file.
	Row int64 `json:"row"`
	// Value is the offending value as text. It is nil for unit and
	// identifier columns, whose values are never reported.
	Value *string `json:"value,omitempty"`
	// DuplicateOf is, for a duplicate row, the first row with the same unit
	// and period.
	DuplicateOf int64 `json:"duplicate_of,omitempty"`
}

// DuplicateReport counts rows with the same unit and period.
type DuplicateReport struct {
	Unit   string `json:"unit"`
	Period string `json:"period,omitempty"`
	// Key is the dataset's declared key, when the check used it instead of
	// the unit and period.
	Key []string `json:"key,omitempty"`
	// Rows counts the rows repeating a (unit, period) pair already seen:
	// a pair found three times adds two.
	Rows int64 `json:"rows"`
	// Pairs counts the (unit, period) pairs found more than once.
	Pairs    int64     `json:"pairs"`
	Examples []Example `json:"examples,omitempty"`
}

// Problem is one thing wrong with a source file.
type Problem struct {
	Column string `json:"column"`
	Kind   string `json:"kind"`
	// Count is the number of offending rows (0 for missing and extra
	// columns).
	Count   int64  `json:"count"`
	Message string `json:"message"`
	// Refuses is true when this problem alone makes the import fail.
	Refuses  bool      `json:"refuses"`
	Examples []Example `json:"examples,omitempty"`
}

// summary returns a short description of p for the refusal error: the
// column and the count, never a value.
func (p Problem) summary() string {
	switch p.Kind {
	case KindMissingColumn:
		return fmt.Sprintf("%s: missing", p.Column)
	case KindCastFailure:
		return fmt.Sprintf("%s: %d %s that cannot be cast", p.Column, p.Count, plural(p.Count, "value"))
	case KindOutOfBounds:
		return fmt.Sprintf("%s: %d %s out of bounds", p.Column, p.Count, plural(p.Count, "value"))
	case KindOutsideDomain:
		return fmt.Sprintf("%s: %d %s outside the domain", p.Column, p.Count, plural(p.Count, "value"))
	case KindNullRate:
		return fmt.Sprintf("%s: %d %s", p.Column, p.Count, plural(p.Count, "null"))
	case KindDuplicates:
		return fmt.Sprintf("%s: %d duplicate %s", p.Column, p.Count, plural(p.Count, "row"))
	case KindExtraColumn:
		return fmt.Sprintf("%s: not in the manifest", p.Column)
	}
	return fmt.Sprintf("%s: %d %s", p.Column, p.Count, p.Kind)
}

// refusal returns the error of a refused import: an EINVALID *sluice.Error
// whose message names each refusing problem's column and count.
func (r *Report) refusal() error {
	var parts []string
	for _, p := range r.Problems {
		if p.Refuses {
			parts = append(parts, p.summary())
		}
	}
	return &sluice.Error{
		Code:    sluice.EINVALID,
		Rule:    "import.refused",
		Message: fmt.Sprintf("import of %s refused: %s", r.DatasetID, strings.Join(parts, "; ")),
	}
}

// Text returns the report for people: the outcome, the problems, a table of
// the columns and the duplicates found.
func (r *Report) Text() string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Import of dataset %s\n", r.DatasetID)
	fmt.Fprintf(&b, "  source: %s (%s)\n", r.Source, r.Format)
	if r.SourceChecksum != "" {
		fmt.Fprintf(&b, "  sha256: %s\n", r.SourceChecksum)
	}
	fmt.Fprintf(&b, "  rows:   %d\n", r.Rows)
	switch {
	case r.Refused:
		b.WriteString("  result: REFUSED, nothing was written\n")
	case r.Output != "":
		fmt.Fprintf(&b, "  result: written to %s (sha256 %s)\n", r.Output, r.OutputChecksum)
	default:
		b.WriteString("  result: not written\n")
	}

	if len(r.Problems) == 0 {
		b.WriteString("\nNo problems found.\n")
	} else {
		fmt.Fprintf(&b, "\nProblems (%d):\n", len(r.Problems))
		for _, p := range r.Problems {
			mark := "note   "
			if p.Refuses {
				mark = "REFUSES"
			}
			fmt.Fprintf(&b, "  %s  %s [%s]: %s\n", mark, p.Column, p.Kind, p.Message)
		}
	}

	b.WriteString("\nColumns:\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  column\trole\ttype\tnulls\tnull rate\tcast failures\tdetails")
	for _, c := range r.Columns {
		if c.Missing {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t-\t-\t-\tMISSING from the file\n", c.Name, c.Role, c.Type)
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%d\t%s\n", c.Name, c.Role, c.Type, c.Nulls,
			percent(c.NullRate), c.CastFailures, c.details())
	}
	tw.Flush()
	if len(r.ExtraColumns) > 0 {
		fmt.Fprintf(&b, "\nDropped columns not in the manifest: %s\n", strings.Join(r.ExtraColumns, ", "))
	}
	if d := r.Duplicates; d != nil {
		fmt.Fprintf(&b, "\nDuplicates by (%s, %s): %d %s over %d %s", d.Unit, d.Period,
			d.Rows, plural(d.Rows, "row"), d.Pairs, plural(d.Pairs, "pair"))
		if len(d.Examples) > 0 {
			b.WriteString(", e.g. " + exampleText(d.Examples))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// details returns the role-specific statistics of a column for Text.
func (c *ColumnReport) details() string {
	var parts []string
	if c.SourceName != "" {
		parts = append(parts, fmt.Sprintf("named %q in the file", c.SourceName))
	}
	if c.Role == sluice.RoleMeasure {
		if c.Min != nil && c.Max != nil {
			parts = append(parts, fmt.Sprintf("min %s, max %s", num(*c.Min), num(*c.Max)))
		}
		if c.Lower != nil && c.Upper != nil {
			parts = append(parts, fmt.Sprintf("bounds [%s, %s] (%s)", num(*c.Lower), num(*c.Upper), c.OutOfBound))
		}
		if c.BelowLower != nil && c.AboveUpper != nil {
			parts = append(parts, fmt.Sprintf("%d below, %d above", *c.BelowLower, *c.AboveUpper))
		}
	}
	if c.Distinct != nil {
		parts = append(parts, fmt.Sprintf("%d distinct", *c.Distinct))
	}
	if c.OutsideDomain != nil {
		s := fmt.Sprintf("%d outside the domain", *c.OutsideDomain)
		if len(c.OutsideValues) > 0 {
			s += ": " + quoteAll(c.OutsideValues)
		}
		parts = append(parts, s)
	}
	if len(c.Examples) > 0 {
		parts = append(parts, "cast failures at "+exampleText(c.Examples))
	}
	return strings.Join(parts, "; ")
}

// exampleText lists examples as "row 4 "abc", row 9 "x"" or, for duplicates,
// "row 7 (as row 3)".
func exampleText(examples []Example) string {
	parts := make([]string, len(examples))
	for i, e := range examples {
		s := "row " + strconv.FormatInt(e.Row, 10)
		if e.Value != nil {
			s += " " + strconv.Quote(*e.Value)
		}
		if e.DuplicateOf != 0 {
			s += fmt.Sprintf(" (as row %d)", e.DuplicateOf)
		}
		parts[i] = s
	}
	return strings.Join(parts, ", ")
}

// quoteAll quotes each value and joins them with commas.
func quoteAll(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// percent formats a rate as a percentage with three significant digits.
func percent(rate float64) string {
	return strconv.FormatFloat(rate*100, 'g', 3, 64) + "%"
}

// num formats a number plainly (5000000, not 5e+06) unless it is very large
// or very small.
func num(v float64) string {
	if a := v; a == 0 || (a >= 1e-6 && a < 1e21) || (a <= -1e-6 && a > -1e21) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// maxValueLen is the longest value, in characters, a report shows.
const maxValueLen = 64

// clip shortens a value shown in a report to maxValueLen characters.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxValueLen {
		return s
	}
	r := []rune(s)
	return string(r[:maxValueLen-1]) + "…"
}
