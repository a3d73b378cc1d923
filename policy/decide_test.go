package policy

import (
	"context"
	"errors"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sluice"
)

// decisionCases judge alice's tax query, and variations of it, with the
// default bundle.
var decisionCases = []struct {
	name   string
	change func(in *Input)
	// allow, or the deny reasons' rule ids and what their messages name
	allow    bool
	rules    []string
	messages []string
	want     *sluice.Obligations // checked when allowed
}{
	{
		name:  "happy path",
		allow: true,
		want: &sluice.Obligations{Epsilon: 1, Delta: 1e-6, MinUnits: 20, L0: 2, Linf: 12, Noise: sluice.NoiseLaplace,
			Aggregates: []sluice.AggFunc{"count", "count_units", "sum", "avg"}, MaxGroups: 1000},
	},
	{
		name:   "request below the cap is what is charged",
		change: func(in *Input) { in.Request = Request{Epsilon: 0.3, Delta: 2e-7} },
		allow:  true,
		want: &sluice.Obligations{Epsilon: 0.3, Delta: 2e-7, MinUnits: 20, L0: 2, Linf: 12, Noise: sluice.NoiseLaplace,
			Aggregates: []sluice.AggFunc{"count", "count_units", "sum", "avg"}, MaxGroups: 1000},
	},
	{
		name: "closed dataset",
		change: func(in *Input) {
			in.Plan = &sluice.Plan{Datasets: []string{"court_cases"}, Aggregates: []sluice.Aggregate{{Name: "n", Func: sluice.AggCount}}}
		},
		rules:    []string{"dataset.closed"},
		messages: []string{"dataset court_cases is closed"},
	},
	{
		name:   "open dataset without authorization",
		change: func(in *Input) { in.Authorization, in.Plan = nil, busPlan() },
		allow:  true,
		want:   &sluice.Obligations{Epsilon: 1, Delta: 1e-6, MinUnits: 10, L0: 4, Linf: 12, Noise: sluice.NoiseLaplace, Aggregates: []sluice.AggFunc{}, MaxGroups: 1000},
	},
	{
		name:     "conditional without authorization",
		change:   func(in *Input) { in.Authorization = nil },
		rules:    []string{"authorization.missing", "authorization.missing"},
		messages: []string{"dataset enterprise is conditional", "dataset tax_monthly is conditional"},
	},
	{
		name:     "wrong organisation",
		change:   func(in *Input) { in.Principal.Organisation = "bank-b" },
		rules:    []string{"authorization.organisation"},
		messages: []string{"authorization authz-1 does not belong to organisation bank-b"},
	},
	{
		name:     "principal not listed",
		change:   func(in *Input) { in.Principal.Subject = "carol" },
		rules:    []string{"authorization.principal"},
		messages: []string{"not granted to principal carol"},
	},
	{
		name:   "no principals listed: the whole organisation",
		change: func(in *Input) { in.Principal.Subject, in.Authorization.Principals = "carol", nil },
		allow:  true,
	},
	{
		name:     "suspended",
		change:   func(in *Input) { in.Authorization.State = sluice.AuthSuspended },
		rules:    []string{"authorization.inactive"},
		messages: []string{"authorization authz-1 is suspended"},
	},
	{
		name:     "revoked",
		change:   func(in *Input) { in.Authorization.State = sluice.AuthRevoked },
		rules:    []string{"authorization.inactive"},
		messages: []string{"authorization authz-1 is revoked"},
	},
	{
		name:     "expired by date",
		change:   func(in *Input) { in.Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
		rules:    []string{"authorization.inactive"},
		messages: []string{"authorization authz-1 is expired (valid from 2025-01-01T00:00:00Z until 2026-01-01T00:00:00Z)"},
	},
	{
		name:     "not yet valid",
		change:   func(in *Input) { in.Time = time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC) },
		rules:    []string{"authorization.inactive"},
		messages: []string{"is expired"},
	},
	{
		name:     "dataset not granted",
		change:   func(in *Input) { in.Authorization.Terms.Grants = in.Authorization.Terms.Grants[:1] },
		rules:    []string{"authorization.dataset"},
		messages: []string{"authorization authz-1 does not grant dataset tax_monthly"},
	},
	{
		name: "column not granted, named",
		change: func(in *Input) {
			in.Plan.Columns = append(in.Plan.Columns, sluice.ColumnUse{Dataset: "enterprise", Column: "founded", Role: sluice.RoleAttribute, Usage: "filter"})
		},
		rules:    []string{"authorization.column"},
		messages: []string{"does not grant column(s) founded of dataset enterprise"},
	},
	{
		name: "unit column implicitly granted",
		change: func(in *Input) {
			in.Plan = &sluice.Plan{
				Datasets:   []string{"tax_monthly"},
				Columns:    []sluice.ColumnUse{{Dataset: "tax_monthly", Column: "credit_code", Role: sluice.RoleUnit, Usage: "aggregate"}},
				Aggregates: []sluice.Aggregate{{Name: "firms", Func: sluice.AggCountUnits, SQL: "count(DISTINCT credit_code)"}},
			}
		},
		allow: true,
	},
	{
		name: "identifier never readable",
		change: func(in *Input) {
			in.Authorization.Terms.Grants[0].Columns = append(in.Authorization.Terms.Grants[0].Columns, "name")
			in.Plan.Columns = append(in.Plan.Columns, sluice.ColumnUse{Dataset: "enterprise", Column: "name", Role: sluice.RoleIdentifier, Usage: "filter"})
		},
		rules:    []string{"column.identifier"},
		messages: []string{"column name of dataset enterprise is a direct identifier"},
	},
	{
		name: "aggregate not allowed",
		change: func(in *Input) {
			in.Authorization.Terms.Aggregates = []sluice.AggFunc{sluice.AggCount, sluice.AggCountUnits}
		},
		rules:    []string{"authorization.aggregate"},
		messages: []string{"does not allow aggregate sum"},
	},
	{
		name: "level-4 purpose not on the list",
		change: func(in *Input) {
			in.Plan = &sluice.Plan{
				Datasets:   []string{"clinic_visits"},
				Columns:    []sluice.ColumnUse{{Dataset: "clinic_visits", Column: "diagnosis", Role: sluice.RoleDimension, Usage: "group"}},
				Aggregates: []sluice.Aggregate{{Name: "patients", Func: sluice.AggCountUnits}},
			}
		},
		rules:    []string{"classification.purpose"},
		messages: []string{`dataset clinic_visits is classified level 4: purpose "inclusive-finance-sme-credit"`},
	},
	{
		name: "level-4 purpose on the list",
		change: func(in *Input) {
			in.Authorization.Terms.Purpose = "public-health-research"
			in.Plan = &sluice.Plan{
				Datasets:   []string{"clinic_visits"},
				Columns:    []sluice.ColumnUse{{Dataset: "clinic_visits", Column: "diagnosis", Role: sluice.RoleDimension, Usage: "group"}},
				Aggregates: []sluice.Aggregate{{Name: "patients", Func: sluice.AggCountUnits}},
			}
		},
		allow: true,
	},
	{
		name:     "per-query ε above the cap",
		change:   func(in *Input) { in.Request.Epsilon = 1.5 },
		rules:    []string{"budget.per_query"},
		messages: []string{"requested ε 1.5 is above the per-query cap 1 of authorization authz-1"},
	},
	{
		name:     "per-query δ above the cap",
		change:   func(in *Input) { in.Request.Delta = 1e-4 },
		rules:    []string{"budget.per_query"},
		messages: []string{"requested δ"},
	},
	{
		name:     "only analysts query",
		change:   func(in *Input) { in.Principal.Roles = []string{sluice.RoleAdmin} },
		rules:    []string{"role.analyst"},
		messages: []string{"principal alice does not hold the analyst role"},
	},
	{
		name:     "dataset not in the catalog",
		change:   func(in *Input) { in.Datasets["tax_monthly"] = nil },
		rules:    []string{"dataset.unknown"},
		messages: []string{"dataset tax_monthly is not in the catalog"},
	},
	{
		name: "several reasons at once",
		change: func(in *Input) {
			in.Authorization.State = sluice.AuthSuspended
			in.Request.Epsilon = 3
		},
		rules: []string{"authorization.inactive", "budget.per_query"},
	},
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestDecide runs the decision table twice: with the authorization in the
// input, and with it held in the engine's store and named by id. Both
// designs must decide alike.
func TestDecide(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, Options{})
	for _, mode := range []string{"input", "store"} {
		t.Run(mode, func(t *testing.T) {
			for _, tc := range decisionCases {
				t.Run(tc.name, func(t *testing.T) {
					in := query()
					if tc.change != nil {
						tc.change(&in)
					}
					if mode == "store" && in.Authorization != nil {
						if err := e.SetAuthorizations(ctx, []*sluice.Authorization{in.Authorization}); err != nil {
							t.Fatal(err)
						}
						in.AuthorizationID, in.Authorization = in.Authorization.ID, nil
					}
					d, err := e.Decide(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					checkDecision(t, e, d)
					if d.Allow != tc.allow {
						t.Fatalf("allow = %v, want %v; deny = %+v", d.Allow, tc.allow, d.Deny)
					}
					var rules, messages []string
					for _, r := range d.Deny {
						rules, messages = append(rules, r.Rule), append(messages, r.Message)
					}
					if !slices.Equal(rules, tc.rules) {
						t.Errorf("rules = %q, want %q", rules, tc.rules)
					}
					for _, want := range tc.messages {
						if !slices.ContainsFunc(messages, func(m string) bool { return strings.Contains(m, want) }) {
							t.Errorf("no message names %q: %q", want, messages)
						}
					}
					if tc.want != nil && !reflect.DeepEqual(d.Obligations, *tc.want) {
						t.Errorf("obligations = %+v, want %+v", d.Obligations, *tc.want)
					}
					if !tc.allow && !reflect.DeepEqual(d.Obligations, sluice.Obligations{}) {
						t.Errorf("a refusal carries obligations %+v", d.Obligations)
					}
				})
			}
		})
	}
}

func checkDecision(t *testing.T, e *Engine, d *sluice.Decision) {
	t.Helper()
	if !hexID.MatchString(d.ID) {
		t.Errorf("decision id %q is not 32 hex digits", d.ID)
	}
	if d.Revision != e.Revision() || len(d.Revision) != 12 {
		t.Errorf("revision = %q, want the engine's %q (12 hex digits)", d.Revision, e.Revision())
	}
}

func TestDecideStoredAuthorizationUnknown(t *testing.T) {
	e := newEngine(t, Options{})
	in := query()
	in.Authorization, in.AuthorizationID = nil, "authz-404"
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || len(d.Deny) != 1 || d.Deny[0].Rule != "authorization.missing" || !strings.Contains(d.Deny[0].Message, "authz-404") {
		t.Fatalf("decision = %+v", d)
	}
}

func TestDecideIDsDiffer(t *testing.T) {
	e := newEngine(t, Options{})
	a, err := e.Decide(context.Background(), query())
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Decide(context.Background(), query())
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID {
		t.Fatalf("two decisions share the id %s", a.ID)
	}
}

func TestDecideUsesClock(t *testing.T) {
	expired := func() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }
	e := newEngine(t, Options{Now: expired})
	d, err := e.Decide(context.Background(), query())
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || d.Deny[0].Rule != "authorization.inactive" || !strings.Contains(d.Deny[0].Message, "expired") {
		t.Fatalf("decision = %+v", d)
	}
}

func TestDecideInvalidInput(t *testing.T) {
	e := newEngine(t, Options{})
	for name, change := range map[string]func(*Input){
		"no plan":          func(in *Input) { in.Plan = nil },
		"negative epsilon": func(in *Input) { in.Request.Epsilon = -1 },
		"negative delta":   func(in *Input) { in.Request.Delta = -1e-9 },
		"infinite epsilon": func(in *Input) { in.Request.Epsilon = math.Inf(1) },
	} {
		t.Run(name, func(t *testing.T) {
			in := query()
			change(&in)
			_, err := e.Decide(context.Background(), in)
			var se *sluice.Error
			if !errors.As(err, &se) || se.Code != sluice.EINVALID || se.Step != sluice.StepPolicy {
				t.Fatalf("err = %v, want an invalid-input error of the policy step", err)
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	e := newEngine(t, Options{})
	in := query()
	in.Authorization.State = sluice.AuthRevoked
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	err = Refusal(d)
	var se *sluice.Error
	if !errors.As(err, &se) || se.Code != sluice.EFORBIDDEN || se.Step != sluice.StepPolicy || se.Rule != "authorization.inactive" {
		t.Fatalf("Refusal = %#v", err)
	}
	if got := sluice.ErrorMessage(err); got != "policy: authorization authz-1 is revoked [authorization.inactive]" {
		t.Errorf("message = %q", got)
	}
	ok, err := e.Decide(context.Background(), query())
	if err != nil {
		t.Fatal(err)
	}
	if Refusal(ok) != nil {
		t.Error("Refusal of an allowed decision is not nil")
	}
}

// malformedPolicy answers mallory with the given decision and everyone else
// with a well-formed refusal (which the self-check at load time needs).
func malformedPolicy(decision string) string {
	return `package sluice

decision := {"allow": false, "deny": [{"rule": "test.deny", "message": "refused"}], "obligations": {}} if input.principal.subject != "mallory"

decision := ` + decision + ` if input.principal.subject == "mallory"
`
}

// TestDecideFailsClosed checks that a decision of the wrong shape is an
// internal error, never an allowed query.
func TestDecideFailsClosed(t *testing.T) {
	obligations := `{"epsilon": 1, "delta": 0, "min_units": 10, "l0": 1, "linf": 1, "noise": "laplace", "aggregates": [], "max_groups": 10}`
	for name, decision := range map[string]string{
		"allow missing":          `{"deny": [], "obligations": ` + obligations + `}`,
		"allow not a boolean":    `{"allow": "yes", "deny": [], "obligations": ` + obligations + `}`,
		"deny not an array":      `{"allow": true, "deny": "none", "obligations": ` + obligations + `}`,
		"reason without rule":    `{"allow": false, "deny": [{"message": "no"}], "obligations": {}}`,
		"allow with reasons":     `{"allow": true, "deny": [{"rule": "x", "message": "y"}], "obligations": ` + obligations + `}`,
		"refusal without reason": `{"allow": false, "deny": [], "obligations": {}}`,
		"obligations missing":    `{"allow": true, "deny": []}`,
		"epsilon a string":       `{"allow": true, "deny": [], "obligations": object.union(` + obligations + `, {"epsilon": "lots"})}`,
		"epsilon zero":           `{"allow": true, "deny": [], "obligations": object.union(` + obligations + `, {"epsilon": 0})}`,
		"l0 fractional":          `{"allow": true, "deny": [], "obligations": object.union(` + obligations + `, {"l0": 1.5})}`,
		"unknown noise":          `{"allow": true, "deny": [], "obligations": object.union(` + obligations + `, {"noise": "none"})}`,
		"not an object":          `true`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "policy.rego", malformedPolicy(decision))
			e := newEngine(t, Options{Dir: dir})
			in := query()
			in.Principal.Subject = "mallory"
			d, err := e.Decide(context.Background(), in)
			if err == nil {
				t.Fatalf("decision = %+v, want an error", d)
			}
			if sluice.ErrorCode(err) != sluice.EINTERNAL {
				t.Errorf("code = %s, want internal: %v", sluice.ErrorCode(err), err)
			}
			if d != nil {
				t.Errorf("a decision came with the error: %+v", d)
			}
			t.Log(err)
		})
	}
}

// TestDecideEvalError checks that a policy that fails at evaluation (two
// values for one complete rule) refuses with an internal error.
func TestDecideEvalError(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "policy.rego", `package sluice

decision := {"allow": false, "deny": [{"rule": "test.deny", "message": "refused"}], "obligations": {}}

decision := {"allow": true} if input.principal.subject == "mallory"
`)
	e := newEngine(t, Options{Dir: dir})
	in := query()
	in.Principal.Subject = "mallory"
	_, err := e.Decide(context.Background(), in)
	if sluice.ErrorCode(err) != sluice.EINTERNAL || !strings.Contains(err.Error(), "eval_conflict_error") {
		t.Fatalf("err = %v, want an internal error with the conflict", err)
	}
	if got := sluice.ErrorMessage(err); strings.Contains(got, "conflict") {
		t.Errorf("the user sees internals: %q", got)
	}
}

// TestNewRefusesPolicies checks the self-check: a policy that does not
// answer, or allows a principal without roles, is not loaded.
func TestNewRefusesPolicies(t *testing.T) {
	for name, policy := range map[string]string{
		"no decision":   "package sluice\n\nallow := true\n",
		"allows anyone": "package sluice\n\ndecision := {\"allow\": true, \"deny\": [], \"obligations\": {\"epsilon\": 1, \"delta\": 0, \"min_units\": 1, \"l0\": 1, \"linf\": 1, \"noise\": \"laplace\", \"aggregates\": [], \"max_groups\": 1}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "policy.rego", policy)
			if _, err := New(context.Background(), Options{Dir: dir}); err == nil {
				t.Fatal("New loaded the policy")
			} else {
				t.Log(err)
			}
		})
	}
}

func TestRevisionIsStable(t *testing.T) {
	embedded := newEngine(t, Options{})
	copied := newEngine(t, Options{Dir: copyBundle(t)})
	if embedded.Revision() != copied.Revision() {
		t.Fatalf("the same bundle has revisions %s and %s", embedded.Revision(), copied.Revision())
	}
}
