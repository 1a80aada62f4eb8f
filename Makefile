# trailguard: see README.md. `make demo` and `make test` are the two commands.
SHELL := /bin/bash
GO ?= go
GOARCH ?= arm64
FUNCTIONS := trail-remediator key-remediator sweeper sweep-worker
# A count, not a duration: a duration-bounded -fuzztime can fail with a bare
# "context deadline exceeded" and no crasher (a race in Go 1.26's fuzz
# coordinator, golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 100000x
# package:FuzzTarget pairs run for FUZZTIME each by `make fuzz` (part of `make test`).
FUZZ_TARGETS := ./pkg/policy:FuzzParse ./pkg/policy:FuzzJSON ./pkg/compliance:FuzzMerge ./pkg/compliance:FuzzMergeHostile ./pkg/event:FuzzDecode ./pkg/event:FuzzDecodeHostile
CDK_CLI ?= aws-cdk@2.1148.0
CDK_PREFIX ?= $(HOME)/.cache/trailguard/cdk-cli

.PHONY: test bincheck fmtcheck vet unit fuzz build demo synth deploy deploy-management e2e bench clean diff-large

## test: every test (what .ci/run calls): tracked-binary check, gofmt check, go vet, go test -race, bounded fuzzing,
## and the synthesized stacks deployed into moto (e2e).
test: bincheck fmtcheck vet unit fuzz e2e

## bincheck: no tracked file is a binary (a NUL byte in its first 8 KiB) over 1 MB.
bincheck:
	@bad=$$(git ls-files -z 2>/dev/null | while IFS= read -r -d '' f; do \
	  [ -f "$$f" ] && [ $$(stat -c%s "$$f") -gt 1000000 ] && head -c 8192 "$$f" | grep -qaP '\x00' && echo "$$f"; done; true); \
	if [ -n "$$bad" ]; then echo "binary files over 1 MB are tracked:"; echo "$$bad"; exit 1; fi; echo "bincheck: ok"

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi; echo "gofmt: ok"

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$fn in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; done

## diff-large: the key-policy differential test (internal/policydiff) on 10,000 cases of each
## generator profile, with seeds `make test` does not use (DIFF_CASES to change the size).
DIFF_CASES ?= 10000
diff-large:
	DIFF_CASES=$(DIFF_CASES) DIFF_PROFILE=default DIFF_SEED=1 $(GO) test -count=1 -run '^TestDifferential$$' -v ./internal/policydiff/
	DIFF_CASES=$(DIFF_CASES) DIFF_PROFILE=alt DIFF_SEED=2 $(GO) test -count=1 -run '^TestDifferential$$' -v ./internal/policydiff/

## build: build/<function>/bootstrap (linux/$(GOARCH)) for every function, and bin/trailguard.
build:
	@set -e; for f in $(FUNCTIONS); do \
	  GOOS=linux GOARCH=$(GOARCH) CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
	    -o build/$$f/bootstrap ./functions/$$f; echo "built build/$$f/bootstrap"; done
	$(GO) build -trimpath -o bin/trailguard ./cmd/trailguard

## demo: the main job against a local moto server, on the embedded default.
demo:
	@bash scripts/deps.sh >/dev/null || { bash scripts/deps.sh; exit 1; }
	$(GO) run ./cmd/trailguard demo

## synth: CloudFormation templates under cdk.out/, offline (needs Node.js, no AWS credentials).
synth: build
	CDK_OUTDIR=cdk.out JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(GO) run ./infra $(CDK_ARGS)

## deploy: cdk deploy with your AWS credentials (builds the functions first).
deploy: build
	npm install --prefix $(CDK_PREFIX) --no-audit --no-fund $(CDK_CLI) >/dev/null
	@echo "first deployment to an account/Region? run: $(CDK_PREFIX)/node_modules/.bin/cdk bootstrap --no-notices"
	CDK_DISABLE_VERSION_CHECK=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	  $(CDK_PREFIX)/node_modules/.bin/cdk deploy --all --no-notices $(CDK_ARGS)

## e2e: the synthesized templates deployed into moto server's CloudFormation (CreateStack, the
## member StackSet through CreateStackSet/CreateStackInstances), what moto created read back, and the
## deployed functions run under aws-lambda-rie on events routed by the deployed rules
## (infra/e2e*_test.go, build tag e2e; about 2 min). Without moto_server or aws-lambda-rie the
## tests skip with the reason, and fail under CI=true.
e2e:
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(GO) test -tags e2e -count=1 -timeout 20m -run '^TestE2E' ./infra/

## deploy-management: organization mode, with the management account's credentials: the
## management account's stacks (context part=management; CDK_ARGS must carry the central
## stack's outputs as -c centralEventBusArn=... -c centralFunctionRoleArns=...). No assets,
## so no cdk bootstrap is needed.
deploy-management:
	npm install --prefix $(CDK_PREFIX) --no-audit --no-fund $(CDK_CLI) >/dev/null
	CDK_DISABLE_VERSION_CHECK=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	  $(CDK_PREFIX)/node_modules/.bin/cdk deploy --all --no-notices -c part=management $(CDK_ARGS)

## bench: the benchmark report, bench/results/report.{md,json} (see bench/README.md).
bench:
	$(GO) run ./cmd/trailguard-bench -out bench/results $(BENCH_ARGS)

clean:
	rm -rf build bin cdk.out
