#!/usr/bin/env bash
# Benchmark: 1 MiB uploads straight to a Worker and through a Hub (release build), and the Hub's
# peak memory for a 2 GiB upload. Prints the figures and whether they meet the targets.
# Usage: scripts/bench-hub.sh [--files N] [--rounds R] [--large-mib M]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/bench-hub.py --bin target/release/assay "$@"
