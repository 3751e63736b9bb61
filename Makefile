# Make targets of the openpmip project. `make help` lists them.
GO       ?= go
BIN      ?= bin
TOOLS    ?= $(CURDIR)/$(BIN)/tools
FUZZTIME ?= 60s
LDFLAGS  := -s -w
STATIC   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

.PHONY: help build test test-deps bench bench-lma bench-mag fuzz lint cross demo openwrt clean

help:
	@echo "make demo     the emulated PMIPv6 domain end to end (QEMU, TCG)"
	@echo "make test     every test tier: unit, namespaces (root), QEMU (root)"
	@echo "make build    pmip-mag, pmip-lma, pmipctl for this machine into $(BIN)/"
	@echo "make bench    benchmarks, printing their figures (all of them, ~15 min)"
	@echo "make bench-lma  the LMA's PBU/s, p99 and memory with 1M bindings (root;"
	@echo "               paced rows 3 times; BENCH_PERSEC=1 keeps per-second p99s)"
	@echo "make bench-mag  the MAG's size, memory and latency budgets, RUNS=5 (root)"
	@echo "make fuzz     every fuzz target for FUZZTIME (default 60s) each"
	@echo "make lint     gofmt, go vet, staticcheck, shellcheck"
	@echo "make cross    static MAG builds for the AP architectures, LMA for amd64"
	@echo "make openwrt  installable .ipk packages of the MAG"

build:
	$(GO) build -trimpath -o $(BIN)/ ./cmd/...

test-deps:
	scripts/install-test-deps.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

bench-lma:
	BENCH_PACED_RUNS=$${BENCH_PACED_RUNS:-3} scripts/bench-lma.sh

bench-mag:
	RUNS=$${RUNS:-5} scripts/bench-mag.sh

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	$(TOOLS)/staticcheck ./...
	shellcheck $$(git ls-files '*.sh') $$(git ls-files 'hostapd-hooks/*' 'build/openwrt/*' | xargs grep -l '^#!/bin/sh' 2>/dev/null)

# Static binaries: the MAG for the access points' architectures, the LMA for x86.
cross:
	GOOS=linux GOARCH=mipsle GOMIPS=softfloat $(STATIC) -o $(BIN)/linux-mipsle-softfloat/pmip-mag ./cmd/pmip-mag
	GOOS=linux GOARCH=mips   GOMIPS=softfloat $(STATIC) -o $(BIN)/linux-mips-softfloat/pmip-mag   ./cmd/pmip-mag
	GOOS=linux GOARCH=arm    GOARM=7          $(STATIC) -o $(BIN)/linux-armv7/pmip-mag            ./cmd/pmip-mag
	GOOS=linux GOARCH=arm64                   $(STATIC) -o $(BIN)/linux-arm64/pmip-mag            ./cmd/pmip-mag
	GOOS=linux GOARCH=amd64                   $(STATIC) -o $(BIN)/linux-amd64/pmip-mag            ./cmd/pmip-mag
	GOOS=linux GOARCH=amd64                   $(STATIC) -o $(BIN)/linux-amd64/pmip-lma            ./cmd/pmip-lma
	GOOS=linux GOARCH=amd64                   $(STATIC) -o $(BIN)/linux-amd64/pmipctl             ./cmd/pmipctl
	@ls -l $(BIN)/linux-*/*

demo:
	scripts/demo.sh

# Installable .ipk packages of the MAG for the OpenWrt targets, without the SDK.
openwrt:
	$(GO) run ./build/openwrt/mkipk -out $(BIN)/openwrt

clean:
	rm -rf $(BIN)
