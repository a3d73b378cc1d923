// Command sluice is Sluice's command-line client and admin tool.
//
//	sluice query   --data DIR --epsilon E "SQL"   run a query and print its private release
//	sluice explain --data DIR "SQL"               print the plan and bounded SQL, without running
//	sluice demo    [--data DIR]                   generate the example data and run the example queries
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"sluice"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var se *sluice.Error
		if errors.As(err, &se) {
			fmt.Fprintln(os.Stderr, "refused:", se.Error())
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

const usage = `usage: sluice <command> [flags]

commands:
  query    run a query and print its differentially private release
  explain  print a query's plan, budget split and bounded SQL without running it
  demo     generate the example data and run the example queries
  gen      generate the example data only

run 'sluice <command> -h' for a command's flags`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "query":
		return runQuery(ctx, args[1:], stdout, stderr, false)
	case "explain":
		return runQuery(ctx, args[1:], stdout, stderr, true)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "gen":
		return runGen(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
