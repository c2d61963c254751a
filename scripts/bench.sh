#!/usr/bin/env bash
# Benchmark: builds the release binary and prints throughput, latency and memory figures.
# Usage: scripts/bench.sh [--large-mib N]      (default 2048: the 2 GiB streaming upload)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/bench.py --bin target/release/assay "$@"
