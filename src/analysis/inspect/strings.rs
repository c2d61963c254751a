//! Strings in a file's bytes: printable ASCII and UTF-16LE runs (as `strings` and
//! `strings -el` find them), and the interesting ones among them, sorted into categories
//! (`http`, `https`, `ftp`, `mailto`, `ipv4`, `ipv6`, `domain`, `file_path`, `registry`).
//!
//! Candidates are validated, not just matched: an IPv4 address has four octets of at most 255 and
//! is not part of a longer dotted number (`1.2.3.4.5`, version strings); a domain ends in a real
//! top-level domain (`tlds.txt`, from the Public Suffix List, made by `scripts/make-tlds.sh`),
//! has no CamelCase labels (`System.IO` is a .NET namespace), and a TLD that is also a common
//! file extension (`setup.py`, `libc.so`) only counts inside a URL or an address, or with three
//! labels or more.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv6Addr;
use std::sync::OnceLock;

use crate::report::InterestingStrings;

/// What to extract; `[strings]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Shortest run of printable characters taken as a string.
    pub min_length: usize,
    /// Most distinct values kept per interesting category and file.
    pub max_per_category: usize,
    /// Most strings listed with their offsets per file (the large report's `metadata.strings`).
    pub max_listed: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_length: 5,
            max_per_category: 100,
            // Listing is the costly part of strings (each one is an object in the report).
            max_listed: 200,
        }
    }
}

/// Longest string kept whole; longer runs are cut (the rest is still scanned as further strings).
const MAX_STRING: usize = 4096;

/// How a string was encoded in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Ascii,
    Utf16le,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Ascii => "ascii",
            Encoding::Utf16le => "utf-16le",
        }
    }
}

/// One string and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub offset: u64,
    pub encoding: Encoding,
    pub value: String,
}

/// The strings of one file.
#[derive(Debug, Default)]
pub struct Strings {
    /// Interesting strings by category, categories in a fixed order, values sorted.
    pub interesting: Vec<InterestingStrings>,
    /// The first `max_listed` strings, in file order (ASCII first, then UTF-16LE).
    pub listed: Vec<Found>,
    /// How many strings the file holds in all.
    pub total: u64,
}

/// The categories, in the order the report lists them.
const CATEGORIES: [&str; 9] = [
    "http",
    "https",
    "ftp",
    "mailto",
    "ipv4",
    "ipv6",
    "domain",
    "file_path",
    "registry",
];

/// Indices into [`CATEGORIES`].
const HTTP: usize = 0;
const HTTPS: usize = 1;
const FTP: usize = 2;
const MAILTO: usize = 3;
const IPV4: usize = 4;
const IPV6: usize = 5;
const DOMAIN: usize = 6;
const FILE_PATH: usize = 7;
const REGISTRY: usize = 8;

/// FNV-1a: the sink hashes short strings, where SipHash's set-up dominates. The sets are capped
/// (`max_per_category`), so colliding values from a hostile file cost little.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Collects values per category, de-duplicated and capped: the first `max` distinct values
/// found are kept.
struct Sink {
    sets: [HashSet<String, BuildHasherDefault<Fnv>>; CATEGORIES.len()],
    max: usize,
}

impl Sink {
    fn add(&mut self, category: usize, value: &str) {
        let set = &mut self.sets[category];
        if set.len() < self.max && !set.contains(value) {
            set.insert(value.to_string());
        }
    }
}

/// Bytes scanned at a time; see [`scan_releasing`].
const CHUNK: usize = 8 * 1024 * 1024;

/// Finds the strings of `data` and sorts out the interesting ones.
pub fn scan(data: &[u8], opts: &Options) -> Strings {
    scan_releasing(data, opts, |_| {})
}

/// [`scan`], calling `done(offset)` once the bytes before `offset` are no longer needed, so a
/// caller holding a memory map can release their pages as the scan passes them.
///
/// The data is scanned in chunks of about [`CHUNK`] bytes, each ending at a byte that is neither
/// printable nor zero, which no ASCII or UTF-16LE string can span; so chunking splits no string
/// (except in the rare file with no such byte for a long stretch).
pub fn scan_releasing(data: &[u8], opts: &Options, mut done: impl FnMut(usize)) -> Strings {
    let mut sink = Sink {
        sets: Default::default(),
        max: opts.max_per_category,
    };
    let mut out = Strings::default();
    let min = opts.min_length.max(1);
    let mut start = 0;
    while start < data.len() {
        let nominal = (start + CHUNK).min(data.len());
        let search_to = (nominal + MAX_STRING * 2).min(data.len());
        let end = data[nominal..search_to]
            .iter()
            .position(|&b| !printable(b) && b != 0)
            .map_or(nominal, |i| nominal + i + 1);
        let chunk = &data[start..end];
        // ASCII strings separated only by line breaks (a text file's lines) are classified as
        // one block of up to BLOCK bytes: every parser stops at a line break as at a string's
        // end, and a call per block costs less than a call per line.
        let mut block: Option<(usize, usize)> = None;
        // Strings are printable ASCII (UTF-16 ones narrowed to it), so valid UTF-8; they are
        // checked and turned into `str` only where needed (blocks, listed strings, paths).
        let mut take = |offset: usize, encoding: Encoding, value: &[u8]| {
            out.total += 1;
            if out.listed.len() < opts.max_listed {
                out.listed.push(Found {
                    offset: (start + offset) as u64,
                    encoding,
                    value: String::from_utf8_lossy(value).into_owned(),
                });
            }
            if encoding == Encoding::Utf16le {
                if let Ok(text) = std::str::from_utf8(value) {
                    classify(text, &mut sink);
                }
                return;
            }
            if value.first() == Some(&b'/') {
                if let Ok(text) = std::str::from_utf8(value) {
                    unix_path_string(text, &mut sink);
                }
            }
            let end = offset + value.len();
            block = match block {
                Some((from, to)) if end - from <= BLOCK && line_breaks(&chunk[to..offset]) => {
                    Some((from, end))
                }
                Some((from, to)) => {
                    classify_block(&chunk[from..to], &mut sink);
                    Some((offset, end))
                }
                None => Some((offset, end)),
            };
        };
        runs(chunk, min, &mut take);
        if let Some((from, to)) = block {
            classify_block(&chunk[from..to], &mut sink);
        }
        done(end);
        start = end;
    }
    out.interesting = CATEGORIES
        .iter()
        .zip(sink.sets)
        .filter(|(_, set)| !set.is_empty())
        .map(|(category, set)| {
            let mut values: Vec<String> = set.into_iter().collect();
            values.sort_unstable();
            InterestingStrings {
                category: category.to_string(),
                values,
            }
        })
        .collect();
    out
}

/// 1 for printable ASCII and tab, else 0.
static PRINTABLE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0x20;
    while c < 0x7f {
        t[c] = 1;
        c += 1;
    }
    t[b'\t' as usize] = 1;
    t
};

fn printable(b: u8) -> bool {
    PRINTABLE[b as usize] == 1
}

// The run scanners below keep the per-byte work branch-free (the run length is multiplied by
// 0 or 1) and branch only where a long enough run ends, which is rare and well predicted: a
// branch on every byte of machine code mispredicts about every other byte.

/// Calls `f(offset, encoding, text)` for every ASCII and UTF-16LE string of `data`.
fn runs(data: &[u8], min: usize, f: &mut impl FnMut(usize, Encoding, &[u8])) {
    if min <= MAX_FAST_MIN {
        fast_runs(data, min, f);
    } else {
        ascii_runs(data, min, |at, s| f(at, Encoding::Ascii, s));
        utf16_runs(data, min, |at, s| f(at, Encoding::Utf16le, s));
    }
}

/// Longest `min_length` [`fast_runs`] handles (a UTF-16 run of `min` characters spans `2 * min`
/// bits of its 64-bit window); longer minimums take the plain scanners.
const MAX_FAST_MIN: usize = 32;

const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const ONES: u64 = 0x0101_0101_0101_0101;

/// Bit 7 of each byte of the result is set when that byte of `x` equals `c`.
fn bytes_equal(x: u64, c: u8) -> u64 {
    let y = x ^ (ONES * c as u64);
    let nonzero = ((y & LOW7) + LOW7) | y;
    !nonzero & HIGH
}

/// Bit 7 of each byte of the result is set when that byte of `x` is printable (or tab).
fn bytes_printable(x: u64) -> u64 {
    let low = x & LOW7;
    let at_least_space = (low + 0x6060_6060_6060_6060) & HIGH;
    let at_most_tilde = !(low + ONES) & HIGH;
    (at_least_space & at_most_tilde & !x) | bytes_equal(x, b'\t')
}

/// Gathers bit 7 of each byte into one byte (byte k -> bit k).
fn gather(high_bits: u64) -> u64 {
    ((high_bits >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Bit j set when byte j of the 64 bytes at `at` is printable, and when it is zero (bytes past
/// the end count as neither).
fn masks(data: &[u8], at: usize) -> (u64, u64) {
    let (mut printable, mut zero) = (0u64, 0u64);
    let whole = data.get(at..at + 64);
    for k in 0..8 {
        let x = match whole {
            Some(block) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(&block[k * 8..k * 8 + 8]);
                u64::from_le_bytes(word)
            }
            None => {
                let from = (at + k * 8).min(data.len());
                let tail = &data[from..(from + 8).min(data.len())];
                let mut word = [0xffu8; 8];
                word[..tail.len()].copy_from_slice(tail);
                u64::from_le_bytes(word)
            }
        };
        printable |= gather(bytes_printable(x)) << (k * 8);
        zero |= gather(bytes_equal(x, 0)) << (k * 8);
    }
    (printable, zero)
}

/// Bit j of the result is set when the `n` bits of `w` before it, every `stride`-th one, are
/// all set: `w << stride & w << 2 * stride & ... & w << n * stride`, in about log2(n) steps.
fn ones_before(w: u128, n: usize, stride: usize) -> u128 {
    // `acc` is the AND of the shifts by 1..=len strides.
    let mut acc = w << stride;
    let mut len = 1;
    while len * 2 <= n {
        acc &= acc << (len * stride);
        len *= 2;
    }
    if len < n {
        // The shifts by (n - len + 1)..=n strides; they overlap 1..=len since n < 2 * len.
        acc &= acc << ((n - len) * stride);
    }
    acc
}

/// [`ascii_runs`] and [`utf16_runs`] in one pass, 64 bytes at a time: bit masks say which bytes
/// are printable and which are zero, and shifted ANDs of them find where a long enough run ends.
/// Only those ends (rare) are visited byte by byte, to find their start.
fn fast_runs(data: &[u8], min: usize, f: &mut impl FnMut(usize, Encoding, &[u8])) {
    /// Bits of even and of odd positions: UTF-16 runs at either byte alignment.
    const PARITY: [u64; 2] = [0x5555_5555_5555_5555, 0xaaaa_aaaa_aaaa_aaaa];
    let mut text = Vec::new();
    // Where the current run began: after the last byte that broke it (ASCII), and after the last
    // pair that broke it at each alignment (UTF-16). Kept from block to block, so a run's start
    // is known when its end is found, without walking back over it.
    let mut ascii_start = 0usize;
    let mut utf16_start = [0usize, 1];
    let (mut prev_p, mut prev_v) = (0u64, 0u64);
    let (mut p, mut z) = masks(data, 0);
    let mut at = 0;
    while at < data.len() {
        let (next_p, next_z) = masks(data, at + 64);
        // Pair j (bytes j, j+1) is a UTF-16LE character.
        let v = p & ((z >> 1) | (next_z << 63));
        let in_range = if data.len() - at >= 64 {
            u64::MAX
        } else {
            (1u64 << (data.len() - at)) - 1
        };
        let (wp, wv) = (
            ((p as u128) << 64) | prev_p as u128,
            ((v as u128) << 64) | prev_v as u128,
        );
        let (rp, rv) = (ones_before(wp, min, 1), ones_before(wv, min, 2));
        let breaks = !p & in_range;
        let mut ends = breaks & ((rp >> 64) as u64);
        while ends != 0 {
            let j = ends.trailing_zeros() as usize;
            let before = breaks & ((1u64 << j) - 1);
            let start = if before == 0 {
                ascii_start
            } else {
                at + 64 - before.leading_zeros() as usize
            };
            emit_ascii(data, start, at + j, min, &mut |o, s| {
                f(o, Encoding::Ascii, s)
            });
            ends &= ends - 1;
        }
        let pair_breaks = !v & in_range;
        let mut ends = pair_breaks & ((rv >> 64) as u64);
        while ends != 0 {
            let j = ends.trailing_zeros() as usize;
            let before = pair_breaks & PARITY[j & 1] & ((1u64 << j) - 1);
            let start = if before == 0 {
                utf16_start[j & 1]
            } else {
                at + 65 - before.leading_zeros() as usize
            };
            emit_utf16(data, start, at + j, min, &mut text, &mut |o, s| {
                f(o, Encoding::Utf16le, s)
            });
            ends &= ends - 1;
        }
        if breaks != 0 {
            ascii_start = at + 64 - breaks.leading_zeros() as usize;
        }
        for (parity, start) in utf16_start.iter_mut().enumerate() {
            let last = pair_breaks & PARITY[parity];
            if last != 0 {
                *start = at + 65 - last.leading_zeros() as usize;
            }
        }
        (prev_p, prev_v, p, z) = (p, v, next_p, next_z);
        at += 64;
    }
    // Runs that reach the end of the data.
    let end = data.len();
    if end > ascii_start {
        emit_ascii(data, ascii_start, end, min, &mut |o, s| {
            f(o, Encoding::Ascii, s)
        });
    }
    let start = utf16_start[end & 1];
    if end > start {
        emit_utf16(data, start, end, min, &mut text, &mut |o, s| {
            f(o, Encoding::Utf16le, s)
        });
    }
}

/// Calls `f(offset, text)` for every run of at least `min` printable ASCII bytes.
fn ascii_runs(data: &[u8], min: usize, mut f: impl FnMut(usize, &[u8])) {
    let mut from = 0;
    while let Some((start, end)) = next_run(data, from, min, 1) {
        emit_ascii(data, start, end, min, &mut f);
        from = end;
    }
}

/// Hands the printable run `data[start..end]` to `f`, cut into pieces of at most [`MAX_STRING`]
/// (a last piece shorter than `min` is dropped).
fn emit_ascii(data: &[u8], start: usize, end: usize, min: usize, f: &mut impl FnMut(usize, &[u8])) {
    let mut at = start;
    while end - at >= min {
        let stop = end.min(at + MAX_STRING);
        f(at, &data[at..stop]);
        at = stop;
    }
}

/// Hands the UTF-16LE run `data[start..end]` (printable characters each followed by a zero
/// byte) to `f` as text, cut like [`emit_ascii`].
fn emit_utf16(
    data: &[u8],
    start: usize,
    end: usize,
    min: usize,
    text: &mut Vec<u8>,
    f: &mut impl FnMut(usize, &[u8]),
) {
    let mut at = start;
    while (end - at) / 2 >= min {
        let stop = end.min(at + MAX_STRING * 2);
        text.clear();
        text.extend(data[at..stop].iter().step_by(2));
        f(at, text);
        at = stop;
    }
}

/// The next run of at least `min` printable characters at or after `from`, as (start, end) byte
/// offsets: ASCII bytes (`width` 1), or ASCII characters each followed by a zero byte (`width`
/// 2, UTF-16LE at `from`'s alignment). A small function of its own, so the loop stays in
/// registers.
fn next_run(data: &[u8], from: usize, min: usize, width: usize) -> Option<(usize, usize)> {
    // `start` is where the current run began; it only moves (a conditional move, not a
    // branch) when a byte breaks the run.
    let mut start = from;
    let mut i = from;
    if width == 1 {
        for &b in data.get(from..)? {
            let p = PRINTABLE[b as usize];
            if (p == 0) & (i - start >= min) {
                return Some((start, i));
            }
            start = if p == 0 { i + 1 } else { start };
            i += 1;
        }
    } else {
        for pair in data.get(from..)?.chunks_exact(2) {
            let p = PRINTABLE[pair[0] as usize] & u8::from(pair[1] == 0);
            if (p == 0) & (i - start >= min * 2) {
                return Some((start, i));
            }
            start = if p == 0 { i + 2 } else { start };
            i += 2;
        }
    }
    (i - start >= min * width).then_some((start, i))
}

/// Calls `f(offset, text)` for every run of at least `min` printable ASCII characters stored as
/// UTF-16LE (each followed by a zero byte), at either byte alignment.
fn utf16_runs(data: &[u8], min: usize, mut f: impl FnMut(usize, &[u8])) {
    let mut text = Vec::new();
    for align in 0..2 {
        let mut from = align;
        while let Some((start, end)) = next_run(data, from, min, 2) {
            emit_utf16(data, start, end, min, &mut text, &mut f);
            from = end;
        }
    }
}

/// Top-level domains from `tlds.txt` as [`tld_key`]s, sorted for binary search (only the
/// all-letter ones: a candidate TLD must be letters).
fn tlds() -> &'static [u128] {
    static TLDS: OnceLock<Vec<u128>> = OnceLock::new();
    TLDS.get_or_init(|| {
        let mut keys: Vec<u128> = include_str!("tlds.txt")
            .lines()
            .filter_map(|l| tld_key(l.as_bytes()))
            .collect();
        keys.sort_unstable();
        keys
    })
}

/// Longest TLD [`tld_key`] packs (the longest in the list has 18 letters).
const MAX_TLD: usize = 24;

/// A TLD of 2 to [`MAX_TLD`] ASCII letters packed five bits a letter, case folded: comparing
/// numbers is much cheaper than hashing or comparing strings, and this runs for every dotted
/// token of every file.
fn tld_key(tld: &[u8]) -> Option<u128> {
    if tld.len() < 2 || tld.len() > MAX_TLD {
        return None;
    }
    let mut key = 0u128;
    for &c in tld {
        if !c.is_ascii_alphabetic() {
            return None;
        }
        key = (key << 5) | u128::from(c.to_ascii_lowercase() - b'a' + 1);
    }
    Some(key)
}

/// TLDs that are also common file extensions or code tokens: a name ending in one needs more
/// evidence (a URL, an address, or three labels) before it counts as a domain.
const AMBIGUOUS_TLDS: &[&str] = &[
    "ai", "am", "app", "as", "cab", "cc", "data", "do", "inc", "java", "md", "mk", "ml", "mov",
    "ms", "pl", "pm", "ps", "py", "rs", "sc", "sh", "so", "st", "zip",
];

const DOT: u8 = 1;
const COLON: u8 = 2;
const AT: u8 = 4;
const BACKSLASH: u8 = 8;
const SLASH: u8 = 16;

/// Which of the characters that every category needs a byte is.
static MARKS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'.' as usize] = DOT;
    t[b':' as usize] = COLON;
    t[b'@' as usize] = AT;
    t[b'\\' as usize] = BACKSLASH;
    t[b'/' as usize] = SLASH;
    t
};

// The parsers below run on every string of every file, so they work on bytes and find their
// anchors (`:`, `@`, `.`, `\`) with memchr: `str` searches by `char` call `memcmp` for each
// match, which dominated the profile on text.

/// Most bytes of ASCII strings classified in one call (see [`scan_releasing`]).
const BLOCK: usize = 4096;

/// True when `gap` is one or more line breaks (CR, LF) and nothing else.
fn line_breaks(gap: &[u8]) -> bool {
    !gap.is_empty() && gap.iter().all(|&c| c == b'\n' || c == b'\r')
}

/// Classifies a block of ASCII strings joined by line breaks: printable ASCII, tab, CR and LF.
fn classify_block(block: &[u8], sink: &mut Sink) {
    if let Ok(text) = std::str::from_utf8(block) {
        classify_text(text, sink);
    }
}

/// Sorts the interesting parts of one string into the sink.
fn classify(s: &str, sink: &mut Sink) {
    classify_text(s, sink);
    unix_path_string(s, sink);
}

/// A string that is an absolute Unix path (one holding a backslash is taken for Windows).
fn unix_path_string(s: &str, sink: &mut Sink) {
    if s.starts_with('/') && memchr::memchr(b'\\', s.as_bytes()).is_none() {
        unix_path(s, sink);
    }
}

/// Sorts the interesting parts of `s`, one string or a block of lines, into the sink; a line
/// break ends every kind of token. Unix paths are found per string, by [`unix_path_string`].
fn classify_text(s: &str, sink: &mut Sink) {
    let bytes = s.as_bytes();
    // Which parsers can match at all: most strings in a binary need none. A pass over a short
    // string; memchr for each mark in a long block of text, where that is much faster.
    let marks = if bytes.len() < 256 {
        bytes.iter().fold(0u8, |m, &c| m | MARKS[c as usize])
    } else {
        [b'.', b':', b'@', b'\\', b'/']
            .into_iter()
            .filter(|&c| memchr::memchr(c, bytes).is_some())
            .fold(0u8, |m, c| m | MARKS[c as usize])
    };
    if marks == 0 {
        return;
    }
    // Spans already taken by URLs and addresses, so their hosts are not counted twice.
    let mut taken: Vec<(usize, usize)> = Vec::new();
    if marks & (COLON | SLASH) == COLON | SLASH {
        urls(s, sink, &mut taken);
    }
    if marks & (AT | DOT) == AT | DOT {
        emails(s, sink, &mut taken);
    }
    if marks & DOT != 0 {
        dotted(s, sink, &taken);
    }
    if marks & COLON != 0 && memchr::memchr_iter(b':', bytes).nth(1).is_some() {
        ipv6(s, sink, &taken);
    }
    if marks & BACKSLASH != 0 {
        windows_paths(s, sink);
        registry(s, sink);
    }
}

/// Characters a URL in running text is made of.
fn url_char(c: u8) -> bool {
    c.is_ascii_graphic()
        && !matches!(
            c,
            b'"' | b'\'' | b'<' | b'>' | b'`' | b'{' | b'}' | b'|' | b'\\' | b'^'
        )
}

/// `http://`, `https://` and `ftp://` URLs with a real host, found from each `://`.
fn urls(s: &str, sink: &mut Sink, taken: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let scheme_before = |colon: usize, scheme: &[u8]| {
        colon >= scheme.len() && b[colon - scheme.len()..colon].eq_ignore_ascii_case(scheme)
    };
    for colon in memchr::memchr_iter(b':', b) {
        if !b[colon + 1..].starts_with(b"//") {
            continue;
        }
        let (scheme, category) = if scheme_before(colon, b"https") {
            (5, HTTPS)
        } else if scheme_before(colon, b"http") {
            (4, HTTP)
        } else if scheme_before(colon, b"ftp") {
            (3, FTP)
        } else {
            continue;
        };
        let start = colon - scheme;
        let mut end = colon + 3;
        while end < b.len() && url_char(b[end]) {
            end += 1;
        }
        let url = s[start..end].trim_end_matches(['.', ',', ';', ':', ')', ']', '!', '?']);
        // The delimiters are ASCII, so every index below is a character boundary.
        let upto = |s: &str, stop: Option<usize>| -> usize { stop.unwrap_or(s.len()) };
        let rest = &url[scheme + 3..];
        let authority = &rest[..upto(rest, memchr::memchr3(b'/', b'?', b'#', rest.as_bytes()))];
        let host_port = memchr::memrchr(b'@', authority.as_bytes())
            .map_or(authority, |at| &authority[at + 1..]);
        let bracketed = host_port.starts_with('[');
        let host = if bracketed {
            let v6 = &host_port[1..];
            &v6[..upto(v6, memchr::memchr(b']', v6.as_bytes()))]
        } else {
            &host_port[..upto(host_port, memchr::memchr(b':', host_port.as_bytes()))]
        };
        let domain = !bracketed && domain_valid(host, true);
        let ipv4 = !bracketed && ipv4_valid(host.as_bytes());
        let valid = if bracketed {
            host.parse::<Ipv6Addr>().is_ok()
        } else {
            ipv4 || domain || host.eq_ignore_ascii_case("localhost")
        };
        if valid {
            sink.add(category, url);
            if domain {
                sink.add(DOMAIN, &host.to_ascii_lowercase());
            } else if ipv4 {
                sink.add(IPV4, host);
            }
            taken.push((start, start + url.len()));
        }
    }
}

/// Mail addresses, found from each `@`.
fn emails(s: &str, sink: &mut Sink, taken: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    for at in memchr::memchr_iter(b'@', b) {
        let mut start = at;
        while start > 0
            && (b[start - 1].is_ascii_alphanumeric()
                || matches!(b[start - 1], b'.' | b'_' | b'%' | b'+' | b'-'))
        {
            start -= 1;
        }
        let mut end = at + 1;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || matches!(b[end], b'.' | b'-')) {
            end += 1;
        }
        let local = s[start..at].trim_start_matches('.');
        let domain = s[at + 1..end].trim_end_matches(['.', '-']);
        if local.is_empty() || local.len() > 64 || !domain_valid(domain, true) {
            continue;
        }
        sink.add(MAILTO, &format!("{local}@{domain}"));
        sink.add(DOMAIN, &domain.to_ascii_lowercase());
        taken.push((start, end));
    }
}

/// Bytes a dotted token is made of: letters, digits, `.`, `-` and `_` (a table, as it is
/// consulted for every byte around every dot).
static DOTTED_TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_';
        c += 1;
    }
    t
};

/// Dotted tokens: IPv4 addresses and domain names outside URLs and addresses.
fn dotted(s: &str, sink: &mut Sink, taken: &[(usize, usize)]) {
    let b = s.as_bytes();
    let is_token = |c: u8| DOTTED_TOKEN[c as usize];
    // Only tokens holding a dot matter: start from each dot rather than walking every word.
    let mut next = 0;
    for dot in memchr::memchr_iter(b'.', b) {
        if dot < next {
            continue;
        }
        let mut start = dot;
        while start > 0 && is_token(b[start - 1]) {
            start -= 1;
        }
        let mut i = dot + 1;
        while i < b.len() && is_token(b[i]) {
            i += 1;
        }
        next = i;
        if taken.iter().any(|&(a, z)| start < z && i > a) {
            continue;
        }
        let token = s[start..i].trim_matches(['.', '-']);
        let t = token.as_bytes();
        if memchr::memchr(b'.', t).is_none() {
            continue;
        }
        if t.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
            // Right after a letter ("v1.2.3.4") or the word version, it is a version number.
            let after_letter = start > 0 && b[start - 1].is_ascii_alphabetic();
            let versionish = || {
                let before = &b[start.saturating_sub(24)..start];
                // On the same line only.
                let line = before
                    .iter()
                    .rposition(|&c| c == b'\n' || c == b'\r')
                    .map_or(before, |at| &before[at + 1..]);
                line.windows(7).any(|w| w.eq_ignore_ascii_case(b"version"))
            };
            if ipv4_valid(t) && !after_letter && !t.starts_with(b"0.") && !versionish() {
                sink.add(IPV4, token);
            }
        } else if memchr::memchr(b'_', t).is_none() && domain_valid(token, false) {
            sink.add(DOMAIN, &token.to_ascii_lowercase());
        }
    }
}

/// Four decimal octets, each at most 255 without leading zeros.
fn ipv4_valid(s: &[u8]) -> bool {
    let mut octets = 0;
    for part in s.split(|&c| c == b'.') {
        octets += 1;
        let valid = octets <= 4
            && !part.is_empty()
            && part.len() <= 3
            && part.iter().all(u8::is_ascii_digit)
            && (part.len() == 1 || part[0] != b'0')
            && part.iter().fold(0u16, |n, &c| n * 10 + u16::from(c - b'0')) <= 255;
        if !valid {
            return false;
        }
    }
    octets == 4
}

/// A DNS label as host names use it: letters, digits and inner hyphens, and not CamelCase
/// (`System.IO` and `Microsoft.Win32` are identifiers, not host names).
fn label_ok(l: &[u8]) -> bool {
    if l.is_empty() || l.len() > 63 || l[0] == b'-' || l[l.len() - 1] == b'-' {
        return false;
    }
    let (mut lower, mut upper) = (false, false);
    for &c in l {
        if c.is_ascii_lowercase() {
            lower = true;
        } else if c.is_ascii_uppercase() {
            upper = true;
        } else if !(c.is_ascii_digit() || c == b'-') {
            return false;
        }
    }
    !(lower && upper)
}

/// A host name with a real TLD. `strong` is set when the context (a URL, an address) already says
/// it is a host, which lifts the extra demands on ambiguous TLDs.
fn domain_valid(s: &str, strong: bool) -> bool {
    let b = s.as_bytes();
    if b.len() > 253 || b.len() < 4 {
        return false;
    }
    // The TLD first: it rejects nearly every dotted token of a binary.
    let Some(dot) = memchr::memrchr(b'.', b) else {
        return false;
    };
    let (rest, tld) = (&b[..dot], &b[dot + 1..]);
    if tld_key(tld).is_none_or(|key| tlds().binary_search(&key).is_err()) {
        return false;
    }
    if !label_ok(tld) || !rest.split(|&c| c == b'.').all(label_ok) {
        return false;
    }
    strong
        || memchr::memchr(b'.', rest).is_some()
        || !AMBIGUOUS_TLDS
            .iter()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(tld))
}

/// IPv6 addresses, found from each `:`.
fn ipv6(s: &str, sink: &mut Sink, taken: &[(usize, usize)]) {
    let b = s.as_bytes();
    let is_token = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let mut next = 0;
    for colon in memchr::memchr_iter(b':', b) {
        if colon < next {
            continue;
        }
        let mut start = colon;
        while start > 0 && is_token(b[start - 1]) {
            start -= 1;
        }
        let mut i = colon + 1;
        while i < b.len() && is_token(b[i]) {
            i += 1;
        }
        next = i;
        // Inside a longer word (e.g. "std::max") it is code, not an address.
        let glued = (start > 0 && b[start - 1].is_ascii_alphanumeric())
            || (i < b.len() && b[i].is_ascii_alphanumeric());
        if glued || taken.iter().any(|&(a, z)| start < z && i > a) {
            continue;
        }
        let token = s[start..i].trim_end_matches('.');
        let groups = token
            .as_bytes()
            .split(|&c| c == b':')
            .filter(|g| !g.is_empty())
            .count();
        if groups < 3 {
            continue;
        }
        if let Ok(addr) = token.parse::<Ipv6Addr>() {
            if !addr.is_unspecified() && !addr.is_loopback() {
                sink.add(IPV6, &addr.to_string());
            }
        }
    }
}

/// Characters that end a path in running text.
fn path_end(c: u8) -> bool {
    c.is_ascii_control() || matches!(c, b'"' | b'<' | b'>' | b'|' | b'*' | b'?')
}

/// Where the path starting at `from` ends (at a space too when `space_ends`).
fn path_stop(b: &[u8], from: usize, space_ends: bool) -> usize {
    b[from..]
        .iter()
        .position(|&c| path_end(c) || (space_ends && c == b' '))
        .map_or(b.len(), |n| from + n)
}

/// `C:\...`, `%APPDATA%\...` and `\\server\share\...` paths, found from each backslash: a drive
/// (`C:` before it), a variable (`%NAME%` before it) or a UNC prefix (a second one after it).
fn windows_paths(s: &str, sink: &mut Sink) {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut next = 0;
    for bs in memchr::memchr_iter(b'\\', b) {
        let drive = (bs >= 2 && b[bs - 1] == b':' && b[bs - 2].is_ascii_alphabetic())
            .then(|| bs - 2)
            .filter(|&i| i == 0 || !b[i - 1].is_ascii_alphanumeric());
        // `%NAME%\`: the opening `%` sits before a name of two word characters or more.
        let env = (bs >= 1 && b[bs - 1] == b'%')
            .then(|| {
                let name = b[..bs - 1].iter().rev().take_while(|&&c| word(c)).count();
                let open = (bs - 1).checked_sub(name + 1)?;
                (name > 1 && b[open] == b'%').then_some(open)
            })
            .flatten();
        let unc = (b[bs + 1..].starts_with(b"\\")
            && b.get(bs + 2).is_some_and(u8::is_ascii_alphanumeric)
            && (bs == 0 || b[bs - 1] != b'\\'))
            .then_some(bs);
        for start in [drive.or(env), unc].into_iter().flatten() {
            if start < next {
                continue;
            }
            let end = path_stop(b, start, false);
            let path = s[start..end].trim_end_matches([' ', '.', ',', ';']);
            if path.len() > 3 {
                sink.add(FILE_PATH, path);
            }
            next = end.max(start + 1);
        }
    }
}

/// Absolute Unix paths under the usual roots.
fn unix_path(s: &str, sink: &mut Sink) {
    const ROOTS: &[&str] = &[
        "/bin/",
        "/boot/",
        "/dev/",
        "/etc/",
        "/home/",
        "/lib/",
        "/lib64/",
        "/opt/",
        "/proc/",
        "/root/",
        "/run/",
        "/sbin/",
        "/sys/",
        "/tmp/",
        "/usr/",
        "/var/",
        "/Applications/",
        "/Library/",
        "/System/",
        "/Users/",
        "/private/",
    ];
    if !ROOTS.iter().any(|r| s.starts_with(r)) {
        return;
    }
    let end = path_stop(s.as_bytes(), 0, true);
    let path = s[..end].trim_end_matches(['.', ',', ';', ':']);
    if path.len() > 5 {
        sink.add(FILE_PATH, path);
    }
}

/// Registry keys: `HKEY_...`, `HKLM\...` and friends, found from each `h`.
fn registry(s: &str, sink: &mut Sink) {
    const ROOTS: &[&[u8]] = &[
        b"hkey_", b"hklm\\", b"hkcu\\", b"hkcr\\", b"hku\\", b"hkcc\\",
    ];
    let b = s.as_bytes();
    for start in memchr::memchr2_iter(b'h', b'H', b) {
        if start > 0 && b[start - 1].is_ascii_alphanumeric() {
            continue;
        }
        let rest = &b[start..];
        if !ROOTS
            .iter()
            .any(|r| rest.len() >= r.len() && rest[..r.len()].eq_ignore_ascii_case(r))
        {
            continue;
        }
        let end = path_stop(b, start, false);
        let key = s[start..end].trim_end_matches([' ', '.', ',', ';', '\\']);
        if key.contains('\\') {
            sink.add(REGISTRY, key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interesting(data: &[u8]) -> Vec<(String, Vec<String>)> {
        scan(data, &Options::default())
            .interesting
            .into_iter()
            .map(|i| (i.category, i.values))
            .collect()
    }

    fn values(data: &[u8], category: &str) -> Vec<String> {
        interesting(data)
            .into_iter()
            .find(|(c, _)| c == category)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }

    fn utf16(s: &str) -> Vec<u8> {
        s.bytes().flat_map(|b| [b, 0]).collect()
    }

    #[test]
    fn ascii_and_utf16_strings_are_found_with_offsets() {
        let mut data = b"\x00\x01hello world\x00\xff".to_vec();
        let at = data.len();
        data.extend(utf16("wide string"));
        data.extend(b"\x00\x00abc\x00");
        let s = scan(&data, &Options::default());
        assert!(s.listed.contains(&Found {
            offset: 2,
            encoding: Encoding::Ascii,
            value: "hello world".into()
        }));
        assert!(s.listed.contains(&Found {
            offset: at as u64,
            encoding: Encoding::Utf16le,
            value: "wide string".into()
        }));
        // "abc" is shorter than the minimum.
        assert!(!s.listed.iter().any(|f| f.value == "abc"));
    }

    #[test]
    fn the_fast_scanner_finds_what_the_plain_ones_find() {
        let mut state = 0x9e37_79b9u32;
        let mut data: Vec<u8> = (0..20_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                // Mostly printable, zeros and control bytes in between, to make runs of every length.
                match state % 7 {
                    0 => 0,
                    1 => (state >> 8) as u8,
                    _ => b'a' + (state >> 8) as u8 % 26,
                }
            })
            .collect();
        // Runs longer than a 64-byte block, at both alignments, and one past MAX_STRING.
        data.extend(b"x".repeat(300));
        data.push(0xff);
        data.extend(utf16(&"w".repeat(150)));
        data.extend([0xff, 0xff, 0x01]);
        data.extend(utf16(&"v".repeat(90)));
        data.extend(b"y".repeat(MAX_STRING + 77));
        data.push(0x02);
        data.extend(utf16("a wide tail"));
        data.extend(b"and a narrow one");
        for min in [1, 2, 4, 5, 8, 20, 32] {
            let mut fast = Vec::new();
            fast_runs(&data, min, &mut |at, e, s: &[u8]| {
                fast.push((at, e.name(), s.to_vec()))
            });
            let mut plain = Vec::new();
            ascii_runs(&data, min, |at, s| plain.push((at, "ascii", s.to_vec())));
            utf16_runs(&data, min, |at, s| plain.push((at, "utf-16le", s.to_vec())));
            fast.sort();
            plain.sort();
            assert_eq!(fast, plain, "min {min}");
        }
    }

    #[test]
    fn chunks_split_no_string() {
        // A URL straddling the nominal chunk end is found whole, at its offset.
        let mut data = vec![0xffu8; CHUNK - 10];
        data.extend(b"http://cross.example.com/path");
        data.extend(vec![0xffu8; 100]);
        let mut released = Vec::new();
        let s = scan_releasing(&data, &Options::default(), |at| released.push(at));
        assert_eq!(s.listed[0].value, "http://cross.example.com/path");
        assert_eq!(s.listed[0].offset, (CHUNK - 10) as u64);
        assert_eq!(released.last(), Some(&data.len()));
        assert!(released.len() >= 2);
    }

    #[test]
    fn lines_of_text_are_classified_as_separate_strings_would_be() {
        let text = b"Download http://dl.example.com/a.exe\r\n/etc/passwd is read, then\n\
            mail admin@example.org or see [2001:db8::1]\nVersion\n10.1.2.3 answers at 10.9.8.7:\n\
            C:\\Temp\\x.exe\nHKLM\\Software\\Run\n\nhttp\n://not.example.com/\n";
        let joined = scan(text, &Options::default()).interesting;
        let split: Vec<u8> = text
            .iter()
            .map(|&c| if c == b'\n' || c == b'\r' { 0xff } else { c })
            .collect();
        assert_eq!(joined, scan(&split, &Options::default()).interesting);
        let values = |category: &str| {
            joined
                .iter()
                .find(|i| i.category == category)
                .map(|i| i.values.clone())
                .unwrap_or_default()
        };
        assert_eq!(values("http"), ["http://dl.example.com/a.exe"]);
        assert_eq!(values("file_path"), ["/etc/passwd", "C:\\Temp\\x.exe"]);
        assert_eq!(values("mailto"), ["admin@example.org"]);
        // "Version" on the line before does not make the next line's address a version.
        assert_eq!(values("ipv4"), ["10.1.2.3", "10.9.8.7"]);
        assert_eq!(values("registry"), ["HKLM\\Software\\Run"]);
        assert_eq!(values("ipv6"), ["2001:db8::1"]);
        // A scheme on the line before is not joined to the rest of a URL.
        assert_eq!(
            values("domain"),
            ["dl.example.com", "example.org", "not.example.com"]
        );
    }

    #[test]
    fn the_listing_is_capped_but_the_count_is_not() {
        let data = b"aaaaaa\x00".repeat(50);
        let opts = Options {
            max_listed: 10,
            ..Options::default()
        };
        let s = scan(&data, &opts);
        assert_eq!(s.listed.len(), 10);
        assert_eq!(s.total, 50);
    }

    #[test]
    fn urls_by_scheme_with_their_hosts_as_domains() {
        let data = b"get http://evil.example.com/a.exe?x=1, then https://10.1.2.3:8443/p and ftp://files.example.org/.";
        assert_eq!(values(data, "http"), ["http://evil.example.com/a.exe?x=1"]);
        assert_eq!(values(data, "https"), ["https://10.1.2.3:8443/p"]);
        assert_eq!(values(data, "ftp"), ["ftp://files.example.org/"]);
        assert_eq!(
            values(data, "domain"),
            ["evil.example.com", "files.example.org"]
        );
        assert_eq!(values(data, "ipv4"), ["10.1.2.3"]);
    }

    #[test]
    fn urls_found_in_utf16_text() {
        assert_eq!(
            values(&utf16("open https://cdn.example.net/x"), "https"),
            ["https://cdn.example.net/x"]
        );
    }

    #[test]
    fn a_url_without_a_real_host_is_not_taken() {
        assert!(values(b"see http://notahost/ and http://a.b.exe/", "http").is_empty());
    }

    #[test]
    fn email_addresses() {
        let data = b"mail to: <admin@mail.example.co.uk> or mailto:x.y+z@example.org.";
        assert_eq!(
            values(data, "mailto"),
            ["admin@mail.example.co.uk", "x.y+z@example.org"]
        );
    }

    #[test]
    fn ipv4_validation() {
        let data = b"host 192.168.1.20 ok; bad 1.2.3 and 1.2.3.4.5 and 300.1.1.1 and 01.2.3.4; v1.2.3.4; FileVersion 6.1.7601.17514";
        assert_eq!(values(data, "ipv4"), ["192.168.1.20"]);
    }

    #[test]
    fn domain_validation() {
        let data = b"connect to update.example.com; not kernel32.dll, System.IO, Microsoft.Win32, setup.py, libc.so, a.b; but cdn.files.zip";
        assert_eq!(
            values(data, "domain"),
            ["cdn.files.zip", "update.example.com"]
        );
    }

    #[test]
    fn ipv6_validation() {
        let data = b"addr 2001:db8::8a2e:370:7334 but not std::vector or ::1 or a::b";
        assert_eq!(values(data, "ipv6"), ["2001:db8::8a2e:370:7334"]);
    }

    #[test]
    fn windows_and_unix_paths() {
        let data = b"C:\\Windows\\System32\\evil.dll\x00%APPDATA%\\Roaming\\x.exe\x00\\\\server\\share\\f.txt\x00/etc/passwd\x00/not/a/root";
        assert_eq!(
            values(data, "file_path"),
            [
                "%APPDATA%\\Roaming\\x.exe",
                "/etc/passwd",
                "C:\\Windows\\System32\\evil.dll",
                "\\\\server\\share\\f.txt"
            ]
        );
    }

    #[test]
    fn registry_keys() {
        let data = b"HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\x00HKLM\\SYSTEM\\CurrentControlSet\\Services\x00HKEY_nothing";
        assert_eq!(
            values(data, "registry"),
            [
                "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
                "HKLM\\SYSTEM\\CurrentControlSet\\Services"
            ]
        );
    }

    #[test]
    fn values_are_deduplicated_and_capped_per_category() {
        let mut data = Vec::new();
        for i in 0..50 {
            data.extend(
                format!("http://h{i}.example.com/\x00http://h{i}.example.com/\x00").bytes(),
            );
        }
        let opts = Options {
            max_per_category: 20,
            ..Options::default()
        };
        let s = scan(&data, &opts);
        let http = s.interesting.iter().find(|i| i.category == "http").unwrap();
        assert_eq!(http.values.len(), 20);
        let distinct: std::collections::BTreeSet<_> = http.values.iter().collect();
        assert_eq!(distinct.len(), 20);
    }

    #[test]
    fn nothing_interesting_in_plain_prose_or_noise() {
        assert!(
            interesting(b"The quick brown fox jumps over the lazy dog. Version 1.2.3 here.")
                .is_empty()
        );
        let noise: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let s = scan(&noise, &Options::default());
        assert!(s.interesting.iter().all(|i| i.category != "http"));
    }
}
