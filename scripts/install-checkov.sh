#!/usr/bin/env bash
# Create .venv-checkov with checkov. It has a virtualenv of its own because its pins (boto3,
# jsonschema, networkx, ...) conflict with moto's and cfn-lint's in .venv.
# Usage: scripts/install-checkov.sh [VENV_DIR]      (idempotent: a stamp records the version)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=${1:-.venv-checkov}
version=${CHECKOV_VERSION:-3.3.30}
stamp="$venv/.installed-checkov-$version"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

if [[ -f "$stamp" ]] && "$venv/bin/checkov" --version >/dev/null 2>&1; then
    exit 0
fi
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    python=$(scripts/find-python.sh)
    echo "install-checkov: creating $venv with $python ($("$python" --version 2>&1))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet "checkov==$version"
rm -f "$venv"/.installed-checkov-*
touch "$stamp"
echo "install-checkov: checkov $("$venv/bin/checkov" --version) in $venv"
