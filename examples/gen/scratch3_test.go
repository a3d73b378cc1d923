package gen

import (
	"os"
	"strings"
	"testing"
)

func TestScratchDump(t *testing.T) {
	if os.Getenv("DUMP") == "" {
		t.Skip()
	}
	o := Scale(10)
	o.Months = 80
	r := replacer(o)
	var out []string
	for _, s := range setupSQL() {
		if strings.Contains(s, "CREATE TABLE") || strings.Contains(s, "CREATE VIEW") {
			continue
		}
		out = append(out, r.Replace(s))
	}
	os.WriteFile(os.Getenv("DUMP"), []byte(strings.Join(out, "\x00")), 0o644)
}
