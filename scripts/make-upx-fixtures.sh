#!/bin/sh
# scripts/make-upx-fixtures.sh [OUTDIR]
#
# Builds the UPX test samples for src/analysis/formats/upx.rs: small ELF and PE programs (each
# holding the EICAR test string; the PE ones also as an RCDATA resource of exactly those 68
# bytes), packed by `upx` with each compression method and several filters.
#
# Writes to OUTDIR (default tests/data/upx, where the output is committed): the packed files,
# the PE originals (for import/resource checks) and EXPECTED: "<packed file> <sha256 of the restored file>", where the restored file is
# the original for ELF (UPX restores ELF byte for byte) and the output of `upx -d` for PE.
#
# Needs: upx (4.2.2 used), gcc with 32-bit support for -nostdlib builds, x86_64-w64-mingw32-gcc,
# i686-w64-mingw32-gcc, x86_64-w64-mingw32-windres, i686-w64-mingw32-windres, the matching
# -dlltool, python3, sha256sum.
set -eu
OUT=$(realpath -m "${1:-$(dirname "$0")/../tests/data/upx}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
find "$OUT" -maxdepth 1 -type f ! -name README.md -delete
cd "$WORK"

printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar.bin

# 160 small functions calling each other: enough x86 CALLs for UPX's filters to matter.
python3 - <<'PY'
n = 160
out = [f"__attribute__((noinline)) unsigned f{i}(unsigned x);" for i in range(n)]
for i in range(n):
    a, b = (i * 7 + 3) % n, (i * 13 + 5) % n
    body = (f"if (x & {1 << (i % 5)}) x ^= f{a}(x >> 1); if (x > {i * 31 + 7}u) x += f{b}(x / 3);"
            if i % 3 else f"x = x * {i * 2 + 1}u + {i * i + 11}u;")
    out.append(f"__attribute__((noinline)) unsigned f{i}(unsigned x) {{ static volatile unsigned depth; "
               f"if (depth > 6) return x + {i}; depth++; x = (x << {i % 7 + 1}) ^ (x >> {i % 5 + 2}) ^ "
               f"{i * 2654435761 % 4294967296}u; {body} depth--; return x; }}")
calls = " + ".join(f"f{k}(x + i)" for k in range(0, n, 9))
out.append(f"unsigned churn(unsigned x) {{ unsigned r = 0; for (int i = 0; i < 8; i++) r += {calls}; return r; }}")
open("funcs.inc", "w").write("\n".join(out) + "\n")

# A 16x16 32-bit icon.
import struct
w = h = 16
bmp = struct.pack("<IiiHHIIiiII", 40, w, h * 2, 1, 32, 0, w * h * 4 + 4 * h, 0, 0, 0, 0)
pix = b"".join(struct.pack("<BBBB", x * 16 & 255, y * 16 & 255, 128, 255) for y in range(h) for x in range(w))
img = bmp + pix + b"\0" * (4 * h)
open("icon.ico", "wb").write(struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", w, h, 0, 0, 1, 32, len(img), 22) + img)

# Minimal static ARM64 and ARM (EABI5) executables, written by hand (no cross compiler needed):
# an exit syscall, then 6000 instruction words, 30% of them BL/B, for UPX's ARM filters; the
# data segment holds the EICAR string.
import random
random.seed(5)
eicar = open("eicar.bin", "rb").read()
data = eicar + bytes(range(256)) * 8
def image(is64, machine, flags, words, base):
    code = struct.pack("<%dI" % len(words), *words)
    off = 0x1000
    end = off + len(code)
    doff = (end + 0xfff) & ~0xfff
    dva = base + 0x100000 + doff
    if is64:
        ph = (struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, end, end, 0x1000)
              + struct.pack("<IIQQQQQQ", 1, 6, doff, dva, dva, len(data), len(data) + 0x1000, 0x1000))
        eh = struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, base + off, 64, 0, flags, 64, 56, 2, 64, 0, 0)
    else:
        ph = (struct.pack("<IIIIIIII", 1, 0, base, base, end, end, 5, 0x1000)
              + struct.pack("<IIIIIIII", 1, doff, dva, dva, len(data), len(data) + 0x1000, 6, 0x1000))
        eh = struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, base + off, 52, 0, flags, 52, 32, 2, 40, 0, 0)
    img = bytearray(b"\x7fELF" + bytes([2 if is64 else 1, 1, 1, 0]) + bytes(8) + eh + ph)
    img += bytes(off - len(img)) + code
    img += bytes(doff - len(img)) + data
    return bytes(img)
def program(start, call, filler):
    words = list(start)
    for _ in range(6000):
        if random.random() < 0.3:
            words.append(call(random.randrange(6000) - len(words)))
        else:
            words.append(random.choice(filler))
    return words
a64 = program([0xd2800ba8, 0xd2800000, 0xd4000001], lambda d: 0x94000000 | (d & 0x03ffffff),
              [0xd503201f, 0xaa0103e0, 0x91000421, 0xf9400020, 0x8b020020, 0xd65f03c0])
arm = program([0xe3a07001, 0xe3a00000, 0xef000000], lambda d: 0xeb000000 | ((d - 2) & 0x00ffffff),
              [0xe1a00000, 0xe2800001, 0xe5910004, 0xe12fff1e, 0xe0810002])
open("arm64", "wb").write(image(True, 183, 0, a64, 0x400000))
open("arm32", "wb").write(image(False, 40, 0x05000000, arm, 0x10000))
PY
chmod +x arm64 arm32

cat > prog.c <<'EOF'
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "funcs.inc"
const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
static unsigned hash(const char *s) { unsigned h = 5381; while (*s) h = h * 33 + (unsigned char)*s++; return h; }
int main(int argc, char **argv) {
  printf("%s %u %zu %u\n", eicar, hash(eicar), strlen(eicar), churn((unsigned)argc));
  char *p = malloc(100); if (p) { snprintf(p, 100, "%s", argv[0]); puts(p); free(p); }
  return 0;
}
EOF

cat > s32.c <<'EOF'
#include "funcs.inc"
const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
static void wr(const char *s, int n) { __asm__ volatile("int $0x80" :: "a"(4), "b"(1), "c"(s), "d"(n) : "memory"); }
void _start(void) {
  unsigned r = churn(7); char b[9];
  wr(eicar, 68);
  for (int i = 0; i < 8; i++) b[i] = 'a' + ((r >> (i * 4)) & 15);
  b[8] = '\n'; wr(b, 9);
  __asm__ volatile("int $0x80" :: "a"(1), "b"(0));
  for (;;) {}
}
EOF

cat > wprog.c <<'EOF'
#include <windows.h>
#include "funcs.inc"
const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
static unsigned hash(const char *s) { unsigned h = 5381; while (*s) h = h * 33 + (unsigned char)*s++; return h; }
#ifdef BUILD_DLL
__declspec(dllexport) unsigned upx_sample_churn(unsigned x) { return churn(x) ^ hash(eicar); }
__declspec(dllexport) unsigned upx_sample_hash(const char *s) { return hash(s); }
BOOL WINAPI DllMain(HINSTANCE h, DWORD r, LPVOID p) { (void)h; (void)p; if (r == DLL_PROCESS_ATTACH) OutputDebugStringA(eicar); return TRUE; }
#else
int main(int argc, char **argv) {
  char buf[256]; DWORD n; (void)argv;
  HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
  int k = wsprintfA(buf, "%s %u %u\n", eicar, hash(eicar), churn((unsigned)argc)); WriteFile(out, buf, k, &n, NULL);
  HRSRC r = FindResourceA(NULL, MAKEINTRESOURCEA(100), (LPCSTR)RT_RCDATA);
  k = wsprintfA(buf, "%p %lu\n", (void *)r, GetTickCount()); WriteFile(out, buf, k, &n, NULL);
  MessageBeep(0);
  return 0;
}
#endif
EOF

# TLS callback, imports by ordinal (also from kernel32, which UPX treats apart), no relocations.
cat > tls.c <<'EOF'
#include <windows.h>
#include "funcs.inc"
const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
__declspec(dllimport) int WINAPI OrdFunc(void);
__declspec(dllimport) unsigned long WINAPI K32Ord(void);
static void NTAPI cb(PVOID h, DWORD r, PVOID p) { (void)h; (void)p; if (r == 1) OutputDebugStringA(eicar); }
__attribute__((section(".CRT$XLB"))) PIMAGE_TLS_CALLBACK tls_cb = cb;
int main(void) { MessageBeep(churn(3)); return OrdFunc() + (int)K32Ord() + (int)eicar[0]; }
EOF
printf 'LIBRARY ordtest.dll\nEXPORTS\nOrdFunc @7 NONAME\n' > ord64.def
printf 'LIBRARY KERNEL32.dll\nEXPORTS\nK32Ord @400 NONAME\n' > k64.def
printf 'LIBRARY ordtest.dll\nEXPORTS\nOrdFunc@0 @7 NONAME\n' > ord32.def
printf 'LIBRARY KERNEL32.dll\nEXPORTS\nK32Ord@0 @400 NONAME\n' > k32.def

cat > res.rc <<'EOF'
#include <winver.h>
1 ICON "icon.ico"
100 RCDATA "eicar.bin"
1 VERSIONINFO
FILEVERSION 1,2,3,4
PRODUCTVERSION 1,2,3,4
FILEOS 0x40004L
FILETYPE 0x1L
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "CompanyName", "assay test"
      VALUE "FileDescription", "upx sample"
      VALUE "FileVersion", "1.2.3.4"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
EOF

gcc -s -Os -o elf64 prog.c
gcc -s -Os -no-pie -o elf64-nopie prog.c
gcc -s -Os -shared -fPIC -o lib64.so prog.c
gcc -m32 -s -Os -static -nostdlib -ffreestanding -fno-pie -no-pie -o elf32 s32.c
for arch in i686:pe32:32 x86_64:pe64:64; do
  cc=${arch%%:*}-w64-mingw32; name=$(echo $arch | cut -d: -f2); bits=${arch##*:}
  cflags="-s -Os -Wl,--no-insert-timestamp"
  $cc-windres res.rc -O coff -o res-$name.o
  $cc-gcc $cflags -o $name.exe wprog.c res-$name.o -luser32
  $cc-gcc $cflags -shared -DBUILD_DLL -o $name.dll wprog.c res-$name.o -luser32
  $cc-dlltool -k -d ord$bits.def -l libord.a
  $cc-dlltool -k -d k$bits.def -l libk.a
  $cc-gcc $cflags -Wl,--disable-dynamicbase -o tls$bits.exe tls.c -L. -lord -lk -luser32
done
# An overlay (bytes after the last section) must survive.
{ cat pe32.exe; printf 'overlay:'; cat eicar.bin; } > pe32-overlay.exe

: > "$OUT/EXPECTED"
# pack <original> <packed name> [upx options...]
pack() {
  src=$1; dst=$2; shift 2
  upx -q "$@" -o "$OUT/$dst" "$src" > /dev/null
  case $src in
    *.exe|*.dll) upx -q -d -o "$WORK/restored" "$OUT/$dst" > /dev/null
                 sum=$(sha256sum < "$WORK/restored"); rm -f "$WORK/restored" ;;
    *) sum=$(sha256sum < "$src") ;;
  esac
  echo "$dst ${sum%% *} upx $*" >> "$OUT/EXPECTED"
}
pack elf64 elf64-nrv2b.upx
pack elf64 elf64-nrv2d.upx --nrv2d
pack elf64 elf64-nrv2e.upx --nrv2e
pack elf64 elf64-lzma.upx --lzma
pack elf64 elf64-f49.upx --filter=0x49
pack elf64 elf64-lzma-f26.upx --lzma --filter=0x26
pack elf64-nopie elf64-nopie.upx
pack lib64.so lib64-nrv2b.upx.so
pack lib64.so lib64-lzma-f49.upx.so --lzma --filter=0x49
pack elf32 elf32-nrv2b.upx
pack elf32 elf32-f46.upx --filter=0x46
pack elf32 elf32-lzma.upx --lzma
pack arm64 arm64-nrv2b.upx
pack arm64 arm64-lzma.upx --lzma
pack arm32 arm32-nrv2b8.upx
pack arm32 arm32-nrv2d8.upx --nrv2d
pack arm32 arm32-nrv2e8.upx --nrv2e
pack pe32.exe pe32-nrv2b.upx.exe
pack pe32.exe pe32-nrv2d.upx.exe --nrv2d
pack pe32.exe pe32-nrv2e.upx.exe --nrv2e
pack pe32.exe pe32-lzma.upx.exe --lzma
pack pe32.exe pe32-brute.upx.exe --brute
for f in 11 12 13 14 15 16 24 25 46 49; do pack pe32.exe pe32-f$f.upx.exe --filter=0x$f; done
pack pe32-overlay.exe pe32-overlay.upx.exe
pack pe64.exe pe64-nrv2b.upx.exe
pack pe64.exe pe64-nrv2e.upx.exe --nrv2e
pack pe64.exe pe64-lzma.upx.exe --lzma
pack pe32.dll pe32-nrv2b.upx.dll
pack pe32.dll pe32-lzma.upx.dll --lzma
pack pe64.dll pe64-nrv2b.upx.dll
pack pe64.dll pe64-lzma.upx.dll --lzma
pack tls32.exe tls32-norelocs.upx.exe --strip-relocs=1
pack tls64.exe tls64.upx.exe --strip-relocs=0
cp pe32.exe pe64.exe pe32.dll pe64.dll "$OUT/"
ls -l "$OUT"
