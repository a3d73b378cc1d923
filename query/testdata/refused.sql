-- rule: sql.not_select
INSERT INTO tax_monthly VALUES (1)
-- rule: sql.not_select
DELETE FROM tax_monthly
-- rule: sql.not_select
UPDATE tax_monthly SET tax_paid = 0
-- rule: sql.not_select
CREATE TABLE x AS SELECT 1
-- rule: sql.not_select
DROP TABLE tax_monthly
-- rule: sql.not_select
COPY tax_monthly TO '/tmp/x.csv'
-- rule: sql.not_select
ATTACH '/tmp/x.db' AS x
-- rule: sql.not_select
INSTALL httpfs
-- rule: sql.not_select
LOAD httpfs
-- rule: sql.not_select
SET enable_external_access = true
-- rule: sql.not_select
SET VARIABLE v = 1
-- rule: sql.not_select
PRAGMA table_info('tax_monthly')
-- rule: sql.not_select
EXPORT DATABASE '/tmp/x'
-- rule: sql.not_select
CALL pragma_version()
-- rule: sql.not_select
EXPLAIN SELECT count(*) FROM tax_monthly
-- rule: sql.multiple_statements
SELECT count(*) FROM tax_monthly; SELECT count(*) FROM enterprise
-- rule: sql.not_select
SELECT count(*) FROM tax_monthly; SET threads = 8
-- rule: sql.syntax
SELEC count(*) FROM tax_monthly
-- rule: sql.syntax
SELECT count(* FROM tax_monthly
-- rule: sql.empty
   
-- rule: sql.row_output
SELECT * FROM tax_monthly
-- rule: sql.row_output
SELECT tax_paid FROM tax_monthly
-- rule: sql.row_output
SELECT filing_status FROM tax_monthly
-- rule: sql.row_output
SELECT t.* FROM tax_monthly t
-- rule: sql.identifier
SELECT count(*) FROM enterprise WHERE name = 'Acme'
-- rule: sql.identifier
SELECT count(legal_rep_phone) FROM enterprise
-- rule: sql.identifier
SELECT n, count(*) FROM (SELECT name AS n FROM enterprise) s GROUP BY n
-- rule: sql.identifier
SELECT count(*) FROM clinic_visits WHERE patient_name LIKE 'Wang%'
-- rule: sql.identifier
SELECT count(*) FROM court_records GROUP BY case_no
-- rule: sql.group_by_unit
SELECT credit_code, count(*) FROM tax_monthly GROUP BY credit_code
-- rule: sql.group_by_unit
SELECT count(*) FROM clinic_visits GROUP BY person_id
-- rule: sql.group_by_unit
SELECT substr(credit_code, 1, 6) AS p, count(*) FROM tax_monthly GROUP BY p
-- rule: sql.group_by_attribute
SELECT founded, count(*) FROM enterprise GROUP BY founded
-- rule: sql.group_by_measure
SELECT tax_paid, count(*) FROM tax_monthly GROUP BY tax_paid
-- rule: sql.table_function
SELECT count(*) FROM read_csv('/etc/passwd')
-- rule: sql.table_function
SELECT count(*) FROM read_parquet('/data/tax_monthly.parquet')
-- rule: sql.table_function
SELECT count(*) FROM glob('/etc/*')
-- rule: sql.table_function
SELECT count(*) FROM query('SELECT 1')
-- rule: sql.table_function
SELECT count(*) FROM query_table('tax_monthly')
-- rule: sql.table_function
SELECT count(*) FROM duckdb_tables()
-- rule: sql.table_function
SELECT count(*) FROM duckdb_settings()
-- rule: sql.table_function
SELECT count(*) FROM pragma_storage_info('tax_monthly')
-- rule: sql.table_function
SELECT count(*) FROM enable_profiling()
-- rule: sql.table_function
SELECT count(*) FROM range(10)
-- rule: sql.table_function
SELECT count(*) FROM read_text('/etc/hostname')
-- rule: sql.unknown_table
SELECT count(*) FROM '/etc/passwd'
-- rule: sql.show
SUMMARIZE tax_monthly
-- rule: sql.show
DESCRIBE tax_monthly
-- rule: sql.show
SHOW TABLES
-- rule: sql.function
SELECT count(*) FROM tax_monthly WHERE error('x') IS NULL
-- rule: sql.function
SELECT sum(tax_paid) FROM tax_monthly WHERE random() < 0.5
-- rule: sql.function
SELECT count(*) FROM tax_monthly WHERE setseed(0.5) IS NULL
-- rule: sql.function
SELECT count(*) FROM tax_monthly WHERE getvariable('v') = 1
-- rule: sql.function
SELECT count(*) FROM tax_monthly WHERE current_setting('threads') = 2
-- rule: sql.function
SELECT count(*) FROM tax_monthly WHERE json_execute_serialized_sql('x') IS NULL
-- rule: sql.function
SELECT string_agg(credit_code, ',') FROM tax_monthly
-- rule: sql.function
SELECT arg_max(credit_code, tax_paid) FROM tax_monthly
-- rule: sql.function
SELECT first(tax_paid) FROM tax_monthly
-- rule: sql.function
SELECT list(tax_paid) FROM tax_monthly
-- rule: sql.function
SELECT mode(filing_status) FROM tax_monthly
-- rule: sql.function
SELECT count(*) FROM tax_monthly WHERE md5(credit_code) = 'x'
-- rule: sql.unknown_column
SELECT count(*) FROM tax_monthly WHERE month < current_date
-- rule: sql.unknown_table
SELECT count(*) FROM secret_table
-- rule: sql.unknown_column
SELECT count(nonexistent) FROM tax_monthly
-- rule: sql.unknown_column
SELECT __unit_id, count(*) FROM tax_monthly GROUP BY __unit_id
-- rule: sql.unknown_column
SELECT count(*) FROM tax_monthly t WHERE t."__unit_id" < 100
-- rule: sql.unknown_column
SELECT count(*) FROM tax_monthly WHERE e.district = 'x'
-- rule: sql.ambiguous_column
SELECT count(*) FROM tax_monthly t JOIN social_insurance s ON t.credit_code = s.credit_code WHERE month > DATE '2024-01-01'
-- rule: sql.join_not_on_unit
SELECT count(*) FROM tax_monthly t JOIN social_insurance s ON t.month = s.month
-- rule: sql.join_not_on_unit
SELECT count(*) FROM tax_monthly t JOIN social_insurance s USING (month)
-- rule: sql.cross_join
SELECT count(*) FROM tax_monthly t, social_insurance s WHERE t.credit_code = s.credit_code
-- rule: sql.cross_join
SELECT count(*) FROM tax_monthly CROSS JOIN enterprise
-- rule: sql.outer_join
SELECT count(*) FROM tax_monthly t LEFT JOIN enterprise e ON t.credit_code = e.credit_code
-- rule: sql.population
SELECT count(*) FROM tax_monthly t JOIN clinic_visits c ON t.credit_code = c.person_id
-- rule: sql.window
SELECT count(*) FROM (SELECT row_number() OVER (PARTITION BY credit_code) AS rn FROM tax_monthly) s WHERE rn = 1
-- rule: sql.window
SELECT sum(x) FROM (SELECT lag(tax_paid) OVER (ORDER BY month) AS x FROM tax_monthly) s
-- rule: sql.subquery_expression
SELECT count(*) FROM tax_monthly WHERE tax_paid > (SELECT avg(tax_paid) FROM tax_monthly)
-- rule: sql.subquery_expression
SELECT count(*) FROM tax_monthly WHERE credit_code IN (SELECT credit_code FROM court_records)
-- rule: sql.subquery_expression
SELECT count(*) FROM tax_monthly t WHERE EXISTS (SELECT 1 FROM court_records c WHERE c.credit_code = t.credit_code)
-- rule: sql.subquery_not_row_level
SELECT count(*) FROM (SELECT credit_code, count(*) AS n FROM tax_monthly GROUP BY credit_code) s
-- rule: sql.subquery_not_row_level
SELECT count(*) FROM (SELECT * FROM tax_monthly LIMIT 10) s
-- rule: sql.subquery_not_row_level
SELECT count(*) FROM (SELECT DISTINCT credit_code FROM tax_monthly) s
-- rule: sql.subquery_not_row_level
SELECT count(*) FROM (SELECT * FROM tax_monthly ORDER BY tax_paid DESC) s
-- rule: sql.set_operation
SELECT count(*) FROM (SELECT * FROM tax_monthly UNION ALL SELECT * FROM tax_monthly) s
-- rule: sql.set_operation
SELECT count(*) FROM tax_monthly UNION SELECT count(*) FROM enterprise
-- rule: sql.recursive_cte
WITH RECURSIVE r AS (SELECT 1 AS x UNION ALL SELECT x + 1 FROM r WHERE x < 10) SELECT count(*) FROM r
-- rule: sql.no_from
SELECT 1
-- rule: sql.no_from
SELECT count(*)
-- rule: sql.values
SELECT count(*) FROM (VALUES (1), (2)) v(x)
-- rule: sql.count_distinct
SELECT count(DISTINCT filing_status) FROM tax_monthly
-- rule: sql.distinct_aggregate
SELECT sum(DISTINCT tax_paid) FROM tax_monthly
-- rule: sql.unbounded
SELECT sum(length(filing_status)) FROM tax_monthly
-- rule: sql.unbounded
SELECT avg(month) FROM tax_monthly
-- rule: sql.unbounded
SELECT sum(tax_paid * tax_arrears / tax_paid) FROM tax_monthly
-- rule: sql.quantile
SELECT quantile_cont(tax_paid, 1.5) FROM tax_monthly
-- rule: sql.quantile
SELECT quantile_cont(tax_paid, tax_arrears) FROM tax_monthly
-- rule: sql.aggregate_arithmetic
SELECT sum(tax_paid) / count(*) FROM tax_monthly
-- rule: sql.aggregate_arithmetic
SELECT round(avg(tax_paid), 2) FROM tax_monthly
-- rule: sql.nested_aggregate
SELECT sum(count(*)) FROM tax_monthly
-- rule: sql.aggregate_position
SELECT count(*) FROM tax_monthly WHERE sum(tax_paid) > 0
-- rule: sql.post_processing
SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status HAVING sum(tax_paid) > 100
-- rule: sql.post_processing
SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status ORDER BY avg(tax_paid)
-- rule: sql.having
SELECT filing_status, count(*) AS n FROM tax_monthly GROUP BY filing_status HAVING n > count(*)
-- rule: sql.offset
SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status LIMIT 1 OFFSET 1
-- rule: sql.distinct
SELECT DISTINCT filing_status, count(*) FROM tax_monthly GROUP BY filing_status
-- rule: sql.unsupported
SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status QUALIFY count(*) > 1
-- rule: sql.grouping_sets
SELECT filing_status, count(*) FROM tax_monthly GROUP BY ROLLUP (filing_status)
-- rule: sql.grouping_sets
SELECT filing_status, count(*) FROM tax_monthly GROUP BY GROUPING SETS ((filing_status), ())
-- rule: sql.sample
SELECT count(*) FROM tax_monthly TABLESAMPLE 10%
-- rule: sql.qualified_table
SELECT count(*) FROM ds0.main.data
-- rule: sql.qualified_table
SELECT count(*) FROM main.tax_monthly
-- rule: sql.not_grouped
SELECT filing_status, month, count(*) FROM tax_monthly GROUP BY filing_status
-- rule: sql.parameter
SELECT count(*) FROM tax_monthly WHERE tax_paid > $1
-- rule: sql.function
SELECT count(*) FROM tax_monthly WHERE list_filter([1, 2], x -> x > 1) IS NOT NULL
-- rule: sql.not_select
PIVOT tax_monthly ON filing_status USING sum(tax_paid)
-- rule: sql.cast
SELECT count(*) FROM tax_monthly WHERE CAST(tax_paid AS BLOB) IS NULL
-- rule: sql.unknown_table
SELECT count(*) FROM duckdb_settings
-- rule: sql.arity
SELECT count(*) FROM tax_monthly WHERE abs(tax_paid, 1) > 0
-- rule: sql.limit
SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status LIMIT 0
-- rule: sql.too_long
SELECT count(*) FROM tax_monthly WHERE filing_status = '@@LONG@@'
-- rule: sql.function
SELECT count(*) FROM tax_monthly WHERE month < now()
-- rule: sql.lambda
SELECT count(*) FROM tax_monthly WHERE coalesce(x -> x, 1) = 1
-- rule: sql.not_select
SELECT count(*) FROM (PIVOT tax_monthly ON filing_status USING sum(tax_paid)) p
-- rule: sql.group_by_measure
SELECT tax_paid + 0 AS k, count(*) FROM tax_monthly GROUP BY 1
-- rule: sql.group_by_measure
SELECT CAST(tax_paid AS VARCHAR) AS k, count(*) FROM tax_monthly GROUP BY 1
-- rule: sql.unbounded
SELECT sum(CAST(tax_paid AS VARCHAR)) FROM tax_monthly
-- rule: sql.order_by
SELECT count(*) FROM tax_monthly ORDER BY 18446744073709551617
-- rule: sql.function_cost
SELECT count(*) FROM clinic_visits WHERE length(lpad(district, CASE WHEN person_id = 'SH1200297787' THEN 20000000 ELSE 1 END, 'x')) > 0
-- rule: sql.function_cost
SELECT count(*) FROM clinic_visits WHERE length(rpad(district, 1001, 'x')) > 0
-- rule: sql.function_cost
SELECT count(*) FROM tax_monthly WHERE length(lpad(filing_status, tax_paid::INTEGER, 'x')) > 3
-- rule: sql.function_cost
SELECT count(*) FROM clinic_visits WHERE length(replace(district, 'a', CASE WHEN person_id = 'X' THEN district ELSE '' END)) > 0
-- rule: sql.function_cost
SELECT count(*) FROM tax_monthly WHERE length(replace(replace(CASE WHEN credit_code = 'F7' AND tax_paid > 1000 THEN 'a' ELSE '' END, 'a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), 'a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')) > 0
-- rule: sql.function_cost
SELECT count(*) FROM clinic_visits WHERE length(replace(lpad('', 1000, 'a'), 'a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')) > 0
-- rule: sql.function_cost
SELECT count(*) FROM (SELECT d8 || d8 AS d9 FROM (SELECT d7 || d7 AS d8 FROM (SELECT d6 || d6 AS d7 FROM (SELECT d5 || d5 AS d6 FROM (SELECT d4 || d4 AS d5 FROM (SELECT d3 || d3 AS d4 FROM (SELECT d2 || d2 AS d3 FROM (SELECT d1 || d1 AS d2 FROM (SELECT d0 || d0 AS d1 FROM (SELECT district AS d0 FROM clinic_visits)))))))))) WHERE length(d9) > 0
-- rule: sql.join_fanout
SELECT count(*) FROM tax_monthly a JOIN tax_monthly b USING (credit_code) JOIN tax_monthly c USING (credit_code) WHERE a.credit_code = 'F29'
-- rule: sql.join_fanout
SELECT sum(t.tax_paid) FROM tax_monthly t JOIN social_insurance s ON s.credit_code = t.credit_code
-- rule: sql.join_fanout
SELECT count(*) FROM court_records c JOIN mortgages m ON m.credit_code = c.credit_code
-- rule: sql.join_fanout
SELECT sum(u.usage) FROM tax_monthly t JOIN utilities u ON u.credit_code = t.credit_code AND u.month = t.month JOIN utilities v ON v.credit_code = t.credit_code AND v.month = t.month
-- rule: sql.join_fanout
SELECT count(*) FROM tax_monthly t JOIN social_insurance s ON s.credit_code = t.credit_code AND (s.month = t.month OR t.tax_paid > 0)
-- rule: sql.join_fanout
SELECT sum(u.usage) FROM tax_monthly t JOIN utilities u ON u.credit_code = t.credit_code AND u.month = t.month JOIN utilities v ON v.credit_code = t.credit_code AND v.month = t.month AND v.utility = u.usage
-- rule: sql.join_fanout
SELECT sum(u.usage) FROM tax_monthly t JOIN utilities u ON u.credit_code = t.credit_code AND u.month = t.month JOIN utilities v ON v.credit_code = t.credit_code AND v.month = t.month AND v.utility = 1
-- rule: sql.constant
SELECT count(*) FROM tax_monthly WHERE tax_paid = 1e400
-- rule: sql.constant
SELECT count(*) FROM tax_monthly WHERE tax_paid > -1e999
-- rule: sql.function_cost
SELECT count(*) FROM tax_monthly WHERE regexp_matches(CASE WHEN credit_code = 'F7' AND month = DATE '2024-01-01' AND tax_paid > 1000 THEN replace(lpad(credit_code, 256, 'a'), 'a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa') ELSE '' END, '(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)c')
-- rule: sql.function_cost
SELECT count(*) FROM tax_monthly WHERE regexp_matches(credit_code, '(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)c')
-- rule: sql.function_cost
SELECT count(*) FROM tax_monthly WHERE contains(CASE WHEN credit_code = 'F7' AND month = DATE '2024-01-01' AND tax_paid > 1000 THEN replace(lpad(credit_code, 256, 'a'), 'a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa') ELSE '' END, 'aaaa')
-- rule: sql.function_cost
SELECT count(*) FROM tax_monthly WHERE strpos(credit_code, replace('a', 'a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')) > 0
-- rule: sql.function_cost
SELECT count(*) FROM tax_monthly WHERE credit_code LIKE '______________________________________________________________________%'
-- rule: sql.function_cost
SELECT count(*) FROM clinic_visits WHERE length(replace(lpad('', 1000, 'x'), 'x', 'aaaaaaaa')) > 0
-- rule: sql.join_fanout
SELECT sum(b.tax_paid) FROM tax_monthly a JOIN tax_monthly b ON a.credit_code = b.credit_code WHERE b.month = b.month
-- rule: sql.join_fanout
SELECT sum(b.tax_paid) FROM tax_monthly a JOIN tax_monthly b ON a.credit_code = b.credit_code WHERE a.month IS NOT DISTINCT FROM b.month
