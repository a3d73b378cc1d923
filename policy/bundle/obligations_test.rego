package sluice_test

import data.sluice

test_request_below_cap_is_charged if {
	d := sluice.decision with input as object.union(query, {"request": {"epsilon": 0.25, "delta": 1e-7}})
	d.allow
	d.obligations.epsilon == 0.25
	d.obligations.delta == 1e-7
}

test_epsilon_above_cap if {
	d := sluice.decision with input as object.union(query, {"request": {"epsilon": 2, "delta": 0}})
	not d.allow
	d.deny == [{"rule": "budget.per_query", "message": "requested ε 2 is above the per-query cap 1 of authorization authz-1"}]
}

test_delta_above_cap if {
	d := sluice.decision with input as object.union(query, {"request": {"epsilon": 0, "delta": 1e-3}})
	not d.allow
	rules(d) == {"budget.per_query"}
}

test_open_data_cap if {
	d := sluice.decision with input as object.union(query, {"authorization": null, "plan": open_plan, "request": {"epsilon": 5}})
	d.deny == [{"rule": "budget.per_query", "message": "requested ε 5 is above the per-query cap 1 of open data"}]
}

test_no_per_query_epsilon if {
	a := object.union(authorization, {"terms": {"budget": {"epsilon_per_query": 0}}})
	d := sluice.decision with input as object.union(query, {"authorization": a})
	not d.allow
	d.deny == [{"rule": "budget.per_query", "message": "authorization authz-1 has no per-query ε"}]
}

test_min_units_never_below_default if {
	a := object.union(authorization, {"terms": {"min_units": 3}})
	d := sluice.decision with input as object.union(query, {"authorization": a})
	d.obligations.min_units == 10
}

test_contribution_bounds_from_terms_or_defaults if {
	a := object.union(authorization, {"terms": {"l0": 0, "linf": 5}})
	d := sluice.decision with input as object.union(query, {"authorization": a})
	d.obligations.l0 == 4
	d.obligations.linf == 5
}
