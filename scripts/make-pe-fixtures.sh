#!/usr/bin/env bash
# Builds the small PE fixtures of the PE inspector's tests (tests/data/pe/) from C sources
# written here. Needs: x86_64-w64-mingw32-gcc, i686-w64-mingw32-gcc (with dlltool and windres),
# osslsigncode, openssl, python3; mcs (Debian: mono-mcs) for the .NET sample, skipped without it.
# Output is not byte-reproducible (link timestamps, a fresh signing key each run): the tests
# check structure and self-consistency, not fixed hashes of the files themselves.
#
# Usage: scripts/make-pe-fixtures.sh [OUT_DIR]   (default tests/data/pe, where the output is committed)
set -euo pipefail

out=${1:-$(dirname "$0")/../tests/data/pe}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Patches PE header fields in place: python3 - FILE [timestamp=N] [checksum=N|fix] [wx=NAME]
# [delay=RVA,SIZE]. "checksum=fix" writes the correct PE checksum.
cat > patch.py <<'EOF'
import struct, sys
path, args = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
d = bytearray(open(path, "rb").read())
pe = struct.unpack_from("<I", d, 0x3c)[0]
opt = pe + 24
plus = struct.unpack_from("<H", d, opt)[0] == 0x20B
dirs = opt + (112 if plus else 96)
nsec = struct.unpack_from("<H", d, pe + 6)[0]
table = opt + struct.unpack_from("<H", d, pe + 20)[0]
if "timestamp" in args:
    struct.pack_into("<I", d, pe + 8, int(args["timestamp"], 0))
if "wx" in args:
    for i in range(nsec):
        s = table + 40 * i
        if d[s:s + 8].rstrip(b"\0").decode() == args["wx"]:
            c = struct.unpack_from("<I", d, s + 36)[0]
            struct.pack_into("<I", d, s + 36, c | 0xE0000020)
if "delay" in args:
    rva, size = (int(x, 0) for x in args["delay"].split(","))
    struct.pack_into("<II", d, dirs + 13 * 8, rva, size)
if "checksum" in args:
    if args["checksum"] == "fix":
        struct.pack_into("<I", d, opt + 64, 0)
        total = 0
        padded = d + b"\0" * (len(d) % 2)
        for (w,) in struct.iter_unpack("<H", padded):
            total += w
            total = (total & 0xFFFF) + (total >> 16)
        value = ((total & 0xFFFF) + (total >> 16)) & 0xFFFF
        value += len(d)
    else:
        value = int(args["checksum"], 0)
    struct.pack_into("<I", d, opt + 64, value)
open(path, "wb").write(d)
EOF

# --- app32.exe: 32-bit console exe. Version resource, RCDATA 101, ws2_32 by name and by
# ordinal (htons = ordinal 9, through a NONAME import library), registry functions, and a
# delay-load import of version.dll (GNU ld does not fill the delay-import data directory, so it
# is set from the link map).
cat > app32.c <<'EOF'
#include <winsock2.h>
#include <windows.h>
int main(int argc, char **argv) {
    WSADATA wsa;
    int r = 0;
    HKEY key;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
        return 1;
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    r += htons((u_short)argc);
    if (argc > 2 && RegOpenKeyExA(HKEY_CURRENT_USER, "Software\\Assay", 0, KEY_READ, &key) == 0)
        RegCloseKey(key);
    if (argc > 3)
        r += (int)GetFileVersionInfoSizeA(argv[0], NULL);
    closesocket(s);
    WSACleanup();
    return r;
}
EOF
printf 'LIBRARY ws2_32.dll\nEXPORTS\nhtons@4 @9 NONAME\n' > ws2ord.def
i686-w64-mingw32-dlltool -k --input-def ws2ord.def --output-lib libws2ord.a
printf 'LIBRARY version.dll\nEXPORTS\nGetFileVersionInfoSizeA@8\n' > vdelay.def
i686-w64-mingw32-dlltool -k --input-def vdelay.def --output-delaylib libvdelay.a
python3 -c 'import sys; sys.stdout.write("assay RCDATA fixture payload\n" * 9)' > payload.bin
cat > app32.rc <<'EOF'
#include <winver.h>
101 RCDATA "payload.bin"
1 VERSIONINFO
FILEVERSION 1,2,3,4
PRODUCTVERSION 1,2,0,0
FILEOS VOS_NT_WINDOWS32
FILETYPE VFT_APP
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "CompanyName", "Assay Fixtures"
      VALUE "FileDescription", "Assay PE fixture"
      VALUE "FileVersion", "1.2.3.4"
      VALUE "OriginalFilename", "app32.exe"
      VALUE "ProductName", "Assay"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
EOF
i686-w64-mingw32-windres app32.rc -O coff -o app32-res.o
i686-w64-mingw32-gcc -s -Os app32.c app32-res.o -L. -lws2ord -lws2_32 -lvdelay -ladvapi32 \
    -o app32.exe -Wl,-Map=app32.map
delay_va=$(awk '/DELAY_IMPORT_DESCRIPTOR_libvdelay_a/ {print $1; exit}' app32.map)
python3 patch.py app32.exe delay=$((delay_va - 0x400000)),0x20 checksum=fix
cp app32.exe "$out/"

# --- badhdr.exe: app32.exe with a zero timestamp and a wrong checksum.
cp app32.exe badhdr.exe
python3 patch.py badhdr.exe timestamp=0 checksum=0x12345678
cp badhdr.exe "$out/"

# --- lib64.dll: 64-bit DLL with named, ordinal-only and forwarded exports, a TLS callback and
# a CodeView debug entry naming lib64.pdb (ld --pdb).
cat > lib64.c <<'EOF'
#include <windows.h>
static volatile LONG seen;
static void NTAPI on_tls(PVOID module, DWORD reason, PVOID reserved) {
    (void)module; (void)reserved;
    InterlockedAdd(&seen, (LONG)reason);
}
/* Referenced from .CRT$XLB, the TLS callback list mingw's tlssup.c terminates. */
__attribute__((section(".CRT$XLB"), used)) PIMAGE_TLS_CALLBACK assay_tls_callback = on_tls;
int assay_add(int a, int b) { return a + b + (int)seen; }
const char *assay_version(void) { return "1.0"; }
int assay_hidden(void) { return 7; }
BOOL WINAPI DllMain(HINSTANCE h, DWORD reason, LPVOID reserved) {
    (void)h; (void)reason; (void)reserved;
    return TRUE;
}
EOF
cat > lib64.def <<'EOF'
LIBRARY lib64.dll
EXPORTS
assay_add @1
assay_version @2
assay_hidden @7 NONAME
assay_tick = kernel32.GetTickCount @3
EOF
x86_64-w64-mingw32-gcc -s -Os -shared lib64.c lib64.def -o lib64.dll -Wl,--pdb=lib64.pdb
cp lib64.dll "$out/"

# --- lib64-signed.dll: lib64.dll signed with a self-signed certificate made here;
# lib64-tampered.dll: the same with one byte of the DOS stub changed after signing.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout key.pem -out cert.pem \
    -subj "/C=NL/O=Assay Fixtures/CN=Assay Test Signer" 2>/dev/null
osslsigncode sign -certs cert.pem -key key.pem -h sha256 -n "Assay fixture" \
    -in lib64.dll -out lib64-signed.dll >/dev/null
cp lib64-signed.dll "$out/"
python3 - lib64-signed.dll "$out/lib64-tampered.dll" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
at = d.index(b"This program cannot")
d[at] ^= 0x20  # 'T' -> 't'
open(sys.argv[2], "wb").write(d)
EOF

# --- wx.exe: 64-bit exe whose section .wx is made writable and executable after linking.
cat > wx.c <<'EOF'
__attribute__((section(".wx"), used)) unsigned char patchable[64] = {0xc3};
int main(void) { return patchable[0]; }
EOF
x86_64-w64-mingw32-gcc -s -Os wx.c -o wx.exe
python3 patch.py wx.exe wx=.wx checksum=fix
cp wx.exe "$out/"

# --- packed.exe: no C runtime, imports only LoadLibraryA/GetProcAddress/ExitProcess, and 8 KiB
# of random bytes in a section named UPX1: what a packer's stub looks like.
python3 -c 'import os; print(",".join(str(b) for b in os.urandom(8192)))' > blob.inc
cat > packed.c <<'EOF'
#include <windows.h>
__attribute__((section("UPX1"), used)) const unsigned char blob[] = {
#include "blob.inc"
};
void start(void) {
    HMODULE k = LoadLibraryA("user32.dll");
    FARPROC f = GetProcAddress(k, "MessageBeep");
    if (f) ((UINT (WINAPI *)(UINT))f)(blob[0]);
    ExitProcess(0);
}
EOF
i686-w64-mingw32-gcc -s -Os -nostdlib -e _start packed.c -lkernel32 -o packed.exe
cp packed.exe "$out/"

# --- dropper.exe: imports the classic remote-thread injection set, and carries lib64.dll as
# its overlay.
cat > dropper.c <<'EOF'
#include <windows.h>
int main(int argc, char **argv) {
    if (argc < 2) return 0;
    HANDLE p = OpenProcess(PROCESS_ALL_ACCESS, FALSE, (DWORD)atoi(argv[1]));
    LPVOID at = VirtualAllocEx(p, NULL, 4096, MEM_COMMIT, PAGE_EXECUTE_READWRITE);
    SIZE_T n = 0;
    WriteProcessMemory(p, at, argv[0], 16, &n);
    CreateRemoteThread(p, NULL, 0, (LPTHREAD_START_ROUTINE)at, NULL, 0, NULL);
    return 0;
}
EOF
x86_64-w64-mingw32-gcc -s -Os dropper.c -o dropper.exe
cat dropper.exe lib64.dll > "$out/dropper.exe"

# --- hello-dotnet.exe: a small C# program (needs mcs).
if command -v mcs >/dev/null; then
    cat > hello.cs <<'EOF'
using System.Reflection;
[assembly: AssemblyTitle("Assay fixture")]
[assembly: AssemblyVersion("1.2.3.4")]
namespace Assay { public static class Hello { public static void Main() { System.Console.WriteLine("hello"); } } }
EOF
    mcs -nologo -out:hello-dotnet.exe hello.cs
    cp hello-dotnet.exe "$out/"
else
    echo "mcs not found: hello-dotnet.exe not built" >&2
fi

ls -l "$out"
