# llmgate: `make run` starts the demo gateway, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
ENVOY ?= $(VENV)/bin/envoy
LLMGATE := target/release/llmgate
WASM := target/wasm32-wasip1/release/llmgate_filter.wasm

.PHONY: wasm-target build envoy sdk stores run test unit e2e lint descriptors clean fuzz fuzz-smoke fuzz-tools bench-translate bench-push bench

wasm-target:
	@rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

build: wasm-target
	cargo build --release -p llmgate-filter --target wasm32-wasip1
	cargo build --release -p llmgate-translator -p llmgate-e2e --bins

envoy:
	@envoy/install.sh $(VENV)

# The providers' official Python SDKs (tests/sdk/requirements.txt), the
# clients of the SDK end-to-end tests, into the same venv as Envoy.
sdk: envoy
	@tests/sdk/install.sh $(VENV)

# The stores AI policies need (Debian's redis-server for global token
# budgets); the tests start their own instances.
stores:
	@tests/stores/install.sh

# `make run EXAMPLE=providers` runs manifests/examples/providers instead.
EXAMPLE ?= azure-openai
run: build envoy
	@envoy/run-demo.sh $(EXAMPLE)

test: build envoy sdk stores
	cargo test --workspace --no-fail-fast

# The tests that need no Envoy: the filter's and the translator's (and the
# mock provider's own).
unit:
	cargo test -p llmgate-filter -p llmgate-translator
	cargo test -p llmgate-e2e --lib --bins

# The end-to-end tests: real Envoy, the real filter, the mock providers.
e2e: build envoy sdk stores
	cargo test -p llmgate-e2e --tests

# Formatting, and clippy with warnings as errors on the host and, for the
# filter, on the target Envoy runs it on.
lint: wasm-target
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p llmgate-filter --target wasm32-wasip1 -- -D warnings

# Refresh translator/descriptors/envoy.bin after changing envoy-types' version.
descriptors:
	translator/descriptors/refresh.sh

# The filter's fuzz targets (filter/fuzz, its own workspace; nightly +
# cargo-fuzz). Not part of `make test`: on a fresh machine installing
# cargo-fuzz (~80 s) and the sanitizer build (~2 min) cost more than every
# other test together. `fuzz-smoke` is the short bounded run for CI (~45 s
# once built); `make fuzz FUZZ_SECONDS=3600` is the long one. Both seed the
# `conversions` corpus from the conversion golden files first.
FUZZ_TARGETS := sse_reader usage_scanners event_stream conversions
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_SECONDS ?= 600

fuzz-tools:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

fuzz-smoke: fuzz-tools
	cd filter/fuzz && ./seed-conversions.sh && for t in $(FUZZ_TARGETS); do \
	  cargo +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=8192 || exit 1; \
	done

fuzz: fuzz-tools
	cd filter/fuzz && ./seed-conversions.sh && for t in $(FUZZ_TARGETS); do \
	  cargo +nightly fuzz run $$t -j 2 -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536 || exit 1; \
	done

clean:
	cargo clean
	rm -rf .run

# Translation of 10,000 HTTPRoutes and 1,000 Backends on one core (docs/benchmarks.md).
bench-translate:
	bench/translate/run.sh

# Push latency of `llmgate serve` at 10,000 HTTPRoutes: file rewrite → Envoy ACK.
bench-push: build envoy
	python3 bench/xds_push/push_latency.py 10000 1000 5

# The gateway benchmark: native route vs llmgate vs ai_protocol_manager vs
# LiteLLM on one nginx upstream, ~10 min (docs/benchmarks.md, bench/README.md).
bench:
	bench/run.sh
