package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"sluice"
	"sluice/storage/audit"
)

// runAudit verifies and exports the audit trail (locally, from its file),
// or lists events from the server.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: sluice audit verify|export|events [flags]")
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "sluice-data", "the server's data directory")
	file := fs.String("file", "", "audit log file (default DATA/audit/audit.log)")
	key := fs.String("key", "", "public key file (default DATA/audit/signing.pub)")
	var f audit.Filter
	fs.StringVar(&f.Principal, "principal", "", "only this principal")
	fs.StringVar(&f.Dataset, "dataset", "", "only events on this dataset")
	fs.StringVar(&f.Authorization, "authorization", "", "only this authorization")
	fs.StringVar(&f.Kind, "kind", "", "only this kind (query, authorization.suspended, …)")
	since := fs.String("since", "", "RFC 3339 time")
	c := &client{out: stdout}
	if args[0] == "events" {
		c.register(fs)
	}
	if err := parseInterspersed(fs, args[1:]); err != nil {
		return err
	}
	if *since != "" {
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		f.Since = t
	}
	if *file == "" {
		*file = filepath.Join(*data, "audit", "audit.log")
	}
	if *key == "" {
		*key = filepath.Join(*data, "audit", "signing.pub")
	}
	switch args[0] {
	case "verify":
		pub, err := audit.ReadPublicKey(*key)
		if err != nil {
			return err
		}
		rep, err := audit.VerifyFile(*file, map[string]ed25519.PublicKey{audit.KeyID(pub): pub})
		if rep != nil {
			fmt.Fprintf(stdout, "%s: %d records, %d signed checkpoints, last seq %d, %d events after the last checkpoint\n",
				*file, rep.Events, rep.Checkpoints, rep.LastSeq, rep.UnsignedTail)
			if rep.FirstBad != nil {
				fmt.Fprintf(stdout, "FIRST BAD EVENT: line %d (seq %d): %s\n", rep.FirstBad.Line, rep.FirstBad.Seq, rep.FirstBad.Reason)
			}
		}
		if err != nil {
			return err
		}
		if rep.FirstBad != nil {
			return fmt.Errorf("the audit log does not verify")
		}
		fmt.Fprintln(stdout, "OK: the chain and every checkpoint signature verify")
		return nil
	case "export":
		r, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer r.Close()
		return audit.Export(r, stdout, f)
	case "events":
		q := url.Values{}
		for k, v := range map[string]string{"principal": f.Principal, "dataset": f.Dataset, "authorization": f.Authorization, "kind": f.Kind, "since": *since} {
			if v != "" {
				q.Set(k, v)
			}
		}
		var r struct{ Events []sluice.AuditEvent }
		if err := c.call(ctx, "GET", "/v1/audit?"+q.Encode(), nil, &r); err != nil {
			return err
		}
		return c.show(r, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "SEQ\tTIME\tKIND\tPRINCIPAL\tAUTHORIZATION\tOUTCOME\tε")
			for _, e := range r.Events {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%g\n", e.Seq, e.Time.Format(time.RFC3339), e.Kind, e.Principal, e.Authorization, e.Outcome, e.Epsilon)
			}
		})
	}
	return fmt.Errorf("unknown audit command %q", args[0])
}
