package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sluice"
	"sluice/sandbox"
	"sluice/service"
	"sluice/storage"
)

// queryFlags are the flags shared by query, explain and demo.
type queryFlags struct {
	data     string
	epsilon  float64
	delta    float64
	l0, linf int64
	minUnits int64
	noise    string
	format   string
	timeout  time.Duration
	memory   string
	threads  int
}

func (q *queryFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&q.data, "data", "sluice-data", "directory with dataset manifests (*.yaml) and their files")
	fs.Float64Var(&q.epsilon, "epsilon", 1, "ε this query may spend")
	fs.Float64Var(&q.delta, "delta", 1e-6, "δ this query may spend (partition selection of data-derived groups)")
	fs.Int64Var(&q.l0, "l0", 4, "groups each privacy unit may contribute to")
	fs.Int64Var(&q.linf, "linf", 12, "rows each privacy unit may contribute per group")
	fs.Int64Var(&q.minUnits, "min-units", 10, "minimum noisy number of units in a released group")
	fs.StringVar(&q.noise, "noise", sluice.NoiseLaplace, "noise: laplace or gaussian")
	fs.StringVar(&q.format, "format", "table", "output: table, json or csv")
	fs.DurationVar(&q.timeout, "timeout", 60*time.Second, "time limit of the query in the sandbox")
	fs.StringVar(&q.memory, "memory", "2GB", "memory limit of the sandbox")
	fs.IntVar(&q.threads, "threads", 2, "threads of the sandbox")
}

func (q *queryFlags) obligations() sluice.Obligations {
	return sluice.Obligations{Epsilon: q.epsilon, Delta: q.delta, L0: q.l0, Linf: q.linf, MinUnits: q.minUnits, Noise: q.noise}
}

// open opens the catalog in q.data and a service over it.
func (q *queryFlags) open(ctx context.Context) (*service.Service, error) {
	cat, err := storage.OpenCatalog(q.data)
	if err != nil {
		return nil, err
	}
	cache := filepath.Join(q.data, ".sluice-cache")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return nil, err
	}
	return service.New(ctx, service.Config{
		Catalog:  cat,
		CacheDir: cache,
		// The file system is disabled after attaching: even SQL that slipped
		// past the analyser cannot read the dataset file's raw bytes. The cost
		// is no spilling: a query that outgrows --memory fails.
		Sandbox: sandbox.Config{Timeout: q.timeout, MemoryLimit: q.memory, Threads: q.threads, DisableFileSystem: true},
	})
}

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer, explain bool) error {
	name := "query"
	if explain {
		name = "explain"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var q queryFlags
	q.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%s takes exactly one SQL argument (quote it), got %d", name, fs.NArg())
	}
	switch q.format {
	case "table", "json", "csv":
	default:
		return fmt.Errorf("--format must be table, json or csv, got %q", q.format)
	}
	svc, err := q.open(ctx)
	if err != nil {
		return err
	}
	defer svc.Close()
	req := service.QueryRequest{SQL: fs.Arg(0), Obligations: q.obligations()}
	if explain {
		ex, err := svc.Explain(ctx, req)
		if err != nil {
			return err
		}
		return printExplanation(stdout, ex, q.format)
	}
	res, err := svc.Query(ctx, req)
	if err != nil {
		return err
	}
	return printRelease(stdout, res, q.format)
}

func printExplanation(w io.Writer, ex *service.Explanation, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(ex)
	}
	p := ex.Plan
	fmt.Fprintf(w, "datasets:    %s (population %s)\n", strings.Join(p.Datasets, ", "), p.Population)
	for _, g := range p.Groups {
		src := "data-derived: partition selection"
		if len(g.Domain) > 0 {
			src = fmt.Sprintf("public domain of %d values", len(g.Domain))
		}
		fmt.Fprintf(w, "group key:   %s = %s (%s)\n", g.Name, g.SQL, src)
	}
	for _, a := range p.Aggregates {
		fmt.Fprintf(w, "aggregate:   %s = %s", a.Name, a.SQL)
		if a.Func != sluice.AggCount && a.Func != sluice.AggCountUnits {
			fmt.Fprintf(w, " clamped to [%g, %g]", a.Lower, a.Upper)
		}
		if a.Func == sluice.AggQuantile {
			fmt.Fprintf(w, " rank %g", a.Quantile)
		}
		fmt.Fprintln(w)
	}
	for _, f := range p.Filters {
		fmt.Fprintf(w, "filter:      %s\n", f)
	}
	fmt.Fprintf(w, "digest:      %s\n", p.Digest)
	fmt.Fprintf(w, "budget:      ε = %g, δ = %g\n", ex.Epsilon, ex.Delta)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  mechanism\tfor\tε\tδ\tL0\tL∞ sensitivity")
	for _, c := range ex.Charges {
		fmt.Fprintf(tw, "  %s\t%s\t%.4g\t%.3g\t%d\t%g\n", c.Mechanism, c.What, c.Epsilon, c.Delta, c.L0, c.Linf)
	}
	tw.Flush()
	fmt.Fprintf(w, "bounded SQL:\n  %s\n", ex.SQL)
	if ex.QuantileSQL != "" {
		fmt.Fprintf(w, "quantile sample SQL:\n  %s\n", ex.QuantileSQL)
	}
	return nil
}

func printRelease(w io.Writer, res *service.Result, format string) error {
	rel := res.Release
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case "csv":
		return rel.WriteCSV(w)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var head []string
	for _, c := range rel.Columns {
		head = append(head, c.Name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, row := range rel.Rows {
		var cells []string
		for i, v := range row {
			if rel.Columns[i].Kind != "aggregate" {
				cells = append(cells, keyText(v.Key))
				continue
			}
			s := numText(v.Number, 'f')
			if v.CI != nil && v.Number != nil {
				s += " " + intervalText(*v.Number, *v.CI)
			}
			cells = append(cells, s)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "(%d groups released; values ± half-width of the 95%% confidence interval, or [lower, upper] when it is not centred on the value)\n", len(rel.Rows))
	for _, s := range rel.Suppressed {
		fmt.Fprintf(w, "suppressed [%s]: %s", s.Rule, s.Reason)
		if len(s.Keys) > 0 {
			var ks []string
			for _, k := range s.Keys {
				var parts []string
				for _, x := range k {
					parts = append(parts, keyText(x))
				}
				ks = append(ks, strings.Join(parts, "/"))
			}
			fmt.Fprintf(w, " (%d: %s)", len(s.Keys), strings.Join(ks, ", "))
		}
		fmt.Fprintln(w)
	}
	for _, n := range rel.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "spent: ε = %g, δ = %g over %d mechanisms; took %s\n", rel.Epsilon, rel.Delta, len(rel.Charges), res.Duration.Round(time.Millisecond))
	return nil
}

func keyText(k any) string {
	if k == nil {
		return "NULL"
	}
	return sluice.KeyText(k)
}

func numText(v *float64, f byte) string {
	if v == nil {
		return "NULL"
	}
	return formatNumber(*v, f)
}

func formatNumber(v float64, f byte) string {
	if f == 'g' {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	a := math.Abs(v)
	switch {
	case a >= 1000 || (v == math.Trunc(v) && a < 1e15): // counts stay integers
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// intervalText renders a confidence interval: ± its half-width when it is
// centred on v (noise intervals), [lower, upper] otherwise (clamped
// averages, quantiles).
func intervalText(v float64, ci sluice.Interval) string {
	h := (ci.Upper - ci.Lower) / 2
	if math.Abs(ci.Lower+h-v) <= 1e-9*math.Max(1, math.Abs(v)) {
		return "± " + formatNumber(h, 'f')
	}
	return "[" + formatNumber(ci.Lower, 'f') + ", " + formatNumber(ci.Upper, 'f') + "]"
}
