#!/usr/bin/env bash
# Seeds the `conversions` fuzz target's corpus (corpus/conversions/, not
# committed, like every corpus here) from the conversion golden files in
# ../tests/fixtures/conversion/: each file with the two bytes the target reads
# first, `[mode, aux]` (see fuzz_targets/conversions.rs), prepended. A file
# becomes the input of every route it is a realistic input for: an OpenAI
# chat request for a chat client in front of each provider, a Messages
# request for a Messages client in front of each, a provider's reply,
# error or stream for either client in front of that provider, an OpenAI
# reply, error or stream for a Messages client in front of an OpenAI-format
# provider. Idempotent: rerunning rewrites the same seed files.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fixtures="$here/../tests/fixtures/conversion"
out="$here/corpus/conversions"
mkdir -p "$out"

# Mode bits 0-1: provider; bit 2: client; bits 3-5: operation.
declare -A PROVIDER=([anthropic]=0 [gemini]=1 [bedrock]=2 [openai]=3)
CHAT=0 MESSAGES=4
OP_REQUEST=0 OP_RESPONSE=1 OP_ERROR=2 OP_STREAM=3 OP_STREAM_USAGE=4
OP_STREAM_AFTER_REQUEST=5 OP_FRAMED=6 OP_REFUSAL=7
# The target's STATUSES, for the status in an error file's name.
STATUSES=(400 401 402 403 404 408 413 422 429 500 503 504 529)

count=0
seed() { # seed <file> <provider> <client> <op> <aux> <name>
  local mode=$(( PROVIDER[$2] | $3 | ($4 << 3) ))
  { printf "\\x$(printf %02x "$mode")\\x$(printf %02x "$5")"; cat "$1"; } >"$out/$6-$(printf %02x "$mode")"
  count=$((count + 1))
}

for file in "$fixtures"/*/*; do
  dir="$(basename "$(dirname "$file")")"
  base="$(basename "$file")"
  [[ "$base" == *.md ]] && continue
  # The shape of the file: whose format it is written in.
  case "$dir/$base" in
    */*.openai.*) shape=openai ;;
    messages/*.anthropic.*) shape=anthropic ;;
    messages/request-*) shape=anthropic ;; # a Messages request
    messages/*) shape=openai ;;
    *) shape="$dir" ;;
  esac
  name="${dir}-${base}"
  # Who reads it: (provider, client) pairs.
  if [[ "$shape" == openai ]]; then
    replies=("openai $MESSAGES")
  else
    replies=("$shape $CHAT" "$shape $MESSAGES")
  fi
  case "$base" in
    request*)
      case "$shape" in
        openai) for p in anthropic gemini bedrock; do seed "$file" "$p" "$CHAT" "$OP_REQUEST" 0 "$name"; done ;;
        anthropic) for p in anthropic gemini bedrock openai; do seed "$file" "$p" "$MESSAGES" "$OP_REQUEST" 0 "$name"; done ;;
      esac ;;
    response* | message*)
      for r in "${replies[@]}"; do set -- $r; seed "$file" "$1" "$2" "$OP_RESPONSE" 0 "$name"; done ;;
    error*)
      aux=9
      for i in "${!STATUSES[@]}"; do
        [[ "$base" == *"${STATUSES[$i]}"* ]] && aux=$i
      done
      for r in "${replies[@]}"; do set -- $r; seed "$file" "$1" "$2" "$OP_ERROR" "$aux" "$name"; done ;;
    *.events.json)
      for r in "${replies[@]}"; do set -- $r
        seed "$file" "$1" "$2" "$OP_FRAMED" 1 "$name"
      done ;;
    *.sse)
      for r in "${replies[@]}"; do set -- $r
        for op in "$OP_STREAM" "$OP_STREAM_USAGE" "$OP_STREAM_AFTER_REQUEST"; do
          seed "$file" "$1" "$2" "$op" 128 "$name-op$op"
        done
      done ;;
  esac
done
printf 'the request was refused' >"$out/refusal.txt.tmp"
seed "$out/refusal.txt.tmp" openai "$MESSAGES" "$OP_REFUSAL" 0 refusal
rm "$out/refusal.txt.tmp"
echo "seed-conversions: $count seeds in $out"
