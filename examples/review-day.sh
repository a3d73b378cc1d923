#!/usr/bin/env bash
# The operations team's review day, end to end over HTTP: sluiced starts on
# the example data with a demo identity setup; a bank applies for tax and
# registry data to score small firms; a reviewer from the data operations
# centre approves with fewer columns and a lower budget; the bank queries;
# a query over a removed column is refused; the reviewer suspends; the next
# query is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-sluice-data}
PORT=${PORT:-18470}
BIN=$(mktemp -d)
trap 'kill $(cat "$BIN/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$BIN"' EXIT
go build -o "$BIN/sluiced" ./cmd/sluiced
go build -o "$BIN/sluice" ./cmd/sluice
"$BIN/sluiced" -data "$DATA" -demo -listen "127.0.0.1:$PORT" 2>"$BIN/sluiced.log" &
echo $! > "$BIN/pid"
export SLUICE_SERVER="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  curl -fsS "$SLUICE_SERVER/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
s() { echo "+ sluice $*" >&2; "$BIN/sluice" "$@"; }
BANK=$("$BIN/sluice" dev token --data "$DATA" --sub li.wei --org bank-of-pudong --roles analyst)
REVIEWER=$("$BIN/sluice" dev token --data "$DATA" --sub zhang.min --org data-ops-center --roles reviewer)

echo "== the catalog, as the bank sees it"
SLUICE_TOKEN=$BANK s datasets
echo "== the bank applies"
APP=$(SLUICE_TOKEN=$BANK "$BIN/sluice" apply --format json --purpose inclusive-finance-sme-credit \
  --grant tax_monthly:credit_code,month,tax_paid,tax_arrears,filing_status \
  --grant enterprise:credit_code,district,industry,size_class \
  --epsilon 5 --epsilon-per-query 0.5 | sed -n 's/^  "id": "\(app_[0-9a-f]*\)".*/\1/p')
echo "application $APP"
echo "== the reviewer's queue"
SLUICE_TOKEN=$REVIEWER s due
SLUICE_TOKEN=$REVIEWER s accept "$APP"
AUTH=$(SLUICE_TOKEN=$REVIEWER "$BIN/sluice" approve --format json "$APP" --reason "arrears are not needed for the scoring model" \
  --grant tax_monthly:credit_code,month,tax_paid,filing_status --grant enterprise:credit_code,district,industry,size_class \
  --epsilon 3 | sed -n 's/^  "id": "\(auth_[0-9a-f]*\)".*/\1/p')
echo "authorization $AUTH"
echo "== the bank queries"
SLUICE_TOKEN=$BANK s query --authorization "$AUTH" \
  "SELECT e.size_class, count(DISTINCT e.credit_code) AS firms, avg(t.tax_paid) AS mean_tax FROM tax_monthly t JOIN enterprise e USING (credit_code) WHERE t.month >= DATE '2025-01-01' GROUP BY e.size_class"
echo "== a query over a column the reviewer removed"
SLUICE_TOKEN=$BANK s query --authorization "$AUTH" "SELECT sum(tax_arrears) FROM tax_monthly" || true
echo "== the reviewer suspends; the next query is refused"
SLUICE_TOKEN=$REVIEWER s suspend "$AUTH" --reason "burst of near-identical queries under investigation"
SLUICE_TOKEN=$BANK s query --authorization "$AUTH" "SELECT count(*) FROM tax_monthly" || true
SLUICE_TOKEN=$REVIEWER s authorizations
