#!/usr/bin/env bash
# `make bench`: installs what the gateway benchmark needs (wrk and nginx from
# Debian, LiteLLM into bench/.venv), builds llmgate and Envoy, profiles the
# filter's parser under callgrind, then runs bench/bench.py, which writes
# bench/.work/results.json and the generated block of docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
command -v valgrind >/dev/null || need+=(valgrind)
command -v taskset >/dev/null || need+=(util-linux)
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
if [ ! -x bench/.venv/bin/litellm ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q 'litellm[proxy]'
fi

make build envoy
cargo build --release -p llmgate-filter --example usage_scan --example request_cost

mkdir -p bench/.work
python3 bench/fixtures.py bench/.work/fixtures >/dev/null
# Host-target profile of the filter's response parsing (docs/benchmarks.md):
# instructions per response = (Ir at N - Ir at 0) / N.
cg() { # NAME N MODE
  valgrind --tool=callgrind --callgrind-out-file=bench/.work/callgrind.$1.out \
    target/release/examples/usage_scan bench/.work/fixtures/chat.json bench/.work/fixtures/stream.sse "$2" "$3" \
    > bench/.work/callgrind.$1.txt 2>&1
  callgrind_annotate bench/.work/callgrind.$1.out > bench/.work/callgrind.$1.annotate.txt 2>/dev/null
}
cg base 0 filter
cg filter-sse 20 filter-sse
cg filter-json 2000 filter-json
cg naive-sse 5 naive-sse
cg naive-json 500 naive-json
target/release/examples/usage_scan bench/.work/fixtures/chat.json bench/.work/fixtures/stream.sse 2000 \
  > bench/.work/usage_scan.txt
cat bench/.work/usage_scan.txt
# Per-request costs of the filter's own work (SigV4, conversions, prompt
# guards, enrichment, response masking), each beside the SigV4 anchor.
target/release/examples/request_cost 20000 | tee bench/.work/request_cost.txt

exec python3 bench/bench.py
