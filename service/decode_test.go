package service

import (
	"testing"
	"time"

	"sluice"
	"sluice/privacy"
)

// A date key present in the data matches its declared domain value, so
// filling the domain adds only the missing combinations.
func TestFillDomainsMatchesDates(t *testing.T) {
	plan := &sluice.Plan{PublicGroups: true, Groups: []sluice.GroupKey{{Name: "month", Domain: []string{"2025-01-01", "2025-02-01"}}}}
	have := []privacy.Group{{Keys: []any{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}}
	got, err := fillDomains(plan, have)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Keys[0] != "2025-02-01" {
		t.Errorf("filled %+v", got)
	}
}
