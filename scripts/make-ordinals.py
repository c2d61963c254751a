#!/usr/bin/env python3
"""Writes src/analysis/ordinals.rs: the names behind the ordinals of the DLLs that are often
imported by ordinal (oleaut32, ws2_32, wsock32), so that imphash names those imports as pefile
(and so VirusTotal) does.

Source: the `ordlookup` tables of pefile (https://github.com/erocarrera/pefile, MIT licence).
Usage: pip download pefile --no-deps -d /tmp/pefile && unzip -o /tmp/pefile/*.whl -d /tmp/pefile
       scripts/make-ordinals.py /tmp/pefile/ordlookup
"""
import ast
import os
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "ordlookup"
out = os.path.join(os.path.dirname(__file__), "..", "src", "analysis", "ordinals.rs")
tables = []
for dll in ("oleaut32", "ws2_32", "wsock32"):
    text = open(os.path.join(src, f"{dll}.py")).read()
    tree = ast.parse(text)
    names = ast.literal_eval(tree.body[0].value)
    tables.append((dll, sorted((k, v.decode()) for k, v in names.items())))

lines = [
    "//! Names of the functions that oleaut32, ws2_32 and wsock32 export by ordinal, for imphash",
    "//! (as pefile's `ordlookup`, MIT licence, from which `scripts/make-ordinals.py` generated this",
    "//! file; do not edit by hand).",
    "",
    "/// The function a DLL exports under `ordinal`, for the DLLs above (`dll` in lower case).",
    "pub fn name(dll: &str, ordinal: u16) -> Option<&'static str> {",
    "    let table: &[(u16, &str)] = match dll {",
]
for dll, _ in tables:
    lines.append(f'        "{dll}.dll" => {dll.upper()},')
lines += ["        _ => return None,", "    };",
          "    table",
          "        .binary_search_by_key(&ordinal, |(o, _)| *o)",
          "        .ok()",
          "        .map(|i| table[i].1)",
          "}", ""]
for dll, entries in tables:
    lines.append(f"const {dll.upper()}: &[(u16, &str)] = &[")
    for k, v in entries:
        lines.append(f'    ({k}, "{v}"),')
    lines.append("];")
    lines.append("")
open(out, "w").write("\n".join(lines))
print(f"wrote {out}: " + ", ".join(f"{d} {len(e)}" for d, e in tables))
