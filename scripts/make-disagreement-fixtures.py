#!/usr/bin/env python3
"""Writes tests/data/disagree/: one small file per known disagreement between the two parsers of a
format (the container side under src/analysis/formats/ and the metadata side under
src/analysis/inspect/), listed in ../shared/reviews/analysis-structure.md. Their golden reports
(tests/golden/disagree--*.json) record what each side makes of them today, so that merging a
format's parsers shows the fix as a reviewed golden diff.

Standard library only; built from the helpers of scripts/fixtures.py; deterministic. Every file
hides the 68-byte EICAR test string and nothing else harmful.

Usage: scripts/make-disagreement-fixtures.py      (rewrites tests/data/disagree/)
"""
import base64
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402
from fixtures import EICAR, RFC2822_DATE, ole1_object, pdf_file, stream_obj  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "disagree")


def rtf_objdata_escapes():
    """A Package object whose \\objdata hex carries a `\\'hh` escape and an ignorable group
    `{\\*\\bkmkstart 0102}` right after the OLE1 version field. formats/rtf.rs skips both (the
    object decodes as written); inspect/rtf.rs used to read the escape's two hex digits and the
    digits inside the group as object data, so it described a raw object of shifted bytes. Fixed:
    both now read the one parse in formats/rtf.rs, and the golden describes the Package."""
    label = b"eicar.com\0"
    source = b"C:\\fixtures\\eicar.com\0"
    temp = b"C:\\Temp\\eicar.com\0"
    native = (struct.pack("<H", 2) + label + source + struct.pack("<HH", 0, 3)
              + struct.pack("<I", len(temp)) + temp + struct.pack("<I", len(EICAR)) + EICAR)
    hexdata = ole1_object(b"Package", native).hex()
    noisy = hexdata[:8] + "\\'41{\\*\\bkmkstart 0102}" + hexdata[8:]
    lines = "\n".join(noisy[i:i + 128] for i in range(0, len(noisy), 128))
    return ("{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss Arial;}}\n"
            "\\pard\\f0\\fs20 A Package object whose data hides an escape and a group.\\par\n"
            "{\\object\\objemb\\objw1200\\objh800{\\*\\objclass Package}"
            "{\\*\\objdata\n" + lines + "\n}"
            "{\\result{\\pict\\wmetafile8\\picw100\\pich100 0100090000030000000000000000}}}\n"
            "\\par\n}\n").encode()


def pdf_utf16le_name():
    """An embedded file whose /F and /UF names, and the document's /Title, are UTF-16LE with a
    byte-order mark (FF FE): formats/pdf.rs decodes such text (the member's name); inspect/pdf.rs's
    text decoder knew only UTF-16BE and dropped the title. Fixed: inspect/pdf.rs decodes text with
    the extractor's decoder, and the golden has the title."""
    name = b"\xff\xfe" + "eicar.com".encode("utf-16-le")
    hexname = b"<" + name.hex().upper().encode() + b">"
    title = b"<" + (b"\xff\xfe" + "Disagreement".encode("utf-16-le")).hex().upper().encode() + b">"
    packed = zlib.compress(EICAR, 9)
    return pdf_file([
        (1, b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [" + hexname
            + b" 4 0 R] >> >> >>"),
        (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        (3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"),
        (4, b"<< /Type /Filespec /F " + hexname + b" /UF " + hexname + b" /EF << /F 5 0 R >> >>"),
        (5, stream_obj(b"/Type /EmbeddedFile /Filter /FlateDecode", packed)),
        (6, b"<< /Title " + title + b" >>"),
    ], b"/Root 1 0 R /Info 6 0 R")


def pe_damaged_imports():
    """A 32-bit PE whose import table is damaged: the first descriptor is whole (kernel32.dll,
    ExitProcess); the second names a DLL at an RVA outside the image and imports through a thunk
    that points outside it too. The EICAR string sits in the overlay. inspect/pe.rs listed what
    it could read, but the imphash came from goblin in strict mode, which gave up on the whole
    table, so the report had none. Fixed: the imphash comes from the one PE reader's import list
    (formats/pe.rs) in table order, and the golden has pefile's value for this file
    (f9ade0aa18f660a34a4fa23392e21838, the md5 of kernel32.exitprocess)."""
    b = bytearray(0x200)
    b[0:2] = b"MZ"
    struct.pack_into("<I", b, 0x3C, 0x80)
    b[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HH", b, 0x84, 0x14C, 1)          # i386, one section
    struct.pack_into("<HH", b, 0x94, 0xE0, 0x0102)      # optional header size, executable 32-bit
    opt = 0x98
    struct.pack_into("<H", b, opt, 0x10B)               # PE32
    struct.pack_into("<I", b, opt + 16, 0x1000)         # entry point
    struct.pack_into("<I", b, opt + 28, 0x400000)       # image base
    struct.pack_into("<II", b, opt + 32, 0x1000, 0x200)  # section and file alignment
    struct.pack_into("<HH", b, opt + 40, 4, 0)          # OS version
    struct.pack_into("<HH", b, opt + 48, 4, 0)          # subsystem version
    struct.pack_into("<II", b, opt + 56, 0x2000, 0x200)  # image size, headers size
    struct.pack_into("<H", b, opt + 68, 3)              # console
    struct.pack_into("<I", b, opt + 92, 16)             # data directories
    struct.pack_into("<II", b, opt + 96 + 8, 0x1000, 0x3C)  # import directory
    idata = bytearray(0x200)
    # Descriptors (20 bytes each): OriginalFirstThunk, TimeDateStamp, ForwarderChain, Name,
    # FirstThunk; the third is the terminator.
    struct.pack_into("<IIIII", idata, 0x00, 0x1040, 0, 0, 0x1080, 0x1040)
    struct.pack_into("<IIIII", idata, 0x14, 0x1060, 0, 0, 0x9000, 0x1060)
    struct.pack_into("<II", idata, 0x40, 0x10A0, 0)
    struct.pack_into("<II", idata, 0x60, 0x7FFF0, 0)
    idata[0x80:0x80 + 13] = b"kernel32.dll\0"
    idata[0xA0:0xA2] = b"\0\0"
    idata[0xA2:0xA2 + 12] = b"ExitProcess\0"
    idata[0x100] = 0xC3                                 # the entry point: ret
    s = opt + 0xE0
    b[s:s + 6] = b".idata"
    struct.pack_into("<IIII", b, s + 8, 0x200, 0x1000, 0x200, 0x200)
    struct.pack_into("<I", b, s + 36, 0xE0000060)       # code, data, read, write, execute
    return bytes(b + idata + EICAR)


def mail_continuation_first():
    """A message whose attachment part starts its header with a folded continuation line (it
    begins with a space, before any field). formats/mime.rs takes that line for the start of the
    part's body, so the part had no header and its raw text was the member (the mail was not
    classified); inspect/email.rs skipped the line and read the fields after it, so it listed the
    attachment eicar.com. Fixed: both read formats::mime::HeaderBlock, which skips the line with a
    warning, as mail readers do; the EICAR attachment is extracted and flags the mail."""
    boundary = "disagree-boundary-1"
    lines = [
        "From: Sender <sender@example.com>",
        "To: Receiver <receiver@example.org>",
        f"Date: {RFC2822_DATE}",
        "Subject: an attachment whose first header line is a continuation",
        "Message-ID: <disagree-1@example.com>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "The attachment is the EICAR test file.",
        f"--{boundary}",
        " continued before any field",
        'Content-Type: application/octet-stream; name="eicar.com"',
        'Content-Disposition: attachment; filename="eicar.com"',
        "Content-Transfer-Encoding: base64",
        "",
        base64.b64encode(EICAR).decode(),
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


FIXTURES = {
    "rtf-objdata-escapes.rtf": rtf_objdata_escapes,
    "pdf-utf16le-name.pdf": pdf_utf16le_name,
    "pe-damaged-imports.exe": pe_damaged_imports,
    "mail-continuation-first.eml": mail_continuation_first,
}


def main():
    os.makedirs(OUT, exist_ok=True)
    assert fixtures.EICAR == EICAR
    for name, make in FIXTURES.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(make())
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("# Parser disagreement fixtures\n\n"
                "Made by `scripts/make-disagreement-fixtures.py` (standard library, deterministic; "
                "run it to rewrite them). Each file hides the EICAR test string. Their golden "
                "reports are `tests/golden/disagree--*.json`.\n\n")
        for name, make in FIXTURES.items():
            doc = " ".join(make.__doc__.split())
            f.write(f"- `{name}`: {doc}\n")


if __name__ == "__main__":
    main()
