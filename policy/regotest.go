package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util"
)

// Test runs the Rego unit tests (the _test.rego files) of the bundle in dir,
// or of the embedded bundle when dir is "", printing one line per test to w.
// It returns an error when a test fails or errors, or when there are none.
func Test(ctx context.Context, dir string, w io.Writer) error {
	src, err := readSources(dir)
	if err != nil {
		return fmt.Errorf("policy tests: %w", err)
	}
	modules := make(map[string]*ast.Module, len(src.modules)+len(src.tests))
	var errs ast.Errors
	for _, f := range append(append([]file{}, src.modules...), src.tests...) {
		m, err := ast.ParseModuleWithOpts(f.name, string(f.text), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			var parseErrs ast.Errors
			if errors.As(err, &parseErrs) {
				errs = append(errs, parseErrs...)
				continue
			}
			return fmt.Errorf("policy tests: %s: %w", f.name, err)
		}
		modules[f.name] = m
	}
	if len(errs) > 0 {
		return fmt.Errorf("policy tests: %w", errs)
	}
	data := map[string]any{}
	if src.data != nil {
		if err := util.UnmarshalJSON(src.data.text, &data); err != nil {
			return fmt.Errorf("policy tests: %s: %w", src.data.name, err)
		}
	}
	store := inmem.NewFromObject(data)
	ch, err := tester.NewRunner().
		SetStore(store).
		SetModules(modules).
		SetDefaultRegoVersion(ast.RegoV1).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(true).
		RunTests(ctx, nil)
	if err != nil {
		return fmt.Errorf("policy tests: %w", err)
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	sort.Slice(results, func(i, j int) bool {
		a, b := results[i].Location, results[j].Location
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Row < b.Row
	})
	var failed, skipped int
	for _, r := range results {
		outcome := "PASS"
		switch {
		case r.Skip:
			outcome = "SKIP"
			skipped++
		case r.Error != nil:
			outcome = "ERROR"
			failed++
		case r.Fail:
			outcome = "FAIL"
			failed++
		}
		fmt.Fprintf(w, "%-5s %s.%s (%s:%d) %s\n", outcome, r.Package, r.Name, r.Location.File, r.Location.Row, r.Duration.Round(1000))
		if r.Error != nil {
			fmt.Fprintf(w, "      %v\n", r.Error)
		}
		if r.Fail && r.FailedAt != nil {
			fmt.Fprintf(w, "      failed at %v: %v\n", r.FailedAt.Location, r.FailedAt)
		}
		if len(r.Output) > 0 && !r.Pass() {
			fmt.Fprintf(w, "      %s\n", r.Output)
		}
	}
	passed := len(results) - failed - skipped
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	switch {
	case failed > 0:
		return fmt.Errorf("policy tests: %d of %d failed", failed, len(results))
	case len(results) == 0:
		return errors.New("policy tests: the bundle has no tests")
	}
	return nil
}
