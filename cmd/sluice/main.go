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
	"strings"

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

local commands (no server; --data DIR):
  query    run a query and print its differentially private release
  explain  print a query's plan, budget split and bounded SQL without running it
  demo     generate the example data and run the example queries
  gen      generate the example data only

server commands (--server URL --token T, or $SLUICE_SERVER and $SLUICE_TOKEN):
  query --authorization ID "SQL"      run a query under an authorization
  explain --authorization ID "SQL"    explain it without running or spending
  datasets                            the catalog
  register MANIFEST.yaml              register or update a dataset (owners)
  apply --purpose P --grant ds:c1,c2  apply for access (analysts)
  applications | due                  list applications | what reviewers must decide
  accept | approve | reject ID        review an application (reviewers)
  withdraw ID                         withdraw an application (analysts)
  authorizations                      list authorizations
  suspend | reinstate | revoke ID     change an authorization (reviewers; --reason)

other:
  dev token --sub S --org O --roles R mint a development token (demo key)
  policy test [--dir DIR]             run the policy bundle's Rego tests
  dataset import FILE --manifest M --data DIR --version V
                                      check a CSV/Parquet file against its manifest, print the
                                      data-quality report, publish it as a new version
  import FILE --dataset ID --version V  the same on the server (owners)
  audit verify [--data DIR]           check the audit chain and signatures; names the first bad event
  audit export [--data DIR] [filters] write the audit trail as NDJSON
  audit events [filters]              audit events from the server (auditors)

run 'sluice <command> -h' for a command's flags`

// remote reports whether query/explain flags name a server-side run.
func remote(args []string) bool {
	for _, a := range args {
		if a == "--authorization" || a == "-authorization" || strings.HasPrefix(a, "--authorization=") || strings.HasPrefix(a, "-authorization=") {
			return true
		}
	}
	return false
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "query", "explain":
		if remote(args[1:]) {
			return runRemoteQuery(ctx, args[0] == "explain", args[1:], stdout, stderr)
		}
		return runQuery(ctx, args[1:], stdout, stderr, args[0] == "explain")
	case "datasets", "register", "apply", "applications", "due", "accept", "approve", "reject", "withdraw",
		"authorizations", "suspend", "reinstate", "revoke":
		return runRemote(ctx, args[0], args[1:], stdout, stderr)
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "policy":
		return runPolicy(ctx, args[1:], stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], stdout, stderr)
	case "import":
		return runImport(ctx, args[1:], stdout, stderr)
	case "dataset":
		if len(args) > 1 && args[1] == "import" {
			return runImport(ctx, args[2:], stdout, stderr)
		}
		return errors.New("usage: sluice dataset import FILE --manifest M.yaml --data DIR --version V")
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
