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

.PHONY: run test test-rust test-sdks soak tools bench bench-quick fuzz fmt lint clean

run:
	$(CARGO) run --release --bin strand -- $(ARGS)

tools:
	@bash $(TOOLS) all

test: tools
	$(CARGO) build --locked --bins --tests
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-sdks

# 100 SIGKILL cycles under load on a local root and on moto (10 run in `make test`).
soak: tools
	$(CARGO) build --locked --bins --tests
	STRAND_CRASH_CYCLES=100 $(CARGO) nextest run --locked --profile soak --test e2e --no-fail-fast crash::

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

# Strand beside s2 lite on this machine (in memory and --local-root), same workloads, same
# run; results, plots and machine details go to bench/results/ (about 5 minutes + build).
bench:
	@bash $(TOOLS) s2
	$(CARGO) build --locked --release -p strand -p strand-bench
	target/release/strand-bench suite --lite $(S2_CLI) $(BENCH_ARGS)

# The same suite with 2-second runs: checks the suite itself, not the servers.
bench-quick:
	$(MAKE) --no-print-directory bench BENCH_ARGS="--quick $(BENCH_ARGS)"

# Each parser's fuzz target for FUZZ_SECS seconds (not part of `make test`). cargo-fuzz
# wants a nightly toolchain for -Zsanitizer; RUSTC_BOOTSTRAP lets this stable one accept it.
FUZZ_SECS ?= 60
FUZZ_TARGETS := s2s_frame http1_head http1_body json_bodies proto_append
fuzz:
	@bash $(TOOLS) fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t fuzz/regressions/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECS) s"; \
	  (cd fuzz && RUSTC_BOOTSTRAP=1 $(STRAND_CACHE)/cargo-fuzz-0.13.2/bin/cargo-fuzz run $$t \
	    corpus/$$t regressions/$$t -- -max_total_time=$(FUZZ_SECS) -rss_limit_mb=2048 -print_final_stats=1); \
	done

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
