#!/usr/bin/env bash
# Benchmark of the analysis engine offline: `assay scan` over a directory.
#
#   scripts/bench-scan.sh DIR [--config FILE]
#   BASELINE=path/to/other/assay scripts/bench-scan.sh DIR
#
# Prints files/s, MB/s (wall), MB per CPU-second (user+sys), peak RSS, the same with the fuzzy
# hashes switched off, and md5+sha1+sha256 by `assay digest` against `openssl dgst` computing the
# same three over the same files. Then times the hostile archives of scripts/make-bombs.py.
# Runs on one core's worth of work (`assay scan -j 1`), then once with a thread per core (the
# default) for the wall-clock figure.
#
# With BASELINE set (an `assay` built from another commit, e.g. in a git worktree), it first
# compares the two: each scans DIR RUNS times (default 4), taking turns so that both see the same
# background load, and the least CPU time of each is printed with their ratio. Single runs on a
# shared machine vary by 20% or more; this is the figure to quote for "before and after".
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 DIR [--config FILE]" >&2; exit 2; }
dir=$1
shift
cargo build --release --quiet
bin=target/release/assay
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Regular files only, no symlinks; sizes summed once.
find "$dir" -type f -print0 > "$work/files"
count=$(tr -cd '\0' < "$work/files" | wc -c)
bytes=$(xargs -0 -r stat -c %s < "$work/files" | awk '{s+=$1} END {print s+0}')
mb=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1e6}')
echo "corpus: $dir, $count files, $mb MB"

# Runs a command, printing "label: files/s, MB/s, MB per CPU-second, peak RSS".
measure() {
    local label=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/out" 2> "$work/err" || true
    # GNU time writes "Command exited with non-zero status N" first when the scan flags a file.
    read -r wall user sys rss < <(tail -n 1 "$work/time")
    awk -v l="$label" -v n="$count" -v b="$bytes" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
        cpu = u + s; if (w <= 0) w = 0.001; if (cpu <= 0) cpu = 0.001;
        printf "%-34s %8.0f files/s %8.1f MB/s %8.1f MB/CPU-s  %6.1f s  peak RSS %.1f MiB\n",
            l, n / w, b / 1e6 / w, b / 1e6 / cpu, w, r / 1024 }'
}

if [ -n "${BASELINE:-}" ]; then
    # Least user+sys seconds of `$1 scan` over RUNS turns, taken alternately with the baseline.
    best_base=; best_this=
    for _ in $(seq "${RUNS:-4}"); do
        for which in base this; do
            # This build on one thread; the baseline may predate -j (it was single-threaded then).
            b=$bin; j="-j 1"; [ "$which" = base ] && { b=$BASELINE; j=""; }
            /usr/bin/time -f "%U %S" -o "$work/time" sh -c "xargs -0 '$b' scan $j ${*:-} < '$work/files' > /dev/null" || true
            t=$(tail -n 1 "$work/time" | awk '{print $1 + $2}')
            if [ "$which" = base ]; then
                best_base=$(awk -v a="${best_base:-1e9}" -v b="$t" 'BEGIN {print (b < a) ? b : a}')
            else
                best_this=$(awk -v a="${best_this:-1e9}" -v b="$t" 'BEGIN {print (b < a) ? b : a}')
            fi
        done
    done
    awk -v b="$best_base" -v t="$best_this" -v mb="$mb" 'BEGIN {
        printf "baseline %.2f CPU-s (%.1f MB/CPU-s), this build %.2f CPU-s (%.1f MB/CPU-s): %+.0f%%\n",
            b, mb / b, t, mb / t, (t / b - 1) * 100 }'
    echo
fi

# One scan process over every file (xargs may split very long lists; peak RSS is per process).
measure "assay scan (all hashes, unpacking)" sh -c "xargs -0 $bin scan -j 1 ${*:-} < '$work/files'"
measure "assay scan, a thread per core" sh -c "xargs -0 $bin scan ${*:-} < '$work/files'"
printf '[unpacking]\nfuzzy_max_bytes = 0\n' > "$work/nofuzzy.toml"
measure "assay scan, no ssdeep/TLSH" sh -c "xargs -0 $bin scan -j 1 --config '$work/nofuzzy.toml' < '$work/files'"
measure "assay digest (md5+sha1+sha256)" sh -c "xargs -0 $bin digest < '$work/files'"
measure "openssl dgst md5, sha1, sha256" sh -c "
    xargs -0 openssl dgst -md5 < '$work/files' > /dev/null
    xargs -0 openssl dgst -sha1 < '$work/files' > /dev/null
    xargs -0 openssl dgst -sha256 < '$work/files' > /dev/null"

echo
echo "hostile archives (scripts/make-bombs.py):"
python3 scripts/make-bombs.py "$work/bombs"
for f in "$work"/bombs/*; do
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" scan "$f" > "$work/out" || true
    read -r wall rss < <(tail -n 1 "$work/time")
    entries=$(python3 -c 'import json,sys; print(len(json.loads(open(sys.argv[1]).readline())["tc_report"]))' "$work/out")
    printf '  %-20s %6.2f s  peak RSS %6.1f MiB  %6d report entries\n' "$(basename "$f")" "$wall" "$(awk -v r="$rss" 'BEGIN{print r/1024}')" "$entries"
done
printf '[unpacking]\nmax_files = 200000\n' > "$work/many.toml"
/usr/bin/time -f "%e %M" -o "$work/time" "$bin" scan --config "$work/many.toml" "$work/bombs/many-100k.zip" > "$work/out" || true
read -r wall rss < <(tail -n 1 "$work/time")
printf '  %-20s %6.2f s  peak RSS %6.1f MiB  (max_files = 200000: every entry analysed)\n' "many-100k.zip" "$wall" "$(awk -v r="$rss" 'BEGIN{print r/1024}')"
