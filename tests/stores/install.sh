#!/usr/bin/env bash
# The stores AI policies need, as Debian packages: redis-server for global
# token budgets. The tests start their own instance on a free port (this
# only installs the binary; no service is started).
set -euo pipefail
if command -v redis-server >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "redis-server is missing: run 'sudo apt-get install redis-server' (Debian's package)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q redis-server >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q redis-server >/dev/null
}
echo "stores: $(redis-server --version | cut -d' ' -f1-3)"
