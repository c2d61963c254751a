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

use std::collections::{BTreeSet, HashSet};
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

/// Collects values per category, de-duplicated and capped.
struct Sink {
    sets: [BTreeSet<String>; CATEGORIES.len()],
    max: usize,
}

impl Sink {
    fn add(&mut self, category: &str, value: &str) {
        let Some(i) = CATEGORIES.iter().position(|c| *c == category) else {
            return;
        };
        let set = &mut self.sets[i];
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
        let mut take = |offset: usize, encoding: Encoding, value: &str| {
            out.total += 1;
            if out.listed.len() < opts.max_listed {
                out.listed.push(Found {
                    offset: (start + offset) as u64,
                    encoding,
                    value: value.to_string(),
                });
            }
            classify(value, &mut sink);
        };
        runs(chunk, min, &mut take);
        done(end);
        start = end;
    }
    out.interesting = CATEGORIES
        .iter()
        .zip(sink.sets)
        .filter(|(_, set)| !set.is_empty())
        .map(|(category, set)| InterestingStrings {
            category: category.to_string(),
            values: set.into_iter().collect(),
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
fn runs(data: &[u8], min: usize, f: &mut impl FnMut(usize, Encoding, &str)) {
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

/// [`ascii_runs`] and [`utf16_runs`] in one pass, 64 bytes at a time: bit masks say which bytes
/// are printable and which are zero, and shifted ANDs of them find where a long enough run ends.
/// Only those ends (rare) are visited byte by byte, to find their start.
fn fast_runs(data: &[u8], min: usize, f: &mut impl FnMut(usize, Encoding, &str)) {
    /// Bits of even and of odd positions: UTF-16 runs at either byte alignment.
    const PARITY: [u64; 2] = [0x5555_5555_5555_5555, 0xaaaa_aaaa_aaaa_aaaa];
    let mut text = String::new();
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
        let (mut rp, mut rv) = (u128::MAX, u128::MAX);
        for k in 1..=min {
            rp &= wp << k;
            rv &= wv << (2 * k);
        }
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
fn ascii_runs(data: &[u8], min: usize, mut f: impl FnMut(usize, &str)) {
    let mut from = 0;
    while let Some((start, end)) = next_run(data, from, min, 1) {
        emit_ascii(data, start, end, min, &mut f);
        from = end;
    }
}

/// Hands the printable run `data[start..end]` to `f`, cut into pieces of at most [`MAX_STRING`]
/// (a last piece shorter than `min` is dropped).
fn emit_ascii(data: &[u8], start: usize, end: usize, min: usize, f: &mut impl FnMut(usize, &str)) {
    let mut at = start;
    while end - at >= min {
        let stop = end.min(at + MAX_STRING);
        // Printable ASCII is valid UTF-8.
        if let Ok(s) = std::str::from_utf8(&data[at..stop]) {
            f(at, s);
        }
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
    text: &mut String,
    f: &mut impl FnMut(usize, &str),
) {
    let mut at = start;
    while (end - at) / 2 >= min {
        let stop = end.min(at + MAX_STRING * 2);
        text.clear();
        text.extend(data[at..stop].iter().step_by(2).map(|&b| b as char));
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
fn utf16_runs(data: &[u8], min: usize, mut f: impl FnMut(usize, &str)) {
    let mut text = String::new();
    for align in 0..2 {
        let mut from = align;
        while let Some((start, end)) = next_run(data, from, min, 2) {
            emit_utf16(data, start, end, min, &mut text, &mut f);
            from = end;
        }
    }
}

/// Top-level domains, from `tlds.txt`.
fn tlds() -> &'static HashSet<&'static str> {
    static TLDS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    TLDS.get_or_init(|| include_str!("tlds.txt").lines().collect())
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

/// Sorts the interesting parts of one string into the sink.
fn classify(s: &str, sink: &mut Sink) {
    let bytes = s.as_bytes();
    // One pass decides which parsers can match at all; most strings in a binary need none.
    let marks = bytes.iter().fold(0u8, |m, &c| m | MARKS[c as usize]);
    if marks == 0 {
        return;
    }
    // Spans already taken by URLs and addresses, so their hosts are not counted twice.
    let mut taken: Vec<(usize, usize)> = Vec::new();
    if marks & (COLON | SLASH) == COLON | SLASH && s.contains("://") {
        urls(s, sink, &mut taken);
    }
    if marks & (AT | DOT) == AT | DOT {
        emails(s, sink, &mut taken);
    }
    if marks & DOT != 0 {
        dotted(s, sink, &taken);
    }
    if marks & COLON != 0 && bytes.iter().filter(|&&b| b == b':').nth(1).is_some() {
        ipv6(s, sink, &taken);
    }
    if marks & BACKSLASH != 0 {
        windows_paths(s, sink);
        registry(s, sink);
    } else if bytes.first() == Some(&b'/') {
        unix_path(s, sink);
    }
}

/// Characters that end a URL in running text.
fn url_char(c: u8) -> bool {
    c.is_ascii_graphic() && !b"\"'<>`{}|\\^".contains(&c)
}

fn urls(s: &str, sink: &mut Sink, taken: &mut Vec<(usize, usize)>) {
    let lower = s.to_ascii_lowercase();
    for (scheme, category) in [
        ("http://", "http"),
        ("https://", "https"),
        ("ftp://", "ftp"),
    ] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(scheme) {
            let start = from + pos;
            let mut end = start + scheme.len();
            while end < s.len() && url_char(s.as_bytes()[end]) {
                end += 1;
            }
            let url = s[start..end].trim_end_matches(['.', ',', ';', ':', ')', ']', '!', '?']);
            from = start + scheme.len();
            let rest = &url[scheme.len()..];
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host_port = authority.rsplit('@').next().unwrap_or("");
            let host = if let Some(v6) = host_port.strip_prefix('[') {
                v6.split(']').next().unwrap_or("")
            } else {
                host_port.split(':').next().unwrap_or("")
            };
            let valid = if host_port.starts_with('[') {
                host.parse::<Ipv6Addr>().is_ok()
            } else {
                ipv4_valid(host)
                    || domain_valid(host, true)
                    || host.eq_ignore_ascii_case("localhost")
            };
            if valid {
                sink.add(category, url);
                if domain_valid(host, true) {
                    sink.add("domain", &host.to_ascii_lowercase());
                } else if ipv4_valid(host) {
                    sink.add("ipv4", host);
                }
                taken.push((start, start + url.len()));
            }
        }
    }
}

fn emails(s: &str, sink: &mut Sink, taken: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    for (at, _) in s.match_indices('@') {
        let mut start = at;
        while start > 0
            && (b[start - 1].is_ascii_alphanumeric() || b"._%+-".contains(&b[start - 1]))
        {
            start -= 1;
        }
        let mut end = at + 1;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b".-".contains(&b[end])) {
            end += 1;
        }
        let local = s[start..at].trim_start_matches('.');
        let domain = s[at + 1..end].trim_end_matches(['.', '-']);
        if local.is_empty() || local.len() > 64 || !domain_valid(domain, true) {
            continue;
        }
        let address = format!("{local}@{domain}");
        sink.add("mailto", &address);
        sink.add("domain", &domain.to_ascii_lowercase());
        taken.push((start, end));
    }
}

/// Dotted tokens: IPv4 addresses and domain names outside URLs and addresses.
fn dotted(s: &str, sink: &mut Sink, taken: &[(usize, usize)]) {
    let b = s.as_bytes();
    let is_token = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'_';
    // Only tokens holding a dot matter: start from each dot (found with memchr) rather than
    // walking every word of a long text line.
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
        if !token.contains('.') {
            continue;
        }
        if token.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            // Right after a letter ("v1.2.3.4") or the word version, it is a version number.
            let after_letter = start > 0 && b[start - 1].is_ascii_alphabetic();
            let versionish = || {
                let before = &s.as_bytes()[start.saturating_sub(24)..start];
                before
                    .windows(7)
                    .any(|w| w.eq_ignore_ascii_case(b"version"))
            };
            if ipv4_valid(token) && !after_letter && !token.starts_with("0.") && !versionish() {
                sink.add("ipv4", token);
            }
        } else if !token.contains('_') && domain_valid(token, false) {
            sink.add("domain", &token.to_ascii_lowercase());
        }
    }
}

/// Four decimal octets, each at most 255 without leading zeros.
fn ipv4_valid(s: &str) -> bool {
    s.split('.').count() == 4
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// A host name with a real TLD. `strong` is set when the context (a URL, an address) already says
/// it is a host, which lifts the extra demands on ambiguous TLDs.
fn domain_valid(s: &str, strong: bool) -> bool {
    if s.len() > 253 || s.len() < 4 {
        return false;
    }
    // The TLD first: it rejects nearly every dotted token of a binary.
    let Some((rest, tld)) = s.rsplit_once('.') else {
        return false;
    };
    let mut lower = [0u8; 24];
    if tld.len() < 2 || tld.len() > lower.len() || !tld.bytes().all(|c| c.is_ascii_alphabetic()) {
        return false;
    }
    lower[..tld.len()].copy_from_slice(tld.as_bytes());
    lower[..tld.len()].make_ascii_lowercase();
    let tld = std::str::from_utf8(&lower[..tld.len()]).unwrap_or("");
    if !tlds().contains(tld) {
        return false;
    }
    let label_ok = |l: &str| {
        let lower = l.bytes().any(|c| c.is_ascii_lowercase());
        let upper = l.bytes().any(|c| c.is_ascii_uppercase());
        // CamelCase labels are identifiers (System.IO, Microsoft.Win32), not host names.
        let camel = lower && upper;
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
            && !camel
    };
    if !rest.split('.').all(label_ok) || !label_ok(s.rsplit('.').next().unwrap_or("")) {
        return false;
    }
    strong || rest.contains('.') || !AMBIGUOUS_TLDS.contains(&tld)
}

fn ipv6(s: &str, sink: &mut Sink, taken: &[(usize, usize)]) {
    let b = s.as_bytes();
    let is_token = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let mut i = 0;
    while i < b.len() {
        if !is_token(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_token(b[i]) {
            i += 1;
        }
        // Inside a longer word (e.g. "std::max") it is code, not an address.
        let glued = (start > 0 && b[start - 1].is_ascii_alphanumeric())
            || (i < b.len() && b[i].is_ascii_alphanumeric());
        if glued || taken.iter().any(|&(a, z)| start < z && i > a) {
            continue;
        }
        let token = s[start..i].trim_end_matches('.');
        let groups = token.split(':').filter(|g| !g.is_empty()).count();
        if groups < 3 {
            continue;
        }
        if let Ok(addr) = token.parse::<Ipv6Addr>() {
            if !addr.is_unspecified() && !addr.is_loopback() {
                sink.add("ipv6", &addr.to_string());
            }
        }
    }
}

/// Characters that end a path in running text.
fn path_end(c: char) -> bool {
    c.is_control() || "\"<>|*?".contains(c)
}

/// `C:\...`, `%APPDATA%\...` and `\\server\share\...` paths.
fn windows_paths(s: &str, sink: &mut Sink) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let drive = i + 2 < b.len()
            && b[i].is_ascii_alphabetic()
            && b[i + 1] == b':'
            && b[i + 2] == b'\\'
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        let env = b[i] == b'%'
            && s[i + 1..].find("%\\").is_some_and(|n| {
                n > 1
                    && s[i + 1..i + 1 + n]
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_')
            });
        let unc = b[i..].starts_with(b"\\\\")
            && b.get(i + 2).is_some_and(|c| c.is_ascii_alphanumeric())
            && (i == 0 || b[i - 1] != b'\\');
        if !(drive || env || unc) {
            i += 1;
            continue;
        }
        let end = s[i..].find(path_end).map_or(s.len(), |n| i + n);
        let path = s[i..end].trim_end_matches([' ', '.', ',', ';']);
        if path.len() > 3 {
            sink.add("file_path", path);
        }
        i = end.max(i + 1);
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
    let end = s.find(|c: char| path_end(c) || c == ' ').unwrap_or(s.len());
    let path = s[..end].trim_end_matches(['.', ',', ';', ':']);
    if path.len() > 5 {
        sink.add("file_path", path);
    }
}

/// Registry keys: `HKEY_...`, `HKLM\...` and friends.
fn registry(s: &str, sink: &mut Sink) {
    const ROOTS: &[&str] = &["hkey_", "hklm\\", "hkcu\\", "hkcr\\", "hku\\", "hkcc\\"];
    let lower = s.to_ascii_lowercase();
    for root in ROOTS {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(root) {
            let start = from + pos;
            from = start + root.len();
            if start > 0 && lower.as_bytes()[start - 1].is_ascii_alphanumeric() {
                continue;
            }
            let end = s[start..].find(path_end).map_or(s.len(), |n| start + n);
            let key = s[start..end].trim_end_matches([' ', '.', ',', ';', '\\']);
            if key.contains('\\') {
                sink.add("registry", key);
            }
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
            fast_runs(&data, min, &mut |at, e, s: &str| {
                fast.push((at, e.name(), s.to_string()))
            });
            let mut plain = Vec::new();
            ascii_runs(&data, min, |at, s| plain.push((at, "ascii", s.to_string())));
            utf16_runs(&data, min, |at, s| {
                plain.push((at, "utf-16le", s.to_string()))
            });
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
        let distinct: BTreeSet<_> = http.values.iter().collect();
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
