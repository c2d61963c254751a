#!/usr/bin/env bash
# sdk-venv.sh - create the Python virtualenv that scripts/sdk_compat.py uses.
#
# Creates <repo>/.venv-sdk with `python3 -m venv` and installs the ReversingLabs SDK
# (reversinglabs-sdk-py3, with its largeFiles extra: requests-toolbelt, for the SDK's streamed
# large_file=True upload) from PyPI. Idempotent: does nothing if the venv already has both.
# Prints the venv's python path on its last line.
#
# Usage:
#   scripts/sdk-venv.sh
#   "$(scripts/sdk-venv.sh | tail -n 1)" scripts/sdk_compat.py
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.venv-sdk
PY=$VENV/bin/python

has_sdk() {
    [[ -x $PY ]] && "$PY" -c 'import ReversingLabs.SDK.tiscale, requests_toolbelt' 2>/dev/null
}

if has_sdk; then
    echo "sdk-venv: $VENV already has the ReversingLabs SDK" >&2
else
    [[ -x $PY ]] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check 'reversinglabs-sdk-py3[largeFiles]'
    has_sdk || { echo "sdk-venv: the SDK did not install into $VENV" >&2; exit 1; }
    echo "sdk-venv: installed $("$PY" -m pip show reversinglabs-sdk-py3 | sed -n 's/^Version: /reversinglabs-sdk-py3 /p') into $VENV" >&2
fi
echo "$PY"
