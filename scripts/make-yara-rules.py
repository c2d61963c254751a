#!/usr/bin/env python3
"""Writes a synthetic YARA rule set for benchmarks: N rules spread over files of 500 rules each.

    scripts/make-yara-rules.py OUT_DIR [N]      (N defaults to 5000)

The rules look like public ones in shape, not in content: text strings (some `nocase`, `wide`),
hex strings with jumps and alternatives, a few regular expressions, and conditions mixing
counts, `filesize`, offsets and the `pe` and `math` modules. The strings are pseudo-random words
from a fixed seed, so they rarely match ordinary files; the point is the cost of carrying the
rules, which is what a large public set costs on clean files. Every file compiles under both
YARA-X and YARA 4.
"""
import random
import sys
from pathlib import Path

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
         "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


def word(rng):
    return "".join(rng.choice(WORDS) for _ in range(2)) + str(rng.randrange(10**6))


def hex_string(rng):
    parts = [f"{rng.randrange(256):02X}" for _ in range(4)]
    parts.append(f"[{rng.randrange(1, 4)}-{rng.randrange(4, 9)}]")
    parts += [f"{rng.randrange(256):02X}" for _ in range(3)]
    parts.append(f"( {rng.randrange(256):02X} | {rng.randrange(256):02X} )")
    parts += [f"{rng.randrange(256):02X}" for _ in range(2)]
    return "{ " + " ".join(parts) + " }"


def rule(rng, i):
    strings = []
    for j in range(rng.randrange(2, 6)):
        kind = rng.random()
        if kind < 0.55:
            mods = rng.choice(["", " ascii", " nocase", " ascii wide", " fullword"])
            strings.append(f'        $s{j} = "{word(rng)}"{mods}')
        elif kind < 0.9:
            strings.append(f"        $s{j} = {hex_string(rng)}")
        else:
            strings.append(f"        $s{j} = /{word(rng)}[0-9a-f]{{4,16}}\\.(exe|dll)/")
    n = len(strings)
    condition = rng.choice([
        "any of them",
        f"{min(2, n)} of them",
        "all of them and filesize < 5MB",
        "uint16(0) == 0x5A4D and any of them",
        "pe.is_pe and pe.number_of_sections > 2 and any of them",
        "any of them and math.entropy(0, filesize) > 7.0",
    ])
    return (f"rule synthetic_{i}\n{{\n    meta:\n        author = \"assay benchmark\"\n"
            f"        description = \"synthetic rule {i}\"\n    strings:\n" + "\n".join(strings) +
            f"\n    condition:\n        {condition}\n}}\n")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261128)
    per_file = 500
    for start in range(0, n, per_file):
        body = 'import "pe"\nimport "math"\n\n' + "\n".join(
            rule(rng, i) for i in range(start, min(n, start + per_file)))
        (out / f"synthetic-{start // per_file:03}.yar").write_text(body)
    print(f"{n} rules in {out}")


main()
