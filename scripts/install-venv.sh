#!/usr/bin/env bash
# Create .venv (python3.12 when available, see find-python.sh) and install the project
# editable with its dev extras, which puts the `newsdrop` command in .venv/bin. Installs use
# --require-hashes: requirements-dev.txt is compiled from pyproject.toml by `make lock`.
# Usage: scripts/install-venv.sh [VENV_DIR]      (the Makefile calls it when pyproject.toml changes)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=${1:-.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    python=$(scripts/find-python.sh)
    echo "install-venv: creating $venv with $python ($("$python" --version 2>&1))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
# Every dependency (runtime, dev tools, pip and the build backend) from requirements-dev.txt, each file
# checked against its pinned hash; then the project itself, editable, without fetching anything more.
"$venv/bin/python" -m pip install --quiet --require-hashes -r requirements-dev.txt
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
echo "install-venv: $("$venv/bin/python" --version) in $venv, newsdrop command: $venv/bin/newsdrop"
