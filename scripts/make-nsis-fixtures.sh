#!/bin/sh
# scripts/make-nsis-fixtures.sh [OUTDIR]
#
# Builds the NSIS installer samples for src/analysis/formats/nsis.rs: one installer per
# compressor (zlib, bzip2, lzma), each solid and not, carrying the project's own test executable
# tests/data/pe/app32.exe and a text file, the text twice (once under a subdirectory, renamed
# with /oname). Writes to OUTDIR (default tests/data/nsis, where the output is committed):
# <compressor>[-solid].exe and readme.txt (the text file carried).
#
# Needs: makensis (Debian package nsis; 3.08 used). The installers embed makensis's own stub, so
# rebuilding with another version gives other bytes; the tests compare the carried files only.
set -eu
HERE=$(dirname "$(realpath "$0")")
OUT=$(realpath -m "${1:-$HERE/../tests/data/nsis}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
cp "$HERE/../tests/data/pe/app32.exe" "$WORK/"
printf 'hello from the installer\n' > "$WORK/readme.txt"
cd "$WORK"
for method in zlib bzip2 lzma; do
    for solid in "" /SOLID; do
        name=$method${solid:+-solid}
        cat > "$name.nsi" <<NSI
Unicode true
SetCompressor $solid $method
SetDatablockOptimize off
Name "Assay fixture $name"
OutFile "$name.exe"
InstallDir "\$TEMP\\assay-fixture"
RequestExecutionLevel user
Section
  SetOutPath "\$INSTDIR"
  File "app32.exe"
  File "readme.txt"
  SetOutPath "\$INSTDIR\\docs"
  File /oname=notes.txt "readme.txt"
SectionEnd
NSI
        makensis -V1 "$name.nsi"
        cp "$name.exe" "$OUT/"
    done
done
cp readme.txt "$OUT/"
