package sluice_test

import data.sluice

test_happy_path_allows_with_obligations if {
	d := sluice.decision with input as query
	d.allow
	d.deny == []
	d.obligations == {
		"epsilon": 1, "delta": 1e-6, "min_units": 20, "l0": 2, "linf": 12,
		"noise": "laplace", "aggregates": ["count", "count_units", "sum", "avg"], "max_groups": 1000,
	}
}

test_plan_without_dataset if {
	d := sluice.decision with input as object.union(query, {"authorization": null, "plan": {"datasets": [], "columns": []}})
	not d.allow
	rules(d) == {"plan.empty"}
}

test_no_rule_allows_is_default_deny if {
	# With every deny rule silenced, a conditional dataset without an
	# authorization is still refused: nothing allows it.
	d := sluice.decision with input as object.union(query, {"authorization": null, "datasets": {"enterprise": {"open": "conditional"}}, "plan": {"datasets": ["enterprise"], "columns": []}})
		with data.sluice.deny as set()
	not d.allow
	d.deny == [{"rule": "default.deny", "message": "no policy rule allows this query"}]
}

test_deny_beats_allow if {
	# An open dataset is allowed, but a non-analyst is denied.
	d := sluice.decision with input as object.union(query, {"authorization": null, "plan": open_plan, "principal": {"subject": "bob", "organisation": "bank-a", "roles": ["reviewer"]}})
	not d.allow
	rules(d) == {"role.analyst"}
	d.obligations == {}
}

test_reasons_are_ordered if {
	d := sluice.decision with input as object.union(with_authorization({"effective_state": "revoked", "organisation": "bank-b"}), {"principal": {"subject": "alice", "organisation": "bank-a", "roles": []}})
	[r.rule | some r in d.deny] == ["authorization.inactive", "authorization.organisation", "role.analyst"]
}
