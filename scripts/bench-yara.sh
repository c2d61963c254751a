#!/usr/bin/env bash
# What YARA costs: `assay scan` over a directory without rules and with the rulesets of a rules
# directory, and, when the `yara` command is installed (Debian: apt-get install yara), `yara`
# itself over the same files with the same rules, one thread.
#
#   scripts/bench-yara.sh DIR RULES_DIR
#   scripts/make-yara-rules.py /tmp/rules 5000 && scripts/bench-yara.sh /usr/bin /tmp/rules
#
# Each figure is the least user+sys CPU time of RUNS (default 3) runs taken in turns, since
# single runs on a shared machine vary. Compiling the rules is timed apart and taken off (assay
# compiles once at start-up, `yarac` once beforehand), so the figures are the cost of scanning.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 DIR RULES_DIR" >&2; exit 2; }
dir=$1
rules=$(cd "$2" && pwd)
cargo build --release --quiet
bin=$PWD/target/release/assay
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

find "$dir" -type f -print0 > "$work/files"
count=$(tr -cd '\0' < "$work/files" | wc -c)
bytes=$(xargs -0 -r stat -c %s < "$work/files" | awk '{s+=$1} END {print s+0}')
mkdir "$work/empty"
printf '[yara]\nrules_dir = "%s"\n' "$work/empty" > "$work/none.toml"
printf '[yara]\nrules_dir = "%s"\n' "$rules" > "$work/rules.toml"
echo "corpus: $dir, $count files, $(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1e6}') MB; rules: $rules"

# Start-up: compiling the rules once, by scanning an empty file.
: > "$work/empty-file"
/usr/bin/time -f "%e %U %S" -o "$work/time" "$bin" scan --config "$work/rules.toml" "$work/empty-file" > /dev/null 2> "$work/log" || true
grep -o 'yara: .*' "$work/log" | tail -n 1 || true
read -r wall user sys < "$work/time"
startup=$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')
echo "assay start-up with these rules: $wall s ($startup CPU-s), taken off the figures below"

# Least user+sys over RUNS turns of each command; prints "label seconds".
declare -A best
run() {
    local label=$1
    shift
    /usr/bin/time -f "%U %S" -o "$work/time" "$@" > /dev/null 2>&1 || true
    local t
    t=$(awk '{print $1 + $2}' "$work/time")
    best[$label]=$(awk -v a="${best[$label]:-1e9}" -v b="$t" 'BEGIN {print (b < a) ? b : a}')
}
have_yara=
if command -v yara > /dev/null && command -v yarac > /dev/null; then
    args=()
    for f in "$rules"/*.yar "$rules"/*.yara; do
        [ -e "$f" ] && args+=("$(basename "$f"):$f")
    done
    if yarac "${args[@]}" "$work/rules.yarc" 2> "$work/yarac.log"; then
        have_yara=1
        tr '\0' '\n' < "$work/files" > "$work/list"
    else
        echo "yarac could not compile the rules (see below); no yara figures"
        head -n 5 "$work/yarac.log"
    fi
fi
for _ in $(seq "${RUNS:-3}"); do
    # One process over the directory, so the rules compile once.
    run "assay scan, no rules" "$bin" scan --config "$work/none.toml" "$dir"
    run "assay scan, with the rules" "$bin" scan --config "$work/rules.toml" "$dir"
    if [ -n "$have_yara" ]; then
        run "yara 4, the same rules" yara -p 1 -C "$work/rules.yarc" --scan-list "$work/list"
    fi
done
best["assay scan, with the rules"]=$(awk -v t="${best["assay scan, with the rules"]}" -v s="$startup" 'BEGIN {print t - s}')
for label in "assay scan, no rules" "assay scan, with the rules" "yara 4, the same rules"; do
    [ -n "${best[$label]:-}" ] || continue
    awk -v l="$label" -v t="${best[$label]}" -v n="$count" -v b="$bytes" 'BEGIN {
        printf "%-28s %7.2f CPU-s  %8.0f files per CPU-s  %7.1f MB per CPU-s\n", l, t, n / t, b / 1e6 / t }'
done
awk -v a="${best["assay scan, no rules"]}" -v b="${best["assay scan, with the rules"]}" -v n="$count" 'BEGIN {
    printf "YARA in assay: %+.2f CPU-s, %.0f us per file\n", b - a, (b - a) / n * 1e6 }'
