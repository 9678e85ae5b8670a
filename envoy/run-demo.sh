#!/usr/bin/env bash
# The offline demo behind `make run`: the mock provider on 127.0.0.1:8081 and
# `llmgate run` on the Azure OpenAI example — the control plane watching the
# folder (edit it and the change is live) plus Envoy, the gateway on
# 127.0.0.1:8080. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=manifests/examples/azure-openai

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

target/release/llmgate-mock --port 8081 --api-key mock-azure-key &
pids+=($!)
target/release/llmgate run -f "$examples" --envoy .venv/bin/envoy &
pids+=($!)

for _ in $(seq 100); do
  curl -sf -o /dev/null http://127.0.0.1:19000/ready && break
  sleep 0.1
done
cat <<MSG

llmgate is listening on http://localhost:8080 (Envoy admin: http://localhost:19000).
Edit the manifests in $examples and the change is live within a second.
Try:

  curl localhost:8080/azure-openai -H 'content-type: application/json' \\
    -d '{"model": "", "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Write a short haiku about cloud computing."}]}'

Token counts: curl -s localhost:19000/stats/prometheus | grep llmgate_
Ctrl-C stops the gateway and the mock provider.
MSG
wait -n "${pids[@]}"
