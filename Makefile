# Strand: `make run` serves in memory on :8080; `make test` installs what the tests need
# (once, into ~/.cache/strand) and runs every suite.
SHELL := /bin/bash
TOOLS := scripts/tools.sh
CARGO ?= cargo
export STRAND_CACHE ?= $(HOME)/.cache/strand
export S2_CLI := $(STRAND_CACHE)/s2-cli-0.43.4/bin/s2
export STRAND_TS_SDK := $(STRAND_CACHE)/ts-sdk-0.27.0/node_modules
export STRAND_PY := $(STRAND_CACHE)/py-sdk-0.13.0/bin/python
export MOTO_SERVER := $(STRAND_CACHE)/moto-5.2.5/bin/moto_server

.PHONY: run test test-rust test-sdks tools bench fmt lint clean

run:
	$(CARGO) run --release --bin strand -- $(ARGS)

tools:
	@bash $(TOOLS) all

test: tools
	$(CARGO) build --locked --bins --tests
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-sdks

# Unit tests of every crate and the end-to-end suite (Rust SDK, s2 CLI, s2 lite, moto).
test-rust:
	@if command -v cargo-nextest >/dev/null; then \
	  $(CARGO) nextest run --locked --workspace --no-fail-fast; \
	else \
	  $(CARGO) test --locked --workspace; \
	fi

# The TypeScript and Python SDK suites against a fresh server.
test-sdks:
	bash tests/run-sdk-suites.sh

bench:
	$(CARGO) run --release -p strand-bench

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
