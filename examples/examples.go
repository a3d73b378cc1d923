// Package examples holds Sluice's example catalog: the manifests of the
// generated datasets a demo or a benchmark runs on (see package
// sluice/examples/gen for the data).
package examples

import "embed"

// Manifests holds the example catalog's YAML manifests, under catalog/.
// Their locations are "<id>.parquet", relative to the manifest, so the
// generator writes them next to the Parquet files it creates.
//
//go:embed catalog/*.yaml
var Manifests embed.FS
