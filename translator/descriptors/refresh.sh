#!/usr/bin/env bash
# Copies envoy-types' descriptor set into translator/descriptors/envoy.bin, for
# the exact version Cargo.toml pins (see README.md beside this script).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(cargo metadata --format-version 1 | python3 -c '
import json, os, sys
meta = json.load(sys.stdin)
pkg = next(p for p in meta["packages"] if p["name"] == "envoy-types")
print(os.path.dirname(pkg["manifest_path"]))')
cp "$dir/src/generated/types.bin" translator/descriptors/envoy.bin
cp "$dir/LICENSE" translator/descriptors/LICENSE
echo "translator/descriptors/envoy.bin <- $dir"
