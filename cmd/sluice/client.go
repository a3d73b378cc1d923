package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"sluice"
	"sluice/auth"
	"sluice/policy"
	"sluice/service"
	"sluice/storage"
)

// client talks to a sluiced server.
type client struct {
	server string
	token  string
	format string
	out    io.Writer
}

func (c *client) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", envOr("SLUICE_SERVER", "http://127.0.0.1:8470"), "sluiced address ($SLUICE_SERVER)")
	fs.StringVar(&c.token, "token", os.Getenv("SLUICE_TOKEN"), "bearer token ($SLUICE_TOKEN)")
	fs.StringVar(&c.format, "format", "table", "output: table or json")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// call sends a JSON request and decodes the JSON answer into out; a
// refusal comes back as a *sluice.Error.
func (c *client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.server, "/")+path, rd)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error *sluice.Error }
		if json.Unmarshal(b, &e) == nil && e.Error != nil {
			return e.Error
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = b
		return nil
	}
	return json.Unmarshal(b, out)
}

// show prints v as JSON, or calls table for people.
func (c *client) show(v any, table func(w *tabwriter.Writer)) error {
	if c.format == "json" {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// grants parses dataset:col1,col2 flags.
type grants []sluice.Grant

func (g *grants) String() string { return fmt.Sprint(*g) }
func (g *grants) Set(s string) error {
	ds, cols, ok := strings.Cut(s, ":")
	if !ok || ds == "" || cols == "" {
		return fmt.Errorf("--grant %q: want dataset:column,column", s)
	}
	*g = append(*g, sluice.Grant{Dataset: ds, Columns: strings.Split(cols, ",")})
	return nil
}

func runRemote(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &client{out: stdout}
	c.register(fs)
	switch cmd {
	case "datasets":
		if err := parseInterspersed(fs, args); err != nil {
			return err
		}
		var r struct{ Datasets []sluice.Dataset }
		if err := c.call(ctx, "GET", "/v1/datasets", nil, &r); err != nil {
			return err
		}
		return c.show(r, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tOPEN\tLEVEL\tOWNER\tUNIT\tCOLUMNS\tTITLE")
			for _, d := range r.Datasets {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d\t%s\n", d.ID, d.Open, d.Level, d.Owner, d.Unit, len(d.Columns), d.Title)
			}
		})
	case "register":
		if err := parseInterspersed(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("register takes one manifest file")
		}
		d, err := storage.LoadManifest(fs.Arg(0))
		if err != nil {
			return err
		}
		d.Location = filepath.Base(d.Location)
		var out sluice.Dataset
		if err := c.call(ctx, "PUT", "/v1/datasets/"+d.ID, d, &out); err != nil {
			return err
		}
		return c.show(out, func(w *tabwriter.Writer) { fmt.Fprintf(w, "registered %s version %s\n", out.ID, out.Version) })
	case "apply":
		var g grants
		fs.Var(&g, "grant", "dataset:column,column (repeat)")
		purpose := fs.String("purpose", "", "application scenario, e.g. inclusive-finance-sme-credit")
		from := fs.String("from", time.Now().Format("2006-01-02"), "valid from (YYYY-MM-DD)")
		until := fs.String("until", time.Now().AddDate(0, 6, 0).Format("2006-01-02"), "valid until (YYYY-MM-DD)")
		eps := fs.Float64("epsilon", 5, "total ε")
		delta := fs.Float64("delta", 1e-5, "total δ")
		epq := fs.Float64("epsilon-per-query", 0.5, "ε cap per query")
		dpq := fs.Float64("delta-per-query", 1e-6, "δ cap per query")
		minUnits := fs.Int64("min-units", 10, "minimum units per released group")
		if err := parseInterspersed(fs, args); err != nil {
			return err
		}
		vf, err := time.Parse("2006-01-02", *from)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		vu, err := time.Parse("2006-01-02", *until)
		if err != nil {
			return fmt.Errorf("--until: %w", err)
		}
		terms := sluice.Terms{Purpose: *purpose, Grants: g, ValidFrom: vf, ValidUntil: vu, MinUnits: *minUnits,
			Budget: sluice.Budget{Epsilon: *eps, Delta: *delta, EpsilonPerQuery: *epq, DeltaPerQuery: *dpq}}
		var a sluice.Application
		if err := c.call(ctx, "POST", "/v1/applications", map[string]any{"terms": terms}, &a); err != nil {
			return err
		}
		return c.show(a, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "application %s submitted; decision due by %s\n", a.ID, a.DueAt.Format("2006-01-02"))
		})
	case "applications", "due":
		if err := parseInterspersed(fs, args); err != nil {
			return err
		}
		path := "/v1/applications"
		if cmd == "due" {
			path = "/v1/reviews/due"
		}
		var r struct {
			Applications []struct {
				sluice.Application
				Overdue bool `json:"overdue"`
			}
		}
		if err := c.call(ctx, "GET", path, nil, &r); err != nil {
			return err
		}
		return c.show(r, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tSTATE\tORGANISATION\tPURPOSE\tDUE\tOVERDUE\tAUTHORIZATION")
			for _, a := range r.Applications {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%t\t%s\n", a.ID, a.State, a.Organisation, a.Terms.Purpose, a.DueAt.Format("2006-01-02"), a.Overdue, a.Authorization)
			}
		})
	case "accept", "reject", "withdraw", "approve":
		reason := fs.String("reason", "", "why")
		var g grants
		fs.Var(&g, "grant", "narrow to dataset:column,column (approve; repeat)")
		eps := fs.Float64("epsilon", 0, "lower total ε (approve)")
		epq := fs.Float64("epsilon-per-query", 0, "lower ε cap per query (approve)")
		minUnits := fs.Int64("min-units", 0, "raise the minimum units (approve)")
		if err := parseInterspersed(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("%s takes one application id", cmd)
		}
		id := fs.Arg(0)
		if cmd == "approve" {
			ap := service.Approval{Reason: *reason, MinUnits: *minUnits}
			if len(g) > 0 {
				ap.Grants = g
			}
			if *eps > 0 || *epq > 0 {
				var app sluice.Application
				if err := c.call(ctx, "GET", "/v1/applications/"+id, nil, &app); err != nil {
					return err
				}
				b := app.Terms.Budget
				if *eps > 0 {
					b.Epsilon = *eps
				}
				if *epq > 0 {
					b.EpsilonPerQuery = *epq
				}
				ap.Budget = &b
			}
			var a sluice.Authorization
			if err := c.call(ctx, "POST", "/v1/applications/"+id+"/approve", ap, &a); err != nil {
				return err
			}
			return c.show(a, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "approved: authorization %s (ε %g, %g per query) valid until %s\n", a.ID, a.Terms.Budget.Epsilon, a.Terms.Budget.EpsilonPerQuery, a.Terms.ValidUntil.Format("2006-01-02"))
			})
		}
		var a sluice.Application
		if err := c.call(ctx, "POST", "/v1/applications/"+id+"/"+cmd, map[string]string{"reason": *reason}, &a); err != nil {
			return err
		}
		return c.show(a, func(w *tabwriter.Writer) { fmt.Fprintf(w, "application %s is now %s\n", a.ID, a.State) })
	case "authorizations":
		if err := parseInterspersed(fs, args); err != nil {
			return err
		}
		var r struct{ Authorizations []sluice.Authorization }
		if err := c.call(ctx, "GET", "/v1/authorizations", nil, &r); err != nil {
			return err
		}
		return c.show(r, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tSTATE\tORGANISATION\tPURPOSE\tε\tε/QUERY\tUNTIL")
			for _, a := range r.Authorizations {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%g\t%g\t%s\n", a.ID, a.State, a.Organisation, a.Terms.Purpose, a.Terms.Budget.Epsilon, a.Terms.Budget.EpsilonPerQuery, a.Terms.ValidUntil.Format("2006-01-02"))
			}
		})
	case "suspend", "reinstate", "revoke":
		reason := fs.String("reason", "", "why (required)")
		if err := parseInterspersed(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("%s takes one authorization id", cmd)
		}
		var a sluice.Authorization
		if err := c.call(ctx, "POST", "/v1/authorizations/"+fs.Arg(0)+"/"+cmd, map[string]string{"reason": *reason}, &a); err != nil {
			return err
		}
		return c.show(a, func(w *tabwriter.Writer) { fmt.Fprintf(w, "authorization %s is now %s\n", a.ID, a.State) })
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// runRemoteQuery runs or explains a query on the server.
func runRemoteQuery(ctx context.Context, explain bool, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &client{out: stdout}
	c.register(fs)
	authz := fs.String("authorization", "", "authorization id")
	eps := fs.Float64("epsilon", 0, "ε for this query (0 = the authorization's per-query cap)")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("query takes exactly one SQL argument")
	}
	run := service.Run{Authorization: *authz, SQL: fs.Arg(0), Epsilon: *eps}
	path := "/v1/queries"
	if explain {
		path = "/v1/queries:explain"
	}
	var resp struct {
		Release    *sluice.Release      `json:"release"`
		Plan       *sluice.Plan         `json:"plan"`
		Explain    *service.Explanation `json:"explain"`
		DurationMS int64                `json:"duration_ms"`
	}
	var raw json.RawMessage
	if err := c.call(ctx, "POST", path, run, &raw); err != nil {
		return err
	}
	if c.format == "json" {
		_, err := stdout.Write(raw)
		return err
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return err
	}
	if explain {
		return printExplanation(stdout, resp.Explain, "table")
	}
	return printRelease(stdout, &service.Result{Plan: resp.Plan, Release: resp.Release, Duration: time.Duration(resp.DurationMS) * time.Millisecond}, "table")
}

// runDev mints development tokens with the demo signing key.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "token" {
		return fmt.Errorf("usage: sluice dev token --data DIR --sub NAME --org ORG --roles analyst[,reviewer]")
	}
	fs := flag.NewFlagSet("dev token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "sluice-data", "the server's data directory (holds dev/signing.pem)")
	sub := fs.String("sub", "", "subject")
	org := fs.String("org", "", "organisation")
	roles := fs.String("roles", "analyst", "comma-separated roles")
	ttl := fs.Duration("ttl", 12*time.Hour, "lifetime")
	issuer := fs.String("issuer", "sluice-dev", "issuer")
	audience := fs.String("audience", "sluice", "audience")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	key, err := auth.ReadKeyFile(filepath.Join(*data, "dev", "signing.pem"))
	if err != nil {
		return fmt.Errorf("%w (start sluiced with -demo once to create it)", err)
	}
	alg, err := auth.Algorithm(key.Public())
	if err != nil {
		return err
	}
	m, err := auth.NewMinter(alg, key, "dev-1", *issuer, *audience)
	if err != nil {
		return err
	}
	tok, err := m.Mint(sluice.Principal{Subject: *sub, Organisation: *org, Roles: strings.Split(*roles, ",")}, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// runPolicy runs the policy bundle's Rego tests.
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "test" {
		return fmt.Errorf("usage: sluice policy test [--dir DIR]")
	}
	fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "policy directory (default: the embedded bundle)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	return policy.Test(ctx, *dir, stdout)
}

// parseInterspersed parses flags that may come before or after the
// positional arguments ("approve ID --reason x").
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}
