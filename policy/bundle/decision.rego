# Package sluice decides whether a query may run and, if it may, under which
# obligations. Go evaluates data.sluice.decision once per query; Rego decides
# whether and under which obligations, Go enforces them.
#
# The input is policy.Input: principal, authorization (with effective_state
# computed in Go, or null), datasets (catalog entries by id), plan, request
# (epsilon, delta; 0 = the cap), time. When the authorization is held in
# data.authorizations instead, the input names it by authorization_id and
# carries time_ns.
#
# Every refusal is a deny reason with a stable rule id. The query is allowed
# only when at least one allow rule holds and no deny rule does: default deny,
# and an explicit deny beats any allow.
package sluice

# decision is the policy's answer.
decision := {
	"allow": allow,
	"deny": reasons,
	"obligations": granted_obligations,
}

# allow needs an allow rule (a name in allowed) and no deny reason.
default allow := false

allow if {
	count(allowed) > 0
	count(deny) == 0
}

# reasons lists the deny reasons ordered by rule and message. A query that no
# rule allows and none denies is refused by default.deny.
reasons := ordered_deny if {
	count(deny) > 0
} else := [] if {
	allow
} else := [{"rule": "default.deny", "message": "no policy rule allows this query"}]

ordered_deny := [r |
	some pair in sort([[d.rule, d.message] | some d in deny])
	r := {"rule": pair[0], "message": pair[1]}
]

# granted_obligations are the obligations of an allowed query; a refused
# query has none.
default granted_obligations := {}

granted_obligations := obligations if allow

# plan_datasets are the datasets the plan reads, whether it lists them or
# only names them in its columns.
plan_datasets contains id if some id in input.plan.datasets

plan_datasets contains use.dataset if some use in input.plan.columns

# open_datasets are the plan's open datasets.
open_datasets contains id if {
	some id in plan_datasets
	input.datasets[id].open == "open"
}

# conditional_datasets are the plan's datasets open only under an authorization.
conditional_datasets contains id if {
	some id in plan_datasets
	input.datasets[id].open == "conditional"
}

# reason builds one deny reason.
reason(rule, message) := {"rule": rule, "message": message}
