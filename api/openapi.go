package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed openapi.yaml
var openapiYAML []byte

var (
	openapiOnce sync.Once
	openapiJSON []byte
	openapiErr  error
)

// OpenAPI returns the OpenAPI 3.1 description of the API as JSON.
func OpenAPI() ([]byte, error) {
	openapiOnce.Do(func() {
		var doc any
		if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
			openapiErr = fmt.Errorf("openapi.yaml: %w", err)
			return
		}
		openapiJSON, openapiErr = json.MarshalIndent(doc, "", "  ")
	})
	return openapiJSON, openapiErr
}
