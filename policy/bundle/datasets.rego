package sluice

# dataset.open: a query that reads only open datasets needs no authorization.
allowed contains "dataset.open" if {
	count(plan_datasets) > 0
	count(open_datasets) == count(plan_datasets)
}

# plan.empty: a plan must read at least one dataset.
deny contains reason("plan.empty", "the query reads no dataset") if {
	count(plan_datasets) == 0
}

# dataset.unknown: every dataset the plan reads must be in the catalog.
deny contains reason("dataset.unknown", sprintf("dataset %s is not in the catalog", [id])) if {
	some id in plan_datasets
	not input.datasets[id]
}

# dataset.closed: closed datasets are never queried; a dataset without a
# valid open attribute is treated as closed.
deny contains reason("dataset.closed", sprintf("dataset %s is closed", [id])) if {
	some id in plan_datasets
	input.datasets[id].open == "closed"
}

deny contains reason("dataset.closed", msg) if {
	some id in plan_datasets
	attribute := input.datasets[id].open
	not attribute in {"open", "conditional", "closed"}
	msg := sprintf("dataset %s has no valid open attribute (%v): treated as closed", [id, attribute])
}

# column.identifier: direct identifiers are never readable, whatever the
# authorization says.
deny contains reason("column.identifier", msg) if {
	some use in input.plan.columns
	[use.dataset, use.column] in identifier_columns
	msg := sprintf("column %s of dataset %s is a direct identifier and is never readable", [use.column, use.dataset])
}

# identifier_columns are the [dataset, column] pairs of the catalog's direct identifiers.
identifier_columns contains [id, column.name] if {
	some id, dataset in input.datasets
	some column in dataset.columns
	column.role == "identifier"
}

# classification.purpose: level-4 datasets only for the purposes listed in
# data.level4_purposes.
deny contains reason("classification.purpose", msg) if {
	some id in plan_datasets
	input.datasets[id].level >= 4
	not purpose in level4_purposes
	msg := sprintf("dataset %s is classified level %v: purpose %q is not allowed at that level", [id, input.datasets[id].level, purpose])
}

# purpose is the authorization's purpose; a query without one has none.
default purpose := ""

purpose := authorization.terms.purpose

# level4_purposes are the purposes for which level-4 datasets are queried.
default level4_purposes := []

level4_purposes := data.level4_purposes
