# Fixtures shared by the policy tests: a small catalog, an analyst of
# bank-a, an active authorization and a plan over two conditional datasets.
package sluice_test

catalog := {
	"enterprise": {
		"id": "enterprise", "level": 2, "open": "conditional", "unit": "credit_code",
		"columns": [
			{"name": "credit_code", "role": "unit"},
			{"name": "name", "role": "identifier"},
			{"name": "district", "role": "dimension"},
			{"name": "industry", "role": "dimension"},
			{"name": "registered_capital", "role": "measure"},
		],
	},
	"tax_monthly": {
		"id": "tax_monthly", "level": 3, "open": "conditional", "unit": "credit_code",
		"columns": [
			{"name": "credit_code", "role": "unit"},
			{"name": "month", "role": "dimension"},
			{"name": "tax_paid", "role": "measure"},
		],
	},
	"bus_stops": {
		"id": "bus_stops", "level": 1, "open": "open", "unit": "stop_id",
		"columns": [
			{"name": "stop_id", "role": "unit"},
			{"name": "district", "role": "dimension"},
		],
	},
	"court_cases": {
		"id": "court_cases", "level": 3, "open": "closed", "unit": "case_id",
		"columns": [{"name": "case_id", "role": "unit"}],
	},
	"clinic_visits": {
		"id": "clinic_visits", "level": 4, "open": "conditional", "unit": "person_id",
		"columns": [
			{"name": "person_id", "role": "unit"},
			{"name": "diagnosis", "role": "dimension"},
		],
	},
}

analyst := {"subject": "alice", "organisation": "bank-a", "roles": ["analyst"]}

authorization := {
	"id": "authz-1",
	"organisation": "bank-a",
	"principals": ["alice"],
	"state": "active",
	"effective_state": "active",
	"terms": {
		"purpose": "inclusive-finance-sme-credit",
		"grants": [
			{"dataset": "enterprise", "columns": ["district", "industry", "registered_capital"]},
			{"dataset": "tax_monthly", "columns": ["month", "tax_paid"]},
			{"dataset": "clinic_visits", "columns": ["diagnosis"]},
		],
		"valid_from": "2025-01-01T00:00:00Z",
		"valid_until": "2026-01-01T00:00:00Z",
		"budget": {"epsilon": 10, "delta": 1e-5, "epsilon_per_query": 1, "delta_per_query": 1e-6},
		"min_units": 20,
		"aggregates": ["count", "count_units", "sum", "avg"],
		"l0": 2,
	},
}

plan := {
	"datasets": ["enterprise", "tax_monthly"],
	"columns": [
		{"dataset": "enterprise", "column": "credit_code", "role": "unit", "usage": "join"},
		{"dataset": "tax_monthly", "column": "credit_code", "role": "unit", "usage": "join"},
		{"dataset": "enterprise", "column": "district", "role": "dimension", "usage": "group"},
		{"dataset": "tax_monthly", "column": "tax_paid", "role": "measure", "usage": "aggregate"},
	],
	"aggregates": [
		{"name": "n", "func": "count_units", "sql": "count(DISTINCT credit_code)"},
		{"name": "total", "func": "sum", "sql": "sum(tax_paid)"},
	],
}

query := {
	"principal": analyst,
	"authorization": authorization,
	"datasets": catalog,
	"plan": plan,
	"request": {"epsilon": 0, "delta": 0},
}

open_plan := {
	"datasets": ["bus_stops"],
	"columns": [{"dataset": "bus_stops", "column": "district", "role": "dimension", "usage": "group"}],
	"aggregates": [{"name": "n", "func": "count", "sql": "count(*)"}],
}

# with_authorization returns the query with the authorization's fields patched.
with_authorization(patch) := object.union(query, {"authorization": object.union(authorization, patch)})

# rules lists the rule ids of a decision's deny reasons.
rules(d) := {r.rule | some r in d.deny}
