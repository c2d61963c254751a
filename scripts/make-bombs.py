#!/usr/bin/env python3
"""Writes hostile archives into OUTDIR for the budget tests and scripts/bench-scan.sh.

    scripts/make-bombs.py OUTDIR

Nothing here is malware: the files are zeros and tiny text entries, built with the standard
library in well under a second. They exist to prove that limits stop work early:

  bomb-1g.zip         one deflated member of 1 GiB of zeros, sizes declared honestly
  bomb-lying.zip      the same member, but the headers claim it is 1000 bytes
  bomb-1g.gz          1 GiB of zeros as gzip
  layers-42.zip       42.zip-style: 4 levels of 16 identical zips; each bottom zip holds 16
                      members of 1 GiB of zeros (a nominal 1 PiB of output)
  many-100k.zip       100,000 stored entries of a few bytes each
  hostile-names.zip   members named ../../evil.txt, /etc/evil.txt, C:\\evil.txt, nul\\0byte.txt
"""

import os
import struct
import sys
import zlib

GIB = 1 << 30
MIB = 1 << 20


def zero_deflate(total):
    """Raw deflate data for `total` zero bytes, made from one compressed MiB repeated.

    With a full flush after each MiB the compressor state resets, so every MiB after the first
    compresses to identical bytes: 1 GiB costs one MiB of compression.
    """
    assert total % MIB == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    c2 = zlib.compressobj(9, zlib.DEFLATED, -15)
    c2.compress(bytes(MIB))
    c2.flush(zlib.Z_FULL_FLUSH)
    repeat = c2.compress(bytes(MIB)) + c2.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    return first + repeat * (total // MIB - 1) + end


def zero_crc(total):
    crc = 0
    block = bytes(MIB)
    # crc32 over 1 GiB of zeros in 1 MiB steps: about a second at worst, once per run.
    for _ in range(total // MIB):
        crc = zlib.crc32(block, crc)
    return crc


class Zip:
    """A minimal zip writer that takes already-compressed member data."""

    def __init__(self):
        self.data = bytearray()
        self.central = bytearray()
        self.count = 0

    def add(self, name, payload, method, crc, size, declared_size=None):
        name_b = name.encode("utf-8", "surrogateescape")
        declared = size if declared_size is None else declared_size
        offset = len(self.data)
        self.data += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(payload), declared,
            len(name_b), 0,
        )
        self.data += name_b + payload
        self.central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(payload),
            declared, len(name_b), 0, 0, 0, 0, 0, offset,
        )
        self.central += name_b
        self.count += 1

    def add_stored(self, name, content):
        self.add(name, content, 0, zlib.crc32(content), len(content))

    def add_deflated(self, name, content):
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = c.compress(content) + c.flush()
        self.add(name, packed, 8, zlib.crc32(content), len(content))

    def bytes(self):
        out = bytes(self.data) + bytes(self.central)
        n = min(self.count, 0xFFFF)
        out += struct.pack(
            "<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(self.central), len(self.data), 0
        )
        return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    def write(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    gib_deflate = zero_deflate(GIB)
    gib_crc = zero_crc(GIB)

    z = Zip()
    z.add("zeros.bin", gib_deflate, 8, gib_crc, GIB)
    write("bomb-1g.zip", z.bytes())

    z = Zip()
    z.add("zeros.bin", gib_deflate, 8, gib_crc, GIB, declared_size=1000)
    write("bomb-lying.zip", z.bytes())

    # gzip: header, the raw deflate data, CRC32 and ISIZE (size mod 2^32).
    gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + gib_deflate
    gz += struct.pack("<II", gib_crc, GIB & 0xFFFFFFFF)
    write("bomb-1g.gz", gz)

    bottom = Zip()
    for i in range(16):
        bottom.add(f"{i:x}.bin", gib_deflate, 8, gib_crc, GIB)
    level = bottom.bytes()
    for depth in range(3):
        z = Zip()
        for i in range(16):
            z.add_deflated(f"lib{depth}-{i:x}.zip", level)
        level = z.bytes()
    write("layers-42.zip", level)

    z = Zip()
    for i in range(100_000):
        z.add_stored(f"d{i // 1000}/f{i}.txt", b"entry %d\n" % i)
    write("many-100k.zip", z.bytes())

    z = Zip()
    for name in ["../../evil.txt", "/etc/evil.txt", "C:\\evil.txt", "nul\x00byte.txt"]:
        z.add_stored(name, b"hostile name " + name.encode("utf-8", "replace").replace(b"\x00", b"0"))
    write("hostile-names.zip", z.bytes())


if __name__ == "__main__":
    main()
