package policy

import (
	"context"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

func TestScratchBaseline(t *testing.T) {
	ctx := context.Background()
	store := inmem.NewFromObjectWithOpts(map[string]any{"x": 1}, inmem.OptReturnASTValuesOnRead(true))
	pq, err := rego.New(rego.Query("data.sluice.decision"), rego.Store(store), rego.Module("a.rego", `package sluice
decision := {"allow": false, "deny": [], "obligations": {}}`)).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := ast.NewObject()
	t0, c0 := time.Now(), cpu()
	const n = 5000
	for range n {
		if _, err := pq.Eval(ctx, rego.EvalParsedInput(v)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("trivial eval: %v per decision, cpu %v", time.Since(t0)/n, (cpu()-c0)/n)
}
