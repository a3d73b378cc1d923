-- count of tax filings
SELECT count(*) FROM tax_monthly
-- count(col) skips NULLs
SELECT count(tax_paid) FROM tax_monthly
-- distinct firms
SELECT count(DISTINCT credit_code) AS firms FROM tax_monthly
-- group by public domain
SELECT filing_status, count(*) FROM tax_monthly GROUP BY filing_status
-- sum and avg by status
SELECT filing_status, sum(tax_paid) AS paid, avg(tax_paid) AS mean_paid FROM tax_monthly GROUP BY filing_status
-- variance and deviations
SELECT var_samp(tax_paid), var_pop(tax_paid), stddev(tax_paid), stddev_pop(tax_paid), variance(tax_paid) FROM tax_monthly
-- quantiles, median, min, max
SELECT median(tax_paid), quantile_cont(tax_paid, 0.9), quantile_disc(tax_paid, 0.1), min(tax_paid), max(tax_paid) FROM tax_monthly
-- quantile()
SELECT quantile(cost, 0.75) FROM clinic_visits
-- mean alias of avg
SELECT mean(cost) FROM clinic_visits
-- join on the unit
SELECT e.district, sum(t.tax_paid) FROM tax_monthly t JOIN enterprise e ON t.credit_code = e.credit_code GROUP BY e.district
-- join USING the unit
SELECT district, count(*) FROM tax_monthly JOIN enterprise USING (credit_code) GROUP BY district
-- three-way join
SELECT e.industry, avg(s.headcount), sum(t.tax_paid) FROM enterprise e JOIN tax_monthly t ON e.credit_code = t.credit_code JOIN social_insurance s ON s.credit_code = e.credit_code AND s.month = t.month GROUP BY e.industry
-- WHERE with row-level expressions
SELECT count(*) FROM tax_monthly WHERE tax_paid > 1000 AND filing_status IN ('on_time', 'late') AND month BETWEEN DATE '2024-01-01' AND DATE '2024-12-31'
-- WHERE with OR, NOT, IS NULL
SELECT count(*) FROM tax_monthly WHERE NOT (tax_paid IS NULL) OR tax_arrears > 0
-- WHERE on an attribute
SELECT size_class, count(*) FROM enterprise WHERE founded < DATE '2015-01-01' GROUP BY size_class
-- LIKE and string functions
SELECT count(*) FROM enterprise WHERE lower(industry) LIKE 'c%' OR starts_with(district, 'pu')
-- group by date_trunc
SELECT date_trunc('quarter', month) AS q, sum(tax_paid) FROM tax_monthly GROUP BY date_trunc('quarter', month)
-- group by alias
SELECT date_trunc('year', month) AS y, count(*) FROM tax_monthly GROUP BY y
-- group by position [equivalent]
SELECT filing_status, count(*) FROM tax_monthly GROUP BY 1
-- group by all [equivalent]
SELECT filing_status, count(*) FROM tax_monthly GROUP BY ALL
-- CASE bucket of a measure
SELECT CASE WHEN registered_capital < 100 THEN 'small' WHEN registered_capital < 1000 THEN 'mid' ELSE 'large' END AS band, count(*) FROM enterprise GROUP BY band
-- width bucket of a measure
SELECT floor(cost / 1000) * 1000 AS cost_band, count(*) FROM clinic_visits GROUP BY floor(cost / 1000) * 1000
-- extract
SELECT extract(year FROM month) AS y, avg(tax_arrears) FROM tax_monthly GROUP BY extract(year FROM month)
-- two dimension keys
SELECT district, industry, count(*) FROM enterprise GROUP BY district, industry
-- CTE row-level
WITH recent AS (SELECT credit_code, tax_paid, month FROM tax_monthly WHERE month >= DATE '2024-06-01') SELECT count(*), sum(tax_paid) FROM recent
-- subquery in FROM
SELECT count(*) FROM (SELECT * FROM tax_monthly WHERE tax_arrears > 0) s
-- subquery with star exclude
SELECT sum(tax_paid) FROM (SELECT * EXCLUDE (tax_arrears) FROM tax_monthly) s
-- CTE joined to a dataset
WITH big AS (SELECT credit_code FROM enterprise WHERE size_class IN ('medium', 'large')) SELECT avg(t.tax_paid) FROM tax_monthly t JOIN big b ON t.credit_code = b.credit_code
-- nested subqueries
SELECT count(*) FROM (SELECT * FROM (SELECT person_id, cost FROM clinic_visits WHERE cost > 100) a WHERE cost < 5000) b
-- HAVING on a released aggregate
SELECT district, count(*) AS n FROM enterprise GROUP BY district HAVING count(*) > 100
-- HAVING by alias with AND
SELECT district, count(*) AS n, avg(registered_capital) AS cap FROM enterprise GROUP BY district HAVING n > 10 AND cap < 50000
-- ORDER BY and LIMIT
SELECT district, sum(registered_capital) AS cap FROM enterprise GROUP BY district ORDER BY cap DESC LIMIT 5
-- ORDER BY position and key
SELECT industry, count(*) FROM enterprise GROUP BY industry ORDER BY 2 DESC, industry
-- aggregate FILTER
SELECT count(*) FILTER (WHERE tax_arrears > 0) AS in_arrears, sum(tax_paid) FILTER (WHERE filing_status = 'late') FROM tax_monthly
-- sum of a CASE
SELECT sum(CASE WHEN utility = 'electricity' THEN usage ELSE 0 END) FROM utilities
-- sum of measures
SELECT sum(tax_paid + tax_arrears) FROM tax_monthly
-- clinic research: age by sex
SELECT age_band, sex, count(DISTINCT person_id), avg(cost) FROM clinic_visits GROUP BY age_band, sex
-- diagnosis by district
SELECT district, diagnosis_group, count(*) FROM clinic_visits WHERE visit_date >= DATE '2024-01-01' GROUP BY district, diagnosis_group
-- court records amounts
SELECT record_type, status, sum(amount), count(*) FROM court_records GROUP BY record_type, status
-- utilities arrears by type and quarter
SELECT utility, date_trunc('quarter', month) AS q, sum(arrears) FROM utilities GROUP BY utility, q
-- mortgages by district
SELECT district, avg(mortgage_amount), median(mortgage_amount) FROM mortgages GROUP BY district
-- housing fund
SELECT date_trunc('year', month), sum(deposit_amount), avg(depositors) FROM housing_fund GROUP BY 1
-- CAST in a filter
SELECT count(*) FROM tax_monthly WHERE CAST(tax_paid AS BIGINT) > 10
-- coalesce in an aggregate
SELECT sum(coalesce(tax_paid, 0)) FROM tax_monthly
-- abs and least
SELECT sum(least(tax_paid, 1000)), avg(abs(tax_arrears)) FROM tax_monthly
-- group key not in the select list
SELECT count(*) FROM tax_monthly GROUP BY filing_status
-- keys only (partition selection alone)
SELECT district FROM enterprise GROUP BY district
-- inclusive finance: firms in arrears with court records
SELECT e.size_class, count(DISTINCT e.credit_code) FROM enterprise e JOIN court_records c ON c.credit_code = e.credit_code WHERE c.record_type = 'dishonest_debtor' GROUP BY e.size_class
-- IS DISTINCT FROM, NOT IN
SELECT count(*) FROM tax_monthly WHERE filing_status IS DISTINCT FROM 'missing' AND filing_status NOT IN ('late')
-- quoted identifiers and mixed case
SELECT "District", COUNT(*) FROM Enterprise GROUP BY "District"
