# walkeeper — see README.md. `make run` and `make test` are all a new machine needs.
GO        ?= go
DATADIR   ?= ./.walkeeper
NODE_ID   ?= 1
TESTFLAGS ?= -race -timeout 20m
BENCHTIME ?= 2s

export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build run test test-short bench bench-go bench-replication bench-interpreted lint fmt fuzz generate clean chaos demo

all: build

build:
	$(GO) build ./...
	$(GO) build -o bin/walkeeper ./cmd/walkeeper

## run: start one walkeeper with a data directory in ./.walkeeper
run: build
	./bin/walkeeper -D $(DATADIR) --id $(NODE_ID)

## test: every unit and integration test, with the race detector
test:
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...

## demo: PostgreSQL 15, three walkeepers, the walproposer and a standby streaming
## from a walkeeper, under pgbench; prints live LSNs and throughput until Ctrl-C
demo:
	$(GO) build -o bin/walkeeper ./cmd/walkeeper
	$(GO) build -o bin/walproposer ./cmd/walproposer
	./cmd/walproposer/demo.sh

## chaos: SIGKILL random walkeepers for 60 s under pgbench with the walproposer (about 90 s)
chaos:
	WALPROPOSER_CHAOS=1 $(GO) test -run '^TestChaos$$' -v -timeout 10m ./walproposer/

test-short:
	$(GO) test -short ./...

## bench: WAL push path over TCP (cmd/wkbench) beside raw write+fdatasync baselines
## measured in the same run, with ratios and goals (see docs/benchmarks.md)
BENCHROUNDS ?= 25
bench:
	$(GO) run ./cmd/wkbench -rounds $(BENCHROUNDS)

## bench-go: every Go benchmark (go test -bench)
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem ./...

## bench-replication: whole-system replication figures against PostgreSQL 15
## (ingest with 30 readers vs alone; pg_receivewal of 1 GiB from walkeeper vs
## from PostgreSQL). Not part of `make test`; sizes: see server/replication_bench_test.go
bench-replication:
	WALKEEPER_BENCH=1 $(GO) test -count=1 -timeout 60m -run '^TestBenchReplication' -v ./server

## bench-interpreted: interpreted protocol figures on real PostgreSQL 15 pgbench WAL:
## decode+interpret+encode+compress MB/s vs pg_waldump --stats=record, and bytes on
## the wire for 1 and 8 shards vs raw WAL (server/interpreted_bench_test.go)
bench-interpreted:
	WALKEEPER_BENCH=1 $(GO) test -count=1 -timeout 20m -run '^TestBenchInterpreted$$' -v ./server

## lint: gofmt check and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## fuzz: run every fuzz target for FUZZTIME each. FUZZMINIMIZE bounds the
## minimizing of each new interesting input: go test's default, 60s, let a
## target with slow inputs spend all of a short FUZZTIME minimizing the
## first one, running no new inputs at all.
FUZZTIME ?= 20s
FUZZMINIMIZE ?= 2s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg || exit 1; \
	  done; \
	done

## generate: regenerate committed code (protobuf: needs protoc from Debian's
## protobuf-compiler and protoc-gen-go at the google.golang.org/protobuf version of go.mod)
PROTOBUF_VERSION = $(shell $(GO) list -m -f '{{.Version}}' google.golang.org/protobuf)
generate:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler"; exit 1; }
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOBUF_VERSION)
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" $(GO) generate ./interpreted/...

clean:
	rm -rf bin $(DATADIR)
