#!/usr/bin/env bash
# make-fixtures.sh - (re)generates tests/data/formats/: small files in many container, archive,
# document and mail formats, each hiding the 68-byte EICAR test file, plus MANIFEST.json (what
# assay must report for each) and README.md (how each was made).
#
# Real tools make what they can (7-Zip, Info-ZIP, gzip, bzip2, xz, zstd, tar, cpio, ar, dpkg-deb,
# gcab, genisoimage, ARJ, jlha, wixl, compress); scripts/fixtures.py (Python standard library)
# builds the rest by hand and writes the manifest and README. Developers run this; CI only uses
# the committed output.
#
# Usage (from anywhere):
#   scripts/make-fixtures.sh            regenerate tests/data/formats/ (the directory is replaced)
#   scripts/make-fixtures.sh --check    regenerate, then scan every fixture with assay and compare
#                                       with MANIFEST.json (ASSAY_BIN, default target/debug/assay)
#
# Deterministic: every timestamp is SOURCE_DATE_EPOCH (2020-01-01 00:00:00 UTC), owners are 0/0,
# and the dates genisoimage, ARJ and wixl take from the clock are pinned afterwards. Only the two
# AES archives (zip-aes256.zip, 7z-aes.7z) differ between runs: 7-Zip draws their salt/IV at random.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/tests/data/formats
PY=$ROOT/scripts/fixtures.py
CHECK=0
case "${1:-}" in
    "") ;;
    --check) CHECK=1 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# Tools, with the Debian package that provides each.
missing=()
need() {
    command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian package $2)")
}
need python3 python3
need 7z p7zip-full
need zip zip
need gzip gzip
need bzip2 bzip2
need xz xz-utils
need zstd zstd
need tar tar
need cpio cpio
need ar binutils
need dpkg-deb dpkg
need gcab gcab
need genisoimage genisoimage
need arj arj
need jlha jlha-utils
need java default-jre-headless   # jlha (jlha-utils) is a Java program
need wixl wixl
if ((${#missing[@]})); then
    echo "make-fixtures.sh: missing tools:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    echo "install them, e.g.: apt-get install p7zip-full zip bzip2 xz-utils zstd cpio binutils gcab genisoimage arj jlha-utils default-jre-headless wixl" >&2
    exit 1
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))'; then
    echo "make-fixtures.sh: python3 is older than 3.8 (scripts/fixtures.py is written for 3.11)" >&2
    exit 1
fi
HAVE_COMPRESS=1
if ! command -v compress >/dev/null 2>&1; then
    HAVE_COMPRESS=0
    echo "make-fixtures.sh: warning: no compress tool (Debian package ncompress): eicar.com.Z is kept as committed" >&2
fi

export TZ=UTC LC_ALL=C SOURCE_DATE_EPOCH=1577836800
umask 022
STAMP=@$SOURCE_DATE_EPOCH

WORK=$(mktemp -d "${TMPDIR:-/tmp}/assay-fixtures.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
S=$WORK/out      # staging: becomes tests/data/formats
mkdir -p "$S" "$WORK/src/dir"
cd "$WORK"

# The payload, exactly 68 bytes, no newline.
printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > src/dir/eicar.com
echo "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f  src/dir/eicar.com" | sha256sum -c --quiet
chmod 644 src/dir/eicar.com
chmod 755 src/dir
E=$WORK/src/dir/eicar.com
pin() { find "$@" -exec touch -h -d "$STAMP" {} +; }
pin src

# --- ZIP through real tools. 7-Zip stores a member that does not shrink (EICAR does not), so the
# compressed variants read it from stdin (-si), where 7-Zip cannot go back and store it instead.
(cd src && zip -q -X -0 -r "$S/zip-stored.zip" dir)
for m in Deflate Deflate64 BZip2 LZMA PPMd; do
    lower=$(tr 'A-Z' 'a-z' <<<"$m")
    7z a -bd -bso0 -tzip -mm=$m -mx=9 -sidir/eicar.com "$S/zip-$lower.zip" < "$E"
done
7z a -bd -bso0 -tzip -mem=AES256 -pinfected -sidir/eicar.com "$S/zip-aes256.zip" < "$E"

# --- Single-stream compressors.
gzip -9 -n -c "$E" > "$S/eicar.com.gz"
(cd src/dir && gzip -9 -N -c eicar.com > "$S/gzip-fname.gz")
bzip2 -9 -c "$E" > "$S/eicar.com.bz2"
xz -9 -c "$E" > "$S/eicar.com.xz"
xz --format=lzma -9 -c "$E" > "$S/eicar.com.lzma"
zstd -q -19 -c "$E" > "$S/eicar.com.zst"
if ((HAVE_COMPRESS)); then
    compress -f -c < "$E" > "$S/eicar.com.Z"   # -f: write it although it does not shrink
elif [[ -f $OUT/eicar.com.Z ]]; then
    cp "$OUT/eicar.com.Z" "$S/"
fi

# --- tar, cpio, ar, deb.
TAR=(tar --mtime="$STAMP" --owner=0 --group=0 --numeric-owner --sort=name)
(cd src && "${TAR[@]}" --format=ustar -cf "$S/tar-ustar.tar" dir)
(cd src && "${TAR[@]}" --format=ustar -cf - dir) | gzip -9 -n > "$S/tar-gz.tar.gz"
LONG_DIR=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import fixtures; print(fixtures.LONG_DIR)' "$ROOT/scripts")
mkdir -p "long/$LONG_DIR" && cp "$E" "long/$LONG_DIR/" && pin long
(cd long && "${TAR[@]}" --format=gnu -cf "$S/tar-gnu-longname.tar" "$LONG_DIR/eicar.com")
(cd long && "${TAR[@]}" --format=pax --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
    -cf "$S/tar-pax-path.tar" "$LONG_DIR/eicar.com")
for f in odc newc crc bin; do
    (cd src && find dir | sort | cpio --quiet -o -H $f --reproducible -R 0:0 > "$S/cpio-$f.cpio")
done
(cd src/dir && ar rcD "$S/ar.a" eicar.com)
mkdir -p deb/DEBIAN deb/usr/share
cp "$E" deb/usr/share/eicar.com
cat > deb/DEBIAN/control <<'EOF'
Package: eicar-fixture
Version: 1.0
Architecture: all
Maintainer: assay fixtures <fixtures@example.invalid>
Description: the EICAR anti-virus test file (an assay test fixture)
EOF
chmod -R u=rwX,go=rX deb && pin deb
dpkg-deb --root-owner-group -Zxz --build deb "$S/package.deb" >/dev/null

# --- 7z, CAB, ISO 9660, ARJ, LHA.
(cd src && 7z a -bd -bso0 -t7z -m0=LZMA2 -mx=9 "$S/7z-lzma2.7z" dir)
(cd src && 7z a -bd -bso0 -t7z -m0=LZMA2 -mhe=off -pinfected "$S/7z-aes.7z" dir)
(cd src && gcab -c "$S/cab-stored.cab" dir/eicar.com)
(cd src && gcab -c -z "$S/cab-mszip.cab" dir/eicar.com)
genisoimage -quiet -J -r -no-pad -V EICAR_FIXTURE -o "$S/iso9660.iso" src
python3 "$PY" normalize-iso "$S/iso9660.iso"
(cd src && arj a -m0 -y "$S/arj-m0.arj" dir/eicar.com >/dev/null)
mkdir -p arjtar && (cd src && "${TAR[@]}" --format=ustar -cf ../arjtar/eicar.tar dir) && pin arjtar
(cd arjtar && arj a -m1 -y "$S/arj-m1.arj" eicar.tar >/dev/null)
for a in arj-m0 arj-m1; do
    python3 "$PY" normalize-arj "$S/$a.arj"
    arj t "$S/$a.arj" >/dev/null || { echo "make-fixtures.sh: arj t $a.arj failed" >&2; exit 1; }
done
(cd src && jlha co52 "$S/lha-lh5.lzh" dir/eicar.com >/dev/null)

# --- MSI (wixl): the cabinet is embedded as the stream eicar.cab.
mkdir -p msi && cp "$E" msi/ && pin msi
cat > msi/eicar.wxs <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="6E2C7A10-0F3B-4C1E-9A55-3B2E0D5A0001" Name="EICAR test fixture" Language="1033"
           Version="1.0.0" Manufacturer="assay fixtures" UpgradeCode="6E2C7A10-0F3B-4C1E-9A55-3B2E0D5A0002">
    <Package Id="6E2C7A10-0F3B-4C1E-9A55-3B2E0D5A0003" InstallerVersion="200" Compressed="yes"
             Comments="Installs the EICAR anti-virus test file"/>
    <Media Id="1" Cabinet="eicar.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="EicarFixture">
          <Component Id="EicarComponent" Guid="6E2C7A10-0F3B-4C1E-9A55-3B2E0D5A0004">
            <File Id="eicar.com" Name="eicar.com" Source="eicar.com" KeyPath="yes"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1">
      <ComponentRef Id="EicarComponent"/>
    </Feature>
  </Product>
</Wix>
EOF
(cd msi && wixl -o "$S/installer.msi" eicar.wxs)
python3 "$PY" normalize-msi "$S/installer.msi"

# --- Three levels: a zip inside a 7z inside a tar.gz.
mkdir -p nest/zip nest/7z nest/tar
cp "$E" nest/zip/eicar.com && pin nest
(cd nest/zip && zip -q -X -0 ../7z/inner.zip eicar.com) && pin nest
(cd nest/7z && 7z a -bd -bso0 -t7z -m0=LZMA2 -mx=9 ../tar/inner.7z inner.zip) && pin nest
(cd nest/tar && "${TAR[@]}" --format=ustar -cf - inner.7z) | gzip -9 -n > "$S/nested.tgz"

# --- Everything built by hand, then the manifest and README.
zstd -q -19 -c "$E" > eicar.zst
python3 "$PY" hand "$S" --zstd eicar.zst

{
    echo "python3=$(python3 -c 'import platform, zlib; print(platform.python_version(), "with zlib", zlib.ZLIB_RUNTIME_VERSION)')"
    for pkg in p7zip-full zip gzip bzip2 xz-utils zstd ncompress tar cpio binutils dpkg gcab genisoimage arj jlha-utils wixl; do
        v=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
        echo "$pkg=${v:-version unknown}"
    done
} > versions
python3 "$PY" docs "$S" --versions versions

# Replace the output directory (it holds nothing but this script's output).
find "$S" -exec touch -h -d "$STAMP" {} +
mkdir -p "$(dirname "$OUT")"
rm -rf "$OUT.new"
cp -a "$S" "$OUT.new"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
echo "make-fixtures.sh: wrote $(($(ls "$OUT" | wc -l) - 2)) fixtures, MANIFEST.json and README.md to ${OUT#$ROOT/}"

if ((CHECK)); then
    BIN=${ASSAY_BIN:-$ROOT/target/debug/assay}
    [[ -x $BIN ]] || { echo "make-fixtures.sh: --check needs an assay binary at $BIN (or set ASSAY_BIN)" >&2; exit 1; }
    python3 "$PY" check "$OUT" --assay "$BIN"
fi
