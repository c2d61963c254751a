//! BinHex 4.0 (`.hqx`): the classic Mac OS text encoding of a file's data and resource forks,
//! as described in Peter N. Lewis' "BinHex 4.0 Definition" (1991) and RFC 1741.
//!
//! Layers, outermost first: a `(This file must be converted with BinHex 4.0)` banner; the data
//! between two `:` markers in a 64-character alphabet (6 bits a character, line breaks
//! ignored); a run-length encoding where `0x90 n` repeats the previous byte to `n` copies in all
//! (`0x90 0x00` is a literal 0x90); then a header (name, type, creator, flags, fork lengths),
//! the data fork and the resource fork, each followed by a CRC-16/XMODEM.

use std::borrow::Cow;

use super::{printable, Members};
use crate::analysis::warning::Problem;

/// Most BinHex blocks decoded from one input (a digest of several .hqx files in one text).
pub const MAX_HQX_BLOCKS: usize = 100;

/// How far into the data [`detect`] looks for the banner: .hqx files often start with a few
/// lines of mail headers or commentary.
pub const DETECT_WINDOW: usize = 64 * 1024;

/// The banner that opens every BinHex 4.0 file (the version number may vary).
const BANNER: &[u8] = b"(This file must be converted with BinHex";

/// Bytes consumed between checks of the deadline while skipping a fork.
const STOP_CHECK_INTERVAL: u64 = 1 << 16;

/// The 64 characters of the encoding, in value order.
const ALPHABET: &[u8; 64] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

/// Character to value: [`ALPHABET`] inverted, 0xFF for characters outside it.
const VALUES: [u8; 256] = {
    let mut t = [0xFF; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Longest file name the format allows (Mac OS HFS names); longer is accepted with a warning.
const MAX_NAME_LEN: usize = 63;

/// True when the BinHex banner appears within the first [`DETECT_WINDOW`] bytes.
pub fn detect(data: &[u8]) -> bool {
    find(&data[..data.len().min(DETECT_WINDOW)], BANNER).is_some()
}

pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let mut pos = 0;
    let mut blocks = 0usize;
    while pos < data.len() {
        if out.stopped() {
            return;
        }
        let Some(rel) = find(&data[pos..], BANNER) else {
            break;
        };
        let banner_at = pos + rel;
        let Some(colon) = data_start(data, banner_at) else {
            out.warn(
                Problem::Corrupt,
                "the BinHex banner is not followed by a line starting with ':'",
            );
            return;
        };
        if blocks >= MAX_HQX_BLOCKS {
            out.warn(
                Problem::Capped,
                format!("more than {MAX_HQX_BLOCKS} BinHex blocks: the rest were not decoded"),
            );
            return;
        }
        blocks += 1;
        let start = colon + 1;
        let end = data[start..]
            .iter()
            .position(|&c| c == b':')
            .map_or(data.len(), |i| start + i);
        if !decode_block(&data[start..end], end < data.len(), blocks, out) {
            return;
        }
        pos = (end + 1).min(data.len());
    }
    if blocks == 0 {
        out.warn(
            Problem::Corrupt,
            "no BinHex 4.0 data found: the banner line is missing",
        );
    }
}

/// The offset of the `:` that opens the data: the first line after the banner line whose first
/// non-blank character is `:`.
fn data_start(data: &[u8], banner_at: usize) -> Option<usize> {
    let mut pos = data[banner_at..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map(|i| banner_at + i)?;
    while pos < data.len() {
        let line_end = data[pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(data.len(), |i| pos + i);
        let first = data[pos..line_end]
            .iter()
            .position(|c| !c.is_ascii_whitespace())
            .map(|i| pos + i);
        if let Some(f) = first {
            if data[f] == b':' {
                return Some(f);
            }
        }
        pos = line_end + 1;
    }
    None
}

/// Decodes one block (the text between the `:` markers). Returns false when the walk must stop.
fn decode_block<'a>(encoded: &[u8], closed: bool, index: usize, out: &mut Members<'a>) -> bool {
    let packed = encoded.len() as u64;
    let mut s = Stream::new(encoded);
    let mut header = Vec::new();
    let crc = read_header(&mut s, &mut header);
    let Some(crc_bytes) = crc else {
        out.warn(
            Problem::Truncated,
            format!(
                "BinHex block {index} is truncated inside its header ({} bytes decoded){}",
                header.len(),
                s.stop_reason()
            ),
        );
        return true;
    };
    let name_len = usize::from(header[0]);
    let raw_name = &header[1..1 + name_len];
    let fields = &header[1 + name_len..];
    let name = if raw_name.is_empty() {
        format!("binhex-{index}.bin")
    } else {
        String::from_utf8_lossy(raw_name).into_owned()
    };
    let shown = printable(&name);
    if name_len > MAX_NAME_LEN {
        out.warn(Problem::Corrupt, format!(
            "BinHex file name of {shown} is {name_len} bytes long (the format allows {MAX_NAME_LEN})"
        ));
    }
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    // fields: version(1) type(4) creator(4) flags(2) data length(4) resource length(4)
    let data_len = be32(&fields[11..15]);
    let rsrc_len = be32(&fields[15..19]);
    let stored = u16::from_be_bytes(crc_bytes);
    let computed = crc16(&header);
    if stored != computed {
        out.warn(
            Problem::Corrupt,
            format!(
                "header CRC mismatch in BinHex file {shown}: stored {stored:#06x}, computed \
             {computed:#06x}"
            ),
        );
    }
    let forks = [
        (name.clone(), data_len, "data fork"),
        (format!("{name}.rsrc"), rsrc_len, "resource fork"),
    ];
    for (fork_name, declared, what) in forks {
        if what == "resource fork" && declared == 0 {
            break;
        }
        if what == "data fork" && declared == 0 && rsrc_len > 0 {
            // An application or font: everything is in the resource fork. Skip the empty fork
            // and its CRC rather than yield an empty member.
            if !s.skip_crc() {
                out.warn(
                    Problem::Truncated,
                    format!(
                        "BinHex file {shown} is truncated before its data fork CRC{}",
                        s.stop_reason()
                    ),
                );
                return true;
            }
            continue;
        }
        match read_fork(&mut s, &fork_name, packed, declared, out) {
            Fork::Stopped => return false,
            Fork::Skipped => {
                if !s.skip_crc() {
                    return true;
                }
            }
            Fork::Truncated(data) => {
                out.warn(
                    Problem::Truncated,
                    format!(
                    "{what} of BinHex file {shown} is truncated: header says {declared} bytes, \
                     {} decoded{}",
                    data.len(),
                    s.stop_reason()
                ),
                );
                out.add(fork_name, Cow::Owned(data));
                return !out.stopped();
            }
            Fork::Complete(data) => {
                let computed = crc16(&data);
                match (s.next(), s.next()) {
                    (Some(hi), Some(lo)) => {
                        let stored = u16::from_be_bytes([hi, lo]);
                        if stored != computed {
                            out.warn(
                                Problem::Corrupt,
                                format!(
                                    "{what} CRC mismatch in BinHex file {shown}: stored \
                                 {stored:#06x}, computed {computed:#06x}"
                                ),
                            );
                        }
                    }
                    _ => out.warn(
                        Problem::Truncated,
                        format!(
                            "BinHex file {shown} is truncated before its {what} CRC{}",
                            s.stop_reason()
                        ),
                    ),
                }
                if !out.add(fork_name, Cow::Owned(data)) {
                    return false;
                }
            }
        }
    }
    if !closed {
        out.warn(
            Problem::Truncated,
            format!("BinHex file {shown} has no closing ':' (the text may be truncated)"),
        );
    }
    true
}

/// Reads the header (name length, name, version, type, creator, flags, fork lengths) into
/// `header` and returns the stored header CRC; None when the stream ends first.
fn read_header(s: &mut Stream, header: &mut Vec<u8>) -> Option<[u8; 2]> {
    let n = s.next()?;
    header.push(n);
    for _ in 0..usize::from(n) + 1 + 4 + 4 + 2 + 4 + 4 {
        header.push(s.next()?);
    }
    Some([s.next()?, s.next()?])
}

enum Fork {
    Complete(Vec<u8>),
    Truncated(Vec<u8>),
    /// Over the member cap: consumed without storing.
    Skipped,
    /// The walk must stop (budget or deadline).
    Stopped,
}

fn read_fork(s: &mut Stream, name: &str, packed: u64, declared: u32, out: &mut Members) -> Fork {
    let declared = u64::from(declared);
    if !out.admit(name, packed, declared) {
        if out.stopped() {
            return Fork::Stopped;
        }
        // Consume the fork to reach the next one; runs are skipped whole, so this is linear in
        // the encoded size however large the header says the fork is.
        let mut left = declared;
        while left > 0 {
            if out.stopped() {
                return Fork::Stopped;
            }
            let step = left.min(STOP_CHECK_INTERVAL);
            let done = s.skip(step);
            left -= done;
            if done < step {
                // The block ended inside the fork; the caller finds the CRC missing.
                return Fork::Skipped;
            }
        }
        return Fork::Skipped;
    }
    let mut data = Vec::new();
    while (data.len() as u64) < declared {
        if (data.len() as u64).is_multiple_of(STOP_CHECK_INTERVAL) && out.stopped() {
            return Fork::Stopped;
        }
        match s.next() {
            Some(b) => data.push(b),
            None => return Fork::Truncated(data),
        }
    }
    Fork::Complete(data)
}

/// The decoded byte stream of one block: 6-bit characters to bytes, then run-length expansion.
struct Stream<'d> {
    src: &'d [u8],
    pos: usize,
    acc: u32,
    bits: u32,
    /// The last byte produced, which a run repeats.
    last: Option<u8>,
    /// Copies of `last` still to produce.
    repeat: u32,
    /// A character outside the alphabet stopped decoding (offset in the block, character).
    bad: Option<(usize, u8)>,
    /// Runs with no byte before them (ignored).
    orphan_runs: usize,
}

impl<'d> Stream<'d> {
    fn new(src: &'d [u8]) -> Stream<'d> {
        Stream {
            src,
            pos: 0,
            acc: 0,
            bits: 0,
            last: None,
            repeat: 0,
            bad: None,
            orphan_runs: 0,
        }
    }

    /// The next byte before run-length expansion.
    fn raw(&mut self) -> Option<u8> {
        while self.bits < 8 {
            if self.bad.is_some() {
                return None;
            }
            let &c = self.src.get(self.pos)?;
            self.pos += 1;
            if c.is_ascii_whitespace() {
                continue;
            }
            match VALUES[usize::from(c)] {
                v if v < 64 => {
                    self.acc = (self.acc << 6) | u32::from(v);
                    self.bits += 6;
                }
                _ => {
                    self.bad = Some((self.pos - 1, c));
                    return None;
                }
            }
        }
        self.bits -= 8;
        let b = (self.acc >> self.bits) as u8;
        self.acc &= (1 << self.bits) - 1;
        Some(b)
    }

    /// The next byte of the expanded stream.
    fn next(&mut self) -> Option<u8> {
        loop {
            if self.repeat > 0 {
                self.repeat -= 1;
                return self.last;
            }
            let b = self.raw()?;
            if b != 0x90 {
                self.last = Some(b);
                return Some(b);
            }
            let n = self.raw()?;
            if n == 0 {
                self.last = Some(0x90);
                return Some(0x90);
            }
            if self.last.is_none() {
                self.orphan_runs += 1;
                continue;
            }
            // `n` counts the byte already produced; n == 1 repeats nothing.
            self.repeat = u32::from(n) - 1;
        }
    }

    /// Consumes up to `n` bytes without producing them; returns how many were consumed.
    fn skip(&mut self, n: u64) -> u64 {
        let mut done = 0;
        while done < n {
            if self.repeat > 0 {
                let k = u64::from(self.repeat).min(n - done);
                self.repeat -= k as u32;
                done += k;
                continue;
            }
            if self.next().is_none() {
                break;
            }
            done += 1;
        }
        done
    }

    fn skip_crc(&mut self) -> bool {
        self.next().is_some() && self.next().is_some()
    }

    /// Why the stream ended, for warnings: "" at the end of the block.
    fn stop_reason(&self) -> String {
        let mut s = String::new();
        if let Some((at, c)) = self.bad {
            s = format!(
                " (stopped at byte {c:#04x} at offset {at} of the block, outside the BinHex alphabet)"
            );
        }
        if self.orphan_runs > 0 {
            s.push_str(&format!(
                " ({} run markers had no byte to repeat)",
                self.orphan_runs
            ));
        }
        s
    }
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0, not reflected): the BinHex CRC.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::super::{Budget, Limit};
    use super::*;

    /// Builds the decoded stream: header, forks and their CRCs.
    fn stream(name: &[u8], data: &[u8], rsrc: &[u8]) -> Vec<u8> {
        let mut h = vec![name.len() as u8];
        h.extend_from_slice(name);
        h.push(0);
        h.extend_from_slice(b"TEXTttxt");
        h.extend_from_slice(&[0, 0]);
        h.extend_from_slice(&(data.len() as u32).to_be_bytes());
        h.extend_from_slice(&(rsrc.len() as u32).to_be_bytes());
        let crc = crc16(&h);
        h.extend_from_slice(&crc.to_be_bytes());
        h.extend_from_slice(data);
        h.extend_from_slice(&crc16(data).to_be_bytes());
        h.extend_from_slice(rsrc);
        h.extend_from_slice(&crc16(rsrc).to_be_bytes());
        h
    }

    /// Run-length encodes as BinHex does (runs of 3 or more, literal 0x90 as `90 00`).
    fn rle(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            let mut run = 1;
            while i + run < input.len() && input[i + run] == b && run < 255 {
                run += 1;
            }
            if b == 0x90 {
                out.extend_from_slice(&[0x90, 0x00]);
                i += 1;
                continue;
            }
            out.push(b);
            if run >= 3 {
                out.extend_from_slice(&[0x90, run as u8]);
                i += run;
            } else {
                i += 1;
            }
        }
        out
    }

    fn six_bit(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut acc: u32 = 0;
        let mut bits = 0;
        for &b in input {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                out.push(ALPHABET[((acc >> bits) & 0x3F) as usize]);
            }
        }
        if bits > 0 {
            out.push(ALPHABET[((acc << (6 - bits)) & 0x3F) as usize]);
        }
        out
    }

    fn hqx(decoded: &[u8]) -> Vec<u8> {
        let chars = six_bit(&rle(decoded));
        let mut text =
            b"Mail junk\r\n\r\n(This file must be converted with BinHex 4.0)\r\n\r\n:".to_vec();
        for (i, c) in chars.iter().enumerate() {
            if i > 0 && (i + 1) % 64 == 0 {
                text.extend_from_slice(b"\r\n");
            }
            text.push(*c);
        }
        text.extend_from_slice(b":\r\ntrailer\r\n");
        text
    }

    fn run(data: &[u8]) -> Members<'_> {
        testing::run(unpack, data)
    }

    #[test]
    fn crc_matches_xmodem_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn decodes_both_forks() {
        let mut data = b"hello \x90 world ".to_vec();
        data.extend(std::iter::repeat_n(b'z', 600));
        let rsrc = [1u8, 2, 3, 0, 0, 0, 0, 0, 0x90, 0x90];
        let input = hqx(&stream(b"../Read Me", &data, &rsrc));
        assert!(detect(&input));
        let out = run(&input);
        assert_eq!(out.members.len(), 2, "{:?}", out.warnings);
        assert_eq!(out.members[0].name, "../Read Me");
        assert_eq!(&*out.members[0].data, &data[..]);
        assert_eq!(out.members[1].name, "../Read Me.rsrc");
        assert_eq!(&*out.members[1].data, &rsrc[..]);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn two_blocks_and_empty_resource_fork() {
        let mut input = hqx(&stream(b"a", b"first", b""));
        input.extend(hqx(&stream(b"b", b"second", b"")));
        let out = run(&input);
        let names: Vec<_> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(&*out.members[1].data, b"second");
    }

    #[test]
    fn crc_mismatch_warns() {
        let mut s = stream(b"f", b"payload", b"");
        let at = s.len() - 4; // low byte of the data fork CRC
        s[at] ^= 0xFF;
        let input = hqx(&s);
        let out = run(&input);
        assert_eq!(&*out.members[0].data, b"payload");
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("data fork CRC mismatch")));
        let mut s = stream(b"f", b"payload", b"");
        s[3] ^= 1; // inside the type field
        let input = hqx(&s);
        let out = run(&input);
        assert!(out
            .warnings
            .iter()
            .any(|w| w.text.contains("header CRC mismatch")));
    }

    #[test]
    fn truncated_fork_keeps_partial() {
        let data: Vec<u8> = (0..200u8).collect();
        let mut input = hqx(&stream(b"t", &data, b""));
        input.truncate(input.len() / 2);
        let out = run(&input);
        assert_eq!(out.members.len(), 1);
        assert!(!out.members[0].data.is_empty());
        assert!(data.starts_with(&out.members[0].data));
        assert!(out.warnings.iter().any(|w| w.text.contains("truncated")));
    }

    #[test]
    fn bad_character_and_truncated_header() {
        let mut input = hqx(&stream(b"t", &[5u8; 100], b""));
        let colon = input.iter().position(|&c| c == b':').unwrap();
        input[colon + 10] = b'~';
        let out = run(&input);
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("outside the BinHex alphabet"));
        let out = run(b"(This file must be converted with BinHex 4.0)\n:!!:\n");
        assert!(out.members.is_empty());
        assert!(out.warnings[0].text.contains("truncated inside its header"));
    }

    #[test]
    fn empty_and_bannerless_input() {
        let out = run(b"");
        assert!(out.members.is_empty());
        assert_eq!(out.warnings.len(), 1);
        assert!(!detect(b"just text"));
        let out = run(b"(This file must be converted with BinHex 4.0)\nno data\n");
        assert!(out.warnings[0].text.contains("not followed"));
    }

    #[test]
    fn oversized_declared_length_is_skipped_with_a_limit() {
        // The header claims a 4 GiB data fork that a few RLE runs cannot back.
        let mut h = vec![1u8, b'x', 0];
        h.extend_from_slice(b"TEXTttxt\0\0");
        h.extend_from_slice(&u32::MAX.to_be_bytes());
        h.extend_from_slice(&4u32.to_be_bytes());
        let crc = crc16(&h);
        h.extend_from_slice(&crc.to_be_bytes());
        // Raw 6-bit encode a stream of runs directly (the test RLE would not make 0x90 runs).
        let mut runs = Vec::new();
        for _ in 0..300 {
            runs.extend_from_slice(&[b'A', 0x90, 0xFF]);
        }
        let mut all = h.clone();
        all.extend_from_slice(&runs);
        let chars = six_bit(&all);
        let mut input = b"(This file must be converted with BinHex 4.0)\n:".to_vec();
        input.extend_from_slice(&chars);
        input.extend_from_slice(b":\n");
        let mut out = Members::new(Budget {
            max_ratio: 10,
            ..Budget::unlimited()
        });
        unpack(&input, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Ratio);
    }

    #[test]
    fn member_over_cap_is_skipped_with_a_limit() {
        let input = hqx(&stream(b"big", &[7u8; 5000], b"rsrc"));
        let mut out = Members::new(Budget {
            max_output: 1000,
            ..Budget::unlimited()
        });
        unpack(&input, &mut out);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Bytes);
    }

    #[test]
    fn many_blocks_are_capped() {
        let one = hqx(&stream(b"n", b"x", b""));
        let input: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * (MAX_HQX_BLOCKS + 3))
            .collect();
        let out = run(&input);
        assert_eq!(out.members.len(), MAX_HQX_BLOCKS);
        assert!(out.warnings.iter().any(|w| w.text.contains("more than")));
    }

    #[test]
    fn crc_agrees_with_python_when_present() {
        let Ok(o) = std::process::Command::new("python3")
            .args([
                "-c",
                "import binascii;print(binascii.crc_hqx(b'BinHex check', 0))",
            ])
            .output()
        else {
            return;
        };
        if !o.status.success() {
            return;
        }
        let expected: u16 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
        assert_eq!(crc16(b"BinHex check"), expected);
    }
}
