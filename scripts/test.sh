#!/usr/bin/env bash
# The whole test suite: unit and integration tests (cargo; the S3 tests need s3s-fs, installed
# by scripts/s3s-fs.sh), the real Python SDK against the server (scripts/sdk_compat.py), and the
# seeds' curl examples (scripts/smoke.sh).
# Usage: scripts/test.sh        (what README.md and .ci/run call)
set -euo pipefail
cd "$(dirname "$0")/.."

# The S3-compatible server the S3 tests start (installed once into target/tools).
ASSAY_S3S_FS="$(scripts/s3s-fs.sh | tail -n 1)"
export ASSAY_S3S_FS
cargo test --workspace --all-targets

export ASSAY_BIN="$PWD/target/debug/assay"
py="$(scripts/sdk-venv.sh | tail -n 1)"
"$py" scripts/sdk_compat.py
scripts/smoke.sh
