#!/usr/bin/env bash
# Installs the providers' official Python SDKs (tests/sdk/requirements.txt) into
# the project-local virtualenv VENV (default .venv, the one envoy/install.sh
# makes): the clients of the SDK end-to-end tests. Does nothing when VENV was
# last installed from the same requirements.txt (a copy is kept as the stamp).
set -euo pipefail
venv="${1:-.venv}"
here="$(cd "$(dirname "$0")" && pwd)"
requirements="$here/requirements.txt"
stamp="$venv/.llmgate-sdk-requirements.txt"
if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
"$venv/bin/python" -c 'import openai, anthropic, google.genai, boto3; print("sdk: openai", openai.__version__, "anthropic", anthropic.__version__, "boto3", boto3.__version__)'
