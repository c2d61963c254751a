//! Nullsoft (NSIS) installers: the files an installer carries, from the data block its stub
//! reads at run time (NSIS 2 and 3, `fileform.h`; the layout as 7-Zip's reader documents it).
//!
//! The block starts at the "first header" (`\xef\xbe\xad\xde NullsoftInst`, 512-byte aligned in
//! the overlay): flags, the uncompressed size of the script header, the block's size. Then, in
//! the default (non-solid) mode, the script header and every file follow as chunks of their own
//! (u32 size with bit 31 set when compressed, then the bytes); with `SetCompressor /SOLID` all
//! of it is one compressed stream holding the same chunks uncompressed. The compressor is zlib's
//! raw deflate, NSIS's own bzip2 ([`super::nsis_bzip2`]) or LZMA (5 property bytes, no size),
//! told apart by the first bytes, as the stub does.
//!
//! Files are named from the script: each `File` instruction (`EW_EXTRACTFILE`) names the file and
//! points at its chunk, and `SetOutPath` (`EW_CREATEDIR`) gives its directory, both through the
//! header's string table (ANSI or UTF-16, with NSIS's variable codes shown as `$VAR`, `$INSTDIR`
//! and so on). A chunk no instruction points at (the uninstaller's data) is `data-<offset>.bin`;
//! the script header itself is a member too (`[NSIS].script`), as the commands and URLs it holds
//! are what rules look for.
//!
//! Not handled: undoing the x86 filter NSIS can apply before LZMA (reported as a warning; the
//! data comes out filtered), installers split into external data files, and NSIS 1.x.

use std::borrow::Cow;
use std::collections::HashMap;

use memchr::memmem;

use super::{printable, Members, ReadStop};
use crate::analysis::bytes::le32;
use crate::analysis::warning::Problem;

/// The signature after the first header's flags.
const SIGNATURE: &[u8] = b"\xef\xbe\xad\xdeNullsoftInst";

/// First-header flag: no CRC32 follows the data block.
const FH_FLAGS_NO_CRC: u32 = 4;

/// Bit 31 of a chunk size: the chunk is compressed.
const COMPRESSED: u32 = 0x8000_0000;

/// Largest LZMA dictionary accepted (NSIS allows up to 256 MiB via `SetCompressorDictSize`).
const MAX_DICTIONARY: u32 = 256 * 1024 * 1024;

/// Most chunks read from one installer.
pub const MAX_CHUNKS: usize = 100_000;

/// Script opcodes (NSIS 2.x/3.x `EW_*`).
const EW_CREATEDIR: u32 = 11;
const EW_EXTRACTFILE: u32 = 20;

/// Bytes of one script entry: the opcode and six parameters.
const ENTRY_SIZE: usize = 28;

/// Most script entries read for names.
const MAX_ENTRIES: usize = 1_000_000;

/// Most files named from the script, and most string lookups made for names; past them,
/// chunks are named by their offset.
const MAX_NAMED: usize = 10_000;
const MAX_NAME_LOOKUPS: usize = 40_000;

/// The compressors NSIS offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Deflate,
    Bzip2,
    Lzma,
}

impl Method {
    /// The compressor of a stream, from its first bytes.
    fn of(stream: &[u8]) -> Method {
        match stream {
            [0x5d, 0, 0, ..] | [0 | 1, 0x5d, 0, 0, ..] => Method::Lzma,
            [0x31, b, ..] if *b < 14 => Method::Bzip2,
            _ => Method::Deflate,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Method::Deflate => "zlib",
            Method::Bzip2 => "bzip2",
            Method::Lzma => "lzma",
        }
    }
}

/// Where the first header is: a signature preceded by four flag bytes and followed by sizes
/// that fit the file. The stub looks at 512-byte boundaries only, so an aligned one is taken
/// over a decoy elsewhere (a signature in a string table, say).
fn first_header(data: &[u8]) -> Option<usize> {
    let fits = |fh: usize| {
        le32(data, fh + 24).is_some_and(|total| fh.checked_add(total as usize).is_some())
            && le32(data, fh + 20).is_some_and(|h| h > 0)
    };
    let mut first = None;
    for fh in memmem::find_iter(data, SIGNATURE)
        .filter(|&at| at >= 4)
        .map(|at| at - 4)
        .take(64)
    {
        if fh % 512 == 0 && fits(fh) {
            return Some(fh);
        }
        first = first.or(Some(fh));
    }
    first
}

/// Unpacks the files of the NSIS installer `data`.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let Some(fh) = first_header(data) else {
        out.warn(
            Problem::Corrupt,
            "no NSIS first header (NullsoftInst) in this file",
        );
        return;
    };
    let (Some(flags), Some(header_len), Some(total)) =
        (le32(data, fh), le32(data, fh + 20), le32(data, fh + 24))
    else {
        out.warn(Problem::Truncated, "the NSIS first header is truncated");
        return;
    };
    let start = fh + 28;
    let mut end = fh.saturating_add(total as usize);
    if end > data.len() {
        out.warn(
            Problem::Truncated,
            format!(
                "the NSIS data block is truncated: its header says {total} bytes, {} remain",
                data.len() - fh
            ),
        );
        end = data.len();
    } else if flags & FH_FLAGS_NO_CRC == 0 {
        end = end.saturating_sub(4).max(start);
    }
    let block = data.get(start..end).unwrap_or(&[]);
    if block.is_empty() {
        out.warn(Problem::Truncated, "the NSIS data block is empty");
        return;
    }
    let chunks = match non_solid_header(block, header_len, out) {
        Some((method, header, after)) => Chunks {
            method: Some(method),
            data: Cow::Borrowed(block),
            header,
            base: after,
        },
        None => match solid(block, header_len, out) {
            Some(c) => c,
            None => return,
        },
    };
    emit(chunks, out);
}

/// The data block read: its script header and where the file chunks start.
struct Chunks<'b> {
    /// The compressor of non-solid chunks (`None`: solid, the chunks are plain).
    method: Option<Method>,
    /// The chunks: the block itself (non-solid) or the decompressed stream (solid).
    data: Cow<'b, [u8]>,
    header: Vec<u8>,
    /// Offset in `data` where file offsets count from (just after the header chunk).
    base: usize,
}

/// The script header of a non-solid block: a chunk of its own that decompresses (or is stored)
/// to exactly `header_len` bytes. None when the block does not read that way (it is solid).
fn non_solid_header(
    block: &[u8],
    header_len: u32,
    out: &mut Members<'_>,
) -> Option<(Method, Vec<u8>, usize)> {
    let size = le32(block, 0)?;
    let len = (size & !COMPRESSED) as usize;
    let body = block.get(4..4usize.checked_add(len)?)?;
    if size & COMPRESSED == 0 {
        // Stored: the method shows only in the file chunks; take it from the first compressed.
        if size != header_len {
            return None;
        }
        let method = first_compressed(block, 4 + len).map_or(Method::Deflate, Method::of);
        return Some((method, body.to_vec(), 4 + len));
    }
    let method = Method::of(body);
    let mut trial = Members::new(out.budget().clone());
    let header = decompress(method, body, "[NSIS].script", &mut trial).ok()?;
    (header.len() == header_len as usize).then_some((method, header, 4 + len))
}

/// The first compressed chunk's bytes after `from`.
fn first_compressed(block: &[u8], mut from: usize) -> Option<&[u8]> {
    for _ in 0..MAX_CHUNKS {
        let size = le32(block, from)?;
        let len = (size & !COMPRESSED) as usize;
        let body = block.get(from + 4..(from + 4).checked_add(len)?)?;
        if size & COMPRESSED != 0 {
            return Some(body);
        }
        from += 4 + len;
    }
    None
}

/// A solid block: one stream holding the header chunk and the file chunks, uncompressed.
fn solid<'b>(block: &[u8], header_len: u32, out: &mut Members<'_>) -> Option<Chunks<'b>> {
    let method = Method::of(block);
    let stream = match decompress(method, block, "the solid NSIS stream", out) {
        Ok(s) => s,
        Err(Some(partial)) => partial,
        Err(None) => return None,
    };
    let size = le32(&stream, 0);
    if size != Some(header_len) {
        out.warn(
            Problem::Corrupt,
            format!(
                "the NSIS data block is neither a solid {} stream nor a list of chunks",
                method.name()
            ),
        );
        return None;
    }
    let header = stream.get(4..4 + header_len as usize)?.to_vec();
    Some(Chunks {
        method: None,
        base: 4 + header_len as usize,
        data: Cow::Owned(stream),
        header,
    })
}

/// Decompresses one stream through the budgets. `Err(Some(partial))`: corrupt or truncated,
/// with what decoded (warned); `Err(None)`: a budget stopped it, or it cannot start (warned).
fn decompress(
    method: Method,
    input: &[u8],
    name: &str,
    out: &mut Members<'_>,
) -> Result<Vec<u8>, Option<Vec<u8>>> {
    let packed = input.len() as u64;
    let result = match method {
        Method::Deflate => {
            out.read_member(name, packed, &mut flate2::read::DeflateDecoder::new(input))
        }
        Method::Lzma => {
            // `SetCompressor /FINAL lzma` with a filter puts a flag byte first: 1 when the x86
            // call/jump filter was applied.
            let input = match input.first() {
                Some(0) => &input[1..],
                Some(1) => {
                    out.warn(
                        Problem::Unsupported,
                        format!(
                            "{}: the x86 filter NSIS applied is not undone; the data is as filtered",
                            printable(name)
                        ),
                    );
                    &input[1..]
                }
                _ => input,
            };
            let dict = le32(input, 1).unwrap_or(0);
            if dict > MAX_DICTIONARY {
                out.warn(
                    Problem::Unsupported,
                    format!("{name}: an LZMA dictionary of {dict} bytes is larger than we take"),
                );
                return Err(None);
            }
            match lzma_rust2::LzmaReader::new_with_props(
                input.get(5..).unwrap_or(&[]),
                u64::MAX,
                0x5d,
                dict,
                None,
            ) {
                Ok(mut r) => out.read_member(name, packed, &mut r),
                Err(e) => {
                    out.warn(
                        Problem::Corrupt,
                        format!("{name}: the LZMA stream cannot start ({e})"),
                    );
                    return Err(None);
                }
            }
        }
        Method::Bzip2 => {
            let cap = out.member_cap(packed);
            let deadline = &out.budget().deadline;
            match super::nsis_bzip2::decode(input, cap, &|| deadline.passed()) {
                Ok(data) if data.len() as u64 > cap => {
                    out.admit(name, packed, data.len() as u64);
                    return Err(None);
                }
                Ok(data) => Ok(data),
                Err((why, partial)) => Err(ReadStop::Corrupt(std::io::Error::other(why), partial)),
            }
        }
    };
    match result {
        Ok(data) => Ok(data),
        Err(ReadStop::Limit) => Err(None),
        // An LZMA stream without an end marker stops at the end of its input.
        Err(ReadStop::Corrupt(e, partial)) => {
            if method == Method::Lzma
                && e.kind() == std::io::ErrorKind::UnexpectedEof
                && !partial.is_empty()
            {
                return Ok(partial);
            }
            out.warn(
                Problem::Corrupt,
                format!(
                    "{}: the {} data is corrupt or truncated ({e}); kept the {} bytes that decoded",
                    printable(name),
                    method.name(),
                    partial.len()
                ),
            );
            Err(Some(partial))
        }
    }
}

/// Hands the script header and every file chunk to `out`, named from the script.
fn emit(chunks: Chunks<'_>, out: &mut Members<'_>) {
    let names = Script::read(&chunks.header).map(|s| s.file_names());
    let names = names.unwrap_or_default();
    if !out.add("[NSIS].script", Cow::Owned(chunks.header.clone())) {
        return;
    }
    let data = &chunks.data[..];
    let mut at = chunks.base;
    let mut used: HashMap<String, usize> = HashMap::new();
    for _ in 0..MAX_CHUNKS {
        if out.stopped() || at >= data.len() {
            return;
        }
        let offset = at - chunks.base;
        let Some(size) = le32(data, at) else {
            out.warn(
                Problem::Truncated,
                format!("the NSIS chunk at offset {offset} is cut off in its size"),
            );
            return;
        };
        let compressed = chunks.method.is_some() && size & COMPRESSED != 0;
        let len = if chunks.method.is_some() {
            (size & !COMPRESSED) as usize
        } else {
            size as usize
        };
        let body_at = at + 4;
        let body = &data[body_at..data.len().min(body_at.saturating_add(len))];
        at = body_at.saturating_add(len);
        let name = match names.get(&(offset as u32)) {
            Some(n) => {
                // The same name written twice (two SetOutPath with one file): keep both.
                let count = used.entry(n.clone()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    n.clone()
                } else {
                    format!("{n}~{count}")
                }
            }
            None => format!("data-{offset}.bin"),
        };
        if body.len() < len {
            out.warn(
                Problem::Truncated,
                format!(
                    "{}: the chunk says {len} bytes, {} remain",
                    printable(&name),
                    body.len()
                ),
            );
        }
        let content = if compressed {
            match decompress(chunks.method.unwrap_or(Method::Deflate), body, &name, out) {
                Ok(d) | Err(Some(d)) => d,
                Err(None) => continue,
            }
        } else {
            if !out.admit(&name, body.len() as u64, body.len() as u64) {
                continue;
            }
            body.to_vec()
        };
        if !out.add(name, Cow::Owned(content)) {
            return;
        }
    }
    out.warn(
        Problem::Capped,
        format!("more than {MAX_CHUNKS} NSIS chunks; the rest were not read"),
    );
}

/// The script header, read for its file names.
struct Script<'h> {
    entries: &'h [u8],
    strings: &'h [u8],
    unicode: bool,
}

impl<'h> Script<'h> {
    /// The entry table and the string table, from the header's block list (`blocks[2]` and
    /// `blocks[3]`: offset and count each, after the flags).
    fn read(header: &'h [u8]) -> Option<Script<'h>> {
        let entries_at = le32(header, 4 + 2 * 8)? as usize;
        let entry_count = (le32(header, 4 + 2 * 8 + 4)? as usize).min(MAX_ENTRIES);
        let strings_at = le32(header, 4 + 3 * 8)? as usize;
        let entries_end = entries_at.checked_add(entry_count.checked_mul(ENTRY_SIZE)?)?;
        let entries = header.get(entries_at..entries_end.min(header.len()))?;
        let strings = header.get(strings_at..)?;
        // UTF-16 tables start with an empty string and hold ASCII mostly: zero high bytes.
        let sample = &strings[..strings.len().min(256)];
        let odd_zeros = sample
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|&&b| b == 0)
            .count();
        let unicode = sample.len() >= 4 && odd_zeros * 4 >= sample.len() * 3 / 2;
        Some(Script {
            entries,
            strings,
            unicode,
        })
    }

    /// The string at `index` of the string table (characters in a Unicode table), with NSIS's
    /// codes for variables, shell folders and language strings written out.
    fn string(&self, index: u32) -> String {
        const MAX_CHARS: usize = 1024;
        let mut s = String::new();
        if self.unicode {
            let at = (index as usize).saturating_mul(2);
            let units: Vec<u16> = self
                .strings
                .get(at..)
                .unwrap_or(&[])
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .take(MAX_CHARS)
                .collect();
            let mut i = 0;
            while i < units.len() {
                let u = units[i];
                match u {
                    // NSIS 3: NS_LANG_CODE 1, NS_SHELL_CODE 2, NS_VAR_CODE 3, then one unit
                    // holding the index seven bits a byte, high bits set.
                    1..=3 => {
                        let p = units.get(i + 1).copied().unwrap_or(0);
                        s.push_str(&code(u, (p & 0x7f) | (((p >> 8) & 0x7f) << 7)));
                        i += 2;
                    }
                    // NS_SKIP_CODE: the next unit is a literal.
                    4 => {
                        if let Some(&next) = units.get(i + 1) {
                            s.push(char::from_u32(u32::from(next)).unwrap_or('?'));
                        }
                        i += 2;
                    }
                    _ => {
                        s.push(char::from_u32(u32::from(u)).unwrap_or('\u{fffd}'));
                        i += 1;
                    }
                }
            }
        } else {
            let bytes: Vec<u8> = self
                .strings
                .get(index as usize..)
                .unwrap_or(&[])
                .iter()
                .copied()
                .take_while(|&b| b != 0)
                .take(MAX_CHARS)
                .collect();
            let mut i = 0;
            while i < bytes.len() {
                let b = bytes[i];
                // NSIS 3 numbers its codes 1 (language string), 2 (shell folder), 3 (variable),
                // 4 (skip: a literal follows); NSIS 2 used 255, 254, 253 and 252. A code is
                // followed by two bytes with their high bits set, seven bits of index each.
                let kind = match b {
                    1..=3 => Some(u16::from(b)),
                    253..=255 => Some(256 - u16::from(b)),
                    _ => None,
                };
                let parameter = match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(&lo), Some(&hi)) if lo & 0x80 != 0 && hi & 0x80 != 0 => {
                        Some(u16::from(lo & 0x7f) | u16::from(hi & 0x7f) << 7)
                    }
                    _ => None,
                };
                match (b, kind, parameter) {
                    (_, Some(kind), Some(p)) => {
                        s.push_str(&code(kind, p));
                        i += 3;
                    }
                    (4 | 252, _, _) if i + 1 < bytes.len() => {
                        s.push(crate::analysis::text::cp1252(bytes[i + 1]));
                        i += 2;
                    }
                    _ => {
                        s.push(crate::analysis::text::cp1252(b));
                        i += 1;
                    }
                }
            }
        }
        if s.chars().count() > MAX_CHARS {
            s = s.chars().take(MAX_CHARS).collect();
        }
        s
    }

    /// Each file chunk's offset and the path the script writes it to, relative to where the
    /// installer puts it (`$INSTDIR\docs\notes.txt`).
    /// At most [`MAX_NAMED`] names, from at most [`MAX_NAME_LOOKUPS`] string lookups: a script
    /// can be large, and a hostile one can make every lookup long.
    fn file_names(&self) -> HashMap<u32, String> {
        let mut names = HashMap::new();
        let mut dir = String::new();
        let mut lookups = 0;
        for e in self.entries.chunks_exact(ENTRY_SIZE) {
            if names.len() >= MAX_NAMED || lookups >= MAX_NAME_LOOKUPS {
                break;
            }
            let p = |i: usize| le32(e, 4 + i * 4).unwrap_or(0);
            match le32(e, 0).unwrap_or(0) {
                // SetOutPath is CreateDirectory with its second parameter set.
                EW_CREATEDIR if p(1) != 0 => {
                    lookups += 1;
                    dir = self.string(p(0));
                }
                EW_EXTRACTFILE => {
                    lookups += 1;
                    let name = self.string(p(1));
                    let path = if name.contains(['\\', '/']) || dir.is_empty() {
                        name
                    } else {
                        format!("{dir}\\{name}")
                    };
                    names.entry(p(2)).or_insert(path);
                }
                _ => {}
            }
        }
        names
    }
}

/// The text for an NSIS code: a variable (`$0`, `$INSTDIR`), a shell folder or a language
/// string.
fn code(kind: u16, index: u16) -> String {
    const VARS: &[&str] = &[
        "CMDLINE",
        "INSTDIR",
        "OUTDIR",
        "EXEDIR",
        "LANGUAGE",
        "TEMP",
        "PLUGINSDIR",
        "EXEPATH",
        "EXEFILE",
        "HWNDPARENT",
        "_CLICK",
        "_OUTDIR",
    ];
    match kind {
        3 => match index {
            0..=9 => format!("${index}"),
            10..=19 => format!("$R{}", index - 10),
            i => VARS
                .get(usize::from(i - 20))
                .map_or_else(|| format!("$V{i}"), |v| format!("${v}")),
        },
        2 => format!("$SHELL{index}"),
        _ => format!("$(LSTR_{index})"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Budget, Limit};
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nsis");
        std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn payload() -> (Vec<u8>, Vec<u8>) {
        let pe = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pe");
        (
            std::fs::read(pe.join("app32.exe")).unwrap(),
            fixture("readme.txt"),
        )
    }

    fn run(data: &[u8], budget: Budget) -> Members<'_> {
        let mut out = Members::new(budget);
        unpack(data, &mut out);
        out
    }

    #[test]
    fn every_compressor_solid_or_not_gives_the_files_back_by_name() {
        let (exe, text) = payload();
        for name in [
            "zlib.exe",
            "zlib-solid.exe",
            "bzip2.exe",
            "bzip2-solid.exe",
            "lzma.exe",
            "lzma-solid.exe",
        ] {
            let data = fixture(name);
            let out = run(&data, Budget::unlimited());
            let got: Vec<(&str, bool)> = out
                .members
                .iter()
                .skip(1)
                .map(|m| {
                    (
                        m.name.as_str(),
                        m.data[..] == exe[..] || m.data[..] == text[..],
                    )
                })
                .collect();
            assert_eq!(
                got,
                [
                    ("$INSTDIR\\app32.exe", true),
                    ("$INSTDIR\\readme.txt", true),
                    ("$INSTDIR\\docs\\notes.txt", true),
                ],
                "{name}: {:?}",
                out.warnings
            );
            assert_eq!(out.members[1].data[..], exe[..], "{name}");
            assert_eq!(out.members[3].data[..], text[..], "{name}");
            assert_eq!(out.members[0].name, "[NSIS].script");
            assert!(out.warnings.is_empty(), "{name}: {:?}", out.warnings);
        }
    }

    #[test]
    fn a_decoy_signature_before_the_real_one_is_passed_over() {
        let mut data = fixture("zlib.exe");
        let real = first_header(&data).unwrap();
        // Flags, then the signature, at an unaligned place in the stub.
        let decoy = 0x403;
        data[decoy + 4..decoy + 4 + SIGNATURE.len()].copy_from_slice(SIGNATURE);
        assert_eq!(first_header(&data), Some(real));
        let out = run(&data, Budget::unlimited());
        assert_eq!(out.members.len(), 4, "{:?}", out.warnings);
    }

    #[test]
    fn a_cut_installer_keeps_what_it_can_and_says_so() {
        let data = fixture("zlib.exe");
        let fh = first_header(&data).unwrap();
        let out = run(&data[..fh + 2000], Budget::unlimited());
        assert!(out
            .warnings
            .iter()
            .any(|w| w.problem == Problem::Truncated && w.text.contains("data block")));
        let out = run(&data[..fh + 22], Budget::unlimited());
        assert_eq!(out.warnings[0].problem, Problem::Truncated);
        assert!(out.members.is_empty());
    }

    #[test]
    fn budgets_hold_inside_a_solid_stream() {
        let mut budget = Budget::unlimited();
        budget.max_output = 4096;
        let data = fixture("lzma-solid.exe");
        let out = run(&data, budget);
        assert!(
            out.limits.iter().any(|l| l.limit == Limit::Bytes),
            "{:?}",
            out.limits
        );
        let total: usize = out.members.iter().map(|m| m.data.len()).sum();
        assert!(total <= 4096);
    }

    #[test]
    fn cut_or_damaged_installers_never_panic_and_stay_in_budget() {
        for name in [
            "zlib.exe",
            "bzip2-solid.exe",
            "bzip2.exe",
            "lzma.exe",
            "lzma-solid.exe",
        ] {
            let data = fixture(name);
            let fh = first_header(&data).unwrap();
            for cut in (fh..data.len()).step_by(211) {
                run(&data[..cut], Budget::unlimited());
            }
            for at in (fh + 20..data.len()).step_by(97) {
                let mut bad = data.clone();
                bad[at] ^= 0xa5;
                let mut budget = Budget::unlimited();
                budget.max_output = 1 << 20;
                let out = run(&bad, budget);
                let total: usize = out.members.iter().map(|m| m.data.len()).sum();
                assert!(total <= 1 << 20, "{name} flipped at {at}");
            }
        }
    }

    #[test]
    fn streams_too_short_for_their_header_are_errors() {
        for input in [&b"\x5d\x00\x00"[..], b"\x01\x5d\x00\x00", b"\x31\x00", b""] {
            let mut out = Members::new(Budget::unlimited());
            let method = Method::of(input);
            assert!(
                decompress(method, input, "x", &mut out).is_err(),
                "{input:?}"
            );
        }
    }
}
