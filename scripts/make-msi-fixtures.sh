#!/bin/sh
# scripts/make-msi-fixtures.sh [OUTDIR]
#
# Builds the MSI sample for src/analysis/formats/msi.rs: an installer database whose embedded
# cabinet names its files by File-table keys (filApp, filDoc) unlike their installed names:
# app32.exe (the project's own tests/data/pe/app32.exe) and "read me first.txt" (a text file,
# with a short name too). Writes OUTDIR/named.msi (default tests/data/msi, where the output is
# committed) and OUTDIR/readme.txt.
#
# Needs: wixl (Debian package msitools; 0.101 used). wixl stamps no time into the database, but
# another version may order streams differently; the tests compare the installed files only.
set -eu
HERE=$(dirname "$(realpath "$0")")
OUT=$(realpath -m "${1:-$HERE/../tests/data/msi}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
cp "$HERE/../tests/data/pe/app32.exe" "$WORK/"
printf 'read me: installed by the assay MSI fixture\n' > "$WORK/readme.txt"
cd "$WORK"
cat > named.wxs <<'WXS'
<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="6E2C7A10-0F3B-4C1E-9A55-3B2E0D5A0101" Name="assay MSI names fixture" Language="1033"
           Version="1.0.0" Manufacturer="assay fixtures" UpgradeCode="6E2C7A10-0F3B-4C1E-9A55-3B2E0D5A0102">
    <Package Id="6E2C7A10-0F3B-4C1E-9A55-3B2E0D5A0103" InstallerVersion="200" Compressed="yes"/>
    <Media Id="1" Cabinet="payload.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="AssayFixture">
          <Component Id="AppComponent" Guid="6E2C7A10-0F3B-4C1E-9A55-3B2E0D5A0104">
            <File Id="filApp" Name="app32.exe" Source="app32.exe" KeyPath="yes"/>
          </Component>
          <Component Id="DocComponent" Guid="6E2C7A10-0F3B-4C1E-9A55-3B2E0D5A0105">
            <File Id="filDoc" Name="read me first.txt" ShortName="README~1.TXT" Source="readme.txt" KeyPath="yes"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1">
      <ComponentRef Id="AppComponent"/>
      <ComponentRef Id="DocComponent"/>
    </Feature>
  </Product>
</Wix>
WXS
wixl -o named.msi named.wxs
cp named.msi readme.txt "$OUT/"
