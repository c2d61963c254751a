#!/usr/bin/env bash
# assay against the open pipeline it replaces, on the same files with the same rules: ClamAV
# unpacking everything it can (`clamscan -r --leave-temps`), then `yara -p 1` with the rules over
# the tree and every file ClamAV extracted; and assay's server end to end (every file uploaded over HTTP, every
# report waited for) with 2 analysis threads. Prints each side's CPU and the ratio.
#
#   scripts/bench-peers.sh DIR RULES_DIR
#   scripts/make-peers-tree.sh /tmp/peers-tree
#   scripts/bench-peers.sh /tmp/peers-tree ../shared/bench-rules/signature-base
#
# Needs Debian's `clamav` and `yara` (apt-get install clamav yara). ClamAV runs with a one-line
# database (EICAR's md5), so its figure is the cost of unpacking and walking, not of its
# signatures. Rule compilation is left out on both sides (`yarac` beforehand; assay's CPU is
# counted from the first upload). THREADS (default 2) sets assay's analysis threads.
# ClamAV does not open Debian packages or other `ar` archives (no parser for them), so on a tree of
# .deb files its side does far less work than assay's; the README gives figures with and without
# them (`DIR` may be any subdirectory of the tree).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 DIR RULES_DIR" >&2; exit 2; }
dir=$(cd "$1" && pwd)
rules=$(cd "$2" && pwd)
for tool in clamscan yara yarac; do
    command -v "$tool" > /dev/null || { echo "$tool is missing: apt-get install clamav yara" >&2; exit 2; }
done
cargo build --release --quiet
bin=$PWD/target/release/assay
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

count=$(find "$dir" -type f | wc -l)
bytes=$(find "$dir" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
echo "tree: $dir, $count files, $(awk -v b="$bytes" 'BEGIN {printf "%.0f", b / 1e6}') MB; rules: $rules"

# ClamAV: unpack everything, keep what it extracted.
mkdir "$work/db" "$work/temps"
echo "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature" > "$work/db/eicar.hdb"
/usr/bin/time -f "%e %U %S %M" -o "$work/clam.time" \
    clamscan --quiet --no-summary -d "$work/db" -r --leave-temps --tempdir "$work/temps" "$dir" \
    > /dev/null 2> "$work/clam.log" || [ $? -eq 1 ]
read -r clam_wall clam_user clam_sys clam_rss < "$work/clam.time"
extracted=$(find "$work/temps" -type f | wc -l)
extracted_bytes=$(find "$work/temps" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')

# YARA over what ClamAV extracted, one thread, rules compiled beforehand.
args=()
for f in "$rules"/*.yar "$rules"/*.yara; do
    [ -e "$f" ] && args+=("$(basename "$f"):$f")
done
yarac "${args[@]}" "$work/rules.yarc" 2> "$work/yarac.log" || {
    echo "yarac could not compile the rules:" >&2
    head -n 5 "$work/yarac.log" >&2
    exit 1
}
# The uploaded files themselves, then what ClamAV extracted (its temporary files do not hold the
# files it was given).
/usr/bin/time -f "%e %U %S %M" -o "$work/yara.time" \
    sh -c 'yara -p 1 -r -C "$1" "$2"; yara -p 1 -r -C "$1" "$3"' sh "$work/rules.yarc" "$dir" "$work/temps" \
    > /dev/null 2> "$work/yara.log" || true
read -r yara_wall yara_user yara_sys yara_rss < "$work/yara.time"

# assay, end to end over HTTP.
python3 scripts/bench_peers.py --bin "$bin" --rules "$rules" --threads "${THREADS:-2}" "$dir" > "$work/assay.json"

python3 - "$work/assay.json" "$count" "$bytes" "$clam_wall" "$clam_user" "$clam_sys" "$clam_rss" \
    "$extracted" "$extracted_bytes" "$yara_wall" "$yara_user" "$yara_sys" "$yara_rss" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))
count, size = int(sys.argv[2]), int(sys.argv[3])
clam_wall, clam_cpu, clam_rss = float(sys.argv[4]), float(sys.argv[5]) + float(sys.argv[6]), int(sys.argv[7]) / 1024
extracted, extracted_bytes = int(sys.argv[8]), int(sys.argv[9])
yara_wall, yara_cpu, yara_rss = float(sys.argv[10]), float(sys.argv[11]) + float(sys.argv[12]), int(sys.argv[13]) / 1024
peers = clam_cpu + yara_cpu
analysed = count + a["files_unpacked"]
print(f"clamscan --leave-temps : {clam_cpu:7.1f} CPU-s  {clam_wall:7.1f} s wall  peak RSS {clam_rss:5.0f} MiB  "
      f"({extracted} files extracted, {extracted_bytes / 1e6:.0f} MB)")
print(f"yara -p 1, tree + those: {yara_cpu:7.1f} CPU-s  {yara_wall:7.1f} s wall  peak RSS {yara_rss:5.0f} MiB")
print(f"ClamAV + YARA          : {peers:7.1f} CPU-s")
print(f"assay, upload -> report: {a['cpu']:7.1f} CPU-s  {a['wall']:7.1f} s wall  peak RSS {a['rss_mib']:5.0f} MiB  "
      f"{count / a['wall']:.1f} files/s  {size / 1e6 / a['wall']:.1f} MB/s  "
      f"({analysed} files analysed, {(size + a['bytes_unpacked']) / 1e6:.0f} MB)")
c = a.get("cache")
if c:
    looked = c["hits"] + c["misses"]
    rate = c["hits"] / looked if looked else 0.0
    print(f"assay analysis cache   : {c['hits']} hits of {looked} look-ups ({rate:.1%}), "
          f"{c['entries']} entries, {c['bytes'] / 1e6:.1f} MB held")
print(f"ratio assay / (ClamAV + YARA): {a['cpu'] / peers:.2f} (target: 0.50 or less)")
EOF
