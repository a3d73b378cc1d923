package gen

// The generator's SQL. Placeholders @NAME@ are filled by replacer; the pick
// macros (firm_district, industry, surname, diag_child, …) and the checksum
// macros are generated in Go (see macroSQL).
//
// Randomness comes only from hash(): DuckDB's hash is deterministic, so the
// same seed gives the same data. A hash is 64 random bits, spent as
//   - uh(x, n): a uniform from its n-th 32-bit half (n = 0, 1);
//   - uf(x, n): a coarser uniform from its n-th 16-bit quarter (n = 0 … 3),
//     for yes/no draws and small noise;
//   - zh(x): a standard normal (Box–Muller on both halves);
//   - zf(x): an approximately normal draw (Irwin–Hall, the sum of the four
//     quarters), for month-to-month noise.
//
// Different draws of one row never share bits. hk(x, tag) derives a fresh
// hash from x. Macro arguments that are hashes should be columns: a macro
// repeats its argument, and with it any hashing the argument does.
//
// Literals with a decimal point are turned into DOUBLE literals before the
// SQL runs (see doubleLiterals): DuckDB reads 0.35 as a DECIMAL, and DECIMAL
// arithmetic on every row is several times slower than floating point.
// The bit operations keep to UBIGINT: mixing in an INTEGER literal would
// widen them to HUGEINT, several times slower.
//
// Firm rows use u(i, 0, tag) and z(i, 0, tag) for their traits; firm-month
// rows derive everything from hm = hash(i, m, seed); person rows use
// u(i, 1, tag); visit rows derive from hash(i, j, seed, 'visit').
var baseMacroSQL = []string{
	`CREATE MACRO uh(x, n) AS (((x >> (32 * n)::UBIGINT) & 4294967295::UBIGINT)::DOUBLE + 0.5) / 4294967296.0`,
	`CREATE MACRO uf(x, n) AS (((x >> (16 * n)::UBIGINT) & 65535::UBIGINT)::DOUBLE + 0.5) / 65536.0`,
	`CREATE MACRO zh(x) AS sqrt(-2.0 * ln(uh(x, 0))) * cos(2.0 * pi() * uh(x, 1))`,
	`CREATE MACRO zf(x) AS (uf(x, 0) + uf(x, 1) + uf(x, 2) + uf(x, 3) - 2.0) * 1.7320508075688772`,
	`CREATE MACRO hk(x, tag) AS hash(xor(x, tag::UBIGINT))`,
	`CREATE MACRO u(a, b, tag) AS uh(hash(a, b, tag, @SEED@), 0)`,
	`CREATE MACRO z(a, b, tag) AS zh(hash(a, b, tag, @SEED@))`,
	// The cast rounds to the nearest cent.
	`CREATE MACRO money(x) AS x::DECIMAL(18,2)`,
	// Check characters of the organisation code (GB 11714) and of the
	// unified social credit code (GB 32100); orgsum and usccsum are
	// generated (see checksumMacros).
	`CREATE MACRO orgval(ch) AS CASE WHEN ch BETWEEN '0' AND '9' THEN ascii(ch) - 48 ELSE ascii(ch) - 55 END`,
}

// derivedMacroSQL defines macros that use the generated ones.
var derivedMacroSQL = []string{
	`CREATE MACRO orgcheck(body) AS CASE 11 - orgsum(body) % 11 WHEN 10 THEN 'X' WHEN 11 THEN '0' ELSE (11 - orgsum(body) % 11)::VARCHAR END`,
	`CREATE MACRO uscc(c) AS c || '0123456789ABCDEFGHJKLMNPQRTUWXY'[((31 - usccsum(c) % 31) % 31 + 1)::INTEGER]`,
}

// firmSQL creates the latent firm tables the enterprise datasets are drawn
// from.
var firmSQL = []string{
	// One row per firm with its latent traits: size (insured headcount,
	// Pareto-tailed), distress (normal), age, district, industry. Firm months
	// are numbered 0 … @MONTHS@-1 from @START@; a firm is active from the
	// month after it was founded (or the first month) to its exit (or the
	// last month). Dormant shells never file anything.
	`CREATE TABLE firms AS
	WITH r AS (
		SELECT i, u(i, 0, 'district') AS u_district, u(i, 0, 'industry') AS u_industry FROM range(@FIRMS@) t(i)
	), a AS (
		SELECT i,
			firm_district(u_district) AS di,
			industry(u_industry) AS ii,
			z(i, 0, 'distress') AS distress,
			u(i, 0, 'dormant') < 0.15 AS dormant,
			CASE WHEN u(i, 0, 'noemp') < 0.15 THEN 0
				ELSE least(60000, floor(pow(u(i, 0, 'headcount'), -1.0 / 0.7)))::INTEGER END AS hc0,
			(@END@ - least(14610, floor(-10 * 365.25 * ln(u(i, 0, 'age'))))::INTEGER) AS founded,
			u(i, 0, 'holding') < 0.03 AS holding,
			(i * 548512007 + (hash(@SEED@, 'ma') % 887503681)::BIGINT) % 887503681 AS n_ma,
			(i * 61803399 + (hash(@SEED@, 'org') % 100000000)::BIGINT) % 100000000 AS n_org
		FROM r
	), b0 AS (
		SELECT *,
			@DISTRICTS@[di] AS district, @DISTRICT_CODES@[di] AS dcode,
			@INDUSTRIES@[ii] AS industry, @INDUSTRY_WORDS@[ii] AS iword,
			@INDUSTRY_TAX@[ii] AS itax, @INDUSTRY_ELEC@[ii] AS ielec,
			CASE WHEN hc0 < 10 THEN 'micro' WHEN hc0 < 100 THEN 'small' WHEN hc0 < 300 THEN 'medium' ELSE 'large' END AS size_class,
			greatest(0, (year(founded) - year(@START@)) * 12 + month(founded) - month(@START@) + 1)::INTEGER AS first_m,
			-- Firms registered since the October 2015 reform have organisation
			-- codes starting with MA.
			CASE WHEN founded >= DATE '2015-10-01' THEN 'MA' || base31(n_ma) ELSE lpad(n_org::VARCHAR, 8, '0') END AS body
		FROM a
	), b AS (
		SELECT *, '91' || dcode || body || orgcheck(body) AS code17 FROM b0
	), c AS (
		SELECT *,
			CASE WHEN u(i, 0, 'exit') < 1 - exp(-(0.03 + 0.06 * (distress > 1)::INTEGER) * @MONTHS@ / 12.0)
				THEN first_m + floor(u(i, 0, 'exitm') * greatest(0, @MONTHS@ - first_m))::INTEGER
				ELSE @MONTHS@ - 1 END AS last_m
		FROM b
	)
	SELECT i, di, district, dcode, industry, size_class, founded, dormant, distress, hc0, first_m, last_m,
		uscc(code17) AS credit_code,
		'上海' || @NAME_WORDS@[1 + floor(u(i, 0, 'name1') * @NAME_WORDS_N@)::INTEGER]
			|| @NAME_WORDS@[1 + floor(u(i, 0, 'name2') * @NAME_WORDS_N@)::INTEGER]
			|| iword || '有限公司' AS name,
		'1' || ['3', '5', '7', '8', '9'][1 + floor(u(i, 0, 'phone1') * 5)::INTEGER]
			|| lpad((hash(i, 'phone', @SEED@) % 1000000000)::VARCHAR, 9, '0') AS legal_rep_phone,
		money(CASE WHEN holding THEN exp(ln(30000) + 1.5 * z(i, 0, 'capital'))
			ELSE exp(ln(50) + 0.9 * ln(hc0 + 1) + 1.1 * z(i, 0, 'capital')) END) AS registered_capital,
		-- Monthly traits.
		exp(ln(2500) + ln(hc0 + 1) + itax + 0.8 * z(i, 0, 'tax')) AS tax_scale,
		0.01 * z(i, 0, 'growth') AS growth,
		least(36921, greatest(7384, exp(ln(9000) + 0.35 * z(i, 0, 'wage')))) AS wage,
		hc0 > 0 AND u(i, 0, 'hf') < CASE size_class WHEN 'micro' THEN 0.4 WHEN 'small' THEN 0.7 ELSE 0.95 END AS hf,
		0.6 + 0.4 * u(i, 0, 'hfcover') AS hf_cover,
		[0.10, 0.12, 0.14][1 + floor(3 * u(i, 0, 'hfrate'))::INTEGER] AS hf_rate,
		CASE WHEN distress > 1 AND u(i, 0, 'arrears') < 0.6
			THEN first_m + floor(u(i, 0, 'arrearsm') * greatest(1, last_m - first_m + 1))::INTEGER END AS arrears_start,
		exp(ln(20000) + 0.8 * ln(hc0 + 1) + 1.2 * z(i, 0, 'arrearsb')) AS arrears_base,
		CASE WHEN u(i, 0, 'util') >= CASE size_class WHEN 'micro' THEN 0.7 ELSE 0.95 END THEN []::VARCHAR[]
			ELSE list_concat(['electricity'],
				CASE WHEN u(i, 0, 'water') < 0.8 THEN ['water'] ELSE []::VARCHAR[] END,
				CASE WHEN u(i, 0, 'gas') < CASE WHEN industry IN ('C', 'H') THEN 0.7 ELSE 0.1 END THEN ['gas'] ELSE []::VARCHAR[] END)
		END AS utils,
		ln(900) + 0.9 * ln(hc0 + 1) + ielec + 0.8 * z(i, 0, 'electricity') AS elec_level,
		ln(40) + 0.8 * ln(hc0 + 1) + 0.7 * z(i, 0, 'waterlevel') AS water_level,
		ln(150) + 0.8 * ln(hc0 + 1) + CASE WHEN industry IN ('C', 'H') THEN 1.5 ELSE 0 END + 0.9 * z(i, 0, 'gasuse') AS gas_level
	FROM c`,

	// One row per firm and month of activity, with the month's insured
	// headcount (the firm's size, its growth trend and a little noise).
	// Bits of hm: quarter 0 is the headcount noise; datasets derive their own
	// hashes from hm with hk.
	`CREATE VIEW fm AS
	WITH r AS (
		SELECT *, unnest(range(first_m, last_m + 1)) AS m FROM firms WHERE NOT dormant
	), h AS (
		SELECT *, hash(i, m, @SEED@) AS hm FROM r
	)
	SELECT *, @MONTH_DATES@[m + 1] AS month, (m + @START_MONTH0@) % 12 + 1 AS mon,
		CASE WHEN hc0 = 0 THEN 0
			ELSE greatest(1, round(hc0 * exp(growth * (m - @MID@) + 0.14 * (uf(hm, 0) - 0.5))))::INTEGER END AS hc
	FROM h`,
}

// peopleSQL creates the latent table of people the clinic visits are drawn
// from.
var peopleSQL = []string{
	// One row per person, with the number of visits over the window: a
	// log-normal yearly rate, higher for children and the old.
	`CREATE TABLE people AS
	WITH r AS (
		SELECT i, u(i, 1, 'decade') AS u_decade, u(i, 1, 'district') AS u_district, u(i, 1, 'surname') AS u_surname,
			u(i, 1, 'chapter') AS u_chapter
		FROM range(@PEOPLE@) t(i)
	), a AS (
		SELECT i, u_chapter,
			'SH' || lpad(((i * 2654435761 + (hash(@SEED@, 'person') % 10000000000)::BIGINT) % 10000000000)::VARCHAR, 10, '0') AS person_id,
			CASE WHEN u(i, 1, 'sex') < 0.505 THEN 'F' ELSE 'M' END AS sex,
			(age_decade(u_decade) - 1) * 10 + 10 * u(i, 1, 'year') AS age_years,
			person_district(u_district) AS district,
			surname(u_surname)
				|| @GIVEN@[1 + floor(u(i, 1, 'given1') * @GIVEN_N@)::INTEGER]
				|| CASE WHEN u(i, 1, 'given2n') < 0.75 THEN @GIVEN@[1 + floor(u(i, 1, 'given2') * @GIVEN_N@)::INTEGER] ELSE '' END AS patient_name,
			z(i, 1, 'rate') AS zr,
			u(i, 1, 'chronic') AS uc
		FROM r
	), b AS (
		SELECT *, @END@ - floor(age_years * 365.25)::INTEGER AS birth,
			exp(ln(1.3) + 0.9 * zr) * CASE WHEN age_years < 6 THEN 2.0 WHEN age_years < 18 THEN 1.2 WHEN age_years < 50 THEN 0.8
				WHEN age_years < 65 THEN 1.3 WHEN age_years < 80 THEN 2.0 ELSE 2.8 END AS rate,
			CASE WHEN age_years >= 50 AND uc < 0.4 THEN chronic_old(u_chapter)
				WHEN age_years >= 18 AND uc < 0.1 THEN chronic_young(u_chapter) END AS chronic
		FROM a
	)
	SELECT i, person_id, sex, district, patient_name, birth, chronic,
		least(300, floor(rate * @MONTHS@ / 12.0 + u(i, 1, 'round')))::INTEGER AS visits
	FROM b`,
}

// datasetSQL is the query that produces each dataset, its columns in manifest
// order.
var datasetSQL = map[string]string{
	"enterprise": `SELECT credit_code, name, legal_rep_phone, industry, district, founded, registered_capital, size_class FROM firms`,

	// Some months have no return at all (a gap, more often for distressed
	// firms); the filing status worsens with distress, and a missing return
	// has no tax_paid. Micro firms are often under the VAT threshold and pay
	// nothing; a few returns are net refunds (below the lower bound). Tax is
	// higher in the months quarterly corporate income tax is prepaid.
	// ha quarters: gap, filing status, refund, exemption; hb: small-arrears
	// draw, its amount, arrears noise; hz: the tax noise.
	"tax_monthly": `
	WITH r AS (
		SELECT *, hk(hm, 10) AS ha FROM fm
	), s AS (
		SELECT *, hk(hm, 11) AS hb, hk(hm, 12) AS hz,
			0.01 + 0.05 * (distress > 0.8)::INTEGER + 0.10 * (distress > 1.5)::INTEGER AS p_missing,
			0.04 + 0.10 * (distress > 0.8)::INTEGER AS p_late
		FROM r WHERE uf(ha, 0) >= 0.03 + 0.12 * (distress > 1)::INTEGER
	), t AS (
		SELECT *, CASE WHEN uf(ha, 1) < p_missing THEN 'missing' WHEN uf(ha, 1) < p_missing + p_late THEN 'late' ELSE 'on_time' END AS filing_status
		FROM s
	)
	SELECT credit_code, month,
		CASE WHEN filing_status = 'missing' THEN NULL
			WHEN uf(ha, 2) < 0.006 THEN money(-0.5 * tax_scale * exp(0.5 * zf(hz)))
			WHEN hc < 10 AND uf(ha, 3) < 0.3 THEN money(0)
			ELSE money(tax_scale * CASE WHEN mon IN (1, 4, 7, 10) THEN 1.4 ELSE 0.9 END
				* exp(growth * (m - @MID@) + 0.35 * zf(hz))) END AS tax_paid,
		CASE WHEN arrears_start IS NOT NULL AND m >= arrears_start
				THEN money(arrears_base * (1 + 0.08 * (m - arrears_start)) * (0.85 + 0.3 * uf(hb, 2)))
			WHEN uf(hb, 0) < 0.01 THEN money(0.3 * tax_scale * uf(hb, 1))
			ELSE money(0) END AS tax_arrears,
		filing_status
	FROM t`,

	// ha quarters: gap, contribution noise.
	"social_insurance": `
	WITH r AS (
		SELECT *, hk(hm, 20) AS ha FROM fm WHERE hc0 > 0
	)
	SELECT credit_code, month, hc AS headcount,
		money(hc * wage * 0.365 * (0.98 + 0.04 * uf(ha, 1))) AS contributions
	FROM r WHERE uf(ha, 0) >= 0.02 + 0.08 * (distress > 1.2)::INTEGER`,

	// ha quarters: gap.
	"housing_fund": `
	WITH r AS (
		SELECT *, hk(hm, 30) AS ha FROM fm WHERE hf
	), d AS (
		SELECT *, greatest(1, round(hc * hf_cover))::INTEGER AS depositors
		FROM r WHERE uf(ha, 0) >= 0.02 + 0.10 * (distress > 1.2)::INTEGER
	)
	SELECT credit_code, month, depositors, money(depositors * wage * hf_rate) AS deposit_amount FROM d`,

	// Electricity peaks in summer and winter, gas in winter. Distressed firms
	// run arrears of one to three months' bills.
	// ha quarters: billing gap, arrears draw, arrears months; hz: usage noise.
	"utilities": `
	WITH r AS (
		SELECT *, unnest(utils) AS utility FROM fm WHERE len(utils) > 0
	), s AS (
		SELECT *, hk(hm, CASE utility WHEN 'electricity' THEN 40 WHEN 'water' THEN 41 ELSE 42 END) AS ha FROM r
	), t AS (
		SELECT *, hk(ha, 1) AS hz FROM s WHERE uf(ha, 0) >= 0.01
	), v AS (
		SELECT *,
			exp(CASE utility
				WHEN 'electricity' THEN elec_level + CASE WHEN mon IN (7, 8) THEN 0.25 WHEN mon IN (1, 2) THEN 0.15 ELSE 0 END
				WHEN 'water' THEN water_level
				ELSE gas_level + CASE WHEN mon IN (12, 1, 2) THEN 0.3 ELSE 0 END END
				+ 0.15 * zf(hz)) AS use,
			CASE utility WHEN 'electricity' THEN 0.85 WHEN 'water' THEN 5.0 ELSE 4.2 END AS price
		FROM t
	)
	SELECT credit_code, month, utility, money(use) AS usage,
		CASE WHEN distress > 1 AND uf(ha, 1) < 0.25
			THEN money(use * price * (1 + floor(3 * uf(ha, 2)))) ELSE money(0) END AS arrears
	FROM v`,

	// The number of records grows with distress; records go back five years
	// (not before the firm was founded). One in fifty is a large commercial
	// dispute.
	"court_records": `
	WITH k AS (
		SELECT *, exp(-3.2 + 1.3 * distress) AS lam FROM firms
	), n AS (
		SELECT *, CASE WHEN u(i, 0, 'court') < 1 - exp(-lam) THEN 1 + floor(-ln(u(i, 0, 'courtn')) * lam)::INTEGER ELSE 0 END AS n FROM k
	), r AS (
		SELECT *, unnest(range(n)) AS j FROM n WHERE n > 0
	), f AS (
		SELECT *, greatest(founded, @END@ - 1826) AS since FROM r
	), g AS (
		SELECT *, since + floor(u(i, j, 'filed') * (@END@ - since + 1))::INTEGER AS filed, u(i, j, 'type') AS ut FROM f
	)
	SELECT credit_code,
		'(' || year(filed)::VARCHAR || ')沪' || substr(dcode, 3, 4) || '执' || (1 + hash(i, j, 'caseno', @SEED@) % 30000)::VARCHAR || '号' AS case_no,
		filed,
		CASE WHEN ut < 0.6 - 0.15 * (distress > 2)::INTEGER THEN 'enforcement'
			WHEN ut < 0.85 THEN 'dishonest_debtor' ELSE 'restricted_consumption' END AS record_type,
		money(exp(ln(80000) + 0.5 * ln(hc0 + 1) + 1.7 * z(i, j, 'amount'))
			* CASE WHEN u(i, j, 'big') < 0.02 THEN 150 ELSE 1 END) AS amount,
		CASE WHEN u(i, j, 'closed') < 1 - exp(-(@END@ - filed) / 400.0) THEN 'closed' ELSE 'open' END AS status
	FROM g`,

	// Larger firms mortgage more; most properties lie in the firm's own
	// district.
	"mortgages": `
	WITH n AS (
		SELECT *, CASE WHEN u(i, 0, 'mortgage') < CASE WHEN dormant THEN 0.02 WHEN size_class = 'micro' THEN 0.06
				WHEN size_class = 'small' THEN 0.2 WHEN size_class = 'medium' THEN 0.45 ELSE 0.7 END
			THEN 1 + floor(-0.8 * ln(u(i, 0, 'mortgagen')))::INTEGER ELSE 0 END AS n
		FROM firms
	), r AS (
		SELECT *, unnest(range(n)) AS j FROM n WHERE n > 0
	), f AS (
		SELECT *, greatest(founded, @END@ - 2922) AS since FROM r
	), g AS (
		SELECT *, since + floor(u(i, j, 'registered') * (@END@ - since + 1))::INTEGER AS registered,
			u(i, j, 'own') < 0.75 AS own, u(i, j, 'pdistrict') AS u_district
		FROM f
	), h AS (
		SELECT *, CASE WHEN own THEN di ELSE firm_district(u_district) END AS pdi FROM g
	)
	SELECT credit_code,
		'沪(' || year(registered)::VARCHAR || ')' || @DISTRICT_ABBR@[pdi] || '字不动产权第'
			|| lpad((1 + hash(i, j, 'property', @SEED@) % 999999)::VARCHAR, 6, '0') || '号' AS property_id,
		@DISTRICTS@[pdi] AS district, registered,
		money(exp(ln(2000000) + 0.4 * ln(hc0 + 1) + 1.2 * z(i, j, 'mortgageamount'))) AS mortgage_amount
	FROM h`,

	"sealed_investigations": `
	WITH s AS (
		SELECT *, greatest(founded, @END@ - floor(u(i, 0, 'sealedd') * 1095)::INTEGER) AS opened
		FROM firms WHERE u(i, 0, 'sealed') < 0.002
	)
	SELECT credit_code,
		'SCJ-' || year(opened)::VARCHAR || '-' || lpad((1 + hash(i, 'sealedref', @SEED@) % 99999)::VARCHAR, 5, '0') AS case_ref,
		opened,
		['unfair_competition', 'food_safety', 'price_fraud', 'counterfeiting'][1 + floor(4 * u(i, 0, 'sealedc'))::INTEGER] AS category,
		money(exp(ln(200000) + 1.5 * z(i, 0, 'sealedp'))) AS penalty
	FROM s`,

	// People with a chronic condition come back for it; inpatient stays are
	// rare and expensive, more so for neoplasms.
	// hv: half 0 the date, quarter 2 the diagnosis, quarter 3 whether the
	// chronic condition is the reason; hw quarter 0: inpatient; hz: cost.
	"clinic_visits": `
	WITH v AS (
		SELECT *, unnest(range(visits)) AS j FROM people WHERE visits > 0
	), w AS (
		SELECT *, hash(i, j, @SEED@, 'visit') AS hv FROM v
	), x AS (
		SELECT *, @START@ + floor(uh(hv, 0) * @WINDOW_DAYS@)::INTEGER AS visit_date, uf(hv, 2) AS ud,
			hk(hv, 1) AS hw, hk(hv, 2) AS hz
		FROM w
	), y AS (
		SELECT *, floor((visit_date - birth) / 365.25) AS age FROM x
	), d AS (
		SELECT *,
			CASE WHEN age < 18 THEN '0-17' WHEN age < 35 THEN '18-34' WHEN age < 50 THEN '35-49'
				WHEN age < 65 THEN '50-64' WHEN age < 80 THEN '65-79' ELSE '80+' END AS age_band,
			CASE WHEN chronic IS NOT NULL AND uf(hv, 3) < 0.55 THEN chronic
				WHEN age < 18 THEN diag_child(ud)
				WHEN age < 50 AND sex = 'F' THEN diag_young_f(ud)
				WHEN age < 50 THEN diag_young_m(ud)
				WHEN age < 65 THEN diag_mid(ud)
				ELSE diag_senior(ud) END AS diagnosis_group,
			uf(hw, 0) < 0.03 + 0.04 * (age >= 65)::INTEGER AS inpatient
		FROM y
	)
	SELECT person_id, patient_name, age_band, sex, district, diagnosis_group, visit_date,
		money(CASE WHEN inpatient THEN exp(ln(14000) + 0.8 * zh(hz)) ELSE exp(ln(220) + 0.9 * zh(hz)) END
			* CASE diagnosis_group WHEN 'C' THEN 2.0 WHEN 'I' THEN 1.3 WHEN 'Z' THEN 0.6 ELSE 1.0 END) AS cost
	FROM d`,
}
