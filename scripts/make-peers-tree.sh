#!/usr/bin/env bash
# Assembles the tree of real public packages that scripts/bench-peers.sh measures: Debian
# packages (executables, libraries, jars, fonts, man pages), Python wheels for Linux and Windows
# (ELF and PE extension modules), Rust crates from crates.io (winapi-i686-pc-windows-gnu among
# them: 1,391 import libraries in one upload), and the ClamAV test files (PE, PDF, office, packed).
#
#   scripts/make-peers-tree.sh OUT_DIR
#
# Needs apt (Debian sources configured), pip and network access to deb.debian.org, pypi.org and
# static.crates.io. Versions are whatever those serve on the day (crates are pinned), so figures
# from two days may differ; the README says which day its figures come from.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
out=$1
mkdir -p "$out/deb" "$out/wheels" "$out/crates" "$out/clamav"

debs=(
    bash coreutils curl openssl libssl3 perl-base git python3.11-minimal libpython3.11-stdlib
    vim-runtime nsis win32-loader libcommons-lang3-java libcommons-io-java junit4
    libjackson2-core-java libjackson2-databind-java libguava-java fonts-dejavu-core zlib1g libxml2
    sqlite3 busybox gzip tar xz-utils ca-certificates man-db groff-base less gawk sed
    libreoffice-core-nogui libgs10 ghostscript poppler-utils libpoppler126 openjdk-17-jre-headless
    binutils-mingw-w64-x86-64 gcc-mingw-w64-base mingw-w64-common wine64 libwine
)
(cd "$out/deb" && apt-get download "${debs[@]}")

wheels=(numpy pandas cryptography lxml pillow grpcio psutil pyyaml requests urllib3 setuptools pip)
pip download --quiet --no-deps --only-binary=:all: --dest "$out/wheels" \
    --platform manylinux2014_x86_64 --python-version 3.11 "${wheels[@]}"
pip download --quiet --no-deps --only-binary=:all: --dest "$out/wheels" \
    --platform win_amd64 --python-version 3.11 numpy pillow psutil pyyaml cryptography lxml

crates=(
    winapi-i686-pc-windows-gnu/0.4.0 winapi-x86_64-pc-windows-gnu/0.4.0 windows-sys/0.52.0
    ring/0.17.14 libsqlite3-sys/0.30.1 linux-raw-sys/0.4.15 tokio/1.40.0 serde/1.0.210
    serde_json/1.0.128 regex/1.11.0 regex-syntax/0.8.5 syn/2.0.79 rustix/0.38.37 libc/0.2.159
    zip/2.2.0 flate2/1.0.34 goblin/0.9.2 rusqlite/0.32.1 ureq/2.10.1 rustls/0.23.14
    proc-macro2/1.0.107 tap/1.0.1 bitvec/1.1.1 crc32fast/1.5.5 digest/0.11.3 cranelift-isle/0.135.8
    bytes/1.12.0 base64ct/1.8.3 arrayvec/0.7.7 rustls-webpki/0.103.17 cranelift-entity/0.135.8
    clap_lex/1.1.0 async-trait/0.1.92 rustc-demangle/0.1.28 bzip2/0.6.1 cc/1.11.3 arbitrary/1.5.0
    displaydoc/0.2.7 crypto-common/0.1.7 windows_x86_64_gnullvm/0.52.6 cranelift-frontend/0.135.8
    xattr/1.7.0 bytemuck/1.25.2 base64/0.23.1 thread_local/1.1.9 deranged/0.5.9 digest/0.10.7
    cobs/0.3.0 cranelift-codegen/0.135.8 yara-x/1.22.1 wasmtime/48.0.8 windows_i686_msvc/0.52.6
    windows-sys/0.61.2 unarc-rs/0.8.1
)
for c in "${crates[@]}"; do
    name=${c%/*} version=${c#*/}
    file="$out/crates/$name-$version.crate"
    [ -s "$file" ] || curl -fsSL -o "$file" "https://static.crates.io/crates/$name/$name-$version.crate"
done

if [ -d /usr/share/clamav-testfiles ]; then
    cp /usr/share/clamav-testfiles/* "$out/clamav/"
fi
find "$out" -type f | wc -l | xargs echo "files:"
du -sh "$out"
