#!/usr/bin/env bash
# The offline demo behind `make run [EXAMPLE=NAME]`: the mock provider on
# 127.0.0.1:8081 and `llmgate run` on manifests/examples/NAME (default
# azure-openai) — the control plane watching the folder (edit it and the
# change is live) plus Envoy, the gateway on 127.0.0.1:8080. The `providers`
# example also gets a second mock on 8082 that answers 429, the failing first
# group of its failover route. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
example=${1:-azure-openai}
examples=manifests/examples/$example
if [[ ! -d $examples || $example == broken ]]; then
  echo "run-demo: no runnable example $examples; try one of:" >&2
  for dir in manifests/examples/*/; do
    name=$(basename "$dir")
    [[ $name == broken ]] || echo "  make run EXAMPLE=$name" >&2
  done
  exit 2
fi

# Refuse to start next to something that already holds the demo's ports (an
# earlier gateway, say): its answers would pass for ours.
busy=0
for port in 8080 8081 18000 19000 $([[ $example == providers ]] && echo 8082); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    who=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1 || true)
    echo "run-demo: port $port is already in use${who:+ by $who}; stop it first" >&2
    busy=1
  fi
done
(( busy == 0 )) || exit 1

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# The key every Secret of the examples holds; the mock accepts it for every
# provider (and Bedrock's fake AWS credentials in bedrock.yaml by default).
# The policies example's mock answers with an address and a card number for
# the response guard to mask.
answer=()
if [[ $example == policies ]]; then
  answer=(--answer "Sure: write to billing@example.com, card 4111 1111 1111 1111.")
fi
target/release/llmgate-mock --port 8081 --api-key mock-azure-key "${answer[@]}" &
pids+=($!)
if [[ $example == providers ]]; then
  target/release/llmgate-mock --port 8082 --api-key mock-azure-key --force-status 429 &
  pids+=($!)
fi
target/release/llmgate run -f "$examples" --envoy .venv/bin/envoy &
pids+=($!)

for _ in $(seq 100); do
  curl -sf -o /dev/null http://127.0.0.1:19000/ready && break
  sleep 0.1
done

# One line per route, each with the provider's own request body.
try_lines() {
  local json="-H 'content-type: application/json'"
  case $1 in
  azure-openai)
    cat <<TRY
  curl localhost:8080/azure-openai $json \\
    -d '{"model": "", "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Write a short haiku about cloud computing."}]}'
TRY
    ;;
  providers)
    cat <<TRY
  # Every route speaks OpenAI chat completions; the gateway converts to and
  # from Anthropic, Gemini, Vertex AI and Bedrock, and counts every token.
  # OpenAI (the Backend sets "model": "gpt-4o-mini")
  curl localhost:8080/openai/chat/completions $json \\
    -d '{"model": "gpt-4o", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  # Azure OpenAI v1 (the deployment becomes the body's model)
  curl localhost:8080/azure-openai-v1/chat/completions $json \\
    -d '{"model": "", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  # Anthropic
  curl localhost:8080/anthropic/chat/completions $json \\
    -d '{"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  # Gemini and Vertex AI (the Backend's model)
  curl localhost:8080/gemini/chat/completions $json \\
    -d '{"model": "gemini-2.0-flash", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  curl localhost:8080/vertexai/chat/completions $json \\
    -d '{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  # Bedrock (the Backend's model; SigV4-signed by the gateway)
  curl localhost:8080/bedrock/chat/completions $json \\
    -d '{"model": "anthropic.claude-3-haiku-20240307-v1:0", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  # An OpenAI-compatible server (DeepSeek-style /chat/completions)
  curl localhost:8080/deepseek/chat/completions $json \\
    -d '{"model": "deepseek-chat", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  # Failover: the first group (the mock on 8082) answers 429, the second serves
  curl localhost:8080/failover/chat/completions $json \\
    -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  # Each provider's own API works too, on its own path:
  curl localhost:8080/anthropic/v1/messages $json \\
    -d '{"model": "claude-haiku-4-5", "max_tokens": 256, "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  curl localhost:8080/gemini/v1beta/models/gemini-2.0-flash:generateContent $json \\
    -d '{"contents": [{"parts": [{"text": "Write a short haiku about cloud computing."}]}]}'
  curl localhost:8080/bedrock/model/anthropic.claude-3-haiku-20240307-v1:0/converse $json \\
    -d '{"messages": [{"role": "user", "content": [{"text": "Write a short haiku about cloud computing."}]}], "inferenceConfig": {"maxTokens": 256}}'
  # The OpenAI SDK (pip install openai), switching providers by route:
  python3 - <<'PY'
from openai import OpenAI
for route in ["openai", "anthropic", "gemini", "bedrock"]:
    client = OpenAI(base_url=f"http://localhost:8080/{route}", api_key="the gateway holds the keys")
    r = client.chat.completions.create(model="claude-haiku-4-5", messages=[{"role": "user", "content": "Hi"}])
    print(route, r.model, r.usage.total_tokens, r.choices[0].message.content)
PY
TRY
    ;;
  policies)
    cat <<TRY
  # A card number is refused before it reaches the provider (403):
  curl localhost:8080/guarded/v1/chat/completions $json \\
    -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Charge 4111 1111 1111 1111, please."}]}'
  # An e-mail address is masked on the way in (the provider gets <EMAIL>) and in the reply:
  curl localhost:8080/guarded/v1/chat/completions $json \\
    -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Write to jane@example.com about the invoice."}]}'
  # A system prompt and defaults the client did not send:
  curl localhost:8080/enriched/v1/chat/completions $json \\
    -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  # 100 LLM tokens a minute per x-user-id: the fourth request gets 429 and retry-after:
  curl localhost:8080/budget/v1/chat/completions $json -H 'x-user-id: alice' \\
    -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
  # 2 requests per 10 s (Envoy's local rate limit): the third gets 429:
  curl localhost:8080/limited/v1/chat/completions $json \\
    -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Write a short haiku about cloud computing."}]}'
TRY
    ;;
  *)
    echo "  (see the HTTPRoutes in $examples for the paths)"
    ;;
  esac
}

cat <<MSG

llmgate is listening on http://localhost:8080 (Envoy admin: http://localhost:19000).
Edit the manifests in $examples and the change is live within a second.
Try:

$(try_lines "$example")

Token counts: curl -s localhost:19000/stats/prometheus | grep -E '^llmgate_tokens.*token_type="(input|output|total)"'
Ctrl-C stops the gateway and the mock provider.
MSG
wait -n "${pids[@]}"
