package sluice

# authorization is the authorization the query runs under: given in the input
# (Go has computed its effective_state), or named by authorization_id and
# held in data.authorizations.
authorization := input.authorization if is_object(input.authorization)

authorization := data.authorizations[input.authorization_id] if {
	not is_object(input.authorization)
	input.authorization_id != ""
}

# authorization_state is the authorization's state at the time of the query:
# expiry is by date (sluice.Authorization.StateAt).
authorization_state := input.authorization.effective_state if is_object(input.authorization)

authorization_state := stored_state(authorization) if not is_object(input.authorization)

# stored_state is the state of an authorization held in data.authorizations,
# whose validity period Go stores as Unix nanoseconds.
stored_state(a) := "expired" if {
	a.state == "active"
	not within_validity(a)
} else := a.state

within_validity(a) if {
	input.time_ns >= a.valid_from_ns
	input.time_ns < a.valid_until_ns
}

# role.analyst: only analysts query.
deny contains reason("role.analyst", msg) if {
	not "analyst" in input.principal.roles
	msg := sprintf("principal %s does not hold the analyst role", [input.principal.subject])
}

# authorization.active: a query reading conditional datasets runs under an
# active authorization of the principal's organisation (and, when it lists
# principals, naming the principal) that grants every conditional dataset.
allowed contains "authorization.active" if {
	authorization_state == "active"
	authorization.organisation == input.principal.organisation
	principal_listed
	count(plan_datasets) > 0
	count((plan_datasets - open_datasets) - (conditional_datasets & granted_datasets)) == 0
}

# principal_listed: the authorization names the principal, or names no one
# (then it serves its whole organisation).
principal_listed if count(authorization_principals) == 0

principal_listed if input.principal.subject in authorization_principals

authorization_principals := object.get(authorization, "principals", [])

# authorization.missing: conditional datasets need an authorization.
deny contains reason("authorization.missing", msg) if {
	not authorization
	not authorization_named
	some id in conditional_datasets
	msg := sprintf("dataset %s is conditional: it is queried only under an authorization", [id])
}

deny contains reason("authorization.missing", msg) if {
	not authorization
	authorization_named
	msg := sprintf("authorization %s is not known", [input.authorization_id])
}

authorization_named if {
	not is_object(input.authorization)
	input.authorization_id != ""
}

# authorization.inactive: a suspended, revoked or expired authorization
# allows nothing.
deny contains reason("authorization.inactive", msg) if {
	authorization_state != "active"
	authorization_state != "expired"
	msg := sprintf("authorization %s is %s", [authorization.id, authorization_state])
}

deny contains reason("authorization.inactive", msg) if {
	authorization_state == "expired"
	msg := sprintf("authorization %s is expired (valid from %s until %s)", [authorization.id, authorization.terms.valid_from, authorization.terms.valid_until])
}

# authorization.organisation: an authorization serves its own organisation only.
deny contains reason("authorization.organisation", msg) if {
	authorization.organisation != input.principal.organisation
	msg := sprintf("authorization %s does not belong to organisation %s", [authorization.id, input.principal.organisation])
}

# authorization.principal: when the authorization lists principals, only they use it.
deny contains reason("authorization.principal", msg) if {
	authorization
	not principal_listed
	msg := sprintf("authorization %s is not granted to principal %s", [authorization.id, input.principal.subject])
}

# granted_datasets are the datasets the authorization grants.
granted_datasets := {g.dataset | some g in authorization.terms.grants}

# granted_columns are the [dataset, column] pairs the authorization grants.
granted_columns := {[g.dataset, c] | some g in authorization.terms.grants; some c in g.columns}

# authorization.dataset: every conditional dataset must be granted.
deny contains reason("authorization.dataset", msg) if {
	authorization
	some id in conditional_datasets - granted_datasets
	msg := sprintf("authorization %s does not grant dataset %s", [authorization.id, id])
}

# authorization.column: every column read of a granted conditional dataset
# must be granted. The unit column is granted implicitly: it only bounds
# contributions and joins, and is never output.
deny contains reason("authorization.column", msg) if {
	some [id, _] in ungranted_columns
	missing := {column | some [id, column] in ungranted_columns}
	msg := sprintf("authorization %s does not grant column(s) %s of dataset %s", [authorization.id, concat(", ", sort(missing)), id])
}

# ungranted_columns are the [dataset, column] pairs the plan reads from
# granted conditional datasets without a grant.
ungranted_columns contains [use.dataset, use.column] if {
	some use in input.plan.columns
	not [use.dataset, use.column] in granted_columns
	use.column != input.datasets[use.dataset].unit
	use.dataset in granted_datasets
	input.datasets[use.dataset].open == "conditional"
}

# authorization.aggregate: when the terms list aggregates, the plan uses only those.
deny contains reason("authorization.aggregate", msg) if {
	count(allowed_aggregates) > 0
	some f in {a.func | some a in input.plan.aggregates}
	not f in allowed_aggregates
	msg := sprintf("authorization %s does not allow aggregate %s (allowed: %s)", [authorization.id, f, concat(", ", allowed_aggregates)])
}

# allowed_aggregates are the aggregates the terms allow; empty = all.
default allowed_aggregates := []

allowed_aggregates := authorization.terms.aggregates if is_array(authorization.terms.aggregates)
