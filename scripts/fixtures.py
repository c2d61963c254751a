#!/usr/bin/env python3
"""Hand-built fixtures for tests/data/formats/, plus MANIFEST.json and README.md describing them.

scripts/make-fixtures.sh makes the fixtures that real tools can make and calls this helper for the
rest: formats with no tool on Debian (RAR, CHM, SZDD/KWAJ, TNEF, BinHex, OLE2 ...), formats a tool
would make non-deterministically (ZipCrypto), and the mail/document containers, which are text.
Standard library only (Python 3.11). Every fixture hides the 68-byte EICAR anti-virus test string
and nothing else harmful.

Subcommands:
  hand OUTDIR --zstd FILE      writes every hand-built fixture into OUTDIR (FILE: EICAR compressed
                               by the zstd CLI, the data of the zip method-93 member)
  normalize-iso FILE           pins the dates genisoimage takes from the clock and from ctime/atime
  normalize-arj FILE           pins the dates ARJ takes from the clock and from ctime/atime
  normalize-msi FILE           pins the package code and dates wixl takes from the clock
  docs OUTDIR --versions FILE  writes OUTDIR/MANIFEST.json and OUTDIR/README.md; checks that OUTDIR
                               holds exactly the listed fixtures
  check DIR --assay BIN        scans every fixture with `assay scan` and compares with MANIFEST.json
"""
import argparse
import base64
import binascii
import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import struct
import subprocess
import sys
import time
import uuid
import zipfile
import zlib

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
assert len(EICAR) == 68 and hashlib.sha256(EICAR).hexdigest() == EICAR_SHA256

# Every timestamp written into a fixture (2020-01-01 00:00:00 UTC unless the caller says otherwise;
# DOS-style formats cannot store 1970).
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1577836800"))
_T = time.gmtime(EPOCH)
DATE_TIME = tuple(_T[:6])
DOS_DATE = ((_T.tm_year - 1980) << 9) | (_T.tm_mon << 5) | _T.tm_mday
DOS_TIME = (_T.tm_hour << 11) | (_T.tm_min << 5) | (_T.tm_sec // 2)
DOS_DATETIME = (DOS_DATE << 16) | DOS_TIME
RFC2822_DATE = time.strftime("%a, %d %b %Y %H:%M:%S +0000", _T)
MBOX_DATE = time.strftime("%a %b %e %H:%M:%S %Y", _T)


def deflate_raw(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    return c.compress(data) + c.flush()


# --------------------------------------------------------------------------------------------
# ZIP


def zip_raw(members):
    """A ZIP written field by field, for what zipfile cannot write (methods 93/95, a fixed
    ZipCrypto header). members: dicts with name, method, data (as stored), crc, size and optional
    flags, version (needed to extract) and extra."""
    body = bytearray()
    central = bytearray()
    for m in members:
        name = m["name"].encode()
        extra = m.get("extra", b"")
        flags = m.get("flags", 0)
        ver = m.get("version", 20)
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, ver, flags, m["method"], DOS_TIME, DOS_DATE,
                            m["crc"], len(m["data"]), m["size"], len(name), len(extra))
        body += name + extra + m["data"]
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0300 | 63, ver, flags, m["method"],
                               DOS_TIME, DOS_DATE, m["crc"], len(m["data"]), m["size"], len(name),
                               len(extra), 0, 0, 0, 0o100644 << 16, offset)
        central += name + extra
    n = len(members)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), len(body), 0)
    return bytes(body + central + eocd)


def zip_std(members):
    """A ZIP through zipfile with fixed dates and modes. members: (name, data, method)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, method in members:
            zi = zipfile.ZipInfo(name, date_time=DATE_TIME)
            zi.create_system = 3
            if name.endswith("/"):
                zi.external_attr = (0o40755 << 16) | 0x10
            else:
                zi.external_attr = 0o100644 << 16
            zi.compress_type = method
            z.writestr(zi, data)
    return buf.getvalue()


def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


class ZipCrypto:
    """The traditional PKWARE stream cipher (APPNOTE 6.1)."""

    def __init__(self, password):
        self.k = [0x12345678, 0x23456789, 0x34567890]
        for b in password:
            self.update(b)

    def update(self, b):
        k = self.k
        k[0] = (k[0] >> 8) ^ CRC_TABLE[(k[0] ^ b) & 0xFF]
        k[1] = ((k[1] + (k[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k[2] = (k[2] >> 8) ^ CRC_TABLE[(k[2] ^ (k[1] >> 24)) & 0xFF]

    def encrypt(self, data):
        out = bytearray()
        for b in data:
            t = (self.k[2] | 2) & 0xFFFF
            out.append(b ^ (((t * (t ^ 1)) >> 8) & 0xFF))
            self.update(b)
        return bytes(out)


def zip_zipcrypto():
    crc = zlib.crc32(EICAR)
    # The 12-byte encryption header is random in real tools; a fixed one keeps the file
    # reproducible. Its last byte is the CRC's high byte, the password check.
    header = hashlib.sha256(b"assay fixtures zipcrypto header").digest()[:11] + bytes([crc >> 24])
    data = ZipCrypto(b"infected").encrypt(header + deflate_raw(EICAR))
    z = zip_raw([dict(name="dir/eicar.com", method=8, data=data, crc=crc, size=len(EICAR), flags=1)])
    assert zipfile.ZipFile(io.BytesIO(z)).read("dir/eicar.com", pwd=b"infected") == EICAR
    return z


def zip_xz():
    data = lzma.compress(EICAR, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9)
    return zip_raw([dict(name="dir/eicar.com", method=95, data=data, crc=zlib.crc32(EICAR),
                         size=len(EICAR), version=63)])


def zip_zstd(zstd_data):
    return zip_raw([dict(name="dir/eicar.com", method=93, data=zstd_data, crc=zlib.crc32(EICAR),
                         size=len(EICAR), version=63)])


D, S = zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED


def jar():
    return zip_std([
        ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nCreated-By: assay fixtures\r\n\r\n", D),
        ("eicar.com", EICAR, D),
    ])


def apk():
    # Placeholders: a binary-XML chunk header and a DEX header, enough to look like an APK.
    manifest = struct.pack("<HHI", 0x0003, 8, 8)
    dex = b"dex\n035\0" + bytes(104)
    return zip_std([
        ("AndroidManifest.xml", manifest, D),
        ("classes.dex", dex, D),
        ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nCreated-By: assay fixtures\r\n\r\n", D),
        ("assets/eicar.com", EICAR, D),
    ])


def ooxml(kind):
    main = {
        "word": ("word/document.xml",
                 "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
                 b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                 b"<w:body><w:p><w:r><w:t>EICAR test fixture</w:t></w:r></w:p></w:body></w:document>",
                 "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"),
        "xl": ("xl/workbook.xml",
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
               b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>',
               "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"),
        "ppt": ("ppt/presentation.xml",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                b'<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>',
                "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"),
    }[kind]
    part, ctype, xml, rel = main
    types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="bin" ContentType="application/vnd.openxmlformats-officedocument.oleObject"/>'
        f'<Override PartName="/{part}" ContentType="{ctype}"/></Types>').encode()
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}" Target="{part}"/></Relationships>').encode()
    part_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/oleObject"'
        ' Target="embeddings/eicar.bin"/></Relationships>').encode()
    return zip_std([
        ("[Content_Types].xml", types, D),
        ("_rels/.rels", rels, D),
        (part, xml, D),
        (f"{kind}/_rels/{part.split('/')[1]}.rels", part_rels, D),
        (f"{kind}/embeddings/eicar.bin", EICAR, D),
    ])


def odt():
    manifest = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        b'<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        b'<manifest:file-entry manifest:full-path="Pictures/eicar.com" manifest:media-type="application/octet-stream"/>'
        b"</manifest:manifest>")
    content = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        b' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        b"<office:body><office:text><text:p>EICAR test fixture</text:p></office:text></office:body>"
        b"</office:document-content>")
    return zip_std([
        ("mimetype", b"application/vnd.oasis.opendocument.text", S),
        ("META-INF/manifest.xml", manifest, D),
        ("content.xml", content, D),
        ("Pictures/eicar.com", EICAR, D),
    ])


def xpi():
    rdf = (
        b'<?xml version="1.0"?>\n'
        b'<RDF xmlns="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:em="http://www.mozilla.org/2004/em-rdf#">'
        b'<Description about="urn:mozilla:install-manifest"><em:id>eicar@fixtures.example.invalid</em:id>'
        b"<em:version>1.0</em:version><em:name>EICAR test fixture</em:name></Description></RDF>\n")
    return zip_std([
        ("install.rdf", rdf, D),
        ("chrome.manifest", b"content eicar chrome/content/\n", D),
        ("chrome/content/eicar.com", EICAR, D),
    ])


def wheel():
    dist = "eicar_fixture-1.0.dist-info"
    files = [
        ("eicar_fixture/__init__.py", b""),
        ("eicar_fixture/eicar.com", EICAR),
        (f"{dist}/METADATA", b"Metadata-Version: 2.1\nName: eicar-fixture\nVersion: 1.0\n"
                             b"Summary: Carries the EICAR test file (an assay test fixture)\n"),
        (f"{dist}/WHEEL", b"Wheel-Version: 1.0\nGenerator: assay fixtures\nRoot-Is-Purelib: true\n"
                          b"Tag: py3-none-any\n"),
    ]
    record = ""
    for name, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(data)}\n"
    record += f"{dist}/RECORD,,\n"
    files.append((f"{dist}/RECORD", record.encode()))
    return zip_std([(n, d, D) for n, d in files])


def nested_zip(levels):
    data = zip_std([("eicar.com", EICAR, S)])
    for i in range(2, levels + 1):
        data = zip_std([(f"nested-{i - 1:02d}.zip", data, S)])
    return data


def nested_lineage(levels):
    return "/".join([f"nested-{levels}.zip"] + [f"nested-{i:02d}.zip" for i in range(levels - 1, 0, -1)]
                    + ["eicar.com"])


# --------------------------------------------------------------------------------------------
# RAR


def rar4_stored():
    """RAR 1.5-4.x: marker, archive header, one stored (method 0x30) file, end of archive."""

    def block(htype, flags, body):
        hdr = struct.pack("<BHH", htype, flags, 7 + len(body)) + body
        return struct.pack("<H", zlib.crc32(hdr) & 0xFFFF) + hdr

    name = b"dir/eicar.com"
    marker = b"Rar!\x1a\x07\x00"
    main = block(0x73, 0x0000, struct.pack("<HI", 0, 0))
    # PACK_SIZE UNP_SIZE HOST_OS(3 = Unix) FILE_CRC FTIME UNP_VER METHOD NAME_SIZE ATTR
    fields = struct.pack("<IIBIIBBHI", len(EICAR), len(EICAR), 3, zlib.crc32(EICAR), DOS_DATETIME,
                         29, 0x30, len(name), 0o100644) + name
    file = block(0x74, 0x8000, fields) + EICAR
    end = block(0x7B, 0x4000, b"")
    assert end == bytes.fromhex("c43d7b00400700")
    return marker + main + file + end


def vint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def rar5_stored():
    """RAR 5.0: signature, main archive header, one stored file, end of archive."""

    def block(htype, hflags, body, data=b""):
        fields = vint(htype) + vint(hflags)
        if hflags & 0x0002:
            fields += vint(len(data))
        fields += body
        size = vint(len(fields))
        return struct.pack("<I", zlib.crc32(size + fields)) + size + fields + data

    name = b"dir/eicar.com"
    main = block(1, 0, vint(0))
    # file flags: 0x0002 mtime present, 0x0004 CRC32 present
    body = (vint(0x0006) + vint(len(EICAR)) + vint(0o100644) + struct.pack("<II", EPOCH, zlib.crc32(EICAR))
            + vint(0)  # compression info: version 0, not solid, method 0 (store)
            + vint(1)  # host OS: Unix
            + vint(len(name)) + name)
    file = block(2, 0x0002, body, EICAR)
    end = block(5, 0, vint(0))
    return b"Rar!\x1a\x07\x01\x00" + main + file + end


# --------------------------------------------------------------------------------------------
# CHM (ITSF), mirroring the builder in src/analysis/formats/chm.rs's tests


def chm_encint(v):
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    return bytes(reversed(out))


def chm():
    chunk_size = 4096
    sec0 = bytearray()
    entries = []

    def add0(name, data):
        entries.append((name, 0, len(sec0), len(data)))
        sec0.extend(data)

    # ::DataSpace/NameList names the sections; only the uncompressed one is used here. Readers
    # such as 7-Zip look for it before they list anything.
    words = [0, 1, len("Uncompressed")] + [ord(c) for c in "Uncompressed"] + [0]
    words[0] = len(words)
    entries.append(("/", 0, 0, 0))
    add0("/eicar.com", EICAR)
    add0("::DataSpace/NameList", struct.pack(f"<{len(words)}H", *words))
    entries.sort(key=lambda e: e[0].lower())

    listing = bytearray()
    for name, section, offset, length in entries:
        listing += chm_encint(len(name)) + name.encode() + chm_encint(section) + chm_encint(offset)
        listing += chm_encint(length)
    assert 0x14 + len(listing) + 2 <= chunk_size
    chunk = bytearray(chunk_size)
    chunk[0:4] = b"PMGL"
    struct.pack_into("<IIii", chunk, 4, chunk_size - 0x14 - len(listing), 0, -1, -1)
    chunk[0x14:0x14 + len(listing)] = listing
    struct.pack_into("<H", chunk, chunk_size - 2, len(entries))
    chunks = [bytes(chunk)]

    itsp_len = 0x54
    hs1 = 0x60 + 0x18
    cs0 = hs1 + itsp_len + len(chunks) * chunk_size
    head = bytearray(0x60)
    head[0:4] = b"ITSF"
    struct.pack_into("<IIIII", head, 4, 3, 0x60, 1, 0, 0x409)
    head[0x18:0x28] = uuid.UUID("7C01FD10-7BAA-11D0-9E0C-00A0C922E6EC").bytes_le
    head[0x28:0x38] = uuid.UUID("7C01FD11-7BAA-11D0-9E0C-00A0C922E6EC").bytes_le
    struct.pack_into("<QQQQQ", head, 0x38, 0x60, 0x18, hs1, itsp_len + len(chunks) * chunk_size, cs0)
    hs0 = struct.pack("<IIQQ", 0x1FE, 0, cs0 + len(sec0), 0)
    itsp = bytearray(itsp_len)
    itsp[0:4] = b"ITSP"
    struct.pack_into("<IIIIIIiIIiII", itsp, 4, 1, itsp_len, 10, chunk_size, 2, 1, -1, 0,
                     len(chunks) - 1, -1, len(chunks), 0x409)
    itsp[0x34:0x44] = uuid.UUID("5D02926A-212E-11D0-9DF9-00A0C922E6EC").bytes_le
    struct.pack_into("<Iiii", itsp, 0x44, itsp_len, -1, -1, -1)
    out = bytes(head) + hs0 + bytes(itsp) + b"".join(chunks)
    assert len(out) == cs0
    return out + bytes(sec0)


# --------------------------------------------------------------------------------------------
# SZDD and KWAJ (MS COMPRESS.EXE)


def lzss_literals(data):
    """The SZDD/KWAJ LZSS stream with every byte a literal: control byte 0xFF, 8 literals."""
    out = bytearray()
    for i in range(0, len(data), 8):
        out.append(0xFF)
        out += data[i:i + 8]
    return bytes(out)


def szdd():
    return b"SZDD\x88\xf0\x27\x33" + b"A" + b"m" + struct.pack("<I", len(EICAR)) + lzss_literals(EICAR)


def kwaj(method):
    # Optional headers: 0x01 uncompressed length, 0x08 file name, 0x10 extension.
    extra = struct.pack("<I", len(EICAR)) + b"eicar\0" + b"com\0"
    offset = 14 + len(extra)
    header = b"KWAJ\x88\xf0\x27\xd1" + struct.pack("<HHH", method, offset, 0x01 | 0x08 | 0x10) + extra
    if method == 0:
        body = EICAR
    elif method == 2:
        body = lzss_literals(EICAR)
    elif method == 4:
        # MSZIP: blocks of u16 length, "CK", a deflate stream; a zero length ends them.
        block = b"CK" + deflate_raw(EICAR)
        body = struct.pack("<H", len(block)) + block + b"\0\0"
    else:
        raise ValueError(method)
    return header + body


# --------------------------------------------------------------------------------------------
# OLE2 / MS-CFB


NOSTREAM = 0xFFFFFFFF
ENDOFCHAIN = 0xFFFFFFFE
FATSECT = 0xFFFFFFFD
FREESECT = 0xFFFFFFFF


def cfb(tree, root_clsid=bytes(16)):
    """A version 3 compound file (512-byte sectors). `tree` maps names to bytes (a stream) or to a
    dict (a storage). Every stream is under the 4096-byte cutoff, so all live in the mini stream
    (64-byte mini sectors, chained by the mini FAT); the sibling trees are balanced red-black
    trees in CFB name order."""
    entries = [dict(name="Root Entry", type=5, clsid=root_clsid, kids=[], data=None)]

    def add(parent, subtree):
        for name, value in subtree.items():
            idx = len(entries)
            if isinstance(value, dict):
                entries.append(dict(name=name, type=1, clsid=bytes(16), kids=[], data=None))
                entries[parent]["kids"].append(idx)
                add(idx, value)
            else:
                assert len(value) < 4096, "streams of 4096 bytes or more need the regular FAT"
                entries.append(dict(name=name, type=2, clsid=bytes(16), kids=[], data=value))
                entries[parent]["kids"].append(idx)

    add(0, tree)
    for e in entries:
        e.update(left=NOSTREAM, right=NOSTREAM, child=NOSTREAM, color=1)

    def key(i):
        name = entries[i]["name"].encode("utf-16-le")
        return (len(name), name.decode("utf-16-le").upper())

    def build(ids, depth, depths):
        if not ids:
            return NOSTREAM
        mid = len(ids) // 2
        node = ids[mid]
        depths[node] = depth
        entries[node]["left"] = build(ids[:mid], depth + 1, depths)
        entries[node]["right"] = build(ids[mid + 1:], depth + 1, depths)
        return node

    for e in entries:
        if not e["kids"]:
            continue
        ids = sorted(e["kids"], key=key)
        depths = {}
        e["child"] = build(ids, 0, depths)
        deepest = max(depths.values())
        perfect = len(ids) == 2 ** (deepest + 1) - 1
        for node, d in depths.items():
            entries[node]["color"] = 0 if (d == deepest and not perfect) else 1

    # The mini stream: each stream padded to 64 bytes, chained in the mini FAT.
    mini = bytearray()
    minifat = []
    for e in entries:
        if e["type"] != 2:
            continue
        first = len(mini) // 64
        count = max(1, -(-len(e["data"]) // 64))
        e["start"] = first
        minifat += [first + k + 1 for k in range(count - 1)] + [ENDOFCHAIN]
        mini += e["data"] + bytes(count * 64 - len(e["data"]))

    # Sector layout: FAT, directory, mini FAT, mini stream.
    dir_sectors = -(-len(entries) // 4)
    minifat_sectors = -(-len(minifat) // 128)
    mini_sectors = -(-len(mini) // 512)
    first_dir = 1
    first_minifat = first_dir + dir_sectors
    first_mini = first_minifat + minifat_sectors
    total = first_mini + mini_sectors
    assert total <= 128
    fat = [FATSECT]
    for first, count in ((first_dir, dir_sectors), (first_minifat, minifat_sectors),
                         (first_mini, mini_sectors)):
        fat += [first + k + 1 for k in range(count - 1)] + [ENDOFCHAIN]
    fat += [FREESECT] * (128 - len(fat))

    directory = bytearray()
    for e in entries:
        name = e["name"].encode("utf-16-le") + b"\0\0"
        assert len(name) <= 64
        if e["type"] == 5:
            start, size = (first_mini, len(mini)) if mini else (ENDOFCHAIN, 0)
        elif e["type"] == 1:
            start, size = 0, 0
        else:
            start, size = e["start"], len(e["data"])
        directory += (name + bytes(64 - len(name)) + struct.pack("<HBBIII", len(name), e["type"], e["color"],
                                                                 e["left"], e["right"], e["child"])
                      + e["clsid"] + struct.pack("<IQQIQ", 0, 0, 0, start, size))
    while len(directory) % 512:
        directory += bytes(64) + struct.pack("<HBBIII", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM) + bytes(48)

    minifat_bytes = struct.pack(f"<{len(minifat)}I", *minifat)
    minifat_bytes += struct.pack("<I", FREESECT) * ((minifat_sectors * 128) - len(minifat))

    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x003E, 0x0003, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, 1, first_dir, 0, 4096,
                     first_minifat if minifat else ENDOFCHAIN, minifat_sectors, ENDOFCHAIN, 0)
    difat = [0] + [FREESECT] * 108
    struct.pack_into("<109I", header, 76, *difat)
    body = (bytes(header) + struct.pack("<128I", *fat) + bytes(directory) + minifat_bytes
            + bytes(mini) + bytes(mini_sectors * 512 - len(mini)))
    assert len(body) == 512 * (1 + total)
    return body


def ole2_vba():
    return cfb({"Macros": {"VBA": {"eicar": EICAR}}})


EQUATION3_CLSID = uuid.UUID("0002CE02-0000-0000-C000-000000000046").bytes_le


def ole2_equation():
    # CompObj: the OLE stream naming the class (MS-OLEDS 2.3.8, ANSI fields only).
    def ansi(s):
        return struct.pack("<I", len(s) + 1) + s + b"\0"

    compobj = (struct.pack("<HHII", 1, 0xFFFE, 0x0A03, 0xFFFFFFFF) + EQUATION3_CLSID
               + ansi(b"Microsoft Equation 3.0") + ansi(b"DS Equation") + ansi(b"Equation.3")
               + struct.pack("<I", 0x71B239F4) + bytes(4))
    return cfb({"\x01CompObj": compobj, "Equation Native": EICAR}, root_clsid=EQUATION3_CLSID)


# --------------------------------------------------------------------------------------------
# PE, mirroring `pe_with` in src/analysis/formats/pe.rs's tests


def pe_with(resource, overlay):
    b = bytearray(0x200)
    b[0:2] = b"MZ"
    struct.pack_into("<I", b, 0x3C, 0x80)
    b[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HH", b, 0x84, 0x14C, 1)
    struct.pack_into("<HH", b, 0x94, 0xE0, 0x0102)
    opt = 0x98
    struct.pack_into("<H", b, opt, 0x10B)
    struct.pack_into("<H", b, opt + 68, 2)
    struct.pack_into("<I", b, opt + 92, 16)
    struct.pack_into("<II", b, opt + 96 + 16, 0x1000, 0x100)
    rsrc = bytearray(0x60)

    def directory(at, ident, target):
        struct.pack_into("<H", rsrc, at + 14, 1)
        struct.pack_into("<II", rsrc, at + 16, ident, target)

    directory(0, 10, 0x8000_0018)
    directory(0x18, 101, 0x8000_0030)
    directory(0x30, 1033, 0x48)
    struct.pack_into("<II", rsrc, 0x48, 0x1060, len(resource))
    rsrc += resource
    raw_size = -(-len(rsrc) // 0x200) * 0x200
    rsrc += bytes(raw_size - len(rsrc))
    s = opt + 0xE0
    b[s:s + 5] = b".rsrc"
    struct.pack_into("<IIII", b, s + 8, raw_size, 0x1000, raw_size, 0x200)
    return bytes(b + rsrc + overlay)


# --------------------------------------------------------------------------------------------
# RTF


def ole1_object(class_name, native):
    """An MS-OLEDS 2.2 OLE1 embedded object (ObjectHeader + NativeData)."""
    cls = class_name + b"\0"
    return (struct.pack("<II", 0x00000501, 2) + struct.pack("<I", len(cls)) + cls
            + struct.pack("<II", 0, 0) + struct.pack("<I", len(native)) + native)


def rtf_with_object(class_name, native, text):
    hexdata = ole1_object(class_name, native).hex()
    lines = "\n".join(hexdata[i:i + 128] for i in range(0, len(hexdata), 128))
    return ("{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss Arial;}}\n"
            f"\\pard\\f0\\fs20 {text}\\par\n"
            "{\\object\\objemb\\objw1200\\objh800{\\*\\objclass " + class_name.decode() + "}"
            "{\\*\\objdata\n" + lines + "\n}"
            "{\\result{\\pict\\wmetafile8\\picw100\\pich100 0100090000030000000000000000}}}\n"
            "\\par\n}\n").encode()


def rtf_package():
    # OLE Packager native data: signature, label, source path, reserved, type 3 (embedded file),
    # temporary path, data.
    label = b"eicar.com\0"
    source = b"C:\\Users\\fixtures\\Desktop\\eicar.com\0"
    temp = b"C:\\Users\\fixtures\\AppData\\Local\\Temp\\eicar.com\0"
    native = (struct.pack("<H", 2) + label + source + struct.pack("<HH", 0, 3)
              + struct.pack("<I", len(temp)) + temp + struct.pack("<I", len(EICAR)) + EICAR)
    return rtf_with_object(b"Package", native, "This document embeds the EICAR test file as a Package object.")


def rtf_equation():
    return rtf_with_object(b"Equation.3", ole2_equation(),
                           "This document embeds an Equation.3 object whose native data is an OLE2 file "
                           "holding the EICAR test file.")


# --------------------------------------------------------------------------------------------
# PDF


def pdf_file(objects, trailer, version="1.7", xref_stream=None):
    """objects: (number, bytes) in file order. Writes a classic xref table, or, when
    `xref_stream` is (number, entries_fn), a cross-reference stream built from the offsets."""
    out = bytearray(f"%PDF-{version}\n%\xe2\xe3\xcf\xd3\n".encode("latin-1"))
    offsets = {}
    for num, body in objects:
        offsets[num] = len(out)
        out += f"{num} 0 obj\n".encode() + body + b"\nendobj\n"
    if xref_stream is None:
        size = max(offsets) + 1
        xref_at = len(out)
        out += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
        for n in range(1, size):
            out += f"{offsets[n]:010d} 00000 n \n".encode()
        out += b"trailer\n<< /Size " + str(size).encode() + b" " + trailer + b" >>\n"
    else:
        num, entries = xref_stream
        xref_at = len(out)
        offsets[num] = xref_at
        rows = entries(offsets)
        data = b"".join(struct.pack(">BHH", *r) for r in rows)
        out += (f"{num} 0 obj\n<< /Type /XRef /Size {len(rows)} /W [1 2 2] ".encode() + trailer
                + f" /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream\nendobj\n")
    out += f"startxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


def stream_obj(dictionary, data):
    return b"<< " + dictionary + b" /Length " + str(len(data)).encode() + b" >>\nstream\n" + data + b"\nendstream"


def pdf_embedded():
    packed = zlib.compress(EICAR, 9)
    return pdf_file([
        (1, b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(eicar.com) 4 0 R] >> >> "
            b"/PageMode /UseAttachments >>"),
        (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        (3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"),
        (4, b"<< /Type /Filespec /F (eicar.com) /UF (eicar.com) /Desc (EICAR test file) /EF << /F 5 0 R >> >>"),
        (5, stream_obj(b"/Type /EmbeddedFile /Subtype /application#2Foctet-stream /Filter /FlateDecode "
                       b"/Params << /Size 68 >>", packed)),
    ], b"/Root 1 0 R")


def pdf_objstm():
    # The file specification that names the embedded file lives in a compressed object stream;
    # the embedded stream itself is untyped, so only that hidden /Filespec says what it is.
    filespec = b"<< /Type /Filespec /F (eicar.com) /UF (eicar.com) /EF << /F 5 0 R >> >>"
    header = b"4 0 "
    objstm = zlib.compress(header + filespec, 9)
    packed = zlib.compress(EICAR, 9)

    def entries(offsets):
        rows = [(0, 0, 0xFFFF)]
        for n in range(1, 8):
            if n == 4:
                rows.append((2, 6, 0))
            else:
                rows.append((1, offsets[n], 0))
        return rows

    return pdf_file([
        (1, b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(eicar.com) 4 0 R] >> >> >>"),
        (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        (3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"),
        (5, stream_obj(b"/Filter /FlateDecode", packed)),
        (6, stream_obj(b"/Type /ObjStm /N 1 /First " + str(len(header)).encode() + b" /Filter /FlateDecode",
                       objstm)),
    ], b"/Root 1 0 R", version="1.5", xref_stream=(7, entries))


# --------------------------------------------------------------------------------------------
# Mail


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def b64_lines(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def headers(subject, ident):
    return (f"From: Fixture Sender <sender@example.invalid>\n"
            f"To: Fixture Recipient <recipient@example.invalid>\n"
            f"Subject: {subject}\n"
            f"Date: {RFC2822_DATE}\n"
            f"Message-ID: <{ident}@fixtures.example.invalid>\n"
            f"MIME-Version: 1.0\n")


def attachment_message(subject, ident, name, data, ctype="application/octet-stream"):
    return (headers(subject, ident)
            + 'Content-Type: multipart/mixed; boundary="=_mixed_' + ident + '"\n'
            "\n"
            "This is a multi-part message in MIME format.\n"
            "\n"
            f"--=_mixed_{ident}\n"
            "Content-Type: text/plain; charset=us-ascii\n"
            "Content-Transfer-Encoding: 7bit\n"
            "\n"
            f"The attachment {name} carries the EICAR anti-virus test file.\n"
            "\n"
            f"--=_mixed_{ident}\n"
            f'Content-Type: {ctype}; name="{name}"\n'
            "Content-Transfer-Encoding: base64\n"
            f'Content-Disposition: attachment; filename="{name}"\n'
            "\n"
            f"{b64_lines(data)}\n"
            f"--=_mixed_{ident}--\n")


def mail_base64():
    return crlf(attachment_message("EICAR test file (base64 attachment)", "mail-base64", "eicar.com", EICAR))


def qp_all(data):
    """Quoted-printable with every non-alphanumeric byte escaped and a soft line break."""
    s = "".join(chr(b) if chr(b).isalnum() else f"={b:02X}" for b in data)
    cut = s.index("EICAR")
    return s[:cut] + "=\n" + s[cut:]


def mime_nested():
    return crlf(
        headers("EICAR test file (nested multipart, quoted-printable)", "mime-nested")
        + 'Content-Type: multipart/alternative; boundary="=_alt"\n'
        "\n"
        "--=_alt\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "The HTML alternative carries the EICAR test file as a quoted-printable attachment.\n"
        "\n"
        "--=_alt\n"
        'Content-Type: multipart/mixed; boundary="=_mixed"\n'
        "\n"
        "--=_mixed\n"
        "Content-Type: text/html; charset=us-ascii\n"
        "\n"
        "<html><body><p>The attachment is the EICAR anti-virus test file.</p></body></html>\n"
        "\n"
        "--=_mixed\n"
        'Content-Type: application/octet-stream; name="eicar.com"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        'Content-Disposition: attachment; filename="eicar.com"\n'
        "\n"
        f"{qp_all(EICAR)}\n"
        "--=_mixed--\n"
        "\n"
        "--=_alt--\n")


def mail_forwarded():
    inner = attachment_message("EICAR test file (the forwarded message)", "forwarded-inner", "eicar.com", EICAR)
    return crlf(
        headers("Fwd: EICAR test file (message/rfc822 attachment)", "mail-forwarded")
        + 'Content-Type: multipart/mixed; boundary="=_fwd"\n'
        "\n"
        "--=_fwd\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "The attached message carries the EICAR test file.\n"
        "\n"
        "--=_fwd\n"
        "Content-Type: message/rfc822\n"
        'Content-Disposition: attachment; filename="forwarded.eml"\n'
        "\n"
        f"{inner}"
        "--=_fwd--\n")


def mbox():
    first = (f"From sender@example.invalid {MBOX_DATE}\n"
             + headers("First message, no attachment", "mbox-1")
             + "Content-Type: text/plain; charset=us-ascii\n"
             "\n"
             "This message has no attachment. The next line starts with From, escaped (mboxrd):\n"
             ">From here on, the second message carries the EICAR test file.\n"
             "\n")
    second = (f"From sender@example.invalid {MBOX_DATE}\n"
              + attachment_message("Second message, EICAR attachment", "mbox-2", "eicar.com", EICAR)
              + "\n")
    return (first + second).encode()


def zip_gzip_for_mail():
    gz = gzip.compress(EICAR, compresslevel=9, mtime=0)
    return zip_std([("eicar.com.gz", gz, D)])


def mail_zip_gzip():
    return crlf(attachment_message("EICAR test file (zip holding a gzip)", "mail-zip-gzip", "eicar.zip",
                                   zip_gzip_for_mail(), ctype="application/zip"))


def uuencode():
    lines = [b"begin 644 eicar.com\n"]
    for i in range(0, len(EICAR), 45):
        lines.append(binascii.b2a_uu(EICAR[i:i + 45], backtick=True))
    lines.append(b"`\nend\n")
    return b"".join(lines)


# --------------------------------------------------------------------------------------------
# BinHex 4.0

BINHEX_ALPHABET = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"


def crc16_xmodem(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def rle90(data):
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        run = 1
        while i + run < len(data) and data[i + run] == b and run < 255:
            run += 1
        literal = b"\x90\x00" if b == 0x90 else bytes([b])
        if run >= 3:
            out += literal + bytes([0x90, run])
        else:
            out += literal * run
        i += run
    return bytes(out)


def binhex():
    name = b"eicar.com"
    header = bytes([len(name)]) + name + b"\0" + b"TEXT" + b"ttxt" + b"\0\0" + struct.pack(">II", len(EICAR), 0)
    raw = (header + struct.pack(">H", crc16_xmodem(header)) + EICAR + struct.pack(">H", crc16_xmodem(EICAR))
           + struct.pack(">H", crc16_xmodem(b"")))
    packed = rle90(raw)
    chars = bytearray()
    for i in range(0, len(packed), 3):
        group = packed[i:i + 3]
        n = int.from_bytes(group + bytes(3 - len(group)), "big")
        for k in range(len(group) + 1):
            chars.append(BINHEX_ALPHABET[(n >> (18 - 6 * k)) & 0x3F])
    text = b":" + bytes(chars) + b":"
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return b"(This file must be converted with BinHex 4.0)\n\n" + b"\n".join(lines) + b"\n"


# --------------------------------------------------------------------------------------------
# TNEF (winmail.dat)


def tnef():
    def attr(level, ident, data):
        return (struct.pack("<BII", level, ident, len(data)) + data
                + struct.pack("<H", sum(data) & 0xFFFF))

    def prop_string(pid, s):
        v = s + b"\0"
        return struct.pack("<HHII", 0x001E, pid, 1, len(v)) + v + bytes((4 - len(v) % 4) % 4)

    props = (struct.pack("<I", 3)
             + struct.pack("<HHI", 0x0003, 0x3705, 1)  # PR_ATTACH_METHOD = ATTACH_BY_VALUE
             + prop_string(0x3704, b"EICAR.COM")  # PR_ATTACH_FILENAME
             + prop_string(0x3707, b"eicar.com"))  # PR_ATTACH_LONG_FILENAME
    rend = struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0xFFFF, 0xFFFF, 0)
    return (struct.pack("<IH", 0x223E9F78, 0x0001)
            + attr(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
            + attr(1, 0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
            + attr(1, 0x00078008, b"IPM.Microsoft Mail.Note\0")  # attMessageClass
            + attr(1, 0x00018004, b"EICAR test file\0")  # attSubject
            + attr(1, 0x0002800C, b"The attachment is the EICAR anti-virus test file.\0")  # attBody
            + attr(2, 0x00069002, rend)  # attAttachRendData
            + attr(2, 0x00018010, b"eicar.com\0")  # attAttachTitle
            + attr(2, 0x0006800F, EICAR)  # attAttachData
            + attr(2, 0x00069005, props))  # attAttachment


# --------------------------------------------------------------------------------------------


def hand(outdir, zstd_path):
    with open(zstd_path, "rb") as f:
        zstd_data = f.read()
    files = {
        "zip-zipcrypto.zip": zip_zipcrypto(),
        "zip-xz.zip": zip_xz(),
        "zip-zstd.zip": zip_zstd(zstd_data),
        "java.jar": jar(),
        "android.apk": apk(),
        "word.docx": ooxml("word"),
        "excel.xlsx": ooxml("xl"),
        "powerpoint.pptx": ooxml("ppt"),
        "opendocument.odt": odt(),
        "firefox.xpi": xpi(),
        "eicar_fixture-1.0-py3-none-any.whl": wheel(),
        "nested-50.zip": nested_zip(50),
        "rar4-stored.rar": rar4_stored(),
        "rar5-stored.rar": rar5_stored(),
        "help.chm": chm(),
        "eicar.co_": szdd(),
        "kwaj-method0.co_": kwaj(0),
        "kwaj-method2.co_": kwaj(2),
        "kwaj-method4.co_": kwaj(4),
        "ole2-ministream.cfb": ole2_vba(),
        "rtf-package.rtf": rtf_package(),
        "rtf-equation.rtf": rtf_equation(),
        "pdf-embedded.pdf": pdf_embedded(),
        "pdf-objstm.pdf": pdf_objstm(),
        "mail-base64.eml": mail_base64(),
        "mime-nested.eml": mime_nested(),
        "mail-forwarded.eml": mail_forwarded(),
        "mailbox.mbox": mbox(),
        "mail-zip-gzip.eml": mail_zip_gzip(),
        "eicar.uue": uuencode(),
        "eicar.hqx": binhex(),
        "winmail.dat": tnef(),
        "pe-rcdata.exe": pe_with(EICAR, b""),
        "pe-overlay.exe": pe_with(b"resource data that is not the payload", EICAR),
    }
    for name, data in files.items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)


# --------------------------------------------------------------------------------------------
# Normalizers for tools that write the clock into their output


def iso_date17():
    return time.strftime("%Y%m%d%H%M%S", _T).encode() + b"00" + b"\0"


def iso_date7():
    return bytes([_T.tm_year - 1900, _T.tm_mon, _T.tm_mday, _T.tm_hour, _T.tm_min, _T.tm_sec, 0])


def normalize_iso(path):
    """genisoimage writes the clock into the volume descriptors and each file's atime/ctime into
    the Rock Ridge TF entries; pin them all (and every recording date) to EPOCH."""
    with open(path, "rb") as f:
        d = bytearray(f.read())
    le32 = lambda at: struct.unpack_from("<I", d, at)[0]  # noqa: E731
    trees = []
    sector = 16
    while True:
        vd = sector * 2048
        if d[vd + 1:vd + 6] != b"CD001":
            raise SystemExit(f"{path}: no volume descriptor terminator")
        if d[vd] == 255:
            break
        if d[vd] in (1, 2):
            for at in (813, 830, 864):  # creation, modification, effective
                d[vd + at:vd + at + 17] = iso_date17()
            root = vd + 156
            d[root + 18:root + 25] = iso_date7()
            trees.append((le32(root + 2), le32(root + 10), d[vd] == 1))
        sector += 1

    def susp(start, length, seen):
        pos, end = start, start + length
        while pos + 4 <= end:
            sig, size = bytes(d[pos:pos + 2]), d[pos + 2]
            if size < 4 or sig == b"ST":
                return
            if sig == b"TF":
                flags = d[pos + 4]
                width = 17 if flags & 0x80 else 7
                stamp = iso_date17() if width == 17 else iso_date7()
                at = pos + 5
                for bit in range(7):
                    if flags & (1 << bit):
                        d[at:at + width] = stamp
                        at += width
            elif sig == b"CE":
                ce = le32(pos + 4) * 2048 + le32(pos + 12)
                if ce not in seen:
                    seen.add(ce)
                    susp(ce, le32(pos + 20), seen)
            pos += size

    visited = set()

    def walk(extent, size, rock_ridge):
        if extent in visited:
            return
        visited.add(extent)
        start, pos = extent * 2048, 0
        while pos < size:
            rec = start + pos
            length = d[rec]
            if length == 0:
                pos = (pos // 2048 + 1) * 2048
                continue
            d[rec + 18:rec + 25] = iso_date7()
            name_len = d[rec + 32]
            ident = bytes(d[rec + 33:rec + 33 + name_len])
            if rock_ridge:
                su = rec + 33 + name_len + (1 - name_len % 2)
                susp(su, rec + length - su, set())
            if d[rec + 25] & 2 and ident not in (b"\0", b"\1"):
                walk(le32(rec + 2), le32(rec + 10), rock_ridge)
            pos += length

    for extent, size, primary in trees:
        walk(extent, size, primary)
    with open(path, "wb") as f:
        f.write(d)


def normalize_arj(path):
    """ARJ writes the clock into the main header (creation and modification time, and a byte
    derived from it) and each file's atime/ctime into its local header; pin them to EPOCH and
    recompute the header CRCs."""
    with open(path, "rb") as f:
        d = bytearray(f.read())
    pos = 0
    first = True
    while True:
        if d[pos:pos + 2] != b"\x60\xea":
            raise SystemExit(f"{path}: no ARJ header at {pos}")
        size = struct.unpack_from("<H", d, pos + 2)[0]
        if size == 0:
            break
        h = pos + 4
        first_size = d[h]
        if first:
            d[h + 7] = 0
            struct.pack_into("<II", d, h + 8, DOS_DATETIME, DOS_DATETIME)
        else:
            d[h + 7] = 0
            if first_size >= 42:
                struct.pack_into("<II", d, h + 34, DOS_DATETIME, DOS_DATETIME)
        struct.pack_into("<I", d, h + size, zlib.crc32(d[h:h + size]))
        pos = h + size + 4
        while True:  # extended headers
            ext = struct.unpack_from("<H", d, pos)[0]
            pos += 2
            if ext == 0:
                break
            pos += ext + 4
        if not first:
            pos += struct.unpack_from("<I", d, h + 12)[0]  # compressed size
        first = False
    with open(path, "wb") as f:
        f.write(d)


def normalize_msi(path):
    """wixl draws a new package code (PID_REVNUMBER) and writes the clock as the creation and
    last-save times of the SummaryInformation property set; pin them. The property set is small
    and written in one run of the mini stream, so it is patched in place."""
    with open(path, "rb") as f:
        d = bytearray(f.read())
    fmtid = uuid.UUID("F29F85E0-4FF9-1068-AB91-08002B27B3D9").bytes_le
    at = d.find(fmtid)
    if at < 28 or d[at - 28:at - 24] != b"\xfe\xff\x00\x00":
        raise SystemExit(f"{path}: SummaryInformation property set not found")
    base = at - 28
    section = base + struct.unpack_from("<I", d, base + 44)[0]
    count = struct.unpack_from("<I", d, section + 4)[0]
    filetime = (EPOCH + 11644473600) * 10_000_000
    patched = set()
    for k in range(count):
        pid, off = struct.unpack_from("<II", d, section + 8 + 8 * k)
        p = section + off
        vtype = struct.unpack_from("<I", d, p)[0]
        if pid == 9 and vtype == 0x1E:
            n = struct.unpack_from("<I", d, p + 4)[0]
            code = b"{6E2C7A10-0F3B-4C1E-9A55-3B2E0D5A0003}\0"
            if n != len(code) or d[p + 8] != ord("{"):
                raise SystemExit(f"{path}: unexpected package code layout")
            d[p + 8:p + 8 + n] = code
            patched.add(pid)
        elif pid in (12, 13) and vtype == 0x40:
            struct.pack_into("<Q", d, p + 4, filetime)
            patched.add(pid)
    if patched != {9, 12, 13}:
        raise SystemExit(f"{path}: only patched {sorted(patched)} of the summary properties")
    with open(path, "wb") as f:
        f.write(d)


# --------------------------------------------------------------------------------------------
# The manifest: what each fixture is, where its payload is, how it was made.

LONG_DIR = "this-directory-name-is-long-on-purpose-" + "x" * 121
assert len(LONG_DIR) == 160


def fixtures():
    """(file, identification, payload_path relative to the file or None, note, tools)."""
    p = "dir/eicar.com"
    hand = "built by hand by scripts/fixtures.py"
    return [
        # ZIP and its methods
        ("zip-stored.zip", "ZIP", p, "Info-ZIP `zip -0 -X -r` (with the dir/ entry)", ["zip"]),
        ("zip-deflate.zip", "ZIP", p, "7-Zip `7z a -tzip -mm=Deflate -si` (input from stdin, so 7-Zip "
         "cannot fall back to Store for the incompressible payload)", ["7z"]),
        ("zip-deflate64.zip", "ZIP", p, "7-Zip `7z a -tzip -mm=Deflate64 -si`", ["7z"]),
        ("zip-bzip2.zip", "ZIP", p, "7-Zip `7z a -tzip -mm=BZip2 -si` (method 12)", ["7z"]),
        ("zip-lzma.zip", "ZIP", p, "7-Zip `7z a -tzip -mm=LZMA -si` (method 14, EOS marker)", ["7z"]),
        ("zip-ppmd.zip", "ZIP", p, "7-Zip `7z a -tzip -mm=PPMd -si` (method 98)", ["7z"]),
        ("zip-xz.zip", "ZIP", p, f"{hand}: method 95, data = lzma.compress(FORMAT_XZ, CHECK_CRC64)", []),
        ("zip-zstd.zip", "ZIP", p, f"{hand}: method 93, data from the zstd CLI (`zstd -19`)", ["zstd"]),
        ("zip-zipcrypto.zip", "ZIP", p, f"{hand}: traditional PKWARE encryption (ZipCrypto), password "
         "`infected`, deflated; fixed encryption header so the file is reproducible", []),
        ("zip-aes256.zip", "ZIP", p, "7-Zip `7z a -tzip -mem=AES256 -pinfected -si` (WinZip AES-256, "
         "method 99 over Deflate); not byte-reproducible: 7-Zip draws a random salt", ["7z"]),
        ("java.jar", "JAR", "eicar.com", f"{hand} (zipfile): META-INF/MANIFEST.MF + eicar.com", []),
        ("android.apk", "Android APK", "assets/eicar.com", f"{hand} (zipfile): AndroidManifest.xml and "
         "classes.dex placeholders + assets/eicar.com", []),
        ("word.docx", "Office Open XML document", "word/embeddings/eicar.bin",
         f"{hand} (zipfile): [Content_Types].xml, _rels, word/document.xml + word/embeddings/eicar.bin", []),
        ("excel.xlsx", "Office Open XML workbook", "xl/embeddings/eicar.bin",
         f"{hand} (zipfile): [Content_Types].xml, _rels, xl/workbook.xml + xl/embeddings/eicar.bin", []),
        ("powerpoint.pptx", "Office Open XML presentation", "ppt/embeddings/eicar.bin",
         f"{hand} (zipfile): [Content_Types].xml, _rels, ppt/presentation.xml + ppt/embeddings/eicar.bin", []),
        ("opendocument.odt", "OpenDocument text", "Pictures/eicar.com",
         f"{hand} (zipfile): `mimetype` stored first, manifest, content.xml + Pictures/eicar.com", []),
        ("firefox.xpi", "XPI", "chrome/content/eicar.com", f"{hand} (zipfile): legacy install.rdf "
         "extension + chrome/content/eicar.com", []),
        ("eicar_fixture-1.0-py3-none-any.whl", "Python wheel", "eicar_fixture/eicar.com",
         f"{hand} (zipfile): a wheel with .dist-info METADATA/WHEEL/RECORD", []),
        # Single-stream compressors (no stored name: the member is the file name minus its suffix)
        ("eicar.com.gz", "GZIP", "eicar.com", "gzip `gzip -9 -n` (no FNAME, no mtime)", ["gzip"]),
        ("gzip-fname.gz", "GZIP", "eicar.com", "gzip `gzip -9 -N` (FNAME eicar.com, fixed mtime)", ["gzip"]),
        ("eicar.com.bz2", "BZIP2", "eicar.com", "bzip2 `bzip2 -9`", ["bzip2"]),
        ("eicar.com.xz", "XZ", "eicar.com", "xz-utils `xz -9` (CRC64 check)", ["xz"]),
        ("eicar.com.lzma", "LZMA", "eicar.com", "xz-utils `xz --format=lzma -9` (lzma_alone)", ["xz"]),
        ("eicar.com.zst", "ZSTD", "eicar.com", "zstd `zstd -19`", ["zstd"]),
        ("eicar.com.Z", "COMPRESS", "eicar.com", "ncompress `compress -c` (LZW); made only when the "
         "compress tool is installed, otherwise the committed file is kept", ["compress"]),
        # tar and friends
        ("tar-ustar.tar", "TAR", p, "GNU tar `--format=ustar` (dir/ entry + file)", ["tar"]),
        ("tar-gz.tar.gz", "GZIP", "tar-gz.tar/" + p, "GNU tar `--format=ustar` | `gzip -9 -n`", ["tar", "gzip"]),
        ("tar-gnu-longname.tar", "TAR", f"{LONG_DIR}/eicar.com", "GNU tar `--format=gnu`: the 170-character "
         "path is in a ././@LongLink `L` record", ["tar"]),
        ("tar-pax-path.tar", "TAR", f"{LONG_DIR}/eicar.com", "GNU tar `--format=pax`: the 170-character "
         "path (its 160-character directory fits neither the name nor the prefix field) is in a pax "
         "`path=` record", ["tar"]),
        ("cpio-odc.cpio", "CPIO (odc)", p, "GNU cpio `-o -H odc --reproducible -R 0:0`", ["cpio"]),
        ("cpio-newc.cpio", "CPIO (newc)", p, "GNU cpio `-o -H newc --reproducible -R 0:0`", ["cpio"]),
        ("cpio-crc.cpio", "CPIO (crc)", p, "GNU cpio `-o -H crc --reproducible -R 0:0`", ["cpio"]),
        ("cpio-bin.cpio", "CPIO (binary)", p, "GNU cpio `-o -H bin --reproducible -R 0:0` (old binary, "
         "little-endian)", ["cpio"]),
        ("ar.a", "AR", "eicar.com", "GNU ar `ar rcD` (deterministic mode)", ["ar"]),
        ("package.deb", "Debian package", "data.tar.xz/data.tar/./usr/share/eicar.com",
         "dpkg-deb `--root-owner-group -Zxz --build` (debian-binary, control.tar.xz, data.tar.xz)",
         ["dpkg-deb"]),
        # 7z, RAR, CAB, ISO, ARJ, LHA, CHM, MS COMPRESS
        ("7z-lzma2.7z", "7Z", p, "7-Zip `7z a -t7z -m0=LZMA2 -mx=9`", ["7z"]),
        ("7z-aes.7z", "7Z", p, "7-Zip `7z a -t7z -m0=LZMA2 -mhe=off -pinfected` (AES-256, names in the "
         "clear); not byte-reproducible: 7-Zip draws a random IV", ["7z"]),
        ("rar4-stored.rar", "RAR", p, f"{hand}: RAR 4.x, one file stored (method 0x30, UNP_VER 29, "
         "host OS Unix), header CRCs = low 16 bits of CRC32", []),
        ("rar5-stored.rar", "RAR5", p, f"{hand}: RAR 5.0, one file stored (compression info 0, host "
         "OS Unix), vint fields, CRC32 headers", []),
        ("cab-stored.cab", "CAB", "dir/eicar.com", "gcab `gcab -c` (no compression; the CAB stores dir\\eicar.com, the unpacker reports / as the separator)", ["gcab"]),
        ("cab-mszip.cab", "CAB", "dir/eicar.com", "gcab `gcab -c -z` (MSZIP)", ["gcab"]),
        ("iso9660.iso", "ISO 9660", p, "genisoimage `-J -r -no-pad` (Joliet + Rock Ridge; `-r` is `-R` "
         "with owner 0/0 and normalised modes, so the image does not depend on who runs the script), then "
         "the clock-derived dates pinned by `fixtures.py normalize-iso`; 68 KiB, the smallest image "
         "genisoimage makes", ["genisoimage"]),
        ("arj-m0.arj", "ARJ", p, "ARJ `arj a -m0` (stored), header dates pinned by `fixtures.py "
         "normalize-arj`", ["arj"]),
        ("arj-m1.arj", "ARJ", "eicar.tar/" + p, "ARJ `arj a -m1` of a ustar holding dir/eicar.com: "
         "ARJ stores a lone EICAR (it does not compress), so a tar carries it through method 1; header "
         "dates pinned by `fixtures.py normalize-arj`", ["arj", "tar"]),
        ("lha-lh5.lzh", "LHA", p, "jlha (jlha-utils) `jlha co52`: method -lh5-, header level 2", ["jlha"]),
        ("help.chm", "CHM", "/eicar.com", f"{hand}: ITSF v3, one PMGL chunk, /eicar.com in section 0 "
         "(uncompressed), the layout of chm.rs's test builder", []),
        ("eicar.co_", "SZDD", "expanded.??m", f"{hand}: SZDD mode A, missing character `m`, LZSS with "
         "all-literal control bytes 0xFF", []),
        ("kwaj-method0.co_", "KWAJ", "eicar.com", f"{hand}: KWAJ method 0 (stored), length/name/"
         "extension headers", []),
        ("kwaj-method2.co_", "KWAJ", "eicar.com", f"{hand}: KWAJ method 2 (LZSS, all literals), "
         "length/name/extension headers", []),
        ("kwaj-method4.co_", "KWAJ", "eicar.com", f"{hand}: KWAJ method 4 (MSZIP: one CK block), "
         "length/name/extension headers", []),
        # Documents
        ("ole2-ministream.cfb", "OLE2 compound file", "Macros/VBA/eicar", f"{hand}: MS-CFB v3, "
         "512-byte sectors; the 68-byte stream Macros/VBA/eicar lives in the mini stream", []),
        ("installer.msi", "MSI", "eicar.cab/eicar.com", "wixl (msitools) from a .wxs with one component "
         "file eicar.com in the embedded cabinet eicar.cab; package code and dates pinned by "
         "`fixtures.py normalize-msi`", ["wixl"]),
        ("rtf-package.rtf", "RTF", "eicar.com", f"{hand}: \\objdata hex of an OLE1 Package object "
         "(Packager native data) holding eicar.com", []),
        ("rtf-equation.rtf", "RTF", "Equation.3-1.bin/Equation Native", f"{hand}: \\objdata hex of an "
         "OLE1 Equation.3 object whose native data is an OLE2 file with the stream `Equation Native`", []),
        ("pdf-embedded.pdf", "PDF", "eicar.com", f"{hand}: /EmbeddedFile stream (FlateDecode) named by "
         "its /Filespec /UF", []),
        ("pdf-objstm.pdf", "PDF", "eicar.com", f"{hand}: PDF 1.5 with an xref stream; the /Filespec "
         "naming the (untyped, FlateDecode) embedded stream is hidden in a compressed object stream", []),
        # Mail and text encodings
        ("mail-base64.eml", "MIME message", "eicar.com", f"{hand}: multipart/mixed, base64 attachment", []),
        ("mime-nested.eml", "MIME message", "eicar.com", f"{hand}: multipart/mixed inside "
         "multipart/alternative, quoted-printable attachment (every symbol escaped, one soft break)", []),
        ("mail-forwarded.eml", "MIME message", "forwarded.eml/eicar.com", f"{hand}: a message/rfc822 "
         "attachment (filename forwarded.eml) whose own base64 attachment is eicar.com", []),
        ("mailbox.mbox", "mbox", "message-2.eml/eicar.com", f"{hand}: two messages (the first with a "
         "mboxrd-escaped >From line), the second with the base64 attachment", []),
        ("mail-zip-gzip.eml", "MIME message", "eicar.zip/eicar.com.gz/eicar.com", f"{hand}: base64 "
         "attachment eicar.zip holding eicar.com.gz (gzip without FNAME)", []),
        ("eicar.uue", "uuencode", "eicar.com", f"{hand}: `begin 644 eicar.com`, binascii.b2a_uu lines", []),
        ("eicar.hqx", "BinHex 4.0", "eicar.com", f"{hand}: BinHex 4.0 encoder (header, CRC-16/XMODEM, "
         "RLE 0x90, 6-bit alphabet, 64-character lines)", []),
        ("winmail.dat", "TNEF", "eicar.com", f"{hand}: attAttachRendData, attAttachTitle, attAttachData "
         "and attAttachment (PR_ATTACH_LONG_FILENAME), with checksums", []),
        # PE
        ("pe-rcdata.exe", "PE32 executable", "resources/RCDATA/101/1033", f"{hand}: minimal PE32 with "
         "EICAR as RCDATA resource 101/1033 (pe.rs's `pe_with` layout)", []),
        ("pe-overlay.exe", "PE32 executable", "overlay", f"{hand}: minimal PE32 with EICAR as the "
         "overlay (pe.rs's `pe_with` layout)", []),
        # Nesting
        ("nested.tgz", "GZIP", "nested.tar/inner.7z/inner.zip/eicar.com", "Info-ZIP zip inside 7-Zip 7z "
         "inside GNU tar + gzip -n (3 container levels below the gzip)", ["zip", "7z", "tar", "gzip"]),
        ("nested-50.zip", "ZIP", None, f"{hand} (zipfile, stored): 50 levels of zip in zip; nested-N.zip "
         "holds nested-(N-1).zip, nested-01.zip holds eicar.com", []),
    ]


def manifest_entries():
    out = []
    for file, ident, payload, note, _tools in fixtures():
        e = {"file": file, "identification": ident}
        if file == "nested-50.zip":
            e["payload_path"] = nested_lineage(50)
            e["expect"] = {
                "payload_depth": 50,
                "description": "EICAR is found at depth 50 (its file_path has 51 components) with the "
                               "default max_depth (64): no depth limit is reported, all 50 zips are "
                               "unpacked (status complete)",
            }
        else:
            e["payload_path"] = f"{file}/{payload}"
        e["note"] = note
        out.append(e)
    return out


PACKAGES = {
    "7z": "p7zip-full", "zip": "zip", "gzip": "gzip", "bzip2": "bzip2", "xz": "xz-utils", "zstd": "zstd",
    "compress": "ncompress", "tar": "tar", "cpio": "cpio", "ar": "binutils", "dpkg-deb": "dpkg",
    "gcab": "gcab", "genisoimage": "genisoimage", "arj": "arj", "jlha": "jlha-utils", "wixl": "wixl",
}


def docs(outdir, versions_path):
    versions = {}
    with open(versions_path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                versions[k] = v
    entries = manifest_entries()
    present = sorted(n for n in os.listdir(outdir) if n not in ("MANIFEST.json", "README.md"))
    listed = sorted(e["file"] for e in entries)
    missing = [n for n in listed if n not in present]
    if missing == ["eicar.com.Z"]:
        entries = [e for e in entries if e["file"] != "eicar.com.Z"]
        listed.remove("eicar.com.Z")
        print("warning: eicar.com.Z is missing (no compress tool) and is left out of the manifest",
              file=sys.stderr)
    elif missing:
        raise SystemExit(f"fixtures missing from {outdir}: {missing}")
    extra = [n for n in present if n not in listed]
    if extra:
        raise SystemExit(f"files in {outdir} that the manifest does not list: {extra}")
    for e in entries:
        size = os.path.getsize(os.path.join(outdir, e["file"]))
        if size >= 64 * 1024 and e["file"] != "iso9660.iso":
            raise SystemExit(f"{e['file']} is {size} bytes; fixtures must stay under 64 KiB")
    with open(os.path.join(outdir, "MANIFEST.json"), "w") as f:
        # One object a line: diffs of a regeneration show which fixture changed.
        f.write("[\n" + ",\n".join(json.dumps(e, ensure_ascii=False) for e in entries) + "\n]\n")

    used = sorted({t for *_, tools in fixtures() for t in tools})
    rows = []
    for e in entries:
        size = os.path.getsize(os.path.join(outdir, e["file"]))
        path = e["payload_path"]
        if e["file"] == "nested-50.zip":
            path = "nested-50.zip/nested-49.zip/…/nested-01.zip/eicar.com (50 zips)"
        cell = lambda s: s.replace("|", "\\|")  # noqa: E731
        rows.append(f"| `{e['file']}` | {size} | {cell(e['identification'])} | `{cell(path)}` | {cell(e['note'])} |")
    tool_lines = []
    for t in used:
        pkg = PACKAGES.get(t, t)
        tool_lines.append(f"- `{t}`: Debian package `{pkg}` {versions.get(pkg, 'version unknown')}")
    text = f"""# Format fixtures

Small files in many container, archive, document and mail formats, each hiding the EICAR
anti-virus test file one or more levels deep. The integration tests read `MANIFEST.json` and check
that `assay` identifies each file as `identification` and reports the EICAR entry at
`payload_path` (its `info.file.file_path`).

**These files were made by this project itself**, by `scripts/make-fixtures.sh` and the
standard-library Python helper `scripts/fixtures.py`; nothing here was downloaded or taken from
elsewhere. **The only payload is the EICAR test string**, these 68 bytes:

    X5O!P%@AP[4\\PZX54(P^)7CC)7}}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*

(sha256 `{EICAR_SHA256}`). Anti-virus products detect it by
agreement; it does nothing when run. The rest of every file is container structure and a few
lines of filler text. Anti-virus software on a developer's machine may flag or quarantine these
files; that is expected.

## Regenerating

    scripts/make-fixtures.sh          # rewrites tests/data/formats/ (this directory is its output)
    scripts/make-fixtures.sh --check  # the same, then scans every fixture with target/debug/assay
                                      # (or $ASSAY_BIN) and compares with MANIFEST.json

Developers run the script; CI does not, it uses the committed files. The script needs the tools
listed below and stops before writing anything, naming the Debian package, when one is missing
(`compress` is optional: without it `eicar.com.Z` is kept as committed).

The output is deterministic for given tool versions: every timestamp is
{time.strftime("%Y-%m-%d %H:%M:%S", _T)} UTC (`SOURCE_DATE_EPOCH={EPOCH}`), owners are 0/0, modes
644/755, and the dates genisoimage, ARJ and wixl take from the clock (or from ctime/atime) are
pinned afterwards by `fixtures.py normalize-iso|normalize-arj|normalize-msi`. The exceptions are
the two AES archives, `zip-aes256.zip` and `7z-aes.7z`: 7-Zip draws their salt/IV at random, so
they change on every run.

## Tools

{chr(10).join(tool_lines)}
- `java` (Debian package `default-jre-headless`), which runs `jlha`.
- Python {versions.get("python3", "3")} (standard library only) for the files "built by hand by
  scripts/fixtures.py".

## Fixtures

`payload_path` is the lineage assay should report: the fixture's name, then each member name as
named inside its container. A compressed stream that stores no name takes its parent's name minus
the `.gz`/`.bz2`/`.xz`/`.lzma`/`.zst`/`.Z` suffix, and a `.tgz` holds a `.tar`.

| file | bytes | identification | payload_path | how it was made |
|---|---|---|---|---|
{chr(10).join(rows)}
"""
    with open(os.path.join(outdir, "README.md"), "w") as f:
        f.write(text)


# --------------------------------------------------------------------------------------------
# check: compare assay's reports with the manifest


def check(directory, assay):
    with open(os.path.join(directory, "MANIFEST.json")) as f:
        entries = json.load(f)
    failures = 0
    for e in entries:
        path = os.path.join(directory, e["file"])
        r = subprocess.run([assay, "scan", path], capture_output=True, text=True)
        try:
            report = json.loads(r.stdout.splitlines()[0])["tc_report"]
        except (IndexError, ValueError, KeyError):
            print(f"not ok - {e['file']}: no report (exit {r.returncode}): {r.stderr.strip()[:300]}")
            failures += 1
            continue
        top = report[0]["info"]["identification"]["name"]
        found = [x["info"]["file"]["file_path"] for x in report
                 if any(h["name"] == "sha256" and h["value"] == EICAR_SHA256 for h in x["info"]["file"]["hashes"])]
        problems = []
        if top != e["identification"]:
            problems.append(f"identification {top!r}, expected {e['identification']!r}")
        if e["payload_path"] is not None and e["payload_path"] not in found:
            problems.append(f"EICAR at {found}, expected {e['payload_path']!r}")
        warnings = [w for x in report for w in x["info"]["unpacking"].get("warnings", [])]
        limits = [l["detail"] for x in report for l in x["info"]["unpacking"].get("limits", [])]
        if problems:
            failures += 1
            print(f"not ok - {e['file']}: " + "; ".join(problems))
        else:
            print(f"ok - {e['file']}")
        for w in warnings + limits:
            print(f"    note: {w}")
    print(f"{len(entries) - failures} passed, {failures} failed")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hand")
    h.add_argument("outdir")
    h.add_argument("--zstd", required=True)
    for name in ("normalize-iso", "normalize-arj", "normalize-msi"):
        sub.add_parser(name).add_argument("file")
    d = sub.add_parser("docs")
    d.add_argument("outdir")
    d.add_argument("--versions", required=True)
    c = sub.add_parser("check")
    c.add_argument("directory")
    c.add_argument("--assay", required=True)
    a = ap.parse_args()
    if a.cmd == "hand":
        hand(a.outdir, a.zstd)
    elif a.cmd == "normalize-iso":
        normalize_iso(a.file)
    elif a.cmd == "normalize-arj":
        normalize_arj(a.file)
    elif a.cmd == "normalize-msi":
        normalize_msi(a.file)
    elif a.cmd == "docs":
        docs(a.outdir, a.versions)
    elif a.cmd == "check":
        sys.exit(check(a.directory, a.assay))


if __name__ == "__main__":
    main()
