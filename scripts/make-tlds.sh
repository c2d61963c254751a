#!/usr/bin/env bash
# Writes src/analysis/inspect/tlds.txt: the top-level domains the string classifier accepts.
#
# Source: the ICANN section of the Public Suffix List (https://publicsuffix.org, MPL-2.0), as
# packaged by Debian (`publicsuffix`, /usr/share/publicsuffix/public_suffix_list.dat). Only
# single-label ASCII entries are kept: a TLD is a fact, the list is how we stay current with it.
# Rerun when the list should be refreshed and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
psl=${1:-/usr/share/publicsuffix/public_suffix_list.dat}
awk '/===BEGIN ICANN DOMAINS===/{on=1} /===END ICANN DOMAINS===/{on=0} on && !/^\/\// && NF {print $1}' "$psl" |
    LC_ALL=C grep -E '^[a-z]+$' | LC_ALL=C sort -u > src/analysis/inspect/tlds.txt
wc -l src/analysis/inspect/tlds.txt
