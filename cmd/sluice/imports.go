package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"sluice"
	"sluice/storage"
	"sluice/storage/importer"
)

// runImport brings a CSV or Parquet file in as a new dataset version:
// locally (--data DIR, with --manifest) or on the server (--server).
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &client{out: stdout}
	c.register(fs)
	manifest := fs.String("manifest", "", "the dataset's manifest (local import)")
	data := fs.String("data", "", "catalog directory to publish into (local import)")
	dataset := fs.String("dataset", "", "dataset id (server import)")
	version := fs.String("version", "", "the new version")
	refuseDup := fs.Bool("refuse-duplicates", false, "refuse duplicate unit-period rows")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *version == "" {
		return fmt.Errorf("usage: sluice import FILE --version V (--manifest M.yaml --data DIR | --dataset ID --server URL)")
	}
	src := fs.Arg(0)
	format := "csv"
	if strings.HasSuffix(strings.ToLower(src), ".parquet") {
		format = "parquet"
	}
	if *data != "" {
		d, err := storage.LoadManifest(*manifest)
		if err != nil {
			return err
		}
		d.Version = *version
		rel := filepath.Join(d.ID, *version+".parquet")
		dst := filepath.Join(*data, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return err
		}
		report, err := importer.Import(ctx, src, d, dst, importer.Options{RefuseDuplicates: *refuseDup})
		if report != nil {
			fmt.Fprint(stdout, report.Text())
		}
		if err != nil {
			return err
		}
		// Publish: the manifest is replaced in one rename.
		d.Location, d.Checksum = rel, report.OutputChecksum
		b, err := yaml.Marshal(d)
		if err != nil {
			return err
		}
		path := filepath.Join(*data, d.ID+".yaml")
		if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "published %s version %s (%s)\n", d.ID, d.Version, rel)
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(c.server, "/")+"/v1/datasets/"+*dataset+"/versions?format="+format+"&version="+*version, f)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Error   *sluice.Error    `json:"error"`
		Report  *importer.Report `json:"report"`
		Dataset *sluice.Dataset  `json:"dataset"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("import: %s", resp.Status)
	}
	if body.Report != nil {
		fmt.Fprint(stdout, body.Report.Text())
	}
	if body.Error != nil {
		return body.Error
	}
	if body.Dataset == nil {
		return errors.New("import: no dataset in the answer")
	}
	fmt.Fprintf(stdout, "published %s version %s (%s)\n", body.Dataset.ID, body.Dataset.Version, body.Dataset.Location)
	return nil
}
