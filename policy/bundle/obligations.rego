package sluice

# per_query_cap is the ε/δ cap of one query: the authorization's, or the
# open-data defaults for a query without one.
per_query_cap := {
	"epsilon": authorization.terms.budget.epsilon_per_query,
	"delta": authorization.terms.budget.delta_per_query,
	"source": sprintf("authorization %s", [authorization.id]),
} if {
	authorization
} else := {
	"epsilon": data.defaults.epsilon_per_query,
	"delta": data.defaults.delta_per_query,
	"source": "open data",
}

# epsilon and delta are what the query is charged: the request, or the cap.
epsilon := input.request.epsilon if {
	input.request.epsilon > 0
} else := per_query_cap.epsilon

delta := input.request.delta if {
	input.request.delta > 0
} else := per_query_cap.delta

# budget.per_query: a query asks for no more than the per-query cap.
deny contains reason("budget.per_query", msg) if {
	epsilon > per_query_cap.epsilon
	msg := sprintf("requested ε %v is above the per-query cap %v of %s", [epsilon, per_query_cap.epsilon, per_query_cap.source])
}

deny contains reason("budget.per_query", msg) if {
	delta > per_query_cap.delta
	msg := sprintf("requested δ %v is above the per-query cap %v of %s", [delta, per_query_cap.delta, per_query_cap.source])
}

deny contains reason("budget.per_query", msg) if {
	epsilon <= 0
	msg := sprintf("%s has no per-query ε", [per_query_cap.source])
}

# terms are the authorization's terms; a query without one has none.
default terms := {}

terms := authorization.terms

# obligations are what Go enforces on an allowed query.
obligations := {
	"epsilon": epsilon,
	"delta": delta,
	"min_units": max([object.get(terms, "min_units", 0), data.defaults.min_units]),
	"l0": positive_or(object.get(terms, "l0", 0), data.defaults.l0),
	"linf": positive_or(object.get(terms, "linf", 0), data.defaults.linf),
	"noise": data.defaults.noise,
	"aggregates": allowed_aggregates,
	"max_groups": data.defaults.max_groups,
}

positive_or(x, _) := x if x > 0

positive_or(x, fallback) := fallback if not x > 0
