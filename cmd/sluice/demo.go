package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"sluice/examples/gen"
	"sluice/service"
)

// scenario is one example query of the demo.
type scenario struct {
	title string
	sql   string
	eps   float64
	l0    int64
	linf  int64
}

// scenarios are the demo's queries: a bank scoring small firms for
// inclusive-finance loans, and a researcher's aggregate study.
var scenarios = []scenario{
	{"Bank: firms and median monthly tax paid, by district (2025)",
		`SELECT e.district, count(DISTINCT e.credit_code) AS firms, median(t.tax_paid) AS median_tax
		 FROM tax_monthly t JOIN enterprise e ON t.credit_code = e.credit_code
		 WHERE t.month >= DATE '2025-01-01'
		 GROUP BY e.district ORDER BY firms DESC`, 1, 1, 12},
	{"Bank: tax arrears and social-insurance headcount by size class",
		`SELECT e.size_class, avg(s.headcount) AS mean_headcount, sum(t.tax_arrears) AS arrears
		 FROM enterprise e
		 JOIN tax_monthly t ON t.credit_code = e.credit_code
		 JOIN social_insurance s ON s.credit_code = t.credit_code AND s.month = t.month
		 GROUP BY e.size_class`, 1, 1, 24},
	{"Bank: utility usage by quarter and utility (data-derived quarters; each bill counted up to 20 000,\n    a bound tighter than the catalog's 1 000 000, so 50× less noise)",
		`SELECT date_trunc('quarter', month) AS quarter, utility, sum(least(usage, 20000)) AS usage, count(*) AS bills
		 FROM utilities GROUP BY ALL HAVING bills > 100 ORDER BY quarter, utility`, 1, 8, 3},
	{"Bank: firms with dishonest-debtor records, by industry",
		`SELECT e.industry, count(DISTINCT e.credit_code) AS firms
		 FROM enterprise e JOIN court_records c USING (credit_code)
		 WHERE c.record_type = 'dishonest_debtor'
		 GROUP BY e.industry ORDER BY firms DESC LIMIT 8`, 0.5, 1, 5},
	{"Researcher: clinic visits and mean cost by age band and sex",
		`SELECT age_band, sex, count(*) AS visits, avg(cost) AS mean_cost, stddev(cost) AS sd_cost
		 FROM clinic_visits GROUP BY age_band, sex ORDER BY age_band, sex`, 1, 1, 10},
	{"Researcher: 90th percentile of visit cost by diagnosis group",
		`SELECT diagnosis_group, quantile_cont(cost, 0.9) AS p90_cost, count(DISTINCT person_id) AS patients
		 FROM clinic_visits WHERE visit_date >= DATE '2025-01-01'
		 GROUP BY diagnosis_group ORDER BY patients DESC LIMIT 10`, 1, 3, 5},
}

func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "sluice-data", "directory to write the example datasets into")
	scale := fs.Float64("scale", 1, "size: 1 = 20 000 firms and 50 000 people over 24 months")
	months := fs.Int("months", 24, "months of monthly records")
	seed := fs.Uint64("seed", 1, "seed of the generator; the same seed gives the same files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := gen.Scale(*scale)
	opts.Months, opts.Seed = *months, *seed
	start := time.Now()
	if err := gen.Generate(ctx, *data, opts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generated example data in %s (scale %g, %d months) in %s\n", *data, *scale, *months, time.Since(start).Round(time.Millisecond))
	return nil
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var q queryFlags
	q.register(fs)
	scale := fs.Float64("scale", 1, "size of the generated example data")
	regen := fs.Bool("regenerate", false, "generate the data even if it exists")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(q.data, "enterprise.yaml")); err != nil || *regen {
		if err := runGen(ctx, []string{"-data", q.data, "-scale", fmt.Sprint(*scale)}, stdout, stderr); err != nil {
			return err
		}
	}
	svc, err := q.open(ctx)
	if err != nil {
		return err
	}
	defer svc.Close()
	for i, s := range scenarios {
		ob := q.obligations()
		ob.Epsilon, ob.L0, ob.Linf = s.eps, s.l0, s.linf
		fmt.Fprintf(stdout, "\n=== %d. %s\n    ε=%g L0=%d L∞=%d min units=%d\n", i+1, s.title, ob.Epsilon, ob.L0, ob.Linf, ob.MinUnits)
		res, err := svc.Query(ctx, service.QueryRequest{SQL: s.sql, Obligations: ob})
		if err != nil {
			return fmt.Errorf("scenario %d: %w", i+1, err)
		}
		if err := printRelease(stdout, res, q.format); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "\nA refused query, for contrast:")
	_, err = svc.Query(ctx, service.QueryRequest{SQL: "SELECT credit_code, tax_paid FROM tax_monthly", Obligations: q.obligations()})
	fmt.Fprintf(stdout, "  SELECT credit_code, tax_paid FROM tax_monthly\n  -> %v\n", err)
	return nil
}
