# llmgate: `make run` starts the demo gateway, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
ENVOY ?= $(VENV)/bin/envoy
LLMGATE := target/release/llmgate
WASM := target/wasm32-wasip1/release/llmgate_filter.wasm

.PHONY: build envoy run test unit e2e clean

build:
	@rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
	cargo build --release -p llmgate-filter --target wasm32-wasip1
	cargo build --release -p llmgate-translator -p llmgate-e2e --bins

envoy:
	@envoy/install.sh $(VENV)

run: build envoy
	@envoy/run-demo.sh

test: build envoy
	cargo test --workspace

clean:
	cargo clean
	rm -rf .run
