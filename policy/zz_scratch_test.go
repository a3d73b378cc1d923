package policy

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/profiler"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/util"

	"sluice"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestScratchProfile(t *testing.T) {
	e := newEngine(t, Options{})
	in := query()
	in.Time = now
	in.Datasets = map[string]*sluice.Dataset{"enterprise": in.Datasets["enterprise"], "tax_monthly": in.Datasets["tax_monthly"]}
	x := newEvalInput(&in)
	var m any = x
	if err := util.RoundTrip(&m); err != nil {
		t.Fatal(err)
	}
	v, err := ast.InterfaceToValue(m)
	if err != nil {
		t.Fatal(err)
	}
	c := e.current.Load()
	ctx := context.Background()
	t0, c0 := time.Now(), cpu()
	const n = 2000
	for range n {
		if _, err := c.query.Eval(ctx, rego.EvalParsedInput(v)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("eval only: %v per decision, cpu %v", time.Since(t0)/n, (cpu()-c0)/n)
	t0, c0 = time.Now(), cpu()
	for range n {
		var m any = newEvalInput(&in)
		_ = util.RoundTrip(&m)
		_, _ = ast.InterfaceToValue(m)
	}
	t.Logf("input conversion: %v per decision, cpu %v", time.Since(t0)/n, (cpu()-c0)/n)

	p := profiler.New()
	for range 200 {
		if _, err := c.query.Eval(ctx, rego.EvalParsedInput(v), rego.EvalQueryTracer(p)); err != nil {
			t.Fatal(err)
		}
	}
	rep := p.ReportTopNResults(40, []string{"total_time_ns"})
	var total int64
	for _, r := range p.ReportTopNResults(1000, []string{"total_time_ns"}) {
		total += r.ExprTimeNs
	}
	fmt.Printf("total %v\n", time.Duration(total/200))
	for _, r := range rep {
		fmt.Printf("%-32s %8v evals %4d redo %4d  %s\n", r.Location.String(), time.Duration(r.ExprTimeNs/200), r.NumEval/200, r.NumRedo/200, strings.TrimSpace(string(r.Location.Text)))
	}
}
