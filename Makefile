# Sluice — build, test, demo and benchmark targets.
GO       ?= go
DATA     ?= sluice-data
BENCHDIR ?= .bench-data

.PHONY: all build test test-short vet lint demo serve bench clean

all: build

build:
	$(GO) build -o bin/sluice ./cmd/sluice

## test: vet and run every test (real DuckDB, real OPA, real noise).
test: vet
	$(GO) test -count=1 ./...

test-short: vet
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

lint: vet
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$$($(GO) env GOPATH)/bin/staticcheck ./...

## demo: generate the example data, run the example queries, then the
## operations team's review day over HTTP against a real sluiced.
demo:
	$(GO) run ./cmd/sluice demo -data $(DATA)
	DATA=$(DATA) ./examples/review-day.sh

## serve: run sluiced on the example data with a demo identity setup.
serve:
	$(GO) run ./cmd/sluiced -data $(DATA) -demo

## bench: 10 million rows, ~200 000 firms; prints the ratios of the issue.
bench:
	$(GO) run ./cmd/sluice-bench -data $(BENCHDIR)
	$(GO) test -run '^$$' -bench . -benchmem ./query/ ./privacy/ ./sandbox/

clean:
	rm -rf bin $(DATA) $(BENCHDIR)
