#!/usr/bin/env bash
# The durable accept rate of 4 KiB uploads (each a different file) with a client that costs little:
# `wrk` (Debian `wrk`), 8 keep-alive connections for SECONDS_EACH seconds (default 3) against a fresh server with its
# default configuration (analysis runs meanwhile). Prints, per run, the uploads accepted per
# second, how many of them were analysed by its end (uploads go before the analysis threads'
# writes to the database, so a burst faster than analysis waits in the queue), and the server's
# CPU per upload over the run (the analysis done meanwhile included, not that of uploads still
# queued at its end). With BASELINE, the two binaries alternate.
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

# A multipart body of 4 KiB of random bytes; wrk's Lua makes each request's sample distinct by
# writing the thread's number and a counter over its first 16 bytes, so that no upload is
# analysed from the cache of an earlier one.
python3 - "$work/upload.lua" <<'EOF'
import os, sys
b = "assaybenchboundary"
head = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n").encode()
tail = os.urandom(4096 - 16) + f"\r\n--{b}--\r\n".encode()
unhex = '(("%s"):gsub("..", function(c) return string.char(tonumber(c, 16)) end))'
with open(sys.argv[1], "w") as f:
    f.write(f'local head = {unhex % head.hex()}\n')
    f.write(f'local tail = {unhex % tail.hex()}\n')
    f.write('wrk.method = "POST"\n')
    f.write(f'wrk.headers["Content-Type"] = "multipart/form-data; boundary={b}"\n')
    f.write('local threads = 0\n')
    f.write('function setup(thread) threads = threads + 1; thread:set("id", threads) end\n')
    f.write('local n = 0\n')
    f.write('function request()\n')
    f.write('  n = n + 1\n')
    f.write('  return wrk.format(nil, nil, nil, head .. string.format("%03d%013d", id, n) .. tail)\n')
    f.write('end\n')
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
    local c0 c1 n rate analysed
    c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    rate=$(wrk -t 2 -c 8 -d "${seconds}s" -s "$work/upload.lua" "http://127.0.0.1:$port/api/tiscale/v1/upload" \
        | awk '/Requests\/sec/ {print $2}')
    c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    analysed=$(grep -cE 'task [0-9]+ (done|failed) in' "$log" || true)
    n=$(grep -c 'POST /api/tiscale/v1/upload 200' "$log" || true)
    kill "$pid"
    wait "$pid" 2> /dev/null || true
    rm -rf "$data"
    local ticks
    ticks=$(getconf CLK_TCK)
    awk -v r="$rate" -v n="$n" -v a="$analysed" -v c="$((c1 - c0))" -v t="$ticks" -v who="$2" \
        'BEGIN {printf "%-8s %7.0f uploads/s accepted (%d answered 200, %d analysed meanwhile), server %4.0f us of CPU per upload\n", who, r, n, a, c / t * 1e6 / (n ? n : 1)}'
}

for _ in $(seq "$runs"); do
    one "$PWD/target/release/assay" assay
    if [ -n "$baseline" ]; then
        one "$baseline" baseline
    fi
done
