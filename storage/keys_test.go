package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"sluice"
	"sluice/storage"
	"sluice/storage/importer"
)

// A declared key is checked twice: at import (importer.duplicates) and
// when the file is prepared (storage.build). Both leave out rows with a
// NULL in the key, which the analyser's joins (=) never match. Found by
// review: Prepare grouped NULLs together, so a file the import accepted
// failed every later query. Either both checks refuse a file or neither.
func TestImportAndPrepareAgreeOnNullKeys(t *testing.T) {
	lo, hi := 0.0, 1000.0
	d := &sluice.Dataset{
		ID: "tax_monthly", Title: "Monthly tax", Owner: "tax-bureau", Level: 3, Open: sluice.Conditional,
		UpdateFrequency: "monthly", Location: "tax_monthly.parquet", Unit: "credit_code", Population: "enterprise",
		Key: []string{"credit_code", "month"},
		Columns: []sluice.Column{
			{Name: "credit_code", Type: "VARCHAR", Role: sluice.RoleUnit},
			{Name: "month", Type: "DATE", Role: sluice.RoleDimension},
			{Name: "tax_paid", Type: "DECIMAL(18,2)", Role: sluice.RoleMeasure, Lower: &lo, Upper: &hi, Scale: 2},
		},
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "tax.csv")
	csv := "credit_code,month,tax_paid\nc1,2025-01-01,1\nc1,2025-02-01,2\nc1,,3\nc1,,4\nc2,2025-01-01,5\n"
	if err := os.WriteFile(src, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "tax_monthly.parquet")
	_, ierr := importer.Import(context.Background(), src, d, dst, importer.Options{})
	if ierr != nil {
		t.Logf("import: %v", ierr)
		return // the import refuses the file: consistent with Prepare
	}
	d.Location = dst
	if _, err := storage.Prepare(context.Background(), d, filepath.Join(dir, "cache")); err != nil {
		t.Errorf("the import accepted the file, but preparing it for queries fails: %v", err)
	}
}
