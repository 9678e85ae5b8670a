#!/usr/bin/env bash
# Times `llmgate translate` (YAML parsing, translation and writing the
# bootstrap: what a user waits for) on 10,000 HTTPRoutes and 1,000 Backends,
# pinned to one core, and reports the peak RSS. Usage: bench/translate/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time (for the peak RSS)" >&2
    apt-get install -y time >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y time >/dev/null)
fi
cargo build --release -p llmgate-translator --bin llmgate >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 bench/translate/generate.py "$work/manifests" "${ROUTES:-10000}" "${BACKENDS:-1000}"
echo "input: $(du -sh "$work/manifests" | cut -f1) of YAML, ${ROUTES:-10000} HTTPRoutes, ${BACKENDS:-1000} Backends"
runs=${RUNS:-5}
for i in $(seq "$runs"); do
    taskset -c 0 /usr/bin/time -v target/release/llmgate translate -f "$work/manifests" \
        --filter /nonexistent/llmgate_filter.wasm -o "$work/envoy.json" 2>"$work/time.txt" || {
        cat "$work/time.txt" >&2; exit 1; }
    wall=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}')
    rss=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
    echo "run $i: wall ${wall} (m:ss), peak RSS $((rss / 1024)) MB"
done
echo "output: $(du -h "$work/envoy.json" | cut -f1) bootstrap (JSON: Envoy reads it like YAML, and it is written much faster)"
