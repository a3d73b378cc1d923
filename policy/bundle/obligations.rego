package sluice

# per_query_cap is the ε/δ cap of one query: the authorization's, or the
# open-data defaults for a query without one.
per_query_cap := authorization.terms.budget if {
	authorization
} else := {
	"epsilon_per_query": defaults.epsilon_per_query,
	"delta_per_query": defaults.delta_per_query,
}

# cap_source names where the per-query cap comes from, for messages.
cap_source := sprintf("authorization %s", [authorization.id]) if {
	authorization
} else := "open data"

# epsilon and delta are what the query is charged: the request, or the cap.
epsilon := input.request.epsilon if {
	input.request.epsilon > 0
} else := per_query_cap.epsilon_per_query

delta := input.request.delta if {
	input.request.delta > 0
} else := per_query_cap.delta_per_query

# budget.per_query: a query asks for no more than the per-query cap.
deny contains reason("budget.per_query", msg) if {
	epsilon > per_query_cap.epsilon_per_query
	msg := sprintf("requested ε %v is above the per-query cap %v of %s", [epsilon, per_query_cap.epsilon_per_query, cap_source])
}

deny contains reason("budget.per_query", msg) if {
	delta > per_query_cap.delta_per_query
	msg := sprintf("requested δ %v is above the per-query cap %v of %s", [delta, per_query_cap.delta_per_query, cap_source])
}

deny contains reason("budget.per_query", msg) if {
	epsilon <= 0
	msg := sprintf("%s has no per-query ε", [cap_source])
}

# terms are the authorization's terms; a query without one has none.
default terms := {}

terms := authorization.terms

# defaults are data.json's defaults, read from the store once per query.
defaults := data.defaults

# obligations are what Go enforces on an allowed query.
obligations := {
	"epsilon": epsilon,
	"delta": delta,
	"min_units": max([object.get(terms, "min_units", 0), defaults.min_units]),
	"l0": l0,
	"linf": linf,
	"noise": defaults.noise,
	"aggregates": allowed_aggregates,
	"max_groups": defaults.max_groups,
}

# l0 and linf bound each unit's contribution: the terms', or the defaults.
l0 := terms.l0 if {
	terms.l0 > 0
} else := defaults.l0

linf := terms.linf if {
	terms.linf > 0
} else := defaults.linf
