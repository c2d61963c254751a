//! ZIP (PKWARE APPNOTE 6.3) and everything built on it: JAR, APK, OOXML, ODF, XPI, wheels.
//!
//! The `zip` crate reads the central directory and decodes stored, deflate, deflate64, bzip2,
//! lzma, xz, ppmd and the legacy shrink/reduce/implode methods, and decrypts ZipCrypto and WinZip
//! AES. Zstandard members (method 93) are decoded here from the raw data. Encrypted members are
//! tried with each configured password. When the central directory is missing or broken, the
//! local file headers are walked instead, so a truncated download still yields its first files.

use std::borrow::Cow;
use std::io::Cursor;

use zip::result::ZipError;
use zip::ZipArchive;

use super::{printable, Data, EntryInfo, Limit, Members, ReadStop};
use crate::analysis::warning::Problem;

/// The zip method number of Zstandard (APPNOTE 4.4.5).
const METHOD_ZSTD: u16 = 93;

/// Most local headers the fallback scan walks.
const MAX_LOCAL_HEADERS: usize = 1_000_000;

/// The name of a ZIP compression method (APPNOTE 4.4.5).
fn method_name(id: u16) -> String {
    match id {
        0 => "stored".into(),
        1 => "shrink".into(),
        2..=5 => "reduce".into(),
        6 => "implode".into(),
        8 => "deflate".into(),
        9 => "deflate64".into(),
        12 => "bzip2".into(),
        14 => "lzma".into(),
        93 => "zstd".into(),
        95 => "xz".into(),
        98 => "ppmd".into(),
        99 => "aes".into(),
        other => format!("method {other}"),
    }
}

/// A ZIP archive opened over the bytes: its central directory read once.
pub(crate) type Archive<'a> = ZipArchive<Cursor<&'a [u8]>>;

/// Opens `data` as a ZIP archive (reads its central directory): the one open of a ZIP that the
/// extraction here and the description of an office document (`inspect::ooxml`) share.
pub(crate) fn open(data: &[u8]) -> zip::result::ZipResult<Archive<'_>> {
    ZipArchive::new(Cursor::new(data))
}

pub fn unpack<'a>(data: &'a [u8], out: &mut Members<'a>) {
    unpack_opened(data, open(data), out);
}

/// [`unpack`] of an archive already opened (or that failed to open: then the local file
/// headers are walked instead).
pub(crate) fn unpack_opened<'a>(
    data: &'a [u8],
    opened: zip::result::ZipResult<Archive<'a>>,
    out: &mut Members<'a>,
) {
    let mut archive = match opened {
        Ok(a) => a,
        Err(e) => {
            out.warn(
                Problem::Corrupt,
                format!(
                "the central directory is unreadable ({e}); local file headers were walked instead"
            ),
            );
            local_scan(data, out);
            return;
        }
    };
    if let Some(declared) = declared_entries(data) {
        if declared > archive.len() as u64 {
            out.warn(
                Problem::Corrupt,
                format!(
                "the central directory lists {declared} entries but only {} have distinct names; \
                 entries sharing a name were not all unpacked",
                archive.len()
            ),
            );
        }
    }
    for i in 0..archive.len() {
        if out.stopped() {
            return;
        }
        let (name, encrypted, packed, size, is_dir, method) = match archive.by_index_raw(i) {
            Ok(f) => (
                match f.name() {
                    Ok(n) => n.into_owned(),
                    Err(_) => String::from_utf8_lossy(f.name_raw()).into_owned(),
                },
                f.encrypted(),
                f.compressed_size(),
                f.size(),
                f.is_dir(),
                f.compression(),
            ),
            Err(e) => {
                out.warn(Problem::Corrupt, format!("entry {i} is unreadable: {e}"));
                continue;
            }
        };
        if is_dir && size == 0 {
            continue;
        }
        #[allow(deprecated)]
        let method_id = method.to_u16();
        out.entry(EntryInfo {
            name: name.clone(),
            size,
            packed_size: Some(packed),
            method: Some(method_name(method_id)),
            encrypted,
        });
        if !out.admit(&name, packed, size) {
            continue;
        }
        let zstd = method_id == METHOD_ZSTD;
        let result = if zstd && !encrypted {
            read_zstd(&mut archive, i, &name, packed, out)
        } else if encrypted {
            read_encrypted(&mut archive, i, &name, packed, out)
        } else {
            match archive.by_index(i) {
                Ok(mut f) => Some(out.read_held(&name, packed, &mut f)),
                Err(e) => {
                    out.warn(Problem::Corrupt, format!("{}: {e}", printable(&name)));
                    None
                }
            }
        };
        match result {
            Some(Ok(bytes)) => {
                if !out.add(name, bytes) {
                    return;
                }
            }
            Some(Err(ReadStop::Limit)) | None => {}
            Some(Err(ReadStop::Corrupt(e, partial))) => {
                out.warn(
                    Problem::Corrupt,
                    format!(
                        "{} is corrupt: {e} (after {} bytes)",
                        printable(&name),
                        partial.len()
                    ),
                );
                if !partial.is_empty() && !out.add(name, partial) {
                    return;
                }
            }
        }
    }
}

/// The entry count the end-of-central-directory record declares.
fn declared_entries(data: &[u8]) -> Option<u64> {
    let tail = &data[data.len().saturating_sub(65_557)..];
    let at = memchr::memmem::rfind(tail, b"PK\x05\x06")?;
    let n = u16::from_le_bytes(tail.get(at + 10..at + 12)?.try_into().ok()?);
    // 0xFFFF means the count is in the zip64 record; trust the crate then.
    (n != 0xffff).then_some(n as u64)
}

/// A member read by [`Members::read_held`] (one over a MiB is spilled to disk).
type Stream = Result<Data<'static>, ReadStop<Data<'static>>>;

fn read_zstd(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    i: usize,
    name: &str,
    packed: u64,
    out: &mut Members,
) -> Option<Stream> {
    let raw = match archive.by_index_raw(i) {
        Ok(f) => f,
        Err(e) => {
            out.warn(Problem::Corrupt, format!("{}: {e}", printable(name)));
            return None;
        }
    };
    match ruzstd::decoding::StreamingDecoder::new(raw) {
        Ok(mut d) => Some(out.read_held(name, packed, &mut d)),
        Err(e) => {
            out.warn(
                Problem::Corrupt,
                format!("{}: zstd data is unusable: {e}", printable(name)),
            );
            None
        }
    }
}

/// Tries every configured password. A wrong ZipCrypto password passes the header check once in
/// 256 tries and then fails its CRC, so a corrupt read moves on to the next password too.
fn read_encrypted(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    i: usize,
    name: &str,
    packed: u64,
    out: &mut Members,
) -> Option<Stream> {
    let passwords = out.budget().passwords.clone();
    for password in &passwords {
        let result = match archive.by_index_decrypt(i, password.as_bytes()) {
            Ok(mut f) => out.read_held(name, packed, &mut f),
            Err(ZipError::InvalidPassword) => continue,
            Err(e) => {
                out.warn(Problem::Corrupt, format!("{}: {e}", printable(name)));
                return None;
            }
        };
        match result {
            Ok(bytes) => return Some(Ok(bytes)),
            Err(ReadStop::Limit) => return Some(Err(ReadStop::Limit)),
            Err(ReadStop::Corrupt(..)) => continue,
        }
    }
    out.limit(
        Limit::Password,
        format!(
            "{} is encrypted and none of the {} configured passwords opened it",
            printable(name),
            passwords.len()
        ),
    );
    None
}

/// Walks local file headers front to back: the fallback for archives without a usable central
/// directory. Handles stored and deflated members, with or without a data descriptor.
fn local_scan<'a>(data: &'a [u8], out: &mut Members<'a>) {
    let finder = memchr::memmem::Finder::new(b"PK\x03\x04");
    let mut pos = 0;
    let mut seen = 0;
    while let Some(found) = finder.find(&data[pos..]) {
        if out.stopped() || seen >= MAX_LOCAL_HEADERS {
            return;
        }
        seen += 1;
        let at = pos + found;
        pos = at + 4;
        let Some(h) = data.get(at..at + 30) else {
            out.warn(Problem::Truncated, "the last local header is truncated");
            return;
        };
        let le16 = |o: usize| u16::from_le_bytes([h[o], h[o + 1]]);
        let le32 = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let (flags, method) = (le16(6), le16(8));
        let (csize, usize_) = (le32(18) as u64, le32(22) as u64);
        let (name_len, extra_len) = (le16(26) as usize, le16(28) as usize);
        let name_end = at + 30 + name_len;
        let Some(raw_name) = data.get(at + 30..name_end) else {
            out.warn(
                Problem::Truncated,
                "a local header's name runs past the end of the file",
            );
            return;
        };
        let name = String::from_utf8_lossy(raw_name).into_owned();
        let start = name_end + extra_len;
        if start > data.len() {
            out.warn(
                Problem::Truncated,
                format!("{} is truncated", printable(&name)),
            );
            return;
        }
        if flags & 1 != 0 {
            out.warn(
                Problem::Encrypted,
                format!(
                    "{} is encrypted; without a central directory it was not decrypted",
                    printable(&name)
                ),
            );
            continue;
        }
        let descriptor = flags & 8 != 0 && csize == 0;
        let body = &data[start..];
        match method {
            0 => {
                let len = if descriptor {
                    finder.find(body).unwrap_or(body.len())
                } else {
                    (csize as usize).min(body.len())
                };
                if (len as u64) < csize {
                    out.warn(
                        Problem::Truncated,
                        format!("{} is truncated", printable(&name)),
                    );
                }
                if name.ends_with('/') && len == 0 {
                    continue;
                }
                if !out.add(name, Cow::Borrowed(&body[..len])) {
                    return;
                }
                pos = start + len;
            }
            8 => {
                let packed = if descriptor { body.len() as u64 } else { csize };
                if !descriptor && !out.admit(&name, csize, usize_) {
                    continue;
                }
                let input = &body[..(packed as usize).min(body.len())];
                let mut decoder = flate2::read::DeflateDecoder::new(input);
                match out.read_member(&name, packed, &mut decoder) {
                    Ok(bytes) => {
                        let consumed = decoder.total_in() as usize;
                        if !out.add(name, Cow::Owned(bytes)) {
                            return;
                        }
                        pos = start + consumed;
                    }
                    Err(ReadStop::Limit) => {}
                    Err(ReadStop::Corrupt(e, partial)) => {
                        out.warn(
                            Problem::Corrupt,
                            format!("{} is corrupt: {e}", printable(&name)),
                        );
                        if !partial.is_empty() && !out.add(name, Cow::Owned(partial)) {
                            return;
                        }
                    }
                }
            }
            m => out.warn(
                Problem::Unsupported,
                format!(
                    "{}: compression method {m} is not supported without a central directory",
                    printable(&name)
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Budget;
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;

    pub(crate) fn make_zip(entries: &[(&str, &[u8], CompressionMethod, Option<&str>)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, method, password) in entries {
            let mut opts = SimpleFileOptions::default().compression_method(*method);
            if let Some(p) = password {
                use zip::unstable::write::FileOptionsExt;
                opts = opts.with_deprecated_encryption(p.as_bytes()).unwrap();
            }
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn run(data: &[u8], caps: Budget) -> Members<'_> {
        let mut out = Members::new(caps);
        unpack(data, &mut out);
        out
    }

    #[test]
    fn a_large_member_is_spilled_and_small_ones_stay_in_memory() {
        let dir = std::env::temp_dir().join(format!("assay-zip-spill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big: Vec<u8> = (0..super::super::SPILL_AT + 10)
            .map(|i| (i % 7) as u8)
            .collect();
        let data = make_zip(&[
            ("big.bin", &big, CompressionMethod::Deflated, None),
            ("small.txt", b"small", CompressionMethod::Deflated, None),
            (
                "locked.bin",
                &big,
                CompressionMethod::Deflated,
                Some("infected"),
            ),
        ]);
        let budget = Budget {
            passwords: vec!["wrong".into(), "infected".into()],
            max_ratio: u64::MAX,
            ..Budget::unlimited()
        };
        let mut out = Members::new(budget).spill_to(Some(std::sync::Arc::from(dir.as_path())));
        unpack(&data, &mut out);
        let kept: Vec<(&str, bool)> = out
            .members
            .iter()
            .map(|m| (m.name.as_str(), m.data.mapped().is_some()))
            .collect();
        assert_eq!(
            kept,
            [
                ("big.bin", true),
                ("small.txt", false),
                ("locked.bin", true)
            ]
        );
        assert!(out.members[0].data[..] == big[..] && out.members[2].data[..] == big[..]);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        drop(out);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stored_and_deflated_members() {
        let z = make_zip(&[
            ("a.txt", b"alpha", CompressionMethod::Stored, None),
            ("dir/b.bin", &[7u8; 5000], CompressionMethod::Deflated, None),
        ]);
        let out = run(&z, Budget::unlimited());
        assert_eq!(out.members.len(), 2);
        assert_eq!(out.members[0].name, "a.txt");
        assert_eq!(&*out.members[1].data, &[7u8; 5000][..]);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn zipcrypto_opens_with_a_configured_password() {
        let z = make_zip(&[(
            "x.txt",
            b"secret",
            CompressionMethod::Deflated,
            Some("infected"),
        )]);
        let caps = Budget {
            passwords: vec!["wrong".into(), "infected".into()],
            ..Budget::unlimited()
        };
        let out = run(&z, caps);
        assert_eq!(&*out.members[0].data, b"secret");
        let out = run(&z, Budget::unlimited());
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Password);
    }

    #[test]
    fn a_declared_bomb_is_refused_before_decoding() {
        let z = make_zip(&[(
            "zeros",
            &vec![0u8; 20 << 20],
            CompressionMethod::Deflated,
            None,
        )]);
        let caps = Budget {
            max_ratio: 100,
            ..Budget::unlimited()
        };
        let out = run(&z, caps);
        assert!(out.members.is_empty());
        assert_eq!(out.limits[0].limit, Limit::Ratio);
    }

    #[test]
    fn a_broken_central_directory_falls_back_to_local_headers() {
        let z = make_zip(&[
            ("one", b"first file", CompressionMethod::Deflated, None),
            ("two", b"second file", CompressionMethod::Stored, None),
        ]);
        // Cut off the central directory.
        let cd = memchr::memmem::find(&z, b"PK\x01\x02").unwrap();
        let out = run(&z[..cd], Budget::unlimited());
        let names: Vec<_> = out.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["one", "two"]);
        assert_eq!(&*out.members[0].data, b"first file");
        assert!(out.warnings[0].text.contains("central directory"));
        // Truncated inside the second member: the first is kept.
        let out = run(&z[..cd - 5], Budget::unlimited());
        assert_eq!(&*out.members[0].data, b"first file");
    }

    #[test]
    fn garbage_yields_a_warning() {
        let out = run(b"PK\x03\x04garbage", Budget::unlimited());
        assert!(out.members.is_empty());
        assert!(!out.warnings.is_empty());
        let out = run(b"", Budget::unlimited());
        assert!(!out.warnings.is_empty());
    }
}
