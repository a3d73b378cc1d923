package query

// scalarFuncs are the row-level functions analysts may use, with their
// arity range (-1 = any). Everything else is refused: this is an allowlist.
var scalarFuncs = map[string][2]int{
	// arithmetic and operators
	"+": {1, 2}, "-": {1, 2}, "*": {2, 2}, "/": {2, 2}, "//": {2, 2}, "%": {2, 2},
	"abs": {1, 1}, "round": {1, 2}, "floor": {1, 1}, "ceil": {1, 1}, "ceiling": {1, 1}, "trunc": {1, 1},
	"sign": {1, 1}, "sqrt": {1, 1}, "ln": {1, 1}, "log10": {1, 1}, "log2": {1, 1}, "exp": {1, 1},
	"pow": {2, 2}, "power": {2, 2}, "least": {1, -1}, "greatest": {1, -1},
	// nulls and conditionals
	"coalesce": {1, -1}, "nullif": {2, 2}, "ifnull": {2, 2}, "if": {3, 3},
	// strings
	"||": {2, 2}, "concat": {1, -1}, "lower": {1, 1}, "upper": {1, 1}, "trim": {1, 2}, "ltrim": {1, 2}, "rtrim": {1, 2},
	"length": {1, 1}, "substr": {2, 3}, "substring": {2, 3}, "left": {2, 2}, "right": {2, 2},
	"starts_with": {2, 2}, "ends_with": {2, 2}, "prefix": {2, 2}, "suffix": {2, 2}, "contains": {2, 2},
	"replace": {3, 3}, "lpad": {3, 3}, "rpad": {3, 3}, "strpos": {2, 2}, "instr": {2, 2},
	"~~": {2, 2}, "!~~": {2, 2}, "~~*": {2, 2}, "!~~*": {2, 2}, "regexp_matches": {2, 2},
	// dates
	"date_trunc": {2, 2}, "date_part": {2, 2}, "datepart": {2, 2}, "year": {1, 1}, "month": {1, 1},
	"quarter": {1, 1}, "day": {1, 1}, "dayofweek": {1, 1}, "dayofyear": {1, 1}, "week": {1, 1},
	"isodow": {1, 1}, "yearweek": {1, 1}, "strftime": {2, 2}, "make_date": {3, 3}, "date_diff": {3, 3},
	"datediff": {3, 3}, "last_day": {1, 1}, "to_days": {1, 1}, "to_months": {1, 1}, "to_years": {1, 1},
}

// aggregateFuncs maps DuckDB's aggregate names to what Sluice releases.
var aggregateFuncs = map[string]string{
	"count_star": "count", "count": "count", "sum": "sum", "avg": "avg", "mean": "avg",
	"var_samp": "var", "variance": "var", "var_pop": "var",
	"stddev": "stddev", "stddev_samp": "stddev", "stddev_pop": "stddev",
	"median": "quantile", "quantile": "quantile", "quantile_cont": "quantile", "quantile_disc": "quantile",
	"min": "quantile", "max": "quantile",
}

// refusedFuncs explains why some well-known functions are refused.
var refusedFuncs = map[string]string{
	"error":                       "it can carry row values in its message",
	"random":                      "its output is not reproducible and can be seeded",
	"setseed":                     "it controls the engine's random numbers",
	"uuid":                        "its output is not reproducible",
	"gen_random_uuid":             "its output is not reproducible",
	"getvariable":                 "it reads session variables",
	"current_setting":             "it reads engine settings",
	"current_query":               "it reads the session",
	"getenv":                      "it reads the environment",
	"query":                       "it runs dynamic SQL",
	"query_table":                 "it runs dynamic SQL",
	"json_execute_serialized_sql": "it runs dynamic SQL",
	"enable_profiling":            "it changes engine settings",
	"string_agg":                  "it returns row values",
	"group_concat":                "it returns row values",
	"listagg":                     "it returns row values",
	"list":                        "it returns row values",
	"array_agg":                   "it returns row values",
	"first":                       "it returns row values",
	"last":                        "it returns row values",
	"any_value":                   "it returns row values",
	"arbitrary":                   "it returns row values",
	"arg_min":                     "it returns row values",
	"arg_max":                     "it returns row values",
	"min_by":                      "it returns row values",
	"max_by":                      "it returns row values",
	"mode":                        "it returns row values",
	"histogram":                   "it returns row values",
	"approx_count_distinct":       "it has no bounded sensitivity",
	"bit_or":                      "it has no bounded sensitivity",
	"row_number":                  "window functions over private rows are not allowed",
	"current_date":                "it makes the release depend on the clock",
	"now":                         "it makes the release depend on the clock",
	"get_current_timestamp":       "it makes the release depend on the clock",
}

// castTypes are the types a CAST may target.
var castTypes = map[string]bool{
	"BOOLEAN": true, "TINYINT": true, "SMALLINT": true, "INTEGER": true, "BIGINT": true,
	"FLOAT": true, "DOUBLE": true, "DECIMAL": true, "VARCHAR": true, "DATE": true, "TIMESTAMP": true,
}
