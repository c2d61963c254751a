//! Uuencoded files: every `begin <mode> <name>` ... `end` block in a text, plus the
//! `begin-base64` ... `====` variant of GNU sharutils, as POSIX.1-2017 XCU `uuencode` describes
//! them. Base64 is decoded by the decoder the mail formats share (`text::decode_base64`).
//!
//! A uuencoded line is a length character followed by groups of four characters, each carrying
//! six bits as `(c - 0x20) & 0x3F` (so both space and backquote mean zero). Real files are
//! damaged in transit (trailing spaces stripped, lines re-wrapped, signatures appended), so the
//! decoder pads short lines with zero bits, ignores extra characters, and keeps what it decoded
//! when the `end` line is missing.

use std::borrow::Cow;

use crate::analysis::text::{base64_value, decode_base64};

use super::{printable, Lines, Members};
use crate::analysis::warning::Problem;

/// Most blocks taken from one input: a text of nothing but `begin` lines should not produce
/// millions of empty members.
pub const MAX_BLOCKS: usize = 10_000;

/// Longest member name kept from a `begin` line; the rest of an absurdly long line is dropped.
pub const MAX_NAME_BYTES: usize = 1024;

/// Longest octal mode accepted on a `begin` line (`644`, `0644`, `100644`).
const MAX_MODE_DIGITS: usize = 6;

/// Extra characters a data line may carry beyond what its length character needs before it is
/// no longer taken for uuencoded data when confirming a `begin` line (some encoders append a
/// checksum character or padding).
const CONFIRM_SLACK: usize = 4;

pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    if extract(data, out, "") == 0 && !out.stopped() {
        out.warn(
            Problem::Corrupt,
            "no uuencoded data found: no `begin <mode> <name>` line followed by encoded lines",
        );
    }
}

/// The offset of the first `begin <mode> <name>` (or `begin-base64 <mode> <name>`) line in
/// `data` that is followed by something that looks like encoded data, if any. The identifier
/// calls it on the first lines of a file; [`extract`] uses it to find every block.
pub fn find_begin(data: &[u8]) -> Option<usize> {
    for (start, line, next) in Lines::new(data, 0) {
        if let Some(begin) = parse_begin(line) {
            if confirmed(data, next, begin.base64) {
                return Some(start);
            }
        }
    }
    None
}

/// Decodes every uuencoded block in `data` and adds each to `out` (named as its `begin` line
/// says). `context` prefixes warnings, e.g. `"part 2: "` when called on a mail body. Returns how
/// many blocks were found, so callers can tell "not uuencoded" from "uuencoded but empty".
pub fn extract<'a>(data: &[u8], out: &mut Members<'a>, context: &str) -> usize {
    let mut found = 0;
    let mut pos = 0;
    while pos < data.len() {
        if out.stopped() {
            break;
        }
        let Some(rel) = find_begin(&data[pos..]) else {
            break;
        };
        let begin_at = pos + rel;
        let (line, body_start) = line_at(data, begin_at);
        let Some(begin) = parse_begin(line) else {
            // find_begin only returns lines parse_begin accepts; stop rather than loop.
            break;
        };
        if found >= MAX_BLOCKS {
            out.warn(
                Problem::Capped,
                format!(
                    "{context}more than {MAX_BLOCKS} uuencoded blocks: the rest were not decoded"
                ),
            );
            break;
        }
        found += 1;
        let name = if begin.name.is_empty() {
            format!("uudecoded-{found}.bin")
        } else {
            String::from_utf8_lossy(begin.name).into_owned()
        };
        // The output of both encodings is smaller than their input, so the rest of the data
        // bounds the packed size; the cap only bites when the byte budget is nearly spent.
        let cap = out.member_cap((data.len() - body_start) as u64);
        let block = if begin.base64 {
            decode_base64_block(data, body_start, cap)
        } else {
            decode_uu_block(data, body_start, cap)
        };
        let shown = printable(&name);
        let packed = (block.resume.saturating_sub(body_start)) as u64;
        for problem in &block.problems {
            out.warn(
                Problem::Corrupt,
                format!("{context}uuencoded file {shown}: {problem}"),
            );
        }
        if !block.ended {
            out.warn(
                Problem::Truncated,
                format!(
                    "{context}uuencoded file {shown} has no end line: kept the {} bytes decoded \
                 before the data stopped",
                    block.data.len()
                ),
            );
        }
        pos = block.resume.max(body_start);
        if block.over_cap {
            // admit records which budget the member broke; the decoder already stopped storing.
            out.admit(&name, packed, block.data.len() as u64);
            continue;
        }
        if !out.add(name, Cow::Owned(block.data)) {
            break;
        }
    }
    found
}

/// A parsed `begin` line.
struct Begin<'l> {
    base64: bool,
    name: &'l [u8],
}

/// Accepts `begin <octal mode> <name>` and `begin-base64 <octal mode> <name>`. The mode must be
/// octal digits so that prose starting with "begin" is not taken for a header.
fn parse_begin(line: &[u8]) -> Option<Begin<'_>> {
    let (base64, rest) = if let Some(rest) = line.strip_prefix(b"begin-base64 ") {
        (true, rest)
    } else if let Some(rest) = line.strip_prefix(b"begin ") {
        (false, rest)
    } else {
        return None;
    };
    let rest = trim_start(rest);
    let digits = rest
        .iter()
        .take_while(|c| (b'0'..=b'7').contains(*c))
        .count();
    if digits == 0 || digits > MAX_MODE_DIGITS {
        return None;
    }
    let after = &rest[digits..];
    // The mode must be followed by whitespace (then the name) or end the line.
    if !after.is_empty() && !matches!(after[0], b' ' | b'\t') {
        return None;
    }
    let mut name = trim_end(trim_start(after));
    if name.len() > MAX_NAME_BYTES {
        name = &name[..MAX_NAME_BYTES];
    }
    Some(Begin { base64, name })
}

/// Whether the line after a `begin` line looks like the start of encoded data, so that a
/// sentence such as "begin 5 minutes early" in a mail body is not taken for a file.
fn confirmed(data: &[u8], next: usize, base64: bool) -> bool {
    let mut lines = Lines::new(data, next);
    let Some((_, first, after)) = lines.next() else {
        return false;
    };
    if base64 {
        let first = trim_end(first);
        return first == b"===="
            || (!first.is_empty()
                && first
                    .iter()
                    .all(|&c| base64_value(c).is_some() || c == b'='));
    }
    if trim_end(first) == b"end" {
        return true;
    }
    if first.is_empty() {
        // A zero-length line whose single space was stripped in transit, then `end`.
        return Lines::new(data, after)
            .next()
            .is_some_and(|(_, l, _)| trim_end(l) == b"end");
    }
    if !first.iter().all(|&c| is_uu_char(c)) {
        return false;
    }
    let len = uu_value(first[0]) as usize;
    let needed = len.div_ceil(3) * 4;
    first.len() - 1 <= needed + CONFIRM_SLACK
}

fn is_uu_char(c: u8) -> bool {
    (0x20..=0x60).contains(&c)
}

fn uu_value(c: u8) -> u8 {
    c.wrapping_sub(0x20) & 0x3F
}

/// One decoded block: its bytes, where scanning resumes, and what was wrong with it.
struct Block {
    data: Vec<u8>,
    /// Offset after the block's last line (its `end` or `====` line, or the line that stopped it).
    resume: usize,
    /// The block had its terminating line.
    ended: bool,
    over_cap: bool,
    problems: Vec<String>,
}

fn decode_uu_block(data: &[u8], start: usize, cap: u64) -> Block {
    let mut block = Block {
        data: Vec::new(),
        resume: data.len(),
        ended: false,
        over_cap: false,
        problems: Vec::new(),
    };
    let mut bad_lengths = 0usize;
    // A zero-length line ends the data; after it only `end` (or blank lines) may follow.
    let mut terminated = false;
    for (line_start, line, next) in Lines::new(data, start) {
        if trim_end(line) == b"end" {
            block.ended = true;
            block.resume = next;
            break;
        }
        if line.is_empty() {
            // Blank lines are inserted by some mailers; a stripped " " length line is one too.
            continue;
        }
        if terminated || !line.iter().all(|&c| is_uu_char(c)) {
            // Not uuencoded: the block stops here; the line may begin the next block.
            block.resume = line_start;
            break;
        }
        let len = uu_value(line[0]) as usize;
        if len == 0 {
            terminated = true;
            continue;
        }
        let chars = &line[1..];
        let needed = len.div_ceil(3) * 4;
        if chars.len() < needed || chars.len() > needed + CONFIRM_SLACK {
            bad_lengths += 1;
        }
        if block.over_cap {
            continue;
        }
        let mut produced = 0;
        for group in 0..needed / 4 {
            let mut v = [0u8; 4];
            for (k, slot) in v.iter_mut().enumerate() {
                // Missing characters (stripped trailing spaces) count as zero bits.
                *slot = chars.get(group * 4 + k).map_or(0, |&c| uu_value(c));
            }
            let bytes = [
                (v[0] << 2) | (v[1] >> 4),
                (v[1] << 4) | (v[2] >> 2),
                (v[2] << 6) | v[3],
            ];
            for b in bytes {
                if produced < len {
                    block.data.push(b);
                    produced += 1;
                }
            }
        }
        if block.data.len() as u64 > cap {
            block.over_cap = true;
        }
    }
    if bad_lengths > 0 {
        block.problems.push(format!(
            "{bad_lengths} lines do not match the length their first character gives \
             (decoded with zero padding)"
        ));
    }
    block
}

fn decode_base64_block(data: &[u8], start: usize, cap: u64) -> Block {
    let mut end = data.len();
    let mut resume = data.len();
    let mut ended = false;
    for (line_start, line, next) in Lines::new(data, start) {
        let line = trim_end(line);
        if line == b"====" {
            end = line_start;
            resume = next;
            ended = true;
            break;
        }
        if !line
            .iter()
            .all(|&c| base64_value(c).is_some() || c == b'=' || c == b' ' || c == b'\t')
        {
            end = line_start;
            resume = line_start;
            break;
        }
    }
    let decoded = decode_base64(&data[start..end], cap);
    let mut problems = Vec::new();
    if decoded.after_padding > 0 {
        problems.push(format!(
            "{} base64 characters after the padding were ignored",
            decoded.after_padding
        ));
    }
    Block {
        data: decoded.data,
        resume,
        ended,
        over_cap: decoded.over_cap,
        problems,
    }
}

/// The line starting at `start` (without its line ending) and the offset of the next line.
fn line_at(data: &[u8], start: usize) -> (&[u8], usize) {
    match Lines::new(data, start).next() {
        Some((_, line, next)) => (line, next),
        None => (&[], data.len()),
    }
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
    &s[n..]
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\r'))
        .count();
    &s[..s.len() - n]
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::super::{Budget, Limit};
    use super::*;

    /// Uuencodes like POSIX `uuencode` (backquote for zero, 45 bytes a line).
    fn uu(name: &str, data: &[u8]) -> Vec<u8> {
        let mut s = format!("begin 644 {name}\n").into_bytes();
        for chunk in data.chunks(45) {
            s.push(enc(chunk.len() as u8));
            for group in chunk.chunks(3) {
                let b = [
                    group[0],
                    group.get(1).copied().unwrap_or(0),
                    group.get(2).copied().unwrap_or(0),
                ];
                s.push(enc(b[0] >> 2));
                s.push(enc(((b[0] & 3) << 4) | (b[1] >> 4)));
                s.push(enc(((b[1] & 0xF) << 2) | (b[2] >> 6)));
                s.push(enc(b[2] & 0x3F));
            }
            s.push(b'\n');
        }
        s.extend_from_slice(b"`\nend\n");
        s
    }

    fn enc(v: u8) -> u8 {
        if v == 0 {
            b'`'
        } else {
            v + 0x20
        }
    }

    fn run(data: &[u8]) -> Members<'_> {
        testing::run(unpack, data)
    }

    #[test]
    fn decodes_two_blocks_between_text() {
        let big: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut input = b"Some preamble text\nbegin in a sentence\n".to_vec();
        input.extend(uu("hello.txt", b"Hello, world!\n"));
        input.extend_from_slice(b"between\n");
        input.extend(uu("../bin ary.dat", &big));
        input.extend_from_slice(b"-- \nsignature\n");
        let out = run(&input);
        assert_eq!(out.members.len(), 2, "{:?}", out.warnings);
        assert_eq!(out.members[0].name, "hello.txt");
        assert_eq!(&*out.members[0].data, b"Hello, world!\n");
        assert_eq!(out.members[1].name, "../bin ary.dat");
        assert_eq!(&*out.members[1].data, &big[..]);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert_eq!(find_begin(&input), Some(39));
    }

    #[test]
    fn known_vector_and_crlf() {
        // "Cat" is the classic example: #0V%T
        let input = b"begin 644 cat.txt\r\n#0V%T\r\n`\r\nend\r\n";
        let out = run(input);
        assert_eq!(&*out.members[0].data, b"Cat");
        assert!(out.warnings.is_empty());
    }

    #[test]
    fn base64_variant() {
        let input = b"begin-base64 600 b64.bin\nSGVsbG8gd29y\nbGQ=\n====\n";
        let out = run(input);
        assert_eq!(out.members[0].name, "b64.bin");
        assert_eq!(&*out.members[0].data, b"Hello world");
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn missing_end_keeps_partial_and_warns() {
        let mut input = uu("x.bin", &[7u8; 100]);
        input.truncate(input.len() - b"`\nend\n".len() - 20);
        let out = run(&input);
        assert_eq!(out.members.len(), 1);
        assert!(!out.members[0].data.is_empty());
        assert!(out.warnings.iter().any(|w| w.text.contains("no end line")));
    }

    #[test]
    fn trailing_garbage_and_stripped_spaces() {
        // Space-encoded zeros stripped at the end of the line: padded back with zero bits.
        let input = b"begin 644 z.bin\n$0       \n \nend\ntrailing garbage \x00\xff\n";
        let out = run(input);
        assert_eq!(&*out.members[0].data, &[0x40, 0, 0, 0]);
        let stripped = b"begin 644 z.bin\n$0\n\nend\n";
        let out = run(stripped);
        assert_eq!(&*out.members[0].data, &[0x40, 0, 0, 0]);
        assert!(out.warnings.iter().any(|w| w.text.contains("do not match")));
    }

    #[test]
    fn bad_length_character_does_not_overrun() {
        // Length 'M' (45) but only 4 characters: decodes 45 bytes of mostly zero padding.
        let input = b"begin 644 a\nM0V%T\nend\n";
        let out = run(input);
        assert_eq!(out.members[0].data.len(), 45);
        assert_eq!(&out.members[0].data[..3], b"Cat");
    }

    #[test]
    fn empty_and_non_uu_input() {
        let out = run(b"");
        assert!(out.members.is_empty());
        assert_eq!(out.warnings.len(), 1);
        let out = run(b"begin 644 notes\nthis is prose, not data\nend\n");
        assert!(out.members.is_empty());
        assert_eq!(find_begin(b"begin 644 notes\nthis is prose\n"), None);
        assert_eq!(find_begin(b"begin 9x9 a\nM0V%T\n"), None);
        let out = run(b"begin 644 f\n");
        assert!(out.members.is_empty());
    }

    #[test]
    fn member_over_cap_is_skipped_with_a_limit() {
        let input = uu("big.bin", &[1u8; 5000]);
        let mut out = Members::new(Budget {
            max_output: 1000,
            ..Budget::unlimited()
        });
        unpack(&input, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }

    #[test]
    fn many_begin_lines_are_capped() {
        let mut input = Vec::new();
        for _ in 0..(MAX_BLOCKS + 5) {
            input.extend_from_slice(b"begin 644 e\n`\nend\n");
        }
        let out = run(&input);
        assert_eq!(out.members.len(), MAX_BLOCKS);
        assert!(out.warnings.iter().any(|w| w.text.contains("more than")));
    }

    #[test]
    fn tolerant_base64() {
        let r = decode_base64(b"SGVs\r\n bG8*!=junkQUJD", u64::MAX);
        assert_eq!(r.data, b"Hello");
        assert_eq!(r.junk, 2);
        assert!(r.after_padding > 0);
        let r = decode_base64(b"QUJD", 1);
        assert!(r.over_cap);
    }

    #[test]
    fn agrees_with_python_binascii_when_present() {
        let script = "import binascii,sys\n\
                      data=bytes(range(256))*3\n\
                      sys.stdout.write('begin 644 py.bin\\n')\n\
                      for i in range(0,len(data),45):\n\
                      \x20 sys.stdout.write(binascii.b2a_uu(data[i:i+45]).decode())\n\
                      sys.stdout.write('`\\nend\\n')\n";
        let Ok(o) = std::process::Command::new("python3")
            .args(["-c", script])
            .output()
        else {
            return;
        };
        if !o.status.success() {
            return;
        }
        let out = run(&o.stdout);
        let expected: Vec<u8> = (0..=255u8).cycle().take(768).collect();
        assert_eq!(&*out.members[0].data, &expected[..]);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }
}
