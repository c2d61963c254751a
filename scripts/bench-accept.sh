#!/usr/bin/env bash
# The durable accept rate of 4 KiB uploads with a client that costs little: `wrk` (Debian `wrk`),
# 8 keep-alive connections for SECONDS_EACH seconds (default 3) against a fresh server with its
# default configuration (analysis runs meanwhile). Prints, per run, the uploads accepted per
# second and the server's CPU per upload over the run (the analysis done meanwhile included,
# not that of uploads still queued at its end). With BASELINE, the two binaries alternate.
#
#   scripts/bench-accept.sh [RUNS] [BASELINE_BINARY]
#   SECONDS_EACH=3 scripts/bench-accept.sh 5 /tmp/assay-e400c0b
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
runs=${1:-3}
baseline=${2:-}
seconds=${SECONDS_EACH:-3}
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One multipart body of 4 KiB of random bytes, sent by every request (wrk's Lua sets it).
python3 - "$work/upload.lua" <<'EOF'
import os, sys
b = "assaybenchboundary"
body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n").encode()
body += os.urandom(4096) + f"\r\n--{b}--\r\n".encode()
with open(sys.argv[1], "w") as f:
    f.write(f'local hex = "{body.hex()}"\n')
    f.write('wrk.method = "POST"\n')
    f.write('wrk.body = (hex:gsub("..", function(c) return string.char(tonumber(c, 16)) end))\n')
    f.write(f'wrk.headers["Content-Type"] = "multipart/form-data; boundary={b}"\n')
EOF

one() {
    local bin=$1 data="$work/data-$RANDOM" log="$work/log"
    "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" 2> "$log" &
    local pid=$!
    local port=""
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "the server did not start" >&2; kill "$pid"; exit 1; }
    local c0 c1 n rate
    c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    rate=$(wrk -t 2 -c 8 -d "${seconds}s" -s "$work/upload.lua" "http://127.0.0.1:$port/api/tiscale/v1/upload" \
        | awk '/Requests\/sec/ {print $2}')
    c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    n=$(grep -c 'POST /api/tiscale/v1/upload 200' "$log" || true)
    kill "$pid"
    wait "$pid" 2> /dev/null || true
    rm -rf "$data"
    local ticks
    ticks=$(getconf CLK_TCK)
    awk -v r="$rate" -v n="$n" -v c="$((c1 - c0))" -v t="$ticks" -v who="$2" \
        'BEGIN {printf "%-8s %7.0f uploads/s accepted (%d answered 200), server %4.0f us of CPU per upload\n", who, r, n, c / t * 1e6 / (n ? n : 1)}'
}

for _ in $(seq "$runs"); do
    one "$PWD/target/release/assay" assay
    if [ -n "$baseline" ]; then
        one "$baseline" baseline
    fi
done
