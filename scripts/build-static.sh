#!/usr/bin/env bash
# build-static.sh - build a fully static x86_64 Linux release binary of assay and verify it.
#
# The binary links glibc statically (crt-static), so it runs on any x86_64 Linux without matching
# shared libraries; install it as /usr/local/bin/assay (see scripts/assay.service).
#
# Usage:
#   scripts/build-static.sh [extra cargo build arguments]
# Result: target/x86_64-unknown-linux-gnu/release/assay (its path and size are printed last).
# Needs: the Rust toolchain for x86_64-unknown-linux-gnu, glibc's static libraries (libc6-dev on
# Debian/Ubuntu, glibc-static on Fedora/RHEL), `file` and `ldd` for the check.
# A release build takes several minutes.
#
# Why --target: RUSTFLAGS apply to everything cargo compiles for the target, and without --target
# that includes proc-macro crates and build scripts (serde_derive, thiserror-impl, ...), which must
# be shared objects loaded by the compiler: +crt-static makes those fail. With an explicit --target,
# even the host triple, RUSTFLAGS reach only the target artefacts and the host tools build normally.
#
# Note: the link step may warn that getaddrinfo, getpwnam & co. in a statically linked program need
# glibc's shared NSS libraries, of the build machine's glibc version, at run time. The server
# binds numeric addresses only, and the deliveries (callback, Splunk, S3) resolve names with their
# own resolver (/etc/hosts, then DNS from /etc/resolv.conf: src/integrations/resolve.rs), which the
# end of this script checks with the static binary itself.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TARGET=x86_64-unknown-linux-gnu
BIN=$ROOT/target/$TARGET/release/assay

for tool in cargo rustc file ldd; do
    command -v "$tool" >/dev/null || { echo "build-static: $tool is required" >&2; exit 2; }
done
HOST=$(rustc -vV | sed -n 's/^host: //p')
if [[ $HOST != "$TARGET" ]]; then
    # Building for x86_64 from another architecture needs a cross linker and libc; not handled here.
    echo "build-static: this script builds on $TARGET hosts only (this host is $HOST)" >&2
    exit 2
fi

# Exactly this flag: any RUSTFLAGS from the environment are replaced, not added to.
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$TARGET" "$@"

# --- Verify that the result is static ---
[[ -x $BIN ]] || { echo "build-static: $BIN was not produced" >&2; exit 1; }

FILE_OUT=$(file -b "$BIN")
echo "file: $FILE_OUT"
# "statically linked" for a plain static executable, "static-pie linked" for a static PIE (what
# rustc makes with crt-static on this target). "dynamically linked" or an interpreter is a failure.
case $FILE_OUT in
    *"statically linked"* | *"static-pie linked"*) ;;
    *)
        echo "build-static: $BIN is not static according to file(1)" >&2
        exit 1 ;;
esac

# ldd prints "not a dynamic executable" (and exits 1) for a static executable, "statically linked"
# for a static PIE, and a list of libraries otherwise.
LDD_OUT=$(ldd "$BIN" 2>&1 || true)
echo "ldd: $(echo "$LDD_OUT" | sed 's/^[[:space:]]*//' | head -n 5)"
case $LDD_OUT in
    *"not a dynamic executable"* | *"statically linked"*) ;;
    *)
        echo "build-static: $BIN needs shared libraries according to ldd:" >&2
        echo "$LDD_OUT" >&2
        exit 1 ;;
esac

# It runs.
"$BIN" --version

# It resolves host names itself (getaddrinfo in a static glibc needs the build machine's NSS
# libraries at run time): localhost, a name from /etc/hosts, and, when DNS is reachable, a public
# name (not a failure when it is not: machines without a network exist).
"$BIN" resolve localhost
HOSTS_NAME=$(awk '!/^#/ && NF >= 2 {print $2; exit}' /etc/hosts)
[[ -n $HOSTS_NAME ]] && "$BIN" resolve "$HOSTS_NAME"
"$BIN" resolve index.crates.io || echo "build-static: no DNS answer for index.crates.io (no network?)"

SIZE=$(stat -c %s "$BIN")
echo "static binary: $BIN ($SIZE bytes, $((SIZE / 1024 / 1024)) MiB)"
