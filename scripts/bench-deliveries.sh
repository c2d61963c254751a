#!/usr/bin/env bash
# Benchmark: what the callback, Splunk and S3 deliveries cost in end-to-end files/s (release
# build, local receivers, s3s-fs for S3). Prints the figures and whether they stay within 10 %.
# Usage: scripts/bench-deliveries.sh [--small N] [--size-kib K] [--rounds R] [--outbox-threads T] [--shared]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
s3s_fs="$(scripts/s3s-fs.sh | tail -n 1)"
exec python3 scripts/bench-deliveries.py --bin target/release/assay --s3s-fs "$s3s_fs" "$@"
