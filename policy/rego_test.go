package policy

import (
	"bytes"
	"context"
	"testing"
)

// TestRegoBundle runs the embedded bundle's Rego tests.
func TestRegoBundle(t *testing.T) {
	var out bytes.Buffer
	err := Test(context.Background(), "", &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}
