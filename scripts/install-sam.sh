#!/usr/bin/env bash
# Create .venv-sam with the AWS SAM CLI. It has a virtualenv of its own because its boto3
# pins conflict with moto's (which .venv needs for the tests).
# Usage: scripts/install-sam.sh [VENV_DIR]      (idempotent: a stamp records the version)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=${1:-.venv-sam}
version=${SAM_CLI_VERSION:-1.170.0}
stamp="$venv/.installed-aws-sam-cli-$version"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

if [[ -f "$stamp" ]] && "$venv/bin/sam" --version >/dev/null 2>&1; then
    exit 0
fi
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    python=$(scripts/find-python.sh)
    echo "install-sam: creating $venv with $python ($("$python" --version 2>&1))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "aws-sam-cli==$version"
rm -f "$venv"/.installed-aws-sam-cli-*
touch "$stamp"
echo "install-sam: $(SAM_CLI_TELEMETRY=0 "$venv/bin/sam" --version) in $venv"
