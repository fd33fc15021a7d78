# ECS image DR on Function Compute. `make demo` shows it working, `make test` proves it.
GO        ?= go
FUNCTIONS := $(notdir $(wildcard functions/*))
DIST      := dist

.PHONY: all build test race lint demo bench chaos fuzz offsite-large localcloud clean

all: lint test build

## build: one linux/amd64 static binary named `main` per function, and a zip ready for FC's go1 runtime
build:
	@for fn in $(FUNCTIONS); do \
		echo "build $$fn"; \
		GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(DIST)/$$fn/main ./functions/$$fn || exit 1; \
	done
	@$(GO) run ./scripts/package -dist $(DIST) $(FUNCTIONS)

## test: every test (unit, local cloud through the real SDKs, real function binaries)
test:
	$(GO) test -count=1 -timeout 20m ./...

## race: every test under the race detector (slower; run before merging concurrency changes)
race:
	$(GO) test -count=1 -race -timeout 20m ./...

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## demo: ten simulated days through the real binaries on the local cloud
demo: build
	$(GO) run ./scripts/demo -s s.yaml -function-log $(DIST)/demo-functions.log

## bench: speed and memory figures (never asserted in unit tests)
bench:
	$(GO) run ./scripts/bench -out bench
	$(GO) test -run '^$$' -bench . -benchmem ./...

## offsite-large: a 4 GiB RDS backup (OFFSITE_LARGE_GIB) copied through rds-offsite with the heap bounded
offsite-large:
	$(GO) test -tags large -count=1 -run TestOffsiteMultiGBBoundedMemory -v -timeout 30m ./pkg/app/

## chaos: 1,000 seeded fault scenarios (5% through the real binaries), invariants checked from the cloud's state
chaos: build
	$(GO) run ./scripts/chaos -n $(or $(CHAOS_N),1000) -seed $(or $(CHAOS_SEED),1) -binary-share 0.05 -parallel 2

## fuzz: every native fuzz target for FUZZTIME each (default 20s); failing inputs land in the package's testdata/fuzz
FUZZTIME ?= 20s
FUZZ_TARGETS := ./pkg/events:FuzzParse ./pkg/events:FuzzParseChecked ./pkg/policy:FuzzParsePolicy ./pkg/policy:FuzzImageName \
	./pkg/retention:FuzzPlanNeverDeletesProtected ./pkg/localcloud/ecs:FuzzRequestParsing
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

## localcloud: run the local cloud alone in the foreground
localcloud:
	$(GO) run ./scripts/localcloud

clean:
	rm -rf $(DIST)
