#!/usr/bin/env bash
# Print the path of the Python interpreter to build this project's virtualenvs with.
#
#   scripts/find-python.sh           python3.12 (the Lambda runtime) if there is one,
#                                    else python3 >= 3.11
#   scripts/find-python.sh --3.12    python3.12 or fail (what `sam build` needs on PATH)
#
# Looks in pyenv's versions folder first (pyenv shims answer `python3.12` only when
# PYENV_VERSION lists it), then on PATH. Each candidate is run once to prove it works.
set -euo pipefail

require_312=false
[[ "${1:-}" == "--3.12" ]] && require_312=true

version_ok() { # $1 interpreter, $2 python condition on sys.version_info
    "$1" -c "import sys, venv; sys.exit(0 if $2 else 1)" >/dev/null 2>&1
}

candidates=()
for root in "${PYENV_ROOT:-}" "$HOME/.pyenv" /root/.pyenv; do
    [[ -n "$root" && -d "$root/versions" ]] || continue
    while IFS= read -r path; do
        candidates+=("$path")
    done < <(ls -d "$root"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V -r)
done
if command -v python3.12 >/dev/null 2>&1; then
    candidates+=("$(command -v python3.12)")
fi

for candidate in "${candidates[@]}"; do
    if version_ok "$candidate" "sys.version_info[:2] == (3, 12)"; then
        echo "$candidate"
        exit 0
    fi
done

if ! $require_312; then
    for name in python3 python; do
        candidate=$(command -v "$name" 2>/dev/null) || continue
        if version_ok "$candidate" "sys.version_info[:2] >= (3, 11)"; then
            echo "$candidate"
            exit 0
        fi
    done
    echo "find-python: no python3.12 and no python3 >= 3.11 found" >&2
    exit 1
fi
echo "find-python: no working python3.12 found (pyenv versions or PATH)" >&2
exit 1
