package sluice_test

import data.sluice

test_conditional_without_authorization if {
	d := sluice.decision with input as object.union(query, {"authorization": null})
	not d.allow
	rules(d) == {"authorization.missing"}
	count(d.deny) == 2 # one reason per conditional dataset
}

test_unknown_stored_authorization if {
	d := sluice.decision with input as object.union(query, {"authorization": null, "authorization_id": "authz-404"})
	not d.allow
	d.deny == [{"rule": "authorization.missing", "message": "authorization authz-404 is not known"}]
}

test_stored_authorization_expires_by_date if {
	stored := object.union(object.remove(authorization, ["effective_state"]), {"valid_from_ns": 100, "valid_until_ns": 200})
	q := object.union(query, {"authorization": null, "authorization_id": "authz-1"})
	allowed := sluice.decision with input as object.union(q, {"time_ns": 150}) with data.authorizations as {"authz-1": stored}
	allowed.allow
	expired := sluice.decision with input as object.union(q, {"time_ns": 200}) with data.authorizations as {"authz-1": stored}
	rules(expired) == {"authorization.inactive"}
	early := sluice.decision with input as object.union(q, {"time_ns": 99}) with data.authorizations as {"authz-1": stored}
	rules(early) == {"authorization.inactive"}
}

test_wrong_organisation if {
	d := sluice.decision with input as with_authorization({"organisation": "bank-b"})
	not d.allow
	d.deny == [{"rule": "authorization.organisation", "message": "authorization authz-1 does not belong to organisation bank-a"}]
}

test_principal_not_listed if {
	d := sluice.decision with input as with_authorization({"principals": ["carol"]})
	not d.allow
	rules(d) == {"authorization.principal"}
}

test_no_principals_means_whole_organisation if {
	d := sluice.decision with input as object.union(query, {"authorization": object.remove(authorization, ["principals"])})
	d.allow
}

test_suspended if {
	d := sluice.decision with input as with_authorization({"state": "suspended", "effective_state": "suspended"})
	d.deny == [{"rule": "authorization.inactive", "message": "authorization authz-1 is suspended"}]
}

test_revoked if {
	d := sluice.decision with input as with_authorization({"state": "revoked", "effective_state": "revoked"})
	d.deny == [{"rule": "authorization.inactive", "message": "authorization authz-1 is revoked"}]
}

test_expired if {
	d := sluice.decision with input as with_authorization({"effective_state": "expired"})
	not d.allow
	d.deny == [{"rule": "authorization.inactive", "message": "authorization authz-1 is expired (valid from 2025-01-01T00:00:00Z until 2026-01-01T00:00:00Z)"}]
}

test_dataset_not_granted if {
	a := object.union(authorization, {"terms": {"grants": [{"dataset": "enterprise", "columns": ["district"]}]}})
	d := sluice.decision with input as object.union(query, {"authorization": a})
	not d.allow
	d.deny == [{"rule": "authorization.dataset", "message": "authorization authz-1 does not grant dataset tax_monthly"}]
}

test_column_not_granted_names_columns if {
	p := object.union(plan, {"columns": array.concat(plan.columns, [
		{"dataset": "enterprise", "column": "founded", "usage": "filter"},
		{"dataset": "enterprise", "column": "employees", "usage": "aggregate"},
	])})
	d := sluice.decision with input as object.union(query, {"plan": p})
	not d.allow
	d.deny == [{"rule": "authorization.column", "message": "authorization authz-1 does not grant column(s) employees, founded of dataset enterprise"}]
}

test_unit_column_implicitly_granted if {
	# The fixture plan joins on credit_code, which no grant names.
	d := sluice.decision with input as query
	d.allow
}

test_grants_of_one_dataset_merge if {
	a := object.union(authorization, {"terms": {"grants": [
		{"dataset": "enterprise", "columns": ["district"]},
		{"dataset": "tax_monthly", "columns": ["month"]},
		{"dataset": "tax_monthly", "columns": ["tax_paid"]},
	]}})
	d := sluice.decision with input as object.union(query, {"authorization": a})
	d.allow
}

test_aggregate_not_allowed if {
	a := object.union(authorization, {"terms": {"aggregates": ["count", "count_units"]}})
	d := sluice.decision with input as object.union(query, {"authorization": a})
	not d.allow
	d.deny == [{"rule": "authorization.aggregate", "message": "authorization authz-1 does not allow aggregate sum (allowed: count, count_units)"}]
}

test_no_aggregates_listed_means_all if {
	a := object.union(authorization, {"terms": {"aggregates": []}})
	d := sluice.decision with input as object.union(query, {"authorization": a})
	d.allow
	d.obligations.aggregates == []
}

test_only_analysts_query if {
	d := sluice.decision with input as object.union(query, {"principal": object.union(analyst, {"roles": ["admin"]})})
	d.deny == [{"rule": "role.analyst", "message": "principal alice does not hold the analyst role"}]
}
