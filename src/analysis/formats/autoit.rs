//! Compiled AutoIt scripts (Aut2Exe, AutoIt 3.2 and later): the script and every file it
//! carries for `FileInstall`, from the `AU3!EA05` or `AU3!EA06` block that the interpreter stub
//! reads at run time (in its overlay, or in a `SCRIPT` resource).
//!
//! After the marker come 16 bytes, then one record per file. Each record's fields are obscured
//! by fixed XOR constants and its strings and data by a keyed stream: MT19937 in EA05 (the byte
//! is the twister's output shifted right by one), and in EA06 a lagged-Fibonacci generator with
//! rotations whose bytes come through a floating-point step (the "LAME" generator, named after
//! the decompiler that first described it). Data is then compressed with AutoIt's own LZ77
//! variant (`EA05`/`EA06` header, big-endian size, then one flag bit per literal or match).
//! The layout and the constants are as ClamAV and the public decompilers document them; this is
//! our own implementation.
//!
//! Members: the script (`script.au3`: EA05 stores the source as written, UTF-16LE; EA06 stores
//! it tokenised, and `autoit_tokens.rs` turns it back into source, UTF-8, without the comments
//! and with names in upper case where AutoIt keeps no other; a stream that does not decode
//! comes out as `script.au3.tokens`) and each carried file under the path the script gave it.
//!
//! Not handled: AutoIt 2 (`JB01`) and scripts with a password (old Aut2Exe option).

use std::borrow::Cow;

use memchr::memmem;

use super::{autoit_tokens, printable, Members};
use crate::analysis::bytes::le32;
use crate::analysis::warning::Problem;

/// True for the record magic that marks the script itself: `>>>AUTOIT SCRIPT<<<` (EA06),
/// `>AUTOIT UNICODE SCRIPT<` or `>AUTOIT SCRIPT<` (EA05). Other records' magic is the source
/// path of a carried file.
fn is_script(magic: &str) -> bool {
    magic.starts_with('>')
        && magic.contains("AUTOIT")
        && magic.trim_end_matches('<').ends_with("SCRIPT")
}

/// Most records read from one block.
pub const MAX_RECORDS: usize = 10_000;

/// Longest name or magic string, in characters.
const MAX_STRING: u32 = 0x10000;

/// The block versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Ea05,
    Ea06,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::Ea05 => "EA05",
            Version::Ea06 => "EA06",
        }
    }
}

/// The block's version and where it starts (after the marker), if `data` holds one: the first
/// marker whose first record is where it should be, else the first marker (a decoy marker in a
/// string table must not hide the real block).
pub fn find(data: &[u8]) -> Option<(Version, usize)> {
    let mut first = None;
    for at in memmem::find_iter(data, b"AU3!EA0").take(64) {
        let version = match data.get(at + 7) {
            Some(b'5') => Version::Ea05,
            Some(b'6') => Version::Ea06,
            _ => continue,
        };
        if le32(data, at + 8 + 16) == Some(record_magic(version)) {
            return Some((version, at + 8));
        }
        first = first.or(Some((version, at + 8)));
    }
    first
}

/// The (fixed, encrypted) first field of every record: "FILE".
fn record_magic(version: Version) -> u32 {
    match version {
        Version::Ea05 => 0xceb0_6dff,
        Version::Ea06 => 0x52ca_436b,
    }
}

/// Unpacks the script and the carried files of the compiled AutoIt script in `data`.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    read_block(data, true, out);
}

/// [`unpack`] with an EA06 script left as its token stream (`script.au3.tokens`).
#[cfg(test)]
pub(crate) fn unpack_tokens<'a>(data: &'a [u8], out: &mut Members<'a>) {
    read_block(data, false, out);
}

/// The records of the script block; `detokenize` turns an EA06 script back into source.
fn read_block(data: &[u8], detokenize: bool, out: &mut Members<'_>) {
    let Some((version, start)) = find(data) else {
        out.warn(Problem::Corrupt, "no AutoIt script block (AU3!EA05/EA06)");
        return;
    };
    let Some(keys) = data.get(start..start + 16) else {
        out.warn(
            Problem::Truncated,
            "the AutoIt script block ends after its marker",
        );
        return;
    };
    let key_sum = keys.iter().map(|&b| u32::from(b)).sum::<u32>();
    let mut r = Reader {
        data,
        pos: start + 16,
    };
    if le32(data, r.pos) != Some(record_magic(version)) {
        out.warn(
            Problem::Corrupt,
            format!(
                "the AutoIt {} block holds no record where its first should be",
                version.name()
            ),
        );
        return;
    }
    for n in 1..=MAX_RECORDS {
        if out.stopped() {
            return;
        }
        let record = match version {
            Version::Ea05 => r.ea05(key_sum),
            Version::Ea06 => r.ea06(),
        };
        let record = match record {
            Ok(Some(rec)) => rec,
            Ok(None) => return,
            Err(why) => {
                out.warn(
                    Problem::Truncated,
                    format!("AutoIt record {n}: {why}; the records after it were not read"),
                );
                return;
            }
        };
        if !emit(version, record, n, detokenize, out) {
            return;
        }
    }
    out.warn(
        Problem::Capped,
        format!("more than {MAX_RECORDS} AutoIt records; the rest were not read"),
    );
}

/// One record, its data still compressed but decrypted.
struct Record {
    /// The magic string (the script's marker, or a carried file's source path).
    magic: String,
    /// The path the script writes a carried file to.
    name: String,
    compressed: bool,
    data: Vec<u8>,
}

struct Reader<'d> {
    data: &'d [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, &'static str> {
        let v = le32(self.data, self.pos).ok_or("the block ends inside a record header")?;
        self.pos += 4;
        Ok(v)
    }

    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, &'static str> {
        let end = self.pos.checked_add(n).ok_or("a size is impossible")?;
        let b = self
            .data
            .get(self.pos..end)
            .ok_or("a field runs past the end of the file")?;
        self.pos = end;
        Ok(b.to_vec())
    }

    /// An EA05 record; `None` at the end of the records.
    fn ea05(&mut self, key_sum: u32) -> Result<Option<Record>, &'static str> {
        // "FILE", encrypted with a fixed key.
        if le32(self.data, self.pos) != Some(record_magic(Version::Ea05)) {
            return Ok(None);
        }
        self.pos += 4;
        let magic_len = self.u32()? ^ 0x29bc;
        let mut magic = self.bytes(magic_len.min(MAX_STRING) as usize)?;
        mt_xor(&mut magic, magic_len.wrapping_add(0xa25e));
        let name_len = self.u32()? ^ 0x29ac;
        let mut name = self.bytes(name_len.min(MAX_STRING) as usize)?;
        mt_xor(&mut name, name_len.wrapping_add(0xf25e));
        let (compressed, size) = self.sizes(0x45aa)?;
        let mut data = self.bytes(size as usize)?;
        mt_xor(&mut data, key_sum.wrapping_add(0x22af));
        Ok(Some(Record {
            magic: narrow(&magic),
            name: narrow(&name),
            compressed,
            data,
        }))
    }

    /// An EA06 record; `None` at the end of the records.
    fn ea06(&mut self) -> Result<Option<Record>, &'static str> {
        // "FILE", encrypted with a fixed key.
        if le32(self.data, self.pos) != Some(record_magic(Version::Ea06)) {
            return Ok(None);
        }
        self.pos += 4;
        let magic_chars = (self.u32()? ^ 0xadbc).min(MAX_STRING);
        let mut magic = self.bytes(magic_chars as usize * 2)?;
        lame_xor(&mut magic, magic_chars.wrapping_add(0xb33f) as u16);
        let name_chars = (self.u32()? ^ 0xf820).min(MAX_STRING);
        let mut name = self.bytes(name_chars as usize * 2)?;
        lame_xor(&mut name, name_chars.wrapping_add(0xf479) as u16);
        let (compressed, size) = self.sizes(0x87bc)?;
        let mut data = self.bytes(size as usize)?;
        lame_xor(&mut data, 0x2477);
        Ok(Some(Record {
            magic: crate::analysis::text::utf16le_to_nul(&magic),
            name: crate::analysis::text::utf16le_to_nul(&name),
            compressed,
            data,
        }))
    }

    /// The compression flag and the stored size; the uncompressed size, a checksum and two
    /// file times follow and are not needed (the compressed data carries its own size).
    fn sizes(&mut self, key: u32) -> Result<(bool, u32), &'static str> {
        let flag = *self
            .data
            .get(self.pos)
            .ok_or("the block ends inside a record")?;
        self.pos += 1;
        let size = self.u32()? ^ key;
        self.pos = self.pos.checked_add(8 + 16).ok_or("a size is impossible")?;
        Ok((flag == 1, size))
    }
}

/// EA05 strings are UTF-16 in later compilers and ANSI in earlier ones.
fn narrow(b: &[u8]) -> String {
    let looks_utf16 =
        b.len() >= 2 && b.len().is_multiple_of(2) && b.iter().skip(1).step_by(2).all(|&c| c == 0);
    if looks_utf16 {
        crate::analysis::text::utf16le_to_nul(b)
    } else {
        b.iter()
            .map(|&c| crate::analysis::text::cp1252(c))
            .collect()
    }
}

/// Hands one record to `out`. Returns false when `out` says to stop.
fn emit(
    version: Version,
    record: Record,
    n: usize,
    detokenize: bool,
    out: &mut Members<'_>,
) -> bool {
    let script = is_script(&record.magic);
    let name = if script {
        match version {
            Version::Ea05 => "script.au3".to_string(),
            Version::Ea06 => "script.au3.tokens".to_string(),
        }
    } else if !record.name.is_empty() {
        record.name.clone()
    } else if !record.magic.is_empty() {
        record.magic.clone()
    } else {
        format!("file-{n}.bin")
    };
    let data = if record.compressed {
        match decompress(version, &record.data, &name, out) {
            Some(d) => d,
            None => return !out.stopped(),
        }
    } else {
        if !out.admit(&name, record.data.len() as u64, record.data.len() as u64) {
            return !out.stopped();
        }
        record.data
    };
    if script && version == Version::Ea06 && detokenize {
        match autoit_tokens::detokenize(&data) {
            Ok((text, warnings)) => {
                for w in warnings {
                    out.warn(Problem::Corrupt, w);
                }
                return out.add("script.au3", Cow::Owned(text.into_bytes()));
            }
            Err(why) => out.warn(
                Problem::Corrupt,
                format!("{why}; the script is kept as its token stream"),
            ),
        }
    }
    out.add(name, Cow::Owned(data))
}

/// AutoIt's LZ77: `EA05`/`EA06`, a big-endian size, then a bit stream (most significant bit
/// first): a flag bit (1 for a match in EA05, 0 in EA06), then a literal byte, or a 15-bit
/// distance and a length in growing fields (2, 3, 5, 8, then 8-bit steps of 255). None, with a
/// warning or a recorded limit, when the data is not that or the budget does not allow it.
fn decompress(
    version: Version,
    input: &[u8],
    name: &str,
    out: &mut Members<'_>,
) -> Option<Vec<u8>> {
    let want = match version {
        Version::Ea05 => b"EA05",
        Version::Ea06 => b"EA06",
    };
    if input.get(..4) != Some(&want[..]) {
        out.warn(
            Problem::Corrupt,
            format!(
                "{}: the data does not start with its {} header",
                printable(name),
                version.name()
            ),
        );
        return None;
    }
    let size = input
        .get(4..8)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])) as usize;
    if !out.admit(name, input.len() as u64, size as u64) {
        return None;
    }
    let match_flag = version == Version::Ea05;
    let mut bits = Bits {
        data: input,
        pos: 64,
    };
    let mut result: Vec<u8> = Vec::with_capacity(size);
    let corrupt = |out: &mut Members<'_>, result: &Vec<u8>, why: &str| {
        out.warn(
            Problem::Corrupt,
            format!(
                "{}: the compressed data is corrupt or truncated ({why}) after {} of {size} bytes",
                printable(name),
                result.len()
            ),
        );
    };
    let mut steps = 0u32;
    while result.len() < size {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(65536) && out.stopped() {
            return None;
        }
        let Some(flag) = bits.take(1) else {
            corrupt(out, &result, "it ends early");
            return Some(result);
        };
        if (flag == 1) != match_flag {
            match bits.take(8) {
                Some(b) => result.push(b as u8),
                None => {
                    corrupt(out, &result, "it ends early");
                    return Some(result);
                }
            }
            continue;
        }
        let (Some(distance), Some(length)) = (bits.take(15), match_length(&mut bits)) else {
            corrupt(out, &result, "it ends early");
            return Some(result);
        };
        let distance = distance as usize;
        if distance == 0 || distance > result.len() || result.len() + length > size {
            corrupt(out, &result, "a match reaches outside the data");
            return Some(result);
        }
        for _ in 0..length {
            result.push(result[result.len() - distance]);
        }
    }
    Some(result)
}

/// A match length: 2 bits, growing to 3, 5, 8 and then repeated 8-bit fields while each field
/// is all ones; the base is 3.
fn match_length(bits: &mut Bits) -> Option<usize> {
    // Each all-ones field adds its value and opens the next, wider one; the stream's end stops
    // a run of 8-bit fields.
    let mut extra = 0usize;
    for width in [2, 3, 5].into_iter().chain(std::iter::repeat(8)) {
        let v = bits.take(width)?;
        let all_ones = (1u32 << width) - 1;
        if v != all_ones {
            return Some(v as usize + 3 + extra);
        }
        extra += all_ones as usize;
    }
    None
}

/// Most-significant-bit-first reader.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn take(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            v = v << 1 | u32::from(byte >> (7 - self.pos % 8) & 1);
            self.pos += 1;
        }
        Some(v)
    }
}

/// EA05's keystream: MT19937 seeded with `seed`, each output shifted right by one.
fn mt_xor(buf: &mut [u8], seed: u32) {
    const N: usize = 624;
    const M: usize = 397;
    let mut mt = [0u32; N];
    mt[0] = seed;
    for i in 1..N {
        mt[i] = 0x6c07_8965u32
            .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
            .wrapping_add(i as u32);
    }
    let mut index = N;
    for b in buf {
        if index == N {
            for i in 0..N {
                let y = (mt[i] & 0x8000_0000) | (mt[(i + 1) % N] & 0x7fff_ffff);
                let mut v = mt[(i + M) % N] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                mt[i] = v;
            }
            index = 0;
        }
        let mut y = mt[index];
        index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        *b ^= (y >> 1) as u8;
    }
}

/// EA06's keystream: 17 words from a multiplicative seed, each step the sum of two of them
/// rotated (lags 0 and 10), and a byte from the step's mantissa times 256 (every other step).
fn lame_xor(buf: &mut [u8], seed: u16) {
    let mut words = [0u32; 17];
    let mut s = u32::from(seed);
    for w in &mut words {
        s = 1u32.wrapping_sub(s.wrapping_mul(0x53a9_b4fb));
        *w = s;
    }
    let (mut a, mut b) = (0usize, 10usize);
    let mut step = || {
        let v = words[a]
            .rotate_left(9)
            .wrapping_add(words[b].rotate_left(13));
        words[a] = v;
        a = if a == 0 { 16 } else { a - 1 };
        b = if b == 0 { 16 } else { b - 1 };
        let bits = (u64::from(0x3ff0_0000 | (v >> 12)) << 32) | (u64::from(v) << 20);
        f64::from_bits(bits) - 1.0
    };
    for _ in 0..9 {
        step();
    }
    for byte in buf {
        step();
        let k = (step() * 256.0) as u32;
        *byte ^= k.min(255) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::super::Budget;
    use super::*;

    /// Compresses `data` with literals only (flag bits per version), as the format allows.
    fn store(version: Version, data: &[u8]) -> Vec<u8> {
        let mut v = match version {
            Version::Ea05 => b"EA05".to_vec(),
            Version::Ea06 => b"EA06".to_vec(),
        };
        v.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let literal = u8::from(version == Version::Ea06);
        let mut bits: Vec<u8> = Vec::new();
        for &b in data {
            bits.push(literal);
            bits.extend((0..8).rev().map(|k| (b >> k) & 1));
        }
        v.extend(bits.chunks(8).map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |acc, (k, &x)| acc | x << (7 - k))
        }));
        v
    }

    #[test]
    fn keystreams_invert_themselves_and_differ_by_seed() {
        let text = b"FileInstall(\"payload.exe\", @TempDir)".to_vec();
        let mut a = text.clone();
        mt_xor(&mut a, 1234);
        assert_ne!(a, text);
        mt_xor(&mut a, 1234);
        assert_eq!(a, text);
        let mut b = text.clone();
        lame_xor(&mut b, 0x2477);
        assert_ne!(b, text);
        lame_xor(&mut b, 0x2477);
        assert_eq!(b, text);
        // MT19937 with seed 5489 starts 3499211612, 581869302: the bytes are those >> 1.
        let mut z = [0u8; 2];
        mt_xor(&mut z, 5489);
        assert_eq!(
            z,
            [(3_499_211_612u32 >> 1) as u8, (581_869_302u32 >> 1) as u8]
        );
    }

    #[test]
    fn matches_and_literals_decompress() {
        // EA05: "abcabcabcabc" as three literals and a match of 9 at distance 3.
        let mut bits: Vec<u8> = Vec::new();
        for &b in b"abc" {
            bits.push(0);
            bits.extend((0..8).rev().map(|k| (b >> k) & 1));
        }
        bits.push(1);
        bits.extend((0..15).rev().map(|k| (3u16 >> k) as u8 & 1));
        // Length 9 = 3 + 3 + 3: "11" then "011".
        bits.extend([1, 1, 0, 1, 1]);
        let mut input = b"EA05".to_vec();
        input.extend_from_slice(&12u32.to_be_bytes());
        input.extend(bits.chunks(8).map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |acc, (k, &x)| acc | x << (7 - k))
        }));
        let mut out = Members::new(Budget::unlimited());
        assert_eq!(
            decompress(Version::Ea05, &input, "x", &mut out).unwrap(),
            b"abcabcabcabc"
        );
        assert!(out.warnings.is_empty());
        let data = b"literal only, EA06 flags".to_vec();
        assert_eq!(
            decompress(Version::Ea06, &store(Version::Ea06, &data), "x", &mut out).unwrap(),
            data
        );
        // Cut short: what decoded, and a warning.
        let full = store(Version::Ea05, &data);
        let partial = decompress(Version::Ea05, &full[..20], "x", &mut out).unwrap();
        assert_eq!(partial, &data[..partial.len()]);
        assert_eq!(out.warnings[0].problem, Problem::Corrupt);
    }

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// A compiled-script block of `version` holding `records` (magic, name, data), each
    /// compressed (literals only) when asked.
    fn block(version: Version, records: &[(&str, &str, &[u8], bool)]) -> Vec<u8> {
        let keys = [7u8; 16];
        let key_sum: u32 = keys.iter().map(|&b| u32::from(b)).sum();
        let mut v = b"MZ stub and overlay ".to_vec();
        v.extend_from_slice(match version {
            Version::Ea05 => b"AU3!EA05",
            Version::Ea06 => b"AU3!EA06",
        });
        v.extend_from_slice(&keys);
        for (magic, name, data, compress) in records {
            let mut payload = if *compress {
                store(version, data)
            } else {
                data.to_vec()
            };
            match version {
                Version::Ea05 => {
                    v.extend_from_slice(&record_magic(Version::Ea05).to_le_bytes());
                    let mut m = magic.as_bytes().to_vec();
                    let seed = (m.len() as u32).wrapping_add(0xa25e);
                    mt_xor(&mut m, seed);
                    v.extend_from_slice(&((m.len() as u32) ^ 0x29bc).to_le_bytes());
                    v.extend(m);
                    let mut n = utf16(name);
                    let seed = (n.len() as u32).wrapping_add(0xf25e);
                    mt_xor(&mut n, seed);
                    v.extend_from_slice(&((n.len() as u32) ^ 0x29ac).to_le_bytes());
                    v.extend(n);
                    v.push(u8::from(*compress));
                    v.extend_from_slice(&((payload.len() as u32) ^ 0x45aa).to_le_bytes());
                    v.extend_from_slice(&[0; 24]);
                    mt_xor(&mut payload, key_sum.wrapping_add(0x22af));
                }
                Version::Ea06 => {
                    v.extend_from_slice(&record_magic(Version::Ea06).to_le_bytes());
                    let chars = magic.encode_utf16().count() as u32;
                    let mut m = utf16(magic);
                    lame_xor(&mut m, chars.wrapping_add(0xb33f) as u16);
                    v.extend_from_slice(&(chars ^ 0xadbc).to_le_bytes());
                    v.extend(m);
                    let chars = name.encode_utf16().count() as u32;
                    let mut n = utf16(name);
                    lame_xor(&mut n, chars.wrapping_add(0xf479) as u16);
                    v.extend_from_slice(&(chars ^ 0xf820).to_le_bytes());
                    v.extend(n);
                    v.push(u8::from(*compress));
                    v.extend_from_slice(&((payload.len() as u32) ^ 0x87bc).to_le_bytes());
                    v.extend_from_slice(&[0; 24]);
                    lame_xor(&mut payload, 0x2477);
                }
            }
            v.extend(payload);
        }
        v.extend_from_slice(b"end of file");
        v
    }

    #[test]
    fn scripts_and_carried_files_come_out_of_both_versions() {
        let exe = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pe/app32.exe"),
        )
        .unwrap();
        // EA05 stores the source; EA06 its tokens, which come out as source again.
        let source = "FileInstall(\"C:\\build\\app32.exe\", @TempDir)\r\n";
        let text = |kind: u8, s: &str| {
            let units: Vec<u16> = s.encode_utf16().collect();
            let mut t = vec![kind];
            t.extend((units.len() as u32).to_le_bytes());
            for u in &units {
                t.extend((u ^ units.len() as u16).to_le_bytes());
            }
            t
        };
        let mut tokens = 1u32.to_le_bytes().to_vec();
        for t in [
            text(0x31, "FILEINSTALL"),
            vec![0x47],
            text(0x36, "C:\\build\\app32.exe"),
            vec![0x40],
            text(0x32, "TEMPDIR"),
            vec![0x48, 0x7f],
        ] {
            tokens.extend(t);
        }
        for (version, magic, script) in [
            (Version::Ea05, ">AUTOIT SCRIPT<", source.as_bytes()),
            (Version::Ea06, ">>>AUTOIT SCRIPT<<<", &tokens[..]),
        ] {
            let data = block(
                version,
                &[
                    (magic, "C:\\build\\x.au3", script, true),
                    ("C:\\build\\app32.exe", "C:\\build\\app32.exe", &exe, true),
                    ("C:\\build\\raw.bin", "", b"stored as is", false),
                ],
            );
            let mut out = Members::new(Budget::unlimited());
            unpack(&data, &mut out);
            let got: Vec<(&str, &[u8])> = crate::analysis::formats::testing::members(&out);
            assert_eq!(got.len(), 3, "{version:?}: {:?}", out.warnings);
            assert_eq!(got[0], ("script.au3", source.as_bytes()), "{version:?}");
            assert_eq!(got[1].0, "C:\\build\\app32.exe");
            assert!(
                got[1].1 == exe,
                "{version:?}: the carried file is byte-identical"
            );
            assert_eq!(got[2], ("C:\\build\\raw.bin", &b"stored as is"[..]));
            assert!(out.warnings.is_empty(), "{:?}", out.warnings);

            // A decoy marker first (in a string table, say) does not hide the block.
            let mut decoyed = b"strings: AU3!EA06 AU3!EA05 ".to_vec();
            decoyed.extend_from_slice(&data);
            let mut out = Members::new(Budget::unlimited());
            unpack(&decoyed, &mut out);
            assert_eq!(out.members.len(), 3, "{version:?}: {:?}", out.warnings);

            // Cut anywhere: what came before, a warning, never a panic.
            for cut in (0..data.len()).step_by(101) {
                let mut out = Members::new(Budget::unlimited());
                unpack(&data[..cut], &mut out);
                assert!(out.members.len() <= 3);
            }
        }
    }
}
