// Command gen writes Sluice's example datasets and their manifests into a
// directory, ready to be served as a catalog:
//
//	go run ./examples/cmd/gen -out data    # scale 1: 20 000 firms, 50 000 people, 24 months
//	go run ./examples/cmd/gen -out bench -bench -only enterprise,tax_monthly
//	                                       # 200 000 firms, 120 months: ≈ 10.4 million tax rows
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"sluice/examples/gen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gen:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write the Parquet files and manifests to (required)")
	scale := fs.Float64("scale", 1, "size: 1 is 20 000 firms and 50 000 people")
	months := fs.Int("months", 24, "months of monthly records, ending December 2025")
	seed := fs.Uint64("seed", 1, "the same seed gives the same files")
	bench := fs.Bool("bench", false, "the benchmark size: -scale 10 -months 120 (about 10 million rows of tax_monthly)")
	only := fs.String("only", "", "comma-separated datasets to write (default all: "+strings.Join(gen.Datasets, ",")+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gen -out DIR [-scale F] [-months N | -bench] [-seed N] [-only ID,…]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-out DIR is required and no other arguments are allowed")
	}
	if *scale <= 0 {
		return fmt.Errorf("-scale %g must be positive", *scale)
	}
	opts := gen.Scale(*scale)
	opts.Months = *months
	if *bench {
		var clash []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "scale" || f.Name == "months" {
				clash = append(clash, "-"+f.Name)
			}
		})
		if len(clash) > 0 {
			return fmt.Errorf("-bench sets the size; it cannot be combined with %s", strings.Join(clash, " and "))
		}
		opts = gen.Bench()
	}
	opts.Seed = *seed
	if *only != "" {
		for _, id := range strings.Split(*only, ",") {
			opts.Only = append(opts.Only, strings.TrimSpace(id))
		}
	}

	start := time.Now()
	if err := gen.Generate(ctx, *out, opts); err != nil {
		return err
	}
	elapsed := time.Since(start)
	counts, err := gen.RowCounts(ctx, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d firms, %d people, %d months, seed %d: %s\n", opts.Firms, opts.People, opts.Months, opts.Seed, elapsed.Round(time.Millisecond))
	for _, id := range gen.Datasets {
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, id) {
			continue
		}
		fmt.Fprintf(stdout, "  %-22s %10d rows\n", id, counts[id])
	}
	return nil
}
