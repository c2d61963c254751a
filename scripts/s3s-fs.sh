#!/usr/bin/env bash
# s3s-fs.sh - makes sure the S3-compatible test server that tests/integration/s3.rs starts is
# installed: s3s-fs from crates.io (built with its `binary` feature) in target/tools/bin.
# It is test tooling only; nothing of it is in the product. Prints the binary's path last.
#
# Usage: scripts/s3s-fs.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/target/tools
# 0.14.1: the last release that builds with this project's toolchain (rustc 1.95).
VERSION=0.14.1

if [[ ! -x $TOOLS/bin/s3s-fs ]]; then
    echo "s3s-fs.sh: installing s3s-fs $VERSION into $TOOLS (a few minutes, once)" >&2
    cargo install "s3s-fs@$VERSION" --features binary --locked --root "$TOOLS" --quiet
fi
echo "$TOOLS/bin/s3s-fs"
