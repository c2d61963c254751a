//! Symbian installation packages (`.sis`, EPOC releases 3 to 6, as Nokia's S60 used them): the
//! files a package installs, named by their destination (`!:\sys\bin\app.exe`).
//!
//! The header: four UIDs (the second is 0x1000006D before release 6 and 0x10003A12 from it, the
//! third 0x10000419 for every SIS file), counts of languages and files, options (bit 0: strings
//! are UTF-16; bit 3: files are stored, not zlib-compressed) and pointers to the tables. Each
//! file record gives its names and, per language, its data's length and offset, and from
//! release 6 its uncompressed length. Records that only steer installation (option lists,
//! if/else blocks) are skipped.
//!
//! Not handled: Symbian 9 SISX (`.sisx`, a different format), embedded certificates.

use std::borrow::Cow;
use std::io::Read;

use super::{printable, Members, ReadStop};
use crate::analysis::bytes::{le16, le32};
use crate::analysis::warning::Problem;

const UID_RELEASE_3: u32 = 0x1000_006d;
const UID_RELEASE_6: u32 = 0x1000_3a12;
const UID_SIS: u32 = 0x1000_0419;

/// Option bits.
const OPTION_UNICODE: u16 = 0x0001;
const OPTION_NO_COMPRESS: u16 = 0x0008;

/// Record types.
const RECORD_FILE: u32 = 0;
const RECORD_MULTILANGUAGE_FILE: u32 = 1;
const RECORD_OPTIONS: u32 = 2;
const RECORD_IF: u32 = 3;
const RECORD_ELSE_IF: u32 = 4;
const RECORD_ELSE: u32 = 5;
const RECORD_END_IF: u32 = 6;

/// Most languages and file records read.
const MAX_LANGUAGES: usize = 256;
pub const MAX_RECORDS: usize = 10_000;

/// True when `head` starts like a SIS package.
pub fn detect(head: &[u8]) -> bool {
    matches!(le32(head, 4), Some(UID_RELEASE_3 | UID_RELEASE_6)) && le32(head, 8) == Some(UID_SIS)
}

/// Unpacks the files of the SIS package `data`.
pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let field16 = |at: usize| le16(data, at);
    let field32 = |at: usize| le32(data, at);
    let (Some(langs), Some(files), Some(options), Some(records_at)) =
        (field16(0x12), field16(0x14), field16(0x24), field32(0x34))
    else {
        out.warn(Problem::Truncated, "the SIS header is truncated");
        return;
    };
    let release6 = field32(4) == Some(UID_RELEASE_6);
    let unicode = options & OPTION_UNICODE != 0;
    let compressed = options & OPTION_NO_COMPRESS == 0;
    let langs = usize::from(langs).clamp(1, MAX_LANGUAGES);
    let mut pos = records_at as usize;
    let name = |len: u32, at: u32| -> String {
        // A destination is a path: 1 KiB is plenty, and caps what a hostile length costs.
        let len = len.min(1024);
        let Some(b) = (at as usize)
            .checked_add(len as usize)
            .and_then(|end| data.get(at as usize..end))
        else {
            return String::new();
        };
        if unicode {
            crate::analysis::text::utf16le(b)
        } else {
            b.iter()
                .map(|&c| crate::analysis::text::cp1252(c))
                .collect()
        }
    };
    let mut n = 0;
    for _ in 0..usize::from(files).min(MAX_RECORDS) {
        if out.stopped() {
            return;
        }
        let Some(kind) = field32(pos) else {
            out.warn(
                Problem::Truncated,
                format!("the SIS file records end early, at offset {pos}"),
            );
            return;
        };
        match kind {
            RECORD_FILE | RECORD_MULTILANGUAGE_FILE => {
                let copies = if kind == RECORD_FILE { 1 } else { langs };
                let fixed = pos + 4 + 5 * 4;
                let (Some(source_len), Some(source_at), Some(dest_len), Some(dest_at)) = (
                    field32(pos + 12),
                    field32(pos + 16),
                    field32(pos + 20),
                    field32(pos + 24),
                ) else {
                    out.warn(Problem::Truncated, "a SIS file record is truncated");
                    return;
                };
                let lengths_at = fixed + 4;
                let pointers_at = lengths_at + 4 * copies;
                let originals_at = pointers_at + 4 * copies;
                pos = originals_at + if release6 { 4 * copies + 8 } else { 0 };
                let dest = name(dest_len, dest_at);
                let label = if dest.is_empty() {
                    name(source_len, source_at)
                } else {
                    dest
                };
                for copy in 0..copies {
                    n += 1;
                    let (Some(len), Some(at)) = (
                        field32(lengths_at + 4 * copy),
                        field32(pointers_at + 4 * copy),
                    ) else {
                        out.warn(Problem::Truncated, "a SIS file record is truncated");
                        return;
                    };
                    let original = release6.then(|| field32(originals_at + 4 * copy)).flatten();
                    let member = match (label.is_empty(), copies) {
                        (true, _) => format!("file-{n}.bin"),
                        (false, 1) => label.clone(),
                        (false, _) => format!("{label}~{copy}"),
                    };
                    if !file(data, at, len, original, compressed, member, out) {
                        return;
                    }
                }
            }
            RECORD_ELSE | RECORD_END_IF => pos += 4,
            RECORD_IF | RECORD_ELSE_IF => {
                let size = field32(pos + 4).unwrap_or(u32::MAX) as usize;
                pos = pos.saturating_add(8).saturating_add(size);
            }
            RECORD_OPTIONS => {
                out.warn(
                    Problem::Unsupported,
                    "the SIS package offers install options; the records after them were not read",
                );
                return;
            }
            other => {
                out.warn(
                    Problem::Corrupt,
                    format!("unknown SIS record type {other} at offset {pos}"),
                );
                return;
            }
        }
    }
}

/// One file's data: `len` bytes at `at`, zlib-compressed unless the package says not; the
/// release 6 uncompressed length, when given, is checked against the budget first. Returns
/// false when `out` says to stop.
fn file<'a>(
    data: &'a [u8],
    at: u32,
    len: u32,
    original: Option<u32>,
    compressed: bool,
    name: String,
    out: &mut Members<'a>,
) -> bool {
    let Some(bytes) = (at as usize)
        .checked_add(len as usize)
        .and_then(|end| data.get(at as usize..end))
    else {
        out.warn(
            Problem::Truncated,
            format!(
                "{}: its data ({len} bytes at offset {at}) lies beyond the end of the package",
                printable(&name)
            ),
        );
        return true;
    };
    if !compressed {
        return out.add(name, Cow::Borrowed(bytes));
    }
    if let Some(original) = original {
        if !out.admit(&name, u64::from(len), u64::from(original)) {
            return !out.stopped();
        }
    }
    let mut z = flate2::read::ZlibDecoder::new(bytes);
    match out.read_member(&name, u64::from(len), &mut z as &mut dyn Read) {
        Ok(d) => {
            if original.is_some_and(|o| o as usize != d.len()) {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "{}: it decompressed to {} bytes; the package says {}",
                        printable(&name),
                        d.len(),
                        original.unwrap_or(0)
                    ),
                );
            }
            out.add(name, Cow::Owned(d))
        }
        Err(ReadStop::Limit) => !out.stopped(),
        Err(ReadStop::Corrupt(e, partial)) => {
            out.warn(
                Problem::Corrupt,
                format!(
                    "{}: the compressed data is corrupt or truncated ({e}); kept the {} bytes \
                     that decoded",
                    printable(&name),
                    partial.len()
                ),
            );
            partial.is_empty() || out.add(name, Cow::Owned(partial))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Budget;
    use super::*;
    use std::io::Write;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// A release 6 package installing `files` (destination, content), compressed or not.
    fn package(files: &[(&str, &[u8])], compress: bool) -> Vec<u8> {
        let mut v = vec![0u8; 0x60];
        v[4..8].copy_from_slice(&UID_RELEASE_6.to_le_bytes());
        v[8..12].copy_from_slice(&UID_SIS.to_le_bytes());
        v[0x12..0x14].copy_from_slice(&1u16.to_le_bytes());
        v[0x14..0x16].copy_from_slice(&(files.len() as u16).to_le_bytes());
        let options = OPTION_UNICODE | if compress { 0 } else { OPTION_NO_COMPRESS };
        v[0x24..0x26].copy_from_slice(&options.to_le_bytes());
        let records_at = v.len();
        v[0x34..0x38].copy_from_slice(&(records_at as u32).to_le_bytes());
        // Type, file type, details, 2 names, length, offset, original length, MIME type.
        let record = 4 * 12;
        let mut tail: Vec<u8> = Vec::new();
        let tail_at = records_at + record * files.len();
        let mut records = Vec::new();
        for (dest, content) in files {
            let stored = if compress {
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                z.write_all(content).unwrap();
                z.finish().unwrap()
            } else {
                content.to_vec()
            };
            let name = utf16(dest);
            let name_at = tail_at + tail.len();
            tail.extend(&name);
            let data_at = tail_at + tail.len();
            tail.extend(&stored);
            for field in [
                RECORD_FILE,
                0,
                0,
                0,
                0,
                name.len() as u32,
                name_at as u32,
                stored.len() as u32,
                data_at as u32,
                content.len() as u32,
                0,
                0,
            ] {
                records.extend_from_slice(&field.to_le_bytes());
            }
        }
        v.extend(records);
        v.extend(tail);
        v
    }

    #[test]
    fn installed_files_come_out_under_their_destination() {
        let app = b"MZ an application".to_vec();
        for compress in [true, false] {
            let data = package(
                &[
                    ("!:\\sys\\bin\\app.exe", &app),
                    ("!:\\readme.txt", b"read me"),
                ],
                compress,
            );
            assert!(detect(&data));
            let mut out = Members::new(Budget::unlimited());
            unpack(&data, &mut out);
            let got: Vec<(&str, &[u8])> = crate::analysis::formats::testing::members(&out);
            assert_eq!(
                got,
                [
                    ("!:\\sys\\bin\\app.exe", &app[..]),
                    ("!:\\readme.txt", &b"read me"[..])
                ],
                "{:?}",
                out.warnings
            );
            assert!(out.warnings.is_empty());
            for cut in (0..data.len()).step_by(7) {
                let mut out = Members::new(Budget::unlimited());
                unpack(&data[..cut], &mut out);
            }
        }
    }
}
