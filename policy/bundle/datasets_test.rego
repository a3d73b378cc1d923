package sluice_test

import data.sluice

test_open_dataset_needs_no_authorization if {
	d := sluice.decision with input as object.union(query, {"authorization": null, "plan": open_plan})
	d.allow
	d.obligations.epsilon == 1
	d.obligations.delta == 1e-6
	d.obligations.min_units == 10
	d.obligations.l0 == 4
	d.obligations.linf == 12
	d.obligations.aggregates == []
}

test_closed_dataset_never if {
	p := {"datasets": ["court_cases"], "columns": [], "aggregates": [{"name": "n", "func": "count"}]}
	d := sluice.decision with input as object.union(query, {"plan": p})
	not d.allow
	d.deny == [{"rule": "dataset.closed", "message": "dataset court_cases is closed"}]
}

test_unknown_dataset if {
	p := {"datasets": ["nowhere"], "columns": [], "aggregates": []}
	d := sluice.decision with input as object.union(query, {"plan": p})
	not d.allow
	"dataset.unknown" in rules(d)
}

test_invalid_open_attribute_is_closed if {
	c := object.union(catalog, {"bus_stops": {"open": "sometimes"}})
	d := sluice.decision with input as object.union(query, {"authorization": null, "datasets": c, "plan": open_plan})
	not d.allow
	rules(d) == {"dataset.closed"}
}

test_identifier_never_readable if {
	p := object.union(plan, {"columns": array.concat(plan.columns, [{"dataset": "enterprise", "column": "name", "usage": "filter"}])})
	d := sluice.decision with input as object.union(query, {"plan": p})
	not d.allow
	some r in d.deny
	r.rule == "column.identifier"
	contains(r.message, "column name of dataset enterprise")
}

test_level4_purpose_not_listed if {
	p := {
		"datasets": ["clinic_visits"],
		"columns": [{"dataset": "clinic_visits", "column": "diagnosis", "usage": "group"}],
		"aggregates": [{"name": "n", "func": "count_units"}],
	}
	d := sluice.decision with input as object.union(query, {"plan": p})
	not d.allow
	d.deny == [{"rule": "classification.purpose", "message": "dataset clinic_visits is classified level 4: purpose \"inclusive-finance-sme-credit\" is not allowed at that level"}]
}

test_level4_purpose_listed if {
	p := {
		"datasets": ["clinic_visits"],
		"columns": [{"dataset": "clinic_visits", "column": "diagnosis", "usage": "group"}],
		"aggregates": [{"name": "n", "func": "count_units"}],
	}
	a := object.union(authorization, {"terms": {"purpose": "public-health-research"}})
	d := sluice.decision with input as object.union(query, {"plan": p, "authorization": a})
	d.allow
}

test_open_and_conditional_together if {
	# The open dataset needs no grant; the conditional one does.
	p := object.union(plan, {
		"datasets": ["enterprise", "tax_monthly", "bus_stops"],
		"columns": array.concat(plan.columns, [{"dataset": "bus_stops", "column": "district", "usage": "filter"}]),
	})
	d := sluice.decision with input as object.union(query, {"plan": p})
	d.allow
	d.obligations.min_units == 20
}

test_open_dataset_under_authorization_takes_its_terms if {
	d := sluice.decision with input as object.union(query, {"plan": open_plan, "request": {"epsilon": 2}})
	d.deny == [{"rule": "budget.per_query", "message": "requested ε 2 is above the per-query cap 1 of authorization authz-1"}]
}
