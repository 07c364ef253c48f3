#!/usr/bin/env bash
# Install one command-line tool into a virtualenv of its own, for tools whose pins conflict
# with moto's and cfn-lint's in .venv (the SAM CLI pins boto3; checkov pins boto3, jsonschema,
# networkx, ...).
# Usage: scripts/install-tool.sh VENV_DIR PACKAGE VERSION COMMAND
#        (idempotent: a stamp in VENV_DIR records the package and version)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=$1 package=$2 version=$3 command=$4
stamp="$venv/.installed-$package-$version"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 SAM_CLI_TELEMETRY=0

if [[ -f "$stamp" ]] && "$venv/bin/$command" --version >/dev/null 2>&1; then
    exit 0
fi
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    python=$(scripts/find-python.sh)
    echo "install-tool: creating $venv with $python ($("$python" --version 2>&1))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$package==$version"
rm -f "$venv/.installed-$package-"*
touch "$stamp"
echo "install-tool: $package $("$venv/bin/$command" --version 2>&1 | tail -n 1) in $venv"
