package query

import (
	"strings"
	"testing"
)

// CheckBoundPlan reads operator types from the text and decodes only the
// scans; every way of hiding or misplacing a scan must fail closed.
func TestCheckBoundPlanText(t *testing.T) {
	src := []Source{{Catalog: "ds0", Columns: []string{"a", "b"}}}
	scan := func(catalog string, names string, idx ...string) string {
		var cis []string
		for _, i := range idx {
			cis = append(cis, `{"index":`+i+`,"child_indexes":[]}`)
		}
		return `{"type":"LOGICAL_GET","children":[],"names":[` + names + `],"name":"seq_scan","function_data":{"catalog":"` + catalog +
			`","schema":"main","table":"data"},"column_indexes":[` + strings.Join(cis, ",") + `]}`
	}
	plan := func(ops ...string) string {
		return `{"error":false,"plans":[{"type":"LOGICAL_PROJECTION","children":[` + strings.Join(ops, ",") + `],"expressions":[]}]}`
	}
	for _, tc := range []struct {
		name, plan string
		ok         bool
	}{
		{"authorised scan", plan(scan("ds0", `"a","b","secret"`, "0", "1")), true},
		{"no scan", plan(`{"type":"LOGICAL_EMPTY_RESULT","children":[]}`), true},
		{"string constant that looks like a scan",
			plan(scan("ds0", `"a"`, "0"), `{"type":"LOGICAL_DUMMY_SCAN","children":[],"value":"{\"type\":\"LOGICAL_GET\",\"name\":\"read_csv\"}"}`), true},
		{"unauthorised column", plan(scan("ds0", `"a","b","secret"`, "2")), false},
		{"column index out of range", plan(scan("ds0", `"a"`, "1")), false},
		{"other catalog", plan(scan("ds1", `"a"`, "0")), false},
		{"second scan unauthorised", plan(scan("ds0", `"a"`, "0"), scan("ds9", `"a"`, "0")), false},
		{"scan nested in an expression", `{"error":false,"plans":[{"type":"LOGICAL_FILTER","children":[],"expressions":[{"subquery":` + scan("ds9", `"a"`, "0") + `}]}]}`, false},
		{"table function", plan(strings.Replace(scan("ds0", `"a"`, "0"), "seq_scan", "read_csv", 1)), false},
		{"operator outside the allowlist", plan(`{"type":"LOGICAL_COPY_TO_FILE","children":[]}`), false},
		{"scan whose type is not first", plan(`{"children":[],"type":"LOGICAL_GET","name":"seq_scan"}`), false},
		{"error document", `{"error":true,"error_type":"binder","error_message":"no such table"}`, false},
		{"not JSON", plan(scan("ds0", `"a"`, "0"))[:60], false},
		{"text after the object", plan(scan("ds0", `"a"`, "0")) + `,` + scan("ds9", `"a"`, "0"), false},
		{"unbalanced", plan(scan("ds0", `"a"`, "0")) + `}`, false},
		{"unknown layout", `{"plans":[` + scan("ds0", `"a"`, "0") + `],"error":false}`, false},
	} {
		err := CheckBoundPlan([]byte(tc.plan), src)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
